//! Command line (SPEC §6): `serve` (default), `migrate`, `gen-key`, and
//! the operations commands `import-legacy` and `rotate-encryption-key`.

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
    /// Import services and keys from the original Go project's SQLite
    /// database (keys are encrypted on the way; the file is only read).
    ImportLegacy {
        /// The legacy database file.
        path: PathBuf,
    },
    /// Re-encrypt every stored upstream key with NEW_ENCRYPTION_KEY (or a
    /// generated key) in one transaction. Stop every instance first.
    RotateEncryptionKey,
}
