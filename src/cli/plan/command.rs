//! `plan`'s flags and its reads (files, apiserver, Kafka); the plan itself is pure (mod.rs).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::report::EXIT_ERROR;
use super::{Inputs, Scope, live, plan_against};
use crate::apiserver::{Timeouts, client_with};
use crate::cli::kube::KubeArgs;
use crate::cli::manifests;
use crate::cli::security::{self, SecurityArgs};
use crate::kafka::{KafkaAdmin, KafkaProtocolAdmin};
use crate::util::duration::parse_duration;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("planned").required(true).args(["cluster", "cluster_ref"])))]
pub struct PlanArgs {
    /// A file holding the KafkaCluster to plan against (bootstrap servers, topicDefaults,
    /// policy). Its namespace, if it names none, is --namespace's.
    #[arg(long, value_name = "FILE")]
    pub cluster: Option<PathBuf>,
    /// The KafkaCluster to plan against, read from the apiserver. Implies --live.
    #[arg(long, value_name = "NAMESPACE/NAME", value_parser = live::parse_ref)]
    pub cluster_ref: Option<(String, String)>,
    /// Files and directories (read recursively) with KafkaTopic manifests; other kinds are
    /// skipped.
    #[arg(short = 'f', long = "file", required = true)]
    pub files: Vec<PathBuf>,
    /// The namespace of manifests that name none, as with kubectl apply -n (default: the
    /// kubeconfig context's namespace when the apiserver is read, else "default").
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Read the live KafkaTopics from the apiserver (implied by --cluster-ref, --kubeconfig and
    /// --context): shows the KafkaTopics the files leave out (a deletionPolicy Delete one
    /// deletes its topic) and conflicts with KafkaTopics outside the files.
    #[arg(long)]
    pub live: bool,
    /// The namespaces whose KafkaTopics the files hold in full: a live KafkaTopic there for
    /// this KafkaCluster that the files leave out is shown as removed. Comma-separated; `*`:
    /// every namespace. Default: the namespaces of the files' KafkaTopics and --namespace.
    #[arg(long, value_delimiter = ',', value_name = "NAMESPACES")]
    pub scope: Vec<String>,
    /// Output format: text, or json (schema in docs/cli.md).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Format,
    /// Timeout of each step of a Kafka request, e.g. 15s, 1m30s.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub kafka_timeout: Duration,
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// Runs `plan` and returns the process's exit code (report.rs); errors are printed to stderr.
pub async fn run(args: PlanArgs) -> i32 {
    match plan(&args).await {
        Ok(report) => {
            match args.output {
                Format::Text => print!("{}", super::render_text(&report)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("the report serializes")
                ),
            }
            report.exit_code
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_ERROR
        }
    }
}

async fn plan(args: &PlanArgs) -> anyhow::Result<super::PlanReport> {
    let mut files = manifests::read_topics(&args.files)?;
    let read_live = args.live || args.cluster_ref.is_some() || args.kube.given();
    let (client, context_namespace) = if read_live {
        let config = args.kube.config().await?;
        let namespace = config.default_namespace.clone();
        let client = client_with(config, Timeouts::CALLS).context("connecting to Kubernetes")?;
        (Some(client), Some(namespace))
    } else {
        (None, None)
    };
    let namespace = args
        .namespace
        .clone()
        .or(context_namespace)
        .unwrap_or_else(|| "default".into());
    let (mut cluster, cluster_source) = match (&args.cluster, &args.cluster_ref, &client) {
        (Some(path), _, _) => (manifests::read_cluster(path)?, path.display().to_string()),
        (None, Some(reference), Some(client)) => {
            (live::cluster(client, reference).await?, "apiserver".into())
        }
        _ => unreachable!("clap requires --cluster or --cluster-ref"),
    };
    cluster
        .metadata
        .namespace
        .get_or_insert_with(|| namespace.clone());
    for (_, topic) in &mut files {
        topic
            .metadata
            .namespace
            .get_or_insert_with(|| namespace.clone());
    }
    let security = security::resolve(
        &args.security,
        cluster.spec.security.as_ref(),
        std::env::var_os(security::PASSWORD_ENV),
    )?;
    let live_topics = match &client {
        Some(client) => Some(live::topics(client).await?),
        None => None,
    };
    let admin = KafkaProtocolAdmin::with_security(
        cluster.spec.bootstrap_servers.clone(),
        security.clone(),
        args.kafka_timeout,
    );
    let snapshot = admin
        .snapshot()
        .await
        .map_err(|e| anyhow::anyhow!(security::explain(&e, &security)))?;
    let scope = if args.scope.iter().any(|s| s == "*") {
        Scope::All
    } else if !args.scope.is_empty() {
        Scope::Namespaces(args.scope.iter().cloned().collect())
    } else {
        let mut namespaces: BTreeSet<String> = files
            .iter()
            .filter_map(|(_, t)| t.metadata.namespace.clone())
            .collect();
        namespaces.insert(namespace);
        Scope::Namespaces(namespaces)
    };
    Ok(plan_against(&Inputs {
        cluster: &cluster,
        cluster_source,
        files: &files,
        snapshot: &snapshot,
        live: live_topics.as_deref().map(|topics| (topics, scope)),
        now: Time(k8s_openapi::jiff::Timestamp::now()),
    }))
}
