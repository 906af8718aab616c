//! The testkit mock upstream as a process, for benchmarks:
//! `mock-upstream [ADDRESS] [WORKERS]` (default `127.0.0.1:18081`, 1 worker).
//! Stops on SIGINT or SIGTERM.

use actix_web::rt::signal::unix::{signal, SignalKind};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let workers = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    let mock = testkit::MockUpstream::start_on(&address, workers);
    mock.set_recording(false);
    eprintln!("mock upstream listening on {}", mock.address);
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    futures_util::future::select(Box::pin(terminate.recv()), Box::pin(interrupt.recv())).await;
    mock.stop().await;
    Ok(())
}
