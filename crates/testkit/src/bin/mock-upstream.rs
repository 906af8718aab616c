//! The testkit mock upstream as a process, for benchmarks and soak runs:
//! `mock-upstream [ADDRESS] [WORKERS] [FAULT_SHARE] [FAULT_PERIOD_S]`
//! (default `127.0.0.1:18081`, 1 worker, no faults). With a fault share,
//! that share of the keys answers 429, 500 or stalls, changing every period.
//! Stops on SIGINT or SIGTERM.

use actix_web::rt::signal::unix::{signal, SignalKind};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let workers = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    let share: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let period: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(30);
    let mock = testkit::MockUpstream::start_on(&address, workers);
    mock.set_recording(false);
    if share > 0.0 {
        mock.set_rotating_faults(Some(testkit::RotatingFaults::new(
            share,
            std::time::Duration::from_secs(period),
        )));
    }
    eprintln!("mock upstream listening on {}", mock.address);
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    futures_util::future::select(Box::pin(terminate.recv()), Box::pin(interrupt.recv())).await;
    mock.stop().await;
    Ok(())
}
