//! The `kafka-topic-operator` binary: `run` the controllers, or print the `crd`s.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kafka_topic_operator::api::KafkaCluster;
use kafka_topic_operator::apiserver;
use kafka_topic_operator::cli;
use kafka_topic_operator::cli::security::SecurityArgs;
use kafka_topic_operator::controller::{self, Settings};
use kafka_topic_operator::kafka::fence::WriteFence;
use kafka_topic_operator::kafka::security::Security;
use kafka_topic_operator::kafka::{KafkaAdmin, KafkaProtocolAdmin};
use kafka_topic_operator::leader::{Elector, Ended, LeaseSettings, lead};
use kafka_topic_operator::telemetry::{self, LogFormat};
use tokio_util::sync::CancellationToken;
use tracing::info;

#[derive(Parser)]
#[command(
    name = "kafka-topic-operator",
    version,
    about = "Manages Kafka topics declared as KafkaTopic resources"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers. Uses $KUBECONFIG / ~/.kube/config, or the in-cluster config.
    Run {
        /// Watch only this namespace (default: all namespaces).
        #[arg(long, env = "KTO_NAMESPACE")]
        namespace: Option<String>,
        /// Only KafkaTopics and KafkaClusters matching this label selector (e.g. shard=a).
        #[arg(long, env = "KTO_SELECTOR")]
        selector: Option<String>,
        /// Namespaces whose KafkaClusters govern the Kafkas they reach: their tenancy rules
        /// apply to every KafkaTopic on that Kafka, whichever KafkaCluster it names
        /// (comma-separated; the chart sets its own namespace).
        #[arg(long, env = "KTO_PLATFORM_NAMESPACES", value_delimiter = ',')]
        platform_namespaces: Vec<String>,
        /// How often each cluster is re-read and drift corrected, e.g. 30s, 2m.
        #[arg(long, env = "KTO_RESYNC_INTERVAL", default_value = "30s", value_parser = parse_duration)]
        resync_interval: Duration,
        /// Timeout of each step of a Kafka request (a connect, an answer). A whole request,
        /// every bootstrap server tried included, takes at most twice this (a write: this plus
        /// 40 s, its answer wait).
        #[arg(long, env = "KTO_KAFKA_TIMEOUT", default_value = "15s", value_parser = parse_duration)]
        kafka_timeout: Duration,
        /// Address of the /metrics, /healthz and /readyz endpoints ("off" to disable).
        #[arg(long, env = "KTO_HTTP_ADDR", default_value = "0.0.0.0:8080")]
        http_addr: String,
        /// Elect a leader among replicas through a Lease: only the leader reconciles.
        #[arg(long, env = "KTO_LEADER_ELECTION")]
        leader_election: bool,
        /// Namespace of the Lease (default: $POD_NAMESPACE, else "default").
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        lease_namespace: String,
        #[arg(long, env = "KTO_LEASE_NAME", default_value = "kafka-topic-operator")]
        lease_name: String,
        /// A lease not renewed for this long may be taken over by a standby replica.
        #[arg(long, env = "KTO_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
        lease_duration: Duration,
        /// How often the leader renews its lease.
        #[arg(long, env = "KTO_LEASE_RENEW", default_value = "5s", value_parser = parse_duration)]
        lease_renew: Duration,
        /// KafkaTopic reconciles (and, apart, KafkaCluster reconciles) running at once. Too few
        /// cut the batches a mass creation is sent to Kafka in; see docs/deployment.md.
        #[arg(long, env = "KTO_MAX_CONCURRENT_RECONCILES", default_value_t = controller::DEFAULT_MAX_CONCURRENT_RECONCILES, value_parser = clap::value_parser!(u16).range(1..))]
        max_concurrent_reconciles: u16,
        /// Log format.
        #[arg(long, env = "KTO_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Show what reconcile would do for KafkaTopic manifests against the live cluster (a review
    /// step for GitOps pull requests). Writes nothing. Exit 1 when a manifest is invalid or
    /// blocked, 2 when the files or Kafka cannot be read or the security settings are wrong.
    Plan {
        /// A file holding the KafkaCluster (bootstrap servers, topicDefaults, policy).
        #[arg(long)]
        cluster: PathBuf,
        /// Files with KafkaTopic manifests (other kinds are skipped).
        #[arg(short = 'f', long = "file", required = true)]
        files: Vec<PathBuf>,
        #[arg(long, default_value = "15s", value_parser = parse_duration)]
        kafka_timeout: Duration,
        #[command(flatten)]
        security: SecurityArgs,
    },
    /// Print KafkaTopic YAML for topics that exist in the cluster, with their observed values.
    /// Applied unchanged it changes nothing in Kafka, except that partitions with more replicas
    /// than the fewest any partition has lose the extra ones (a WARNING comment names them).
    Import {
        /// A file holding the KafkaCluster the topics will reference.
        #[arg(long)]
        cluster: PathBuf,
        /// Import this topic (repeatable). Default: every topic but Kafka's internal ones.
        #[arg(long = "topic")]
        topics: Vec<String>,
        /// Import topics whose name matches this pattern, `*` matching anything (repeatable).
        #[arg(long = "match")]
        patterns: Vec<String>,
        /// metadata.namespace of the generated KafkaTopics.
        #[arg(long)]
        namespace: Option<String>,
        #[arg(long, default_value = "15s", value_parser = parse_duration)]
        kafka_timeout: Duration,
        #[command(flatten)]
        security: SecurityArgs,
    },
}

fn fail(error: impl std::fmt::Display) -> ! {
    eprintln!("error: {error}");
    std::process::exit(2)
}

/// The TLS/SASL settings of `plan` and `import`, checked before anything connects.
fn connection_security(cluster: &KafkaCluster, args: &SecurityArgs) -> Security {
    cli::security::resolve(
        args,
        cluster.spec.security.as_ref(),
        std::env::var_os(cli::security::PASSWORD_ENV),
    )
    .unwrap_or_else(|e| fail(e))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: use e.g. 30s, 500ms, 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration unit in {s:?}: use ms, s or m")),
    }
}

fn main() -> anyhow::Result<()> {
    kafka_topic_operator::util::memory::limit_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Plan {
            cluster,
            files,
            kafka_timeout,
            security,
        } => {
            let cluster = cli::manifests::read_cluster(&cluster).unwrap_or_else(|e| fail(e));
            let security = connection_security(&cluster, &security);
            let topics = cli::manifests::read_topics(&files).unwrap_or_else(|e| fail(e));
            let admin = KafkaProtocolAdmin::with_security(
                cluster.spec.bootstrap_servers.clone(),
                security.clone(),
                kafka_timeout,
            );
            let report = cli::plan::plan(&cluster, &topics, &admin)
                .await
                .unwrap_or_else(|e| fail(cli::security::explain(&e, &security)));
            print!("{}", report.text);
            std::process::exit(if report.ok { 0 } else { 1 });
        }
        Command::Import {
            cluster,
            topics,
            patterns,
            namespace,
            kafka_timeout,
            security,
        } => {
            let cluster = cli::manifests::read_cluster(&cluster).unwrap_or_else(|e| fail(e));
            let security = connection_security(&cluster, &security);
            let admin = KafkaProtocolAdmin::with_security(
                cluster.spec.bootstrap_servers.clone(),
                security.clone(),
                kafka_timeout,
            );
            let snapshot = admin
                .snapshot()
                .await
                .unwrap_or_else(|e| fail(cli::security::explain(&e, &security)));
            let selection = cli::import::Selection {
                names: topics,
                patterns,
            };
            print!(
                "{}",
                cli::import::import(&cluster, namespace.as_deref(), &snapshot, &selection)
            );
            Ok(())
        }
        Command::Crd => {
            print!("{}", kafka_topic_operator::api::crds_yaml()?);
            Ok(())
        }
        Command::Run {
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
            log_format,
        } => {
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
            let (clients, lease_client) = apiserver::connect(lease_renew).await?;
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
    }
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
            Cli::try_parse_from(["kto", "run"].iter().chain(extra).copied()).map(|cli| {
                match cli.command {
                    Command::Run {
                        max_concurrent_reconciles,
                        ..
                    } => max_concurrent_reconciles,
                    _ => unreachable!("parsed as run"),
                }
            })
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

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn no_flag_takes_a_password() {
        for command in [
            &["kto", "plan", "--cluster", "c.yaml", "-f", "t.yaml"][..],
            &["kto", "import", "--cluster", "c.yaml"][..],
        ] {
            let with = |extra: &[&str]| {
                Cli::try_parse_from(command.iter().chain(extra).copied()).map(|_| ())
            };
            assert!(with(&["--sasl-password-file", "pw"]).is_ok());
            let refused = with(&["--sasl-password", "hunter2"]).unwrap_err();
            assert_eq!(refused.kind(), clap::error::ErrorKind::UnknownArgument);
            assert_eq!(
                with(&["--security-protocol", "SASL_TLS"])
                    .unwrap_err()
                    .kind(),
                clap::error::ErrorKind::ValueValidation
            );
        }
    }
}
