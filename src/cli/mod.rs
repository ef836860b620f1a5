//! Commands that read manifests and the live cluster: `plan` (what merging a directory of
//! manifests would do, for GitOps reviews in CI) and `import` (KafkaTopic YAML for topics that
//! already exist), with the same TLS/SASL settings as the operator (`security`) and the
//! apiserver named as kubectl names it (`kube`).

pub mod import;
pub mod kube;
pub mod manifests;
pub mod plan;
pub mod run;
pub mod security;
