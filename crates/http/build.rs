//! Embeds the web UI (`ui/`) into the binary: a table of paths, bytes and
//! content hashes. A few lines here instead of rust-embed, whose current
//! release pulls a second `sha2` and `mime_guess` into the build.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    // Sorted by the path as the server looks it up (binary search on strings).
    let mut files: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|file| {
            let relative = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .to_string_lossy()
                .replace('\\', "/");
            (relative, file)
        })
        .collect();
    files.sort();
    let mut table = String::from("&[\n");
    for (relative, file) in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        let _ = writeln!(
            table,
            "    ({relative:?}, include_bytes!({:?}), \"{:016x}\"),",
            file.display().to_string(),
            fnv1a(&bytes)
        );
    }
    table.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("ui_assets.rs");
    if let Err(error) = std::fs::write(&out, table) {
        panic!("cannot write {}: {error}", out.display());
    }
}

fn collect(dir: &Path, into: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, into);
        } else if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            into.push(path);
        }
    }
}

/// FNV-1a, 64 bits: a cache validator, not a security measure.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
