//! `gateway`: the API Key Rotator binary. Thin: parse the CLI, load the
//! configuration, start logging, build and run the application.

use clap::Parser;
use gateway::cli::{Cli, Command};
use gateway::{commands, startup, telemetry, Application, Settings};
use secrecy::ExposeSecret;
use std::process::ExitCode;

/// mimalloc instead of glibc malloc: the proxy allocates many small,
/// short-lived buffers per request, where glibc's arena locking and
/// consolidation showed up at ~10% of CPU in `perf` (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Some(Command::GenKey) = cli.command {
        println!("{}", app::secrets::KeyCipher::generate_key_base64());
        return Ok(ExitCode::SUCCESS);
    }
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log_level, settings.log_format)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            let applied = startup::migrate(&settings).await?;
            println!("applied {applied} migration(s)");
        }
        Command::ImportLegacy { path } => {
            let report = commands::import_legacy(&settings, &path).await?;
            print!("{}", commands::describe(&report));
            if report.has_refusals() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::RotateEncryptionKey => {
            let rotation = commands::rotate_encryption_key(&settings).await?;
            println!("{} key(s) re-encrypted", rotation.keys);
            if let Some(path) = &rotation.key_file {
                println!("new master key written to {} (the previous one is kept beside it as secret.key.old)", path.display());
            } else if let Some(key) = &rotation.generated_key {
                println!(
                    "set ENCRYPTION_KEY on every instance to the new master key:\n{}",
                    key.expose_secret()
                );
            } else {
                println!("set ENCRYPTION_KEY on every instance to the value of NEW_ENCRYPTION_KEY");
            }
        }
        Command::Serve | Command::GenKey => {
            let username = settings.admin_username.clone();
            let application = Application::build(settings).await?;
            application.announce_generated_password(&username);
            application.run_until_stopped().await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
