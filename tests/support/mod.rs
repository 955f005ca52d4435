//! Shared helpers for integration tests: `mod support;` in any file under tests/.
//!
//! - [`Receiver`]: real OTLP receivers (gRPC over h2c, OTLP/HTTP over HTTP/1.1 or
//!   h2c) on 127.0.0.1 with scripted replies and fault injection ([`Reply`]), that
//!   record every request ([`Recorded`]).
//! - [`Collector`]: the real OpenTelemetry Collector, started on loopback TCP, TLS or Unix
//!   sockets, and what it received.
//! - [`TinyProxy`]: a real HTTP proxy on loopback, and the requests it logged.
//! - [`sample_resource_metrics`] and friends: realistic, deterministic metrics data.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code, unused_imports)]

mod collector;
mod proxy;
mod receiver;
mod sample;

pub use collector::*;
pub use proxy::*;
pub use receiver::*;
pub use sample::*;
