//! Making connections: TCP to the endpoint, a CONNECT tunnel through an HTTP proxy, or a
//! Unix domain socket; TLS on top for `https://` endpoints.
//!
//! Plain HTTP goes through the proxy's tunnel too, rather than as requests the proxy
//! forwards: a proxy's refusal is then an error of the connection, told apart from the
//! receiver's answers (a forwarded request's 403 could come from either), and HTTP/2
//! (gRPC) could not be forwarded anyway.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::Authority;
use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tower_service::Service;

use crate::config::{Proxy, Settings};

/// The connector of both clients: TLS for `https://` endpoints over whatever [`Route`]
/// reaches the receiver.
pub(super) type Connector = HttpsConnector<Route>;

/// A connector that speaks TLS for `https://` URIs (when `config` is given) and plain
/// for `http://` ones; `http2_only` for gRPC (ALPN "h2").
///
/// TCP sockets have Nagle's algorithm off (`TCP_NODELAY`: a request's last segment leaves
/// at once instead of waiting for the previous one's acknowledgement); nothing else is
/// changed on them.
pub(super) fn connector(
    settings: &Settings,
    config: Option<Arc<ClientConfig>>,
    http2_only: bool,
) -> Connector {
    let config = match config {
        Some(config) => (*config).clone(),
        // Plain endpoints never start TLS; the connector still wants a configuration.
        None => {
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        }
    };
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    let way = match (&settings.unix_socket, &settings.proxy) {
        (Some(path), _) => Way::Unix(path.clone()),
        (None, Some(proxy)) => Way::Tunnel(proxy.clone()),
        (None, None) => Way::Direct,
    };
    let route = Route {
        tcp,
        way: Arc::new(way),
    };
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http();
    if http2_only {
        builder.enable_http2().wrap_connector(route)
    } else {
        builder.enable_http1().wrap_connector(route)
    }
}

/// How connections reach the receiver.
enum Way {
    /// TCP to the endpoint's host and port.
    Direct,
    /// TCP to the proxy, then `CONNECT host:port`; the connection is the receiver's after.
    Tunnel(Proxy),
    /// A Unix domain socket; the endpoint gives only the scheme, `Host` and path.
    Unix(PathBuf),
}

/// The connector under TLS: gets a byte stream to the receiver.
#[derive(Clone)]
pub(super) struct Route {
    tcp: HttpConnector,
    way: Arc<Way>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Service<Uri> for Route {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut tcp = self.tcp.clone();
        let way = self.way.clone();
        Box::pin(async move {
            match &*way {
                Way::Direct => Ok(Stream::Tcp(tcp.call(dst).await?)),
                Way::Tunnel(proxy) => Ok(Stream::Tcp(tunnel(&mut tcp, proxy, &dst).await?)),
                Way::Unix(path) => {
                    let stream = UnixStream::connect(path).await.map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("cannot connect to Unix socket {}: {e}", path.display()),
                        )
                    })?;
                    Ok(Stream::Unix(TokioIo::new(stream)))
                }
            }
        })
    }
}

/// A connection-level error naming the proxy (whose URI never holds credentials).
fn proxy_unreachable(proxy: &Uri, error: &dyn std::error::Error) -> BoxError {
    format!(
        "cannot connect to proxy {}: {}",
        proxy_address(proxy),
        super::error_chain(error)
    )
    .into()
}

fn proxy_address(proxy: &Uri) -> String {
    proxy
        .authority()
        .map_or_else(|| proxy.to_string(), Authority::to_string)
}

/// The longest CONNECT response head read before giving up on the proxy.
const MAX_CONNECT_RESPONSE_BYTES: usize = 8192;

/// Opens a CONNECT tunnel through `proxy` to `dst`'s host and port.
///
/// The response head is read one byte at a time: bytes after it already belong to the
/// receiver (an HTTP/2 server sends its settings at once) and must stay in the socket for
/// the protocol above.
async fn tunnel(
    tcp: &mut HttpConnector,
    proxy: &Proxy,
    dst: &Uri,
) -> Result<TokioIo<TcpStream>, BoxError> {
    let address = proxy_address(&proxy.uri);
    let host = dst.host().ok_or("the endpoint has no host")?;
    let port = dst.port_u16().unwrap_or(match dst.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    // An IPv6 literal keeps its brackets in `host()`, as CONNECT's authority-form wants.
    let target = format!("{host}:{port}");
    let stream = tcp
        .call(proxy.uri.clone())
        .await
        .map_err(|e| proxy_unreachable(&proxy.uri, &e))?;
    let mut stream = stream.into_inner();
    let failed = |what: &str, e: io::Error| -> BoxError {
        format!("proxy {address}: {what} the CONNECT tunnel to {target}: {e}").into()
    };
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n").into_bytes();
    if let Some(authorization) = &proxy.authorization {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(authorization.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    stream
        .write_all(&request)
        .await
        .map_err(|e| failed("sending", e))?;
    let mut head = Vec::with_capacity(128);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_CONNECT_RESPONSE_BYTES {
            return Err(format!(
                "proxy {address}: its answer to CONNECT {target} is over \
                 {MAX_CONNECT_RESPONSE_BYTES} bytes"
            )
            .into());
        }
        match stream.read_u8().await {
            Ok(byte) => head.push(byte),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(format!(
                    "proxy {address} closed the connection instead of answering CONNECT {target}"
                )
                .into())
            }
            Err(e) => return Err(failed("reading the answer to", e)),
        }
    }
    let status_line = head
        .split(|&b| b == b'\r')
        .next()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(TokioIo::new(stream)),
        // 407 is the standard answer; some proxies (tinyproxy) answer 401.
        Some(401 | 407) => Err(format!(
            "proxy {address} wants credentials for CONNECT {target} ({}){}",
            super::excerpt(&status_line),
            if proxy.authorization.is_some() {
                ": the proxy URL's user and password were refused"
            } else {
                ": give them in the proxy URL (http://user:password@host:port)"
            }
        )
        .into()),
        _ => Err(format!(
            "proxy {address} refused the CONNECT tunnel to {target}: {}",
            super::excerpt(&status_line)
        )
        .into()),
    }
}

/// A connection to the receiver.
pub(super) enum Stream {
    Tcp(TokioIo<TcpStream>),
    Unix(TokioIo<UnixStream>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match self {
            Stream::Tcp(stream) => stream.connected(),
            Stream::Unix(stream) => stream.connected(),
        }
    }
}

macro_rules! each_stream {
    ($self:ident, $stream:ident => $body:expr) => {
        match Pin::get_mut($self) {
            Stream::Tcp($stream) => {
                let $stream = Pin::new($stream);
                $body
            }
            Stream::Unix($stream) => {
                let $stream = Pin::new($stream);
                $body
            }
        }
    };
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        each_stream!(self, stream => stream.poll_read(cx, buf))
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self, stream => stream.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, stream => stream.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, stream => stream.poll_shutdown(cx))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(stream) => stream.is_write_vectored(),
            Stream::Unix(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self, stream => stream.poll_write_vectored(cx, bufs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A proxy that answers the CONNECT request head with `answer` in one write.
    async fn fake_proxy(answer: &'static [u8]) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(socket.read_u8().await.unwrap());
            }
            assert!(head.starts_with(b"CONNECT receiver:4317 HTTP/1.1\r\n"));
            socket.write_all(answer).await.unwrap();
            // Keep the socket open until the client is done.
            let _ = socket.read_u8().await;
        });
        Proxy {
            uri: format!("http://127.0.0.1:{port}/").parse().unwrap(),
            authorization: None,
        }
    }

    fn tcp() -> HttpConnector {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp
    }

    #[tokio::test]
    async fn bytes_after_the_connect_answer_stay_for_the_protocol_above() {
        // An HTTP/2 server's first frame can arrive in the same segment as the answer.
        let proxy = fake_proxy(b"HTTP/1.1 200 Connection established\r\n\r\nSETTINGS").await;
        let dst = Uri::from_static("http://receiver:4317");
        let stream = tunnel(&mut tcp(), &proxy, &dst).await.unwrap();
        let mut stream = stream.into_inner();
        let mut early = [0u8; 8];
        stream.read_exact(&mut early).await.unwrap();
        assert_eq!(&early, b"SETTINGS");
    }

    #[tokio::test]
    async fn a_refusal_names_the_proxy_and_its_answer() {
        let proxy = fake_proxy(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n").await;
        let dst = Uri::from_static("http://receiver:4317");
        let err = tunnel(&mut tcp(), &proxy, &dst).await.err().unwrap();
        let text = err.to_string();
        assert!(
            text.contains("refused the CONNECT tunnel to receiver:4317: HTTP/1.1 403 Forbidden"),
            "{text}"
        );
        assert!(text.contains(&proxy_address(&proxy.uri)), "{text}");
    }
}
