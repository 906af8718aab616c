//! One global subscriber per test binary that records every log line at
//! every level (so tests can assert what never appears in logs), and also
//! prints them when `TEST_LOG` is set.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

static CAPTURE: OnceLock<Capture> = OnceLock::new();

/// Installs the capturing subscriber (idempotent).
pub fn init() {
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(capture.clone())
            .try_init();
        capture
    });
}

/// Every line logged so far in this test binary.
#[must_use]
pub fn captured() -> String {
    CAPTURE.get().map_or_else(String::new, |c| {
        String::from_utf8_lossy(&c.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    })
}
