//! Full TCP segments for a connection's bursts of writes (Linux `TCP_CORK`).
//!
//! HTTP/2 sends a large request as 16 KiB DATA frames (receivers' usual maximum frame
//! size), and h2 writes and flushes each frame on its own. With `TCP_NODELAY` every frame
//! then leaves as a segment of its own, which costs both ends a pass through the network
//! stack per frame (and a wake-up of the receiver): a 420 KB export is 26 segments where
//! 7 full ones would do.
//!
//! So a connection is corked while the task that drives it writes more than once in one
//! poll, and uncorked when that poll ends: the kernel sends full segments as they fill
//! and the rest on uncorking. Nothing waits for more data (the poll is over), nothing is
//! copied, and a poll that writes once (a small request, a window update, a ping) makes
//! no system call more. The tasks are those hyper spawns through [`Executor`] (HTTP/2
//! connections and request bodies); the sockets are the HTTP/2 ones [`Connector`] makes.
//! Writes anywhere else (the TLS handshake, made by the caller's request future) go out
//! as they are. HTTP/1.1 connections are never corked: hyper writes a request with one
//! vectored write per poll, so there is nothing to gather.
//!
//! Not with a congestion control that paces (BBR): the kernel then spaces full segments
//! out with timers, which on loopback cost the sender more than the segments save. With
//! CUBIC, Linux's default, corking cut the client CPU of a 420 KB gRPC export by 13-25%
//! with one export in flight and 8-13% with four (2 cores, loopback, `bench/`); with BBR
//! it added 10-35%. So a BBR socket to a remote peer is left alone, but one to a loopback
//! address (a local Collector, the usual deployment) is switched to CUBIC and corked: on
//! loopback there is no link to pace for and no loss, so the congestion control decides
//! nothing but the pacing timers. On a host whose default is BBR, that took a 425 KB
//! gRPC upload with four in flight from 1.18-1.33x to 0.99-1.05x the client CPU of a raw
//! tonic call, and from 77-94% to 94-108% of its throughput (paired medians, 6 runs each,
//! `bench/`). If the switch is refused (a kernel without CUBIC, or one that does not allow
//! it), the socket is left as it is. HTTP/1.1 sockets are not switched either: without
//! corking, CUBIC only raised the HTTP upload's client CPU (the same payload, four in
//! flight: 165-170 -> 183-204 µs, 3 runs each). Other systems have no `TCP_CORK`: their
//! writes go out as they are.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Numbers the polls of batching tasks (0 is none).
static POLLS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The poll of a batching task running on this thread, if any.
    static CURRENT_POLL: RefCell<Option<PollState>> = const { RefCell::new(None) };
}

struct PollState {
    id: u64,
    /// The sockets this poll corked, to uncork when it ends (a socket dropped since then
    /// is gone from here too).
    corked: Vec<Weak<Cork>>,
}

/// Spawns hyper's background futures on the current tokio runtime as batching tasks.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Executor;

impl<F> hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(Batching { future });
    }
}

pin_project_lite::pin_project! {
    /// A future whose polls uncork, when they end, the sockets they corked.
    struct Batching<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Batching<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _poll = PollScope::enter();
        self.project().future.poll(cx)
    }
}

/// One poll of a batching task: uncorks what it corked when dropped, panics included.
struct PollScope {
    outer: Option<PollState>,
}

impl PollScope {
    fn enter() -> PollScope {
        let state = PollState {
            id: POLLS.fetch_add(1, Ordering::Relaxed) + 1,
            corked: Vec::new(),
        };
        PollScope {
            outer: CURRENT_POLL.replace(Some(state)),
        }
    }
}

impl Drop for PollScope {
    fn drop(&mut self) {
        let ended = CURRENT_POLL.replace(self.outer.take());
        for cork in ended.into_iter().flat_map(|state| state.corked) {
            if let Some(cork) = cork.upgrade() {
                cork.uncork();
            }
        }
    }
}

/// The cork of a socket that may be corked.
#[derive(Debug)]
struct Cork {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::RawFd,
    corked: AtomicBool,
    #[cfg(test)]
    times_corked: AtomicU64,
}

impl Cork {
    /// A cork for `stream`, or `None` where corking does not help: off Linux, with a
    /// congestion control that cannot be read, and with one that paces (BBR) unless the
    /// peer is on loopback and the socket could be switched to CUBIC.
    #[cfg(target_os = "linux")]
    fn for_stream(stream: &TcpStream) -> Option<Cork> {
        let fd = std::os::fd::AsRawFd::as_raw_fd(stream);
        let congestion = congestion_control(fd)?;
        let loopback = stream
            .peer_addr()
            .is_ok_and(|peer| peer.ip().to_canonical().is_loopback());
        match corking(&congestion, loopback) {
            Corking::Cork => {}
            Corking::SwitchToCubic if set_tcp_option(fd, libc::TCP_CONGESTION, CUBIC) => {}
            Corking::SwitchToCubic | Corking::LeaveAlone => return None,
        }
        Some(Cork {
            fd,
            corked: AtomicBool::new(false),
            #[cfg(test)]
            times_corked: AtomicU64::new(0),
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn for_stream(_stream: &TcpStream) -> Option<Cork> {
        None
    }

    fn is_corked(&self) -> bool {
        self.corked.load(Ordering::Relaxed)
    }

    /// Corks the socket; false if that failed (the writes then go out as they are).
    fn cork(&self) -> bool {
        let corked = self.set_option(true);
        self.corked.store(corked, Ordering::Relaxed);
        #[cfg(test)]
        self.times_corked
            .fetch_add(u64::from(corked), Ordering::Relaxed);
        corked
    }

    /// Uncorks the socket: the kernel sends what it holds at once.
    fn uncork(&self) {
        if self.corked.swap(false, Ordering::Relaxed) {
            self.set_option(false);
        }
    }

    #[cfg(target_os = "linux")]
    fn set_option(&self, on: bool) -> bool {
        // `fd` is still the socket of the stream holding this cork (not a number reused
        // since): a cork is only reached through its stream or through a weak reference,
        // which fails once the stream (and its socket) is gone.
        set_tcp_option(
            self.fd,
            libc::TCP_CORK,
            &libc::c_int::from(on).to_ne_bytes(),
        )
    }

    #[cfg(not(target_os = "linux"))]
    fn set_option(&self, _on: bool) -> bool {
        false
    }
}

/// The congestion control to switch a paced loopback socket to: built into every Linux
/// kernel and allowed to unprivileged processes by default.
#[cfg(any(target_os = "linux", test))]
const CUBIC: &[u8] = b"cubic";

/// Whether to cork a socket, given its congestion control and whether its peer is on
/// loopback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg(any(target_os = "linux", test))]
enum Corking {
    Cork,
    /// Paced (BBR) on loopback: cork once the socket is switched to CUBIC.
    SwitchToCubic,
    /// Paced towards a remote peer: the pacing may matter there, so no cork.
    LeaveAlone,
}

#[cfg(any(target_os = "linux", test))]
fn corking(congestion: &[u8], loopback: bool) -> Corking {
    match (congestion.starts_with(b"bbr"), loopback) {
        (false, _) => Corking::Cork,
        (true, true) => Corking::SwitchToCubic,
        (true, false) => Corking::LeaveAlone,
    }
}

/// The socket's congestion control (`TCP_CONGESTION`), or `None` if it cannot be read.
#[cfg(target_os = "linux")]
fn congestion_control(fd: std::os::fd::RawFd) -> Option<Vec<u8>> {
    let mut name = [0u8; 16];
    let mut len = name.len() as libc::socklen_t;
    // SAFETY: `fd` is an open socket; `name` has `len` bytes.
    let read = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (read == 0).then(|| {
        let name = &name[..(len as usize).min(name.len())];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        name[..end].to_vec()
    })
}

/// Sets a TCP-level socket option (`TCP_CORK`, `TCP_CONGESTION`) to `value`; false if the
/// kernel refused.
#[cfg(target_os = "linux")]
fn set_tcp_option(fd: std::os::fd::RawFd, option: libc::c_int, value: &[u8]) -> bool {
    // SAFETY: the kernel reads `value.len()` bytes from `value`; a bad `fd` is an error.
    let set = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            option,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    };
    set == 0
}

/// A TCP connection whose writes within one poll of a batching task are corked after the
/// first.
#[derive(Debug)]
pub(crate) struct Stream {
    io: TokioIo<TcpStream>,
    cork: Option<Arc<Cork>>,
    /// The batching poll of this stream's last write (0: none).
    last_write_poll: u64,
}

impl Stream {
    /// A stream for a connection; `http2`: whether it carries HTTP/2 (only those may be
    /// corked).
    fn new(io: TokioIo<TcpStream>, http2: bool) -> Stream {
        Stream {
            cork: http2
                .then(|| Cork::for_stream(io.inner()))
                .flatten()
                .map(Arc::new),
            io,
            last_write_poll: 0,
        }
    }

    /// Before a write: corks the socket if it already wrote in this poll.
    fn before_write(&mut self) {
        let Some(cork) = &self.cork else {
            return;
        };
        CURRENT_POLL.with_borrow_mut(|poll| {
            let Some(poll) = poll else {
                self.last_write_poll = 0;
                return;
            };
            if self.last_write_poll == poll.id && !cork.is_corked() && cork.cork() {
                poll.corked.push(Arc::downgrade(cork));
            }
            self.last_write_poll = poll.id;
        });
    }

    /// Whether the socket is corked now (for tests).
    #[cfg(test)]
    fn is_corked(&self) -> bool {
        self.cork.as_ref().is_some_and(|cork| cork.is_corked())
    }
}

impl Read for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.before_write();
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.before_write();
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(cork) = &self.cork {
            cork.uncork();
        }
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

/// Hyper's TCP connector, making [`Stream`]s.
#[derive(Clone, Debug)]
pub(crate) struct Connector {
    tcp: HttpConnector,
    http2: bool,
}

impl Connector {
    /// `http2`: whether the connections will carry HTTP/2 (and so may be corked).
    pub(crate) fn new(tcp: HttpConnector, http2: bool) -> Connector {
        Connector { tcp, http2 }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = <HttpConnector as tower_service::Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.tcp.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.tcp.call(uri);
        let http2 = self.http2;
        Box::pin(async move { connecting.await.map(|io| Stream::new(io, http2)) })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use std::future::poll_fn;
    use std::io::Read as _;

    /// Sets `stream`'s congestion control; false if the kernel lacks it.
    fn set_congestion(stream: &TcpStream, name: &str) -> bool {
        let fd = std::os::fd::AsRawFd::as_raw_fd(stream);
        set_tcp_option(fd, libc::TCP_CONGESTION, name.as_bytes())
    }

    /// A connected pair on 127.0.0.1: our stream, with `congestion` set before it is
    /// wrapped (`None` if the kernel lacks it), and the peer's blocking socket.
    async fn pair(congestion: &str) -> Option<(Stream, std::net::TcpStream)> {
        pair_on("127.0.0.1:0", congestion, true).await
    }

    /// [`pair`] on `address` (a loopback one, port 0), for an HTTP/2 connection or not.
    async fn pair_on(
        address: &str,
        congestion: &str,
        http2: bool,
    ) -> Option<(Stream, std::net::TcpStream)> {
        let listener = std::net::TcpListener::bind(address).unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (peer, _) = listener.accept().unwrap();
        set_congestion(&tcp, congestion).then(|| (Stream::new(TokioIo::new(tcp), http2), peer))
    }

    /// The socket's TCP_CORK as the kernel has it.
    fn kernel_cork(stream: &Stream) -> bool {
        let fd = std::os::fd::AsRawFd::as_raw_fd(stream.io.inner());
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `fd` is the stream's open socket; `value` has `len` bytes.
        let read = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_CORK,
                (&raw mut value).cast(),
                &mut len,
            )
        };
        assert_eq!(read, 0);
        value != 0
    }

    async fn write(stream: &mut Stream, bytes: &[u8]) {
        let n = poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, bytes))
            .await
            .unwrap();
        assert_eq!(n, bytes.len());
    }

    #[tokio::test]
    async fn writes_after_the_first_in_a_poll_are_corked_until_the_poll_ends() {
        let (mut stream, mut peer) = pair("cubic").await.expect("cubic is built in");
        Batching {
            future: async {
                write(&mut stream, b"one").await;
                assert!(!stream.is_corked() && !kernel_cork(&stream), "one write");
                write(&mut stream, b"two").await;
                assert!(stream.is_corked() && kernel_cork(&stream), "a second write");
                write(&mut stream, b"three").await;
            },
        }
        .await;
        assert!(
            !stream.is_corked() && !kernel_cork(&stream),
            "the poll ended"
        );
        let mut got = [0u8; 11];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"onetwothree");

        // The next poll starts afresh; writes outside a batching poll are never corked.
        Batching {
            future: write(&mut stream, b"four"),
        }
        .await;
        write(&mut stream, b"five").await;
        write(&mut stream, b"six").await;
        assert!(!stream.is_corked() && !kernel_cork(&stream));
    }

    #[tokio::test]
    async fn a_panicking_poll_still_uncorks_and_a_dropped_stream_is_left_alone() {
        let (mut stream, _peer) = pair("cubic").await.unwrap();
        let cork = Arc::clone(stream.cork.as_ref().unwrap());
        let mut panicking = Box::pin(Batching {
            future: async {
                write(&mut stream, b"a").await;
                write(&mut stream, b"b").await;
                assert!(kernel_cork(&stream));
                panic!("a task that panics");
            },
        });
        let waker = std::task::Waker::noop();
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            panicking.as_mut().poll(&mut Context::from_waker(waker))
        }));
        assert!(polled.is_err());
        drop(panicking);
        assert!(!cork.is_corked() && !kernel_cork(&stream));

        // Corked, then closed within the poll: the end of the poll finds nothing to do.
        let (stream, _peer) = pair("cubic").await.unwrap();
        Batching {
            future: async move {
                let mut stream = stream;
                write(&mut stream, b"a").await;
                write(&mut stream, b"b").await;
                assert!(stream.is_corked());
                drop(stream);
            },
        }
        .await;
    }

    #[test]
    fn a_paced_socket_is_corked_only_on_loopback_once_switched_to_cubic() {
        assert_eq!(corking(b"cubic", false), Corking::Cork);
        assert_eq!(corking(b"reno", true), Corking::Cork);
        assert_eq!(corking(b"bbr", false), Corking::LeaveAlone);
        assert_eq!(corking(b"bbr", true), Corking::SwitchToCubic);
    }

    #[tokio::test]
    async fn an_http1_socket_is_neither_switched_nor_corked() {
        let Some((stream, _peer)) = pair_on("127.0.0.1:0", "bbr", false).await else {
            eprintln!("skipped: this kernel has no BBR");
            return;
        };
        assert!(stream.cork.is_none());
        let fd = std::os::fd::AsRawFd::as_raw_fd(stream.io.inner());
        assert_eq!(congestion_control(fd).as_deref(), Some(&b"bbr"[..]));
    }

    #[tokio::test]
    async fn a_paced_loopback_socket_is_switched_to_cubic_and_corked() {
        let Some((mut stream, _peer)) = pair("bbr").await else {
            eprintln!("skipped: this kernel has no BBR");
            return;
        };
        let fd = std::os::fd::AsRawFd::as_raw_fd(stream.io.inner());
        assert_eq!(congestion_control(fd).as_deref(), Some(CUBIC));
        assert!(stream.cork.is_some());
        Batching {
            future: async {
                write(&mut stream, b"one").await;
                write(&mut stream, b"two").await;
                assert!(kernel_cork(&stream));
            },
        }
        .await;
        assert!(!kernel_cork(&stream));

        // IPv6's loopback too.
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            let (stream, _peer) = pair_on("[::1]:0", "bbr", true).await.unwrap();
            let fd = std::os::fd::AsRawFd::as_raw_fd(stream.io.inner());
            assert_eq!(congestion_control(fd).as_deref(), Some(CUBIC));
            assert!(stream.cork.is_some());
        }
    }

    /// A server on 127.0.0.1 answering each request with the sum of its body's bytes.
    async fn summing_server(http2: bool) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(|request: http::Request<_>| async {
                let body = hyper::body::Incoming::collect(request.into_body()).await?;
                let sum: u64 = body.to_bytes().iter().map(|&b| u64::from(b)).sum();
                Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::from(sum.to_string()))))
            });
            let io = TokioIo::new(tcp);
            if http2 {
                hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(io, service)
                    .await
                    .unwrap();
            } else {
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                    .unwrap();
            }
        });
        address
    }

    /// hyper's HTTP/1.1 or HTTP/2 client on a [`Stream`], its connection spawned through
    /// [`Executor`] as the transports' are.
    enum Client {
        Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
        Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
    }

    impl Client {
        async fn on(stream: Stream, http2: bool) -> Client {
            if http2 {
                let (sender, connection) = hyper::client::conn::http2::handshake(Executor, stream)
                    .await
                    .unwrap();
                hyper::rt::Executor::execute(&Executor, connection);
                Client::Http2(sender)
            } else {
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(stream).await.unwrap();
                hyper::rt::Executor::execute(&Executor, connection);
                Client::Http1(sender)
            }
        }

        async fn sum_of(&mut self, body: Vec<u8>) -> Bytes {
            let request = http::Request::post("http://127.0.0.1/")
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            let response = match self {
                Client::Http1(sender) => {
                    sender.ready().await.unwrap();
                    sender.send_request(request).await.unwrap()
                }
                Client::Http2(sender) => sender.send_request(request).await.unwrap(),
            };
            response.into_body().collect().await.unwrap().to_bytes()
        }
    }

    /// Twenty 1 MB requests on one connection that may be corked: each arrives whole, and
    /// none waits for the kernel to uncork. Returns how many times the socket was corked.
    async fn large_requests_arrive_whole_and_without_stalls(http2: bool) -> u64 {
        let tcp = TcpStream::connect(summing_server(http2).await)
            .await
            .unwrap();
        assert!(set_congestion(&tcp, "cubic"));
        tcp.set_nodelay(true).unwrap();
        let stream = Stream::new(TokioIo::new(tcp), http2);
        let cork = stream.cork.clone();
        let mut client = Client::on(stream, http2).await;
        let started = std::time::Instant::now();
        for round in 0..20u64 {
            let body: Vec<u8> = (0..1_000_000u64).map(|i| (i * 7 + round) as u8).collect();
            let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
            let answer = client.sum_of(body).await;
            assert_eq!(answer, sum.to_string().as_bytes(), "round {round}");
        }
        // A socket left corked would hold each request's end for the kernel's 200 ms.
        let elapsed = started.elapsed();
        assert!(elapsed < std::time::Duration::from_secs(3), "{elapsed:?}");
        cork.map_or(0, |cork| cork.times_corked.load(Ordering::Relaxed))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn http2_requests_of_many_frames_are_corked_and_arrive_whole_without_stalls() {
        let corked = large_requests_arrive_whole_and_without_stalls(true).await;
        assert!(
            corked >= 20,
            "corked {corked} times for 20 requests of 64 frames"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn large_http1_requests_arrive_whole_uncorked() {
        assert_eq!(
            large_requests_arrive_whole_and_without_stalls(false).await,
            0
        );
    }
}
