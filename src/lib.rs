//! kafka-topic-operator: makes Kafka topics match their KafkaTopic declarations.
//!
//! Data flows one way: watch -> observe (a batched Kafka snapshot per cluster) -> plan (pure)
//! -> apply (Kafka admin calls) -> report (status, events). See docs/architecture.md.

pub mod api;
pub mod apiserver;
pub mod cli;
pub mod cluster;
pub mod controller;
#[cfg(test)]
pub mod fixtures;
pub mod http;
pub mod kafka;
pub mod leader;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod telemetry;
pub mod util;
