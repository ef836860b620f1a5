//! What `plan` reads from the apiserver: the KafkaCluster (with `--cluster-ref`) and every live
//! KafkaTopic (one list; the caller needs `get` on kafkaclusters and `list` on kafkatopics in
//! every namespace).

use anyhow::Context as _;
use kube::Api;
use kube::api::ListParams;

use crate::api::{KafkaCluster, KafkaTopic};

/// `NAMESPACE/NAME`, split.
pub fn parse_ref(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(format!(
            "{text:?} is not NAMESPACE/NAME (e.g. kafka/main); for a file, use --cluster"
        )),
    }
}

pub async fn cluster(
    client: &kube::Client,
    (ns, name): &(String, String),
) -> anyhow::Result<KafkaCluster> {
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    api.get_opt(name)
        .await
        .with_context(|| format!("reading KafkaCluster {ns}/{name} from the apiserver"))?
        .with_context(|| format!("KafkaCluster {ns}/{name} does not exist"))
}

pub async fn topics(client: &kube::Client) -> anyhow::Result<Vec<KafkaTopic>> {
    let api: Api<KafkaTopic> = Api::all(client.clone());
    Ok(api
        .list(&ListParams::default())
        .await
        .context("listing the live KafkaTopics in every namespace (the plan needs list on kafkatopics cluster-wide)")?
        .items)
}
