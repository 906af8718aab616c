//! `domain` must stay embeddable: no web framework, HTTP client, ORM,
//! database driver or async runtime in its normal dependency tree.

// A failed `cargo tree` must fail the test loudly.
#![allow(clippy::expect_used)]

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "actix",
    "awc",
    "sea-orm",
    "sea-query",
    "sqlx",
    "redis",
    "deadpool",
    "tokio",
    "hyper",
];

fn tree(features: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "domain",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .args(features)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn domain_depends_on_no_runtime_framework_or_driver() {
    for features in [&[][..], &["--features", "openapi"]] {
        let tree = tree(features);
        let crates: Vec<&str> = tree
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .collect();
        assert!(crates.contains(&"serde"), "the tree must be listed: {tree}");
        for name in &crates {
            assert!(
                !FORBIDDEN.iter().any(|f| name.starts_with(f)),
                "domain ({features:?}) depends on {name}:\n{tree}"
            );
        }
    }
}
