//! `kafka-topic-operator run`: the controllers, alone or under leader election, until SIGTERM.

use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::apiserver;
use crate::cli::kube::KubeArgs;
use crate::controller::{self, Settings};
use crate::kafka::fence::WriteFence;
use crate::leader::{Elector, Ended, LeaseSettings, lead};
use crate::telemetry::{self, LogFormat};
use crate::util::duration::parse_duration;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "KTO_NAMESPACE")]
    pub namespace: Option<String>,
    /// Only KafkaTopics and KafkaClusters matching this label selector (e.g. shard=a).
    #[arg(long, env = "KTO_SELECTOR")]
    pub selector: Option<String>,
    /// Namespaces whose KafkaClusters govern the Kafkas they reach: their tenancy rules
    /// apply to every KafkaTopic on that Kafka, whichever KafkaCluster it names
    /// (comma-separated; the chart sets its own namespace).
    #[arg(long, env = "KTO_PLATFORM_NAMESPACES", value_delimiter = ',')]
    pub platform_namespaces: Vec<String>,
    /// How often each cluster is re-read and drift corrected, e.g. 30s, 2m.
    #[arg(long, env = "KTO_RESYNC_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// Timeout of each step of a Kafka request (a connect, an answer). A whole request,
    /// every bootstrap server tried included, takes at most twice this (a write: this plus
    /// 40 s, its answer wait).
    #[arg(long, env = "KTO_KAFKA_TIMEOUT", default_value = "15s", value_parser = parse_duration)]
    pub kafka_timeout: Duration,
    /// Address of the /metrics, /healthz and /readyz endpoints ("off" to disable).
    #[arg(long, env = "KTO_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: String,
    /// Elect a leader among replicas through a Lease: only the leader reconciles.
    #[arg(long, env = "KTO_LEADER_ELECTION")]
    pub leader_election: bool,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else "default").
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    #[arg(long, env = "KTO_LEASE_NAME", default_value = "kafka-topic-operator")]
    pub lease_name: String,
    /// A lease not renewed for this long may be taken over by a standby replica.
    #[arg(long, env = "KTO_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How often the leader renews its lease.
    #[arg(long, env = "KTO_LEASE_RENEW", default_value = "5s", value_parser = parse_duration)]
    pub lease_renew: Duration,
    /// KafkaTopic reconciles (and, apart, KafkaCluster reconciles) running at once. Too few
    /// cut the batches a mass creation is sent to Kafka in; see docs/deployment.md.
    #[arg(long, env = "KTO_MAX_CONCURRENT_RECONCILES", default_value_t = controller::DEFAULT_MAX_CONCURRENT_RECONCILES, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_reconciles: u16,
    /// New KafkaTopics a second that make a bulk apply, during which the operator holds its
    /// status writes and events (at most 60 s) so as not to slow the apply; 0 never holds.
    /// See docs/architecture.md.
    #[arg(long, env = "KTO_BULK_APPLY_ARRIVALS", default_value_t = controller::bulk_apply::DEFAULT_LIMITS.arrivals)]
    pub bulk_apply_arrivals: usize,
    /// Log format.
    #[arg(long, env = "KTO_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let RunArgs {
        namespace,
        selector,
        platform_namespaces,
        resync_interval,
        kafka_timeout,
        http_addr,
        leader_election,
        lease_namespace,
        lease_name,
        lease_duration,
        lease_renew,
        max_concurrent_reconciles,
        bulk_apply_arrivals,
        log_format,
        kube,
    } = args;
    if leader_election {
        check_lease_timing(lease_duration, lease_renew)?;
    }
    let http_addr = match http_addr.as_str() {
        "off" => None,
        addr => Some(
            addr.parse()
                .with_context(|| format!("--http-addr {addr:?} is not an address"))?,
        ),
    };
    telemetry::init(log_format);
    // The Lease has a client (and connections) of its own: renewals must not queue
    // behind the controllers' requests, or a leader busy with thousands of objects
    // would lose its lease (and restart) because of its own traffic.
    let (clients, lease_client) = apiserver::connect(kube.config().await?, lease_renew)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    info!(
        version = env!("CARGO_PKG_VERSION"),
        "kafka-topic-operator starting"
    );
    // With leader election, Kafka writes go out only while the lease is surely ours;
    // the elector below opens and closes the fence the Kafka clients are built with.
    let lease_fence = WriteFence::closed();
    let settings = Settings {
        namespace,
        selector,
        resync: resync_interval,
        kafka_timeout,
        http_addr: None,
        write_fence: if leader_election {
            lease_fence.clone()
        } else {
            WriteFence::always_open()
        },
        platform_namespaces,
        max_concurrent_reconciles,
        bulk_apply: controller::bulk_apply::Limits {
            arrivals: bulk_apply_arrivals,
            ..controller::bulk_apply::DEFAULT_LIMITS
        },
    };
    let runtime = controller::Runtime::new(&settings);
    if let Some(addr) = http_addr {
        runtime.serve_http(addr, shutdown.clone());
    }
    let healthy = runtime.healthy.clone();
    if !leader_election {
        // The only replica: it runs the controllers from the start.
        runtime.metrics.leader.set(1);
        let leading = shutdown.child_token();
        let controllers = tokio::spawn(controller::run_with(
            clients,
            settings,
            runtime,
            leading.clone(),
        ));
        // Nothing to hold or give up: the term lasts until shutdown.
        let until_shutdown = |stop: CancellationToken| async move {
            stop.cancelled().await;
            true
        };
        let ended = lead(until_shutdown, controllers, leading, &shutdown, &healthy).await;
        return exit_after(ended);
    }
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
        format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "kto".into()),
            std::process::id()
        )
    });
    let elector = Elector::new(
        lease_client,
        LeaseSettings {
            namespace: lease_namespace,
            name: lease_name,
            identity,
            duration: lease_duration,
            renew: lease_renew,
        },
        lease_fence,
    )
    .with_leader_gauge(runtime.metrics.leader.clone());
    // A standby replica is healthy and ready: it can take over at any moment.
    runtime
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
    if !elector.acquire(&shutdown).await {
        return Ok(());
    }
    let leading = shutdown.child_token();
    let controllers = tokio::spawn(controller::run_with(
        clients,
        settings,
        runtime,
        leading.clone(),
    ));
    // Elector::hold gives the lease up in order (fence closed, writes drained, Lease
    // released) on SIGTERM, and also when the controllers end on their own.
    let hold = |give_up: CancellationToken| async move { elector.hold(&give_up).await };
    exit_after(lead(hold, controllers, leading, &shutdown, &healthy).await)
}

/// The process's exit: 0 after a shutdown, an error (and a restart by the kubelet) otherwise.
fn exit_after(ended: Ended) -> anyhow::Result<()> {
    match ended {
        Ended::Shutdown => Ok(()),
        // Another replica leads now; exit so that this one restarts as a standby.
        Ended::LostLease => anyhow::bail!("lost leadership"),
        Ended::ControllersEnded(why) => anyhow::bail!("the controllers ended: {why}"),
    }
}

/// The leader writes to Kafka only until `duration - renew` after each renewal: that window
/// must leave room for a renewal to fail and be retried, and for a write's round trip.
fn check_lease_timing(duration: Duration, renew: Duration) -> anyhow::Result<()> {
    if renew.is_zero() || renew * 2 > duration {
        anyhow::bail!(
            "--lease-renew ({}s) must be more than 0 and at most half of --lease-duration ({}s): the leader writes to Kafka only until duration - renew after each renewal, and a standby takes over after duration",
            renew.as_secs_f32(),
            duration.as_secs_f32()
        );
    }
    Ok(())
}

/// SIGTERM (Kubernetes stopping the pod) or Ctrl-C: finish in-flight reconciles and exit.
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received; shutting down"),
        _ = tokio::signal::ctrl_c() => info!("interrupt received; shutting down"),
    }
    shutdown.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Run {
        #[command(flatten)]
        args: RunArgs,
    }

    #[test]
    fn lease_timings_that_leave_no_room_to_write_or_renew_are_refused() {
        let s = Duration::from_secs;
        assert!(check_lease_timing(s(15), s(5)).is_ok());
        assert!(check_lease_timing(s(6), s(3)).is_ok());
        let err = check_lease_timing(s(6), s(4)).unwrap_err().to_string();
        assert!(err.contains("--lease-renew (4s)"), "{err}");
        assert!(check_lease_timing(s(5), s(10)).is_err());
        assert!(check_lease_timing(s(5), s(0)).is_err());
    }

    #[test]
    fn concurrent_reconciles_default_to_256_and_zero_is_refused() {
        let parsed = |extra: &[&str]| {
            Run::try_parse_from(["run"].iter().chain(extra).copied())
                .map(|run| run.args.max_concurrent_reconciles)
        };
        assert_eq!(parsed(&[]).unwrap(), 256);
        assert_eq!(parsed(&["--max-concurrent-reconciles", "64"]).unwrap(), 64);
        // 0 would mean unbounded to kube's controller.
        assert_eq!(
            parsed(&["--max-concurrent-reconciles", "0"])
                .unwrap_err()
                .kind(),
            clap::error::ErrorKind::ValueValidation
        );
    }
}
