//! Command line (SPEC §6): `serve` (default), `migrate`, `gen-key`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// API Key Rotator: a key-rotating gateway for REST and LLM APIs.
#[derive(Debug, Parser)]
#[command(name = "gateway", version, about)]
pub struct Cli {
    /// Optional TOML configuration file (environment variables win).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a new random ENCRYPTION_KEY (base64 of 32 bytes).
    GenKey,
}
