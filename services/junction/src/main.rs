//! `junction`: the managed WAMP router service in one binary.
#![forbid(unsafe_code)]

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    junction::cli::run(junction::cli::Cli::parse()).await
}
