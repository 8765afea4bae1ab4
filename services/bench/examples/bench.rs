//! Standalone runner, same arguments as `junction bench`:
//! `cargo run --release -p junction-bench --example bench -- pubsub --url ws://127.0.0.1:8080/ws`.

use clap::Parser;

#[derive(Parser)]
#[command(name = "junction-bench", about = "WAMP load generator (same as `junction bench`)")]
struct Cli {
    #[command(flatten)]
    bench: junction_bench::BenchArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    junction_bench::run(Cli::parse().bench).await?;
    Ok(())
}
