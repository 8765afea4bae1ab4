//! Embeds the dashboard's built files (`dashboard/dist`) into release builds.
//!
//! Writes `$OUT_DIR/dashboard_files.rs`: `FILES`, a table of `(path, bytes, etag)`, and
//! `EMBEDDED_FROM`, the directory they came from. What is embedded:
//! - release builds (`PROFILE=release`), or any build with `JUNCTION_EMBED_DASHBOARD=1`: every
//!   file under `JUNCTION_DASHBOARD_DIR` (default `<workspace>/dashboard/dist`);
//! - debug builds: nothing (the binary reads the directory at run time, so `npm run build`
//!   shows up on reload); `JUNCTION_EMBED_DASHBOARD=0` also turns embedding off in release.
//!
//! A missing `dist/` is not an error: the build warns, and the binary answers `/` with a page
//! saying how to build the dashboard (`cd dashboard && npm ci && npm run build`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=JUNCTION_DASHBOARD_DIR");
    println!("cargo:rerun-if-env-changed=JUNCTION_EMBED_DASHBOARD");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let dist = std::env::var_os("JUNCTION_DASHBOARD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../dashboard/dist"));
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let embed = match std::env::var("JUNCTION_EMBED_DASHBOARD").ok().as_deref() {
        Some("1" | "true" | "yes") => true,
        Some("0" | "false" | "no") => false,
        _ => release,
    };

    let mut files = Vec::new();
    let mut source = None;
    if embed {
        // A directory: cargo re-runs this script when anything under it changes. A missing
        // one is watched too, so building the dashboard later re-embeds.
        println!("cargo:rerun-if-changed={}", dist.display());
        if dist.join("index.html").is_file() {
            let dist = dist.canonicalize().unwrap_or(dist.clone());
            collect(&dist, &dist, &mut files);
            files.sort();
            source = Some(dist);
        } else {
            println!(
                "cargo:warning=dashboard not embedded: {} has no index.html. Build it first \
                 (cd dashboard && npm ci && npm run build) or use ./dev.sh; until then the \
                 binary serves a page saying so.",
                dist.display()
            );
        }
    }

    let mut out = String::from("/// `(path under dist/, bytes, ETag)` of every embedded dashboard file.\n");
    out.push_str("pub static FILES: &[(&str, &[u8], &str)] = &[\n");
    for (rel, abs) in &files {
        let bytes = std::fs::read(abs).unwrap_or_else(|e| panic!("read {}: {e}", abs.display()));
        let _ = writeln!(out, "    ({rel:?}, include_bytes!({:?}), \"\\\"{:016x}\\\"\"),", abs.display().to_string(), fnv1a(&bytes));
    }
    out.push_str("];\n");
    let _ = writeln!(
        out,
        "/// The directory the files were embedded from.\npub const EMBEDDED_FROM: Option<&str> = {:?};",
        source.map(|s| s.display().to_string())
    );
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out_dir.join("dashboard_files.rs"), out).expect("write dashboard_files.rs");
}

/// Every regular file under `dir`, as (`a/b.js` relative to `root`, absolute path).
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            collect(root, &path, out);
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).expect("under root");
            let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            out.push((rel.join("/"), path));
        }
    }
}

/// FNV-1a, 64 bits: a content hash for ETags (not security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
