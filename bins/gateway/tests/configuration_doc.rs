//! The configuration reference, the example env file and the code agree:
//! a variable read by the code but missing from docs/configuration.md or
//! deploy/.env.example fails here, and so does a documented variable the
//! code no longer reads, or a documented default that is not the real one.

use gateway::settings::VARIABLES;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_file(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `(name, default cell)` of each row of the variables table, in order.
fn documented_rows() -> Vec<(String, String)> {
    read("docs/configuration.md")
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let is_variable = name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            let default = cells.get(2)?;
            is_variable.then(|| (name.to_owned(), (*default).to_owned()))
        })
        .collect()
}

fn in_code() -> Vec<&'static str> {
    VARIABLES.iter().map(|(name, _)| *name).collect()
}

#[test]
fn configuration_doc_lists_every_variable_in_code_order_and_no_other() {
    let documented: Vec<String> = documented_rows().into_iter().map(|(n, _)| n).collect();
    assert_eq!(documented, in_code());
}

#[test]
fn documented_defaults_are_the_defaults_in_code() {
    for (name, cell) in documented_rows() {
        let Some((_, default)) = VARIABLES.iter().find(|(n, _)| *n == name) else {
            continue; // reported by the test above
        };
        if default.is_empty() {
            // No default: the doc says what happens instead, in italics.
            assert!(
                cell.starts_with('*'),
                "{name}: the code has no default, the doc shows {cell}"
            );
        } else {
            assert_eq!(cell, format!("`{default}`"), "{name}: default");
        }
    }
}

/// Every upper-case name quoted in the binary's sources (where all
/// configuration is read) is a known variable, so a new `get("NEW_VAR")`
/// cannot slip past the lists above.
#[test]
fn every_variable_named_in_the_sources_is_a_known_one() {
    const NOT_VARIABLES: &[&str] = &["FILE", "CARGO_PKG_VERSION", "CARGO_MANIFEST_DIR"];
    let known: BTreeSet<&str> = in_code().into_iter().collect();
    let sources = std::fs::read_dir(repo_file("bins/gateway/src")).unwrap();
    for entry in sources {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for quoted in text.split('"').skip(1).step_by(2) {
            let looks_like_a_variable = quoted.len() > 2
                && quoted.starts_with(|c: char| c.is_ascii_uppercase())
                && quoted
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if looks_like_a_variable && !NOT_VARIABLES.contains(&quoted) {
                assert!(
                    known.contains(quoted),
                    "{}: \"{quoted}\" is not in settings::VARIABLES (nor docs/configuration.md)",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn the_example_env_file_lists_every_variable_once() {
    let example = read("deploy/.env.example");
    let mut listed = Vec::new();
    for line in example.lines() {
        let assignment = line.trim_start_matches('#').trim();
        if let Some((name, _)) = assignment.split_once('=') {
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                listed.push(name.to_owned());
            }
        }
    }
    let unique: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "a variable is listed twice: {listed:?}"
    );
    let expected: BTreeSet<&str> = in_code().into_iter().collect();
    assert_eq!(unique, expected);
}
