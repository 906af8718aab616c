//! Noticing a client that left while its stream waits on the upstream.
//!
//! actix-web notices a closed client connection only when it next writes to
//! it (actix/actix-web#1313), so a stream whose upstream is quiet — a model
//! thinking for a minute — would keep the upstream call (and its token bill)
//! running for a client long gone. Each connection keeps a duplicate of its
//! socket; its streamed answers watch it for the end of the client's side
//! (read readiness with nothing to read) and end the relay at once, which
//! drops the upstream call.

use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use actix_web::HttpRequest;
use futures_util::Stream;
use std::any::Any;
use std::cell::{OnceCell, RefCell};
use std::future::Future;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A duplicate of a client connection's socket, kept in the connection's
/// data; registered with the runtime the first time a stream on this
/// connection needs watching, then reused by the connection's later streams.
#[derive(Clone)]
pub struct ClientSocket(Rc<Watched>);

struct Watched {
    fd: RefCell<Option<OwnedFd>>,
    stream: OnceCell<Option<Rc<TcpStream>>>,
}

impl ClientSocket {
    fn stream(&self) -> Option<Rc<TcpStream>> {
        self.0
            .stream
            .get_or_init(|| {
                let fd = self.0.fd.borrow_mut().take()?;
                TcpStream::from_std(std::net::TcpStream::from(fd))
                    .ok()
                    .map(Rc::new)
            })
            .clone()
    }
}

/// `HttpServer::on_connect` hook: remembers each plain-TCP connection's socket.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    if let Some(stream) = connection.downcast_ref::<TcpStream>() {
        match stream.as_fd().try_clone_to_owned() {
            Ok(fd) => {
                data.insert(ClientSocket(Rc::new(Watched {
                    fd: RefCell::new(Some(fd)),
                    stream: OnceCell::new(),
                })));
            }
            Err(error) => tracing::debug!(%error, "client socket not watched"),
        }
    }
}

/// Resolves when the client of `req` has closed its side of the connection.
/// Never resolves when the connection cannot be watched.
pub fn client_gone(req: &HttpRequest) -> Pin<Box<dyn Future<Output = ()>>> {
    let watched = req
        .conn_data::<ClientSocket>()
        .and_then(ClientSocket::stream);
    Box::pin(async move {
        let Some(stream) = watched else {
            return std::future::pending().await;
        };
        let mut byte = [0u8; 1];
        match stream.peek(&mut byte).await {
            // End of the client's side, or a reset: gone.
            Ok(0) | Err(_) => {}
            // The client sent more (a pipelined request): it is still there,
            // and its socket can no longer tell; stop watching.
            Ok(_) => std::future::pending::<()>().await,
        }
    })
}

/// A response body that ends as soon as the client is gone.
pub struct UntilClientGone<S> {
    inner: S,
    gone: Pin<Box<dyn Future<Output = ()>>>,
    ended: bool,
}

impl<S> UntilClientGone<S> {
    /// Wraps `inner`, watching `gone`.
    pub fn new(inner: S, gone: Pin<Box<dyn Future<Output = ()>>>) -> Self {
        Self {
            inner,
            gone,
            ended: false,
        }
    }
}

impl<S: Stream + Unpin> Stream for UntilClientGone<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.gone.as_mut().poll(cx).is_ready() {
            tracing::debug!("client left mid-stream; dropping the upstream call");
            self.ended = true;
            return Poll::Ready(None);
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}
