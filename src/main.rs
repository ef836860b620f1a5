//! The `kafka-topic-operator` binary: `run` the controllers, or print the `crd`s.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kafka_topic_operator::api::KafkaCluster;
use kafka_topic_operator::cli;
use kafka_topic_operator::cli::security::SecurityArgs;
use kafka_topic_operator::kafka::security::Security;
use kafka_topic_operator::kafka::{KafkaAdmin, KafkaProtocolAdmin};
use kafka_topic_operator::util::duration::parse_duration;

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
    Run(cli::run::RunArgs),
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Show what merging KafkaTopic manifests would do (a review step for GitOps pull requests):
    /// creations, changes, refusals and, with the live KafkaTopics read, removals and topic
    /// deletions. Writes nothing. Exit 0: no changes; 2: changes; 3: a topic deletion or a
    /// refusal; 1: the plan could not be made (docs/cli.md).
    Plan(cli::plan::command::PlanArgs),
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
        Command::Run(args) => cli::run::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_flag_takes_go_durations() {
        let run = |flag: &str, value: &str| {
            Cli::try_parse_from(["kto", "run", flag, value]).map(|cli| match cli.command {
                Command::Run(a) => [
                    a.resync_interval,
                    a.kafka_timeout,
                    a.lease_duration,
                    a.lease_renew,
                ],
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
        let Command::Run(cli::run::RunArgs { kube, .. }) = cli.command else {
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
