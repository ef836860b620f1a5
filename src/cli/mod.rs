//! Offline commands that read manifests and the live cluster: `plan` (what reconcile would do,
//! for GitOps reviews) and `import` (KafkaTopic YAML for topics that already exist), with the
//! same TLS/SASL settings as the operator (`security`).

pub mod import;
pub mod manifests;
pub mod plan;
pub mod security;
