//! Connections: how many may be open at once, and how long one may sit without a request.
//!
//! Every socket is a file descriptor, and the writer, the indexer and the checkpoint
//! signer need descriptors of their own. So the server raises its soft `RLIMIT_NOFILE` to
//! the hard limit, keeps a reserve of it for everything that is not a connection
//! ([`Budget`]), and admits at most the rest: the accept loop waits for a free slot
//! ([`Admit`]) before it takes the next socket from the kernel's backlog. A connection
//! with no request in flight for `idle_timeout_secs` — before its first request (TLS
//! handshake included) or between keep-alive requests — is closed ([`Guard`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{Request, Response};
use axum_server::accept::Accept;
use futures::task::AtomicWaker;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::Service;

/// Descriptors kept for everything that is not a connection, at most: fjall's descriptor
/// cache (up to 900 index files), log segments, tiles, checkpoints, the SQLite files and
/// the runtime's own. Under a low limit the reserve is half of it instead.
pub const RESERVE_FDS: u64 = 1024;

/// The descriptor limit in force and the connections it leaves room for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The soft `RLIMIT_NOFILE`.
    pub nofile: u64,
    /// Descriptors kept for the rest of the server: half the limit, at most
    /// [`RESERVE_FDS`].
    pub reserve: u64,
    /// Most connections open at once: the configured value, lowered to what the limit
    /// leaves after the reserve (which is also the default).
    pub max_connections: usize,
}

impl Budget {
    /// The budget under a limit of `nofile` descriptors, `configured` connections asked.
    pub fn new(nofile: u64, configured: Option<usize>) -> Self {
        let reserve = (nofile / 2).min(RESERVE_FDS);
        // The accept loop holds one more socket while it waits for a slot.
        let room = usize::try_from(nofile.saturating_sub(reserve + 1))
            .unwrap_or(usize::MAX)
            .clamp(1, Semaphore::MAX_PERMITS);
        Self {
            nofile,
            reserve,
            max_connections: configured.map_or(room, |c| c.min(room)),
        }
    }
}

/// Raises the soft descriptor limit to the hard one (to 2^20 if the hard one is
/// unlimited) and returns the soft limit then in force.
pub fn raise_nofile_limit() -> u64 {
    use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit, setrlimit};
    // The conventional default, should the limit be unreadable.
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    let target = if hard == RLIM_INFINITY { 1 << 20 } else { hard };
    if soft < target && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
        return target;
    }
    soft
}

/// What a connection's socket, its service and its requests share.
struct Conn {
    /// The connection's slot, given back when the socket is closed.
    _slot: Option<OwnedSemaphorePermit>,
    idle: Duration,
    /// Requests whose answer has not been sent (or dropped) yet.
    busy: AtomicUsize,
    /// When the last answer finished (or the connection opened).
    idle_since: Mutex<Instant>,
    /// The reader to wake when the connection turns idle, so its timer is armed.
    reader: AtomicWaker,
    closed_idle: AtomicBool,
}

impl Conn {
    fn new(slot: Option<OwnedSemaphorePermit>, idle: Duration) -> Self {
        metrics::gauge!("recall_http_connections_open").increment(1.0);
        Self {
            _slot: slot,
            idle,
            busy: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            reader: AtomicWaker::new(),
            closed_idle: AtomicBool::new(false),
        }
    }

    /// Whether the connection has been idle too long; if not, arms `timer` (idle) or
    /// leaves it to the end of the last request to wake the reader (busy).
    fn idle_expired(&self, timer: &mut Pin<Box<Sleep>>, cx: &mut Context<'_>) -> bool {
        // Registered before `busy` is read: a request ending after that read wakes us.
        self.reader.register(cx.waker());
        if self.busy.load(Ordering::Acquire) > 0 {
            return false;
        }
        let since = *self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let deadline = since + self.idle;
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        if timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        if !self.closed_idle.swap(true, Ordering::Relaxed) {
            metrics::counter!("recall_http_connections_idle_closed_total").increment(1);
        }
        true
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        metrics::gauge!("recall_http_connections_open").decrement(1.0);
    }
}

/// One request in flight on a connection, from the call to the end of its answer's body.
struct Busy(Arc<Conn>);

impl Busy {
    fn start(conn: Arc<Conn>) -> Self {
        conn.busy.fetch_add(1, Ordering::AcqRel);
        Self(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // The idle clock restarts before the count drops, so a reader that sees zero
        // never measures from an older answer.
        *self
            .0
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.reader.wake();
        }
    }
}

type Acquiring = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// The make-service of the accept loop: ready only once a connection slot is free, so
/// the loop takes no further socket from the backlog while every slot is taken.
pub struct Admit<M> {
    inner: M,
    slots: Arc<Semaphore>,
    idle: Duration,
    slot: Option<OwnedSemaphorePermit>,
    waiting: Option<Acquiring>,
}

impl<M> Admit<M> {
    /// `inner` behind `max_connections` slots; connections idle for `idle` are closed.
    pub fn new(inner: M, max_connections: usize, idle: Duration) -> Self {
        metrics::gauge!("recall_http_connections_max").set(max_connections as f64);
        Self {
            inner,
            slots: Arc::new(Semaphore::new(max_connections)),
            idle,
            slot: None,
            waiting: None,
        }
    }
}

impl<M> Service<SocketAddr> for Admit<M>
where
    M: Service<SocketAddr>,
    M::Future: Send + 'static,
{
    type Response = Tracked<M::Response>;
    type Error = M::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, M::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), M::Error>> {
        if self.slot.is_none() {
            if self.waiting.is_none() {
                match self.slots.clone().try_acquire_owned() {
                    Ok(slot) => self.slot = Some(slot),
                    Err(_) => {
                        metrics::counter!("recall_http_connections_waited_total").increment(1);
                        self.waiting = Some(Box::pin(self.slots.clone().acquire_owned()));
                    }
                }
            }
            if let Some(waiting) = self.waiting.as_mut() {
                let slot = std::task::ready!(waiting.as_mut().poll(cx));
                self.waiting = None;
                // The semaphore is never closed, so this is always a slot.
                self.slot = slot.ok();
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, peer: SocketAddr) -> Self::Future {
        let conn = Arc::new(Conn::new(self.slot.take(), self.idle));
        let made = self.inner.call(peer);
        Box::pin(async move {
            Ok(Tracked {
                inner: made.await?,
                conn,
            })
        })
    }
}

/// A connection's service: counts its requests in flight until their answers are sent.
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    conn: Arc<Conn>,
}

impl<S, B> Service<Request<B>> for Tracked<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let busy = Busy::start(self.conn.clone());
        let answer = self.inner.call(req);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|inner| Body::new(TrackedBody { inner, _busy: busy })))
        })
    }
}

/// An answer's body, holding its request's [`Busy`] until hyper is done with it.
struct TrackedBody {
    inner: Body,
    _busy: Busy,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The acceptor that puts each socket under its connection's idle timer (beneath TLS,
/// so a handshake that never finishes is cut off too).
#[derive(Debug, Clone, Copy, Default)]
pub struct Guard;

impl<S> Accept<TcpStream, Tracked<S>> for Guard {
    type Stream = Guarded<TcpStream>;
    type Service = Tracked<S>;
    type Future = std::future::Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: Tracked<S>) -> Self::Future {
        let guarded = Guarded {
            inner: stream,
            conn: service.conn.clone(),
            timer: Box::pin(tokio::time::sleep(service.conn.idle)),
        };
        std::future::ready(Ok((guarded, service)))
    }
}

/// A socket whose reads fail once its connection has been idle too long, which makes
/// hyper (or the TLS handshake) close it. It holds the connection's slot until dropped.
pub struct Guarded<S> {
    inner: S,
    conn: Arc<Conn>,
    timer: Pin<Box<Sleep>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.conn.idle_expired(&mut this.timer, cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle past server.idle_timeout_secs",
            )));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_a_reserve_and_lowers_a_larger_setting() {
        let common = Budget::new(1 << 20, None);
        assert_eq!(common.reserve, RESERVE_FDS);
        assert_eq!(common.max_connections as u64, (1 << 20) - RESERVE_FDS - 1);
        let low = Budget::new(256, None);
        assert_eq!((low.reserve, low.max_connections), (128, 127));
        assert_eq!(Budget::new(256, Some(10_000)).max_connections, 127);
        assert_eq!(Budget::new(256, Some(10)).max_connections, 10);
        assert_eq!(Budget::new(0, None).max_connections, 1);
        assert!(Budget::new(u64::MAX, None).max_connections <= Semaphore::MAX_PERMITS);
    }
}
