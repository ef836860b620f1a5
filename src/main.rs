//! The `kafka-topic-operator` binary: `run` the controllers, or print the `crd`s.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kafka_topic_operator::api::KafkaCluster;
use kafka_topic_operator::apiserver;
use kafka_topic_operator::cli;
use kafka_topic_operator::cli::kube::KubeArgs;
use kafka_topic_operator::cli::security::SecurityArgs;
use kafka_topic_operator::controller::{self, Settings};
use kafka_topic_operator::kafka::fence::WriteFence;
use kafka_topic_operator::kafka::security::Security;
use kafka_topic_operator::kafka::{KafkaAdmin, KafkaProtocolAdmin};
use kafka_topic_operator::leader::{Elector, Ended, LeaseSettings, lead};
use kafka_topic_operator::telemetry::{self, LogFormat};
use kafka_topic_operator::util::duration::parse_duration;
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
    /// Run the controllers. Uses --kubeconfig / --context, else $KUBECONFIG, ~/.kube/config or
    /// the in-cluster config.
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
        #[command(flatten)]
        kube: KubeArgs,
    },
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Show what merging KafkaTopic manifests would do (a review step for GitOps pull requests):
    /// creations, changes, refusals and, with the live KafkaTopics read, removals and topic
    /// deletions. Writes nothing. Exit 0: no changes; 2: changes; 3: a topic deletion or a
    /// refusal; 1: the plan could not be made (docs/cli.md).
    Plan(cli::plan::command::PlanArgs),
    /// Print KafkaTopic YAML for topics that exist in the cluster, with their observed values:
    /// applying it unchanged changes nothing in Kafka.
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

/// Every error exits 1: `plan` gives 2 and 3 meanings of their own (docs/cli.md).
fn fail(error: impl std::fmt::Display) -> ! {
    eprintln!("error: {error}");
    std::process::exit(cli::plan::report::EXIT_ERROR)
}

/// The TLS/SASL settings of `import`, checked before anything connects.
fn connection_security(cluster: &KafkaCluster, args: &SecurityArgs) -> Security {
    cli::security::resolve(
        args,
        cluster.spec.security.as_ref(),
        std::env::var_os(cli::security::PASSWORD_ENV),
    )
    .unwrap_or_else(|e| fail(e))
}

/// The arguments; a usage error exits 1 like any other (clap's own would be 2, which `plan`
/// uses for "changes"), `--help` and `--version` exit 0.
fn arguments() -> Cli {
    Cli::try_parse().unwrap_or_else(|e| {
        let _ = e.print();
        std::process::exit(if e.use_stderr() {
            cli::plan::report::EXIT_ERROR
        } else {
            0
        })
    })
}

fn main() -> anyhow::Result<()> {
    kafka_topic_operator::util::memory::limit_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    match arguments().command {
        Command::Plan(args) => std::process::exit(cli::plan::command::run(args).await),
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
            kube,
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
            };
            let runtime = controller::Runtime::new(&settings);
            if let Some(addr) = http_addr {
                runtime.serve_http(addr, shutdown.clone());
            }
            let healthy = runtime.healthy.clone();
            if !leader_election {
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
            );
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
    fn every_duration_flag_takes_go_durations() {
        let run = |flag: &str, value: &str| {
            Cli::try_parse_from(["kto", "run", flag, value]).map(|cli| match cli.command {
                Command::Run {
                    resync_interval,
                    kafka_timeout,
                    lease_duration,
                    lease_renew,
                    ..
                } => [resync_interval, kafka_timeout, lease_duration, lease_renew],
                _ => unreachable!("parsed as run"),
            })
        };
        let s = Duration::from_secs;
        assert_eq!(run("--resync-interval", "1m30s").unwrap()[0], s(90));
        assert_eq!(
            run("--kafka-timeout", "1.5s").unwrap()[1],
            Duration::from_millis(1500)
        );
        assert_eq!(run("--lease-duration", "1h").unwrap()[2], s(3600));
        assert_eq!(
            run("--lease-renew", "250ms").unwrap()[3],
            Duration::from_millis(250)
        );
        let refused = run("--resync-interval", "30").err().unwrap().to_string();
        assert!(refused.contains("missing unit"), "{refused}");
        for command in [
            &["kto", "plan", "--cluster", "c.yaml", "-f", "t"][..],
            &["kto", "import", "--cluster", "c.yaml"][..],
        ] {
            let with = |value: &'static str| {
                Cli::try_parse_from(command.iter().chain(&["--kafka-timeout", value]).copied())
            };
            assert!(with("2m30s").is_ok(), "{command:?}");
            let refused = with("2 days").err().unwrap().to_string();
            assert!(refused.contains("invalid duration \"2 days\""), "{refused}");
        }
    }

    #[test]
    fn the_apiserver_is_named_as_kubectl_names_it() {
        let cli =
            Cli::try_parse_from(["kto", "run", "--kubeconfig", "/k", "--context", "prod"]).unwrap();
        let Command::Run { kube, .. } = cli.command else {
            unreachable!("parsed as run")
        };
        assert_eq!(kube.kubeconfig.as_deref(), Some(std::path::Path::new("/k")));
        assert_eq!(kube.context.as_deref(), Some("prod"));
        let plan = [
            "kto",
            "plan",
            "--cluster-ref",
            "kafka/main",
            "-f",
            "t",
            "--context",
            "prod",
        ];
        let Command::Plan(args) = Cli::try_parse_from(plan).unwrap().command else {
            unreachable!("parsed as plan")
        };
        assert_eq!(args.kube.context.as_deref(), Some("prod"));
        assert_eq!(args.cluster_ref, Some(("kafka".into(), "main".into())));
        // One KafkaCluster: a file or a reference, not both, not neither.
        for bad in [
            &["kto", "plan", "-f", "t"][..],
            &[
                "kto",
                "plan",
                "--cluster",
                "c",
                "--cluster-ref",
                "kafka/main",
                "-f",
                "t",
            ][..],
            &["kto", "plan", "--cluster-ref", "main", "-f", "t"][..],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
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
