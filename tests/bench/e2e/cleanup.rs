//! Step 8: everything the run made, removed (also after a failure).

use super::*;

/// Stops the operator, deletes the KafkaTopics, the cluster and the namespace, and every Kafka
/// topic of this run. Errors are reported, not returned: cleanup goes as far as it can.
pub async fn cleanup(cx: &Ctx, op: Option<&mut Operator>) {
    progress("cleanup");
    if let Some(op) = op {
        op.stop().await;
    }
    // The run's namespaces by its label too: `--cleanup RUN` does not know how many there were.
    let mut namespaces = cx.namespaces();
    let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cx.client.clone());
    match ns_api
        .list_metadata(&ListParams::default().labels(&cx.selector()))
        .await
    {
        Ok(list) => namespaces.extend(list.items.into_iter().filter_map(|n| n.metadata.name)),
        Err(e) => progress(format!("listing the run's namespaces: {e}")),
    }
    namespaces.sort();
    namespaces.dedup();
    let deletions = namespaces.iter().map(|ns| delete_namespace(cx, ns));
    futures::stream::iter(deletions)
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut ticker = Ticker::new();
    let mut last_delete: Option<Instant> = None;
    loop {
        let names: Vec<String> = match cx.metadata().await {
            Ok(md) => md
                .into_keys()
                .filter(|k| k.starts_with(&cx.prefix))
                .collect(),
            Err(e) => {
                progress(format!("Kafka metadata: {e}"));
                vec![]
            }
        };
        if names.is_empty() {
            progress("cleanup done");
            return;
        }
        if Instant::now() > deadline {
            progress(format!(
                "{} topics of this run ({}-*) are still in Kafka after 600 s",
                names.len(),
                cx.prefix
            ));
            return;
        }
        // Metadata lags behind a deletion for a moment: delete again only what stays 30 s.
        if last_delete.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
            progress(format!("deleting {} Kafka topics", names.len()));
            let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(120)));
            for batch in names.chunks(500) {
                let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
                if let Err(e) = cx.admin.delete_topics(&refs, &opts).await {
                    progress(format!("DeleteTopics: {e}"));
                }
            }
            last_delete = Some(Instant::now());
        }
        ticker.tick(|| format!("{} topics of this run still in Kafka", names.len()));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The KafkaTopics and KafkaClusters of one namespace, then the namespace.
async fn delete_namespace(cx: &Ctx, ns: &str) {
    let (dp, lp) = (DeleteParams::default(), ListParams::default());
    if let Err(e) = cx.topic_api(ns).delete_collection(&dp, &lp).await {
        progress(format!("deleting the KafkaTopics in {ns}: {e}"));
    }
    if let Err(e) = cx.cluster_api(ns).delete_collection(&dp, &lp).await {
        progress(format!("deleting the KafkaClusters in {ns}: {e}"));
    }
    // Without a namespace controller (no controller-manager in the environment), the namespace
    // stays Terminating; it is empty of KafkaTopics, and its name is never reused.
    if let Err(e) = cx
        .kubectl(
            &[
                "delete",
                "namespace",
                ns,
                "--wait=false",
                "--ignore-not-found",
            ],
            Duration::from_secs(60),
        )
        .await
    {
        progress(format!("deleting the namespace {ns}: {e}"));
    }
}
