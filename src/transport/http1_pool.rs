//! HTTP/1.1 connections that the task sending a request drives itself.
//!
//! A pooled client such as hyper_util's runs every connection as a task on the runtime's
//! worker and passes each request to it, and the response back: two cross-thread
//! wake-ups per request. Here the future that sends a request also polls its connection,
//! so an upload's request is written by the calling thread, and only the response's
//! arrival wakes it (from the worker, which runs the I/O driver).
//!
//! Idle connections wait unpolled in a last-in-first-out pool. One poll when a connection
//! is taken out reads a close the receiver sent meanwhile, and a request that a reused
//! connection lost before any answer (the receiver closed it just then) is sent again at
//! once on a new connection, as hyper_util's pool does.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::response::Parts;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_rustls::MaybeHttpsStream;
use tower_service::Service;

use super::connect::{Connector, Stream};
use crate::sync::lock;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Io = MaybeHttpsStream<Stream>;

/// Idle connections kept at most: more than the uploads one exporter usually has in
/// flight at once; a connection beyond it is closed when its request ends.
const MAX_IDLE: usize = 32;

/// One HTTP/1.1 connection: where requests go in, and the future that runs it.
type Conn = (SendRequest<Full<Bytes>>, Connection<Io, Full<Bytes>>);

/// A connection between requests, and when its last request ended.
struct Idle {
    conn: Conn,
    since: Instant,
}

/// Why a request got no response.
pub(super) enum Failure {
    /// No connection could be made (connector, proxy, TLS or HTTP handshake).
    Connect(BoxError),
    /// The connection failed during the exchange.
    Exchange(hyper::Error),
}

/// The HTTP/1.1 connections to one endpoint.
pub(super) struct Pool {
    connector: Connector,
    /// What the connector connects to (scheme, host and port).
    endpoint: Uri,
    idle_timeout: Duration,
    idle: Mutex<Vec<Idle>>,
}

impl Pool {
    pub(super) fn new(connector: Connector, endpoint: Uri, idle_timeout: Duration) -> Pool {
        Pool {
            connector,
            endpoint,
            idle_timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends the request `build` makes and reads the response, its body up to
    /// `max_body_bytes` (the body's error says when it is longer). `build` is called
    /// again when a reused connection lost the first request before any answer.
    pub(super) async fn send(
        &self,
        build: impl Fn() -> Request<Full<Bytes>>,
        max_body_bytes: usize,
    ) -> Result<(Parts, Result<Bytes, BoxError>), Failure> {
        if let Some(conn) = self.checkout() {
            match self.exchange(conn, build(), max_body_bytes).await {
                Err(Failure::Exchange(e)) if e.is_canceled() || e.is_incomplete_message() => {}
                done => return done,
            }
        }
        let fresh = self.connect().await?;
        self.exchange(fresh, build(), max_body_bytes).await
    }

    /// The most recently used idle connection that is still open.
    fn checkout(&self) -> Option<Conn> {
        loop {
            let Idle { conn, since } = lock(&self.idle).pop()?;
            if since.elapsed() >= self.idle_timeout {
                // The others went idle earlier still.
                lock(&self.idle).clear();
                return None;
            }
            let (sender, mut connection) = conn;
            let mut context = Context::from_waker(Waker::noop());
            let closed = Pin::new(&mut connection).poll(&mut context).is_ready();
            if !closed && sender.is_ready() {
                return Some((sender, connection));
            }
        }
    }

    async fn connect(&self) -> Result<Conn, Failure> {
        let io = self
            .connector
            .clone()
            .call(self.endpoint.clone())
            .await
            .map_err(Failure::Connect)?;
        http1::handshake(io)
            .await
            .map_err(|e| Failure::Connect(e.into()))
    }

    /// One request and its response on `conn`, polling the connection meanwhile; the
    /// connection goes back to the pool once the response is read.
    async fn exchange(
        &self,
        (mut sender, connection): Conn,
        request: Request<Full<Bytes>>,
        max_body_bytes: usize,
    ) -> Result<(Parts, Result<Bytes, BoxError>), Failure> {
        let mut connection = Some(connection);
        let outcome = {
            let exchange = async {
                let response = sender.send_request(request).await?;
                let (parts, body) = response.into_parts();
                let body = Limited::new(body, max_body_bytes)
                    .collect()
                    .await
                    .map(|collected| collected.to_bytes());
                Ok::<_, hyper::Error>((parts, body))
            };
            let mut exchange = std::pin::pin!(exchange);
            poll_fn(|cx| {
                if let Poll::Ready(outcome) = exchange.as_mut().poll(cx) {
                    return Poll::Ready(outcome);
                }
                if let Some(open) = connection.as_mut() {
                    if Pin::new(open).poll(cx).is_ready() {
                        // Closed: the exchange ends with what the connection delivered
                        // before (a whole response, or an error saying it was cut short).
                        connection = None;
                        return exchange.as_mut().poll(cx);
                    }
                }
                Poll::Pending
            })
            .await
        };
        let (parts, body) = outcome.map_err(Failure::Exchange)?;
        if let (Some(connection), true) = (connection, body.is_ok()) {
            let mut idle = lock(&self.idle);
            if idle.len() < MAX_IDLE {
                idle.push(Idle {
                    conn: (sender, connection),
                    since: Instant::now(),
                });
            }
        }
        Ok((parts, body))
    }
}
