//! The metrics pipeline: meters, instruments, in-process aggregation as the selectors say,
//! and collection straight into OTLP protobuf.

#![allow(dead_code)] // the C ABI and the provider use this core in a later step

pub mod aggregate;
pub mod attributes;
pub mod encode;
pub mod instrument;
pub mod pipeline;
pub mod provider;
pub mod settings;

#[cfg(test)]
mod tests;
