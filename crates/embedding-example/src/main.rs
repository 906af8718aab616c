//! `cargo run -p embedding-example [< anthropic-request.json]`: converts an
//! Anthropic Messages request to Gemini and prints a weighted key schedule.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

const SAMPLE: &str = r#"{
  "model": "gemini-2.0-flash",
  "max_tokens": 256,
  "system": "You answer in one sentence.",
  "messages": [{"role": "user", "content": "Why rotate API keys?"}]
}"#;

fn main() -> ExitCode {
    let mut input = String::new();
    let stdin = std::io::stdin();
    if !stdin.is_terminal() && stdin.lock().read_to_string(&mut input).is_err() {
        eprintln!("error: standard input is not UTF-8 text");
        return ExitCode::FAILURE;
    }
    if input.trim().is_empty() {
        input = SAMPLE.to_owned();
    }
    match embedding_example::anthropic_to_gemini(input.as_bytes()) {
        Ok(gemini) => {
            println!("POST {}", gemini.path);
            println!("{:#}", gemini.body);
        }
        Err(error) => {
            eprintln!("error: not a valid Anthropic request: {error}");
            return ExitCode::FAILURE;
        }
    }
    println!("\nkeys weighted 3:1, requests 0..8 (serving key, then failover order):");
    for (counter, (first, fallbacks)) in embedding_example::key_schedule(&[3, 1], 8)
        .into_iter()
        .enumerate()
    {
        println!("  request {counter}: key {first}, then {fallbacks:?}");
    }
    ExitCode::SUCCESS
}
