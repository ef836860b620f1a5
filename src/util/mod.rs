//! Small tools every layer may use; nothing here knows about Kafka, Kubernetes or topics.

pub mod batch;
pub mod duration;
pub mod memory;
pub mod supervise;
pub mod sync;
pub mod throttle;
