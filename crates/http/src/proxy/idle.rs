//! The idle timeout of upstream bodies (SPEC §6: streams use `PROXY_TIMEOUT`,
//! or the service's `timeout_s`, between events): an upstream that stops
//! sending without closing is cut instead of holding the client forever.

use actix_web::rt::time::{sleep_until, Instant, Sleep};
use actix_web::web::Bytes;
use futures_util::Stream;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// An upstream body that fails with `TimedOut` after `idle` without data.
pub struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    /// When data last arrived; the timer is only moved when it fires, so a
    /// busy stream pays one clock read per chunk, not a timer update.
    last_data: Instant,
    timer: Pin<Box<Sleep>>,
    done: bool,
}

impl<S> IdleTimeout<S> {
    /// Guards `inner`.
    pub fn new(inner: S, idle: Duration) -> Self {
        let now = Instant::now();
        Self {
            inner,
            idle,
            last_data: now,
            timer: Box::pin(sleep_until(now + idle)),
            done: false,
        }
    }

    /// The stream watched.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, E> Stream for IdleTimeout<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(item) => {
                self.last_data = Instant::now();
                if item.is_none() {
                    self.done = true;
                }
                Poll::Ready(item.map(|r| r.map_err(|e| std::io::Error::other(e.to_string()))))
            }
            Poll::Pending => loop {
                if self.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let deadline = self.last_data + self.idle;
                if Instant::now() >= deadline {
                    self.done = true;
                    let idle = self.idle;
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the upstream sent nothing for {} s", idle.as_secs_f32()),
                    ))));
                }
                // Data came since the timer was set: wait for the rest of the idle time.
                self.timer.as_mut().reset(deadline);
            },
        }
    }
}
