//! Pure planning: desired topic + observed topic -> actions, drift, warnings. No I/O, no clock,
//! no randomness: the same inputs always give the same plan, so it is tested exhaustively here
//! and the controller only carries it out.
//!
//! `topic.rs` plans one topic (creation, or the changes to an existing one) from `types.rs`'s
//! pieces, using `configs.rs` (config drift, the min ISR hold), `replicas.rs` (moves and their
//! throttles) and `placement.rs` (where replicas go) over the cluster's `view.rs`.

mod configs;
pub mod desired;
pub mod health;
mod ignored;
pub mod placement;
mod replicas;
mod topic;
mod types;
mod view;
pub mod warnings;

pub use ignored::IgnoredKeys;
pub use topic::plan_topic;
pub use types::{
    Action, Blocker, Drift, Memory, OPERATOR_OWNED_CONFIGS, Progress, TopicPlan, UNSET,
    internal_topic, not_enough_brokers,
};
pub use view::ClusterView;

#[cfg(test)]
mod tests;
