//! Which apiserver a subcommand talks to: `--kubeconfig` and `--context`, as kubectl takes
//! them; without either, $KUBECONFIG, ~/.kube/config or the in-cluster config.

use std::path::PathBuf;

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};

#[derive(clap::Args, Clone, Debug, Default)]
#[command(next_help_heading = "Kubernetes API server")]
pub struct KubeArgs {
    /// The kubeconfig file to use (default: $KUBECONFIG, else ~/.kube/config, else the
    /// in-cluster service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current-context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

impl KubeArgs {
    /// Whether either flag was given.
    pub fn given(&self) -> bool {
        self.kubeconfig.is_some() || self.context.is_some()
    }

    /// The client configuration these flags name. A file or context given and not found is an
    /// error, never a fall-back to another cluster.
    pub async fn config(&self) -> anyhow::Result<kube::Config> {
        if !self.given() {
            return kube::Config::infer()
                .await
                .context("reading the Kubernetes client configuration ($KUBECONFIG, ~/.kube/config or in-cluster; or give --kubeconfig)");
        }
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let kubeconfig = match &self.kubeconfig {
            Some(path) => Kubeconfig::read_from(path)
                .with_context(|| format!("reading --kubeconfig {}", path.display()))?,
            None => Kubeconfig::read()
                .context("reading the kubeconfig ($KUBECONFIG or ~/.kube/config)")?,
        };
        kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| match &self.context {
                Some(context) => anyhow::anyhow!("--context {context}: {e}"),
                None => anyhow::anyhow!("loading the kubeconfig: {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: one
  cluster: {server: 'https://one.example:6443'}
- name: two
  cluster: {server: 'https://two.example:6443'}
users:
- name: u
  user: {token: t}
contexts:
- name: first
  context: {cluster: one, user: u, namespace: team-a}
- name: second
  context: {cluster: two, user: u}
current-context: first
";

    fn kubeconfig_file() -> PathBuf {
        let path = std::env::temp_dir().join(format!("kto-kubeconfig-{}", std::process::id()));
        std::fs::write(&path, KUBECONFIG).unwrap();
        path
    }

    #[tokio::test]
    async fn the_file_and_context_given_are_used() {
        let path = kubeconfig_file();
        let args = |context: Option<&str>| KubeArgs {
            kubeconfig: Some(path.clone()),
            context: context.map(String::from),
        };
        let current = args(None).config().await.unwrap();
        assert_eq!(current.cluster_url.host(), Some("one.example"));
        assert_eq!(current.default_namespace, "team-a");
        let second = args(Some("second")).config().await.unwrap();
        assert_eq!(second.cluster_url.host(), Some("two.example"));
        assert_eq!(second.default_namespace, "default");
        let missing = args(Some("third")).config().await.unwrap_err().to_string();
        assert!(missing.starts_with("--context third: "), "{missing}");
        let no_file = KubeArgs {
            kubeconfig: Some("/nonexistent/kubeconfig".into()),
            context: None,
        };
        let err = format!("{:#}", no_file.config().await.unwrap_err());
        assert!(
            err.starts_with("reading --kubeconfig /nonexistent/kubeconfig"),
            "{err}"
        );
        std::fs::remove_file(path).unwrap();
    }
}
