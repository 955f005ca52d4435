//! How requests travel: the OTLP protocol and the payload compression, with the numbers
//! of the C contract and the names of the environment variables' values.

/// The OTLP transport protocol; numbers as in the C contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC.
    Grpc = 1,
    /// OTLP/HTTP with protobuf bodies.
    HttpProtobuf = 2,
    /// OTLP/HTTP with JSON bodies.
    HttpJson = 3,
}

impl Protocol {
    /// The protocol with number `value`, if there is one.
    pub fn from_i32(value: i32) -> Option<Self> {
        match value {
            1 => Some(Protocol::Grpc),
            2 => Some(Protocol::HttpProtobuf),
            3 => Some(Protocol::HttpJson),
            _ => None,
        }
    }

    /// Parses the spec's `OTEL_EXPORTER_OTLP_PROTOCOL` values.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "http/json" => Some(Protocol::HttpJson),
            _ => None,
        }
    }

    pub(super) fn is_http(self) -> bool {
        self != Protocol::Grpc
    }
}

/// Payload compression; numbers as in the C contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None = 0,
    /// gzip.
    Gzip = 1,
    /// Zstandard.
    Zstd = 2,
}

impl Compression {
    /// The compression with number `value`, if there is one.
    pub fn from_i32(value: i32) -> Option<Self> {
        match value {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// Parses `OTEL_EXPORTER_OTLP_COMPRESSION` values, which are also the content-coding
    /// names.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            "none" => Some(Compression::None),
            _ => None,
        }
    }

    /// The content-coding name (HTTP `Content-Encoding`, gRPC `grpc-encoding`), or `None`
    /// for no compression.
    pub(crate) fn encoding(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
        }
    }
}
