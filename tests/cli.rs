//! The review and migration commands against the live cluster: `plan` prints what reconcile
//! would do (and writes nothing), `import` prints YAML that, applied unchanged, changes nothing.

mod common;

use std::process::Command;

use common::kafka_cli;
use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_kafka-topic-operator");

fn cluster_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("cluster.yaml");
    let servers = bootstrap_list()
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &path,
        format!("apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: kafka\nspec:\n  bootstrapServers: [{servers}]\n"),
    )
    .unwrap();
    path
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique("kto-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_yaml_applied_unchanged_changes_nothing_in_kafka() {
    let prefix = unique("imp");
    let weak = format!("{prefix}_weak");
    let tuned = format!("{prefix}.tuned");
    kafka_cli::create(&weak, &["--partitions", "2", "--replication-factor", "1"]);
    kafka_cli::create(
        &tuned,
        &[
            "--partitions",
            "3",
            "--replication-factor",
            "3",
            "--config",
            "min.insync.replicas=2",
            "--config",
            "retention.ms=3600000",
            "--config",
            "cleanup.policy=compact",
        ],
    );
    let before = [
        kafka_cli::describe(&weak).unwrap(),
        kafka_cli::describe(&tuned).unwrap(),
    ];
    let overrides_before = [kafka_cli::overrides(&weak), kafka_cli::overrides(&tuned)];

    let env = TestEnv::start("import").await;
    let dir = tempdir();
    let yaml = run(
        BIN,
        &[
            "import",
            "--cluster",
            cluster_file(&dir).to_str().unwrap(),
            "--match",
            &format!("{prefix}*"),
            "--namespace",
            &env.ns,
        ],
    );
    assert_eq!(yaml.matches("kind: KafkaTopic").count(), 2, "{yaml}");
    assert!(
        yaml.contains(&format!(
            "# WARNING: {weak}: replication factor 1 is below the cluster default 3"
        )),
        "{yaml}"
    );
    assert!(!yaml.contains(&format!("# WARNING: {tuned}")), "{yaml}");

    kubectl_apply(&env.ns, &yaml).unwrap();
    let weak_name = weak.replace('_', "-");
    env.wait_ready(&weak_name).await;
    env.wait_ready(&tuned).await;
    env.wait_resyncs(2).await;
    assert_eq!(
        env.kafka_writes(),
        0,
        "applying imported YAML wrote to Kafka"
    );
    let after = [
        kafka_cli::describe(&weak).unwrap(),
        kafka_cli::describe(&tuned).unwrap(),
    ];
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (&b.topic_id, b.partition_count, b.replication_factor),
            (&a.topic_id, a.partition_count, a.replication_factor)
        );
        assert_eq!(b.partitions, a.partitions);
    }
    assert_eq!(
        [kafka_cli::overrides(&weak), kafka_cli::overrides(&tuned)],
        overrides_before
    );
}

#[test]
fn plan_prints_what_reconcile_would_do_and_writes_nothing() {
    let dir = tempdir();
    let cluster = cluster_file(&dir);
    let existing = unique("planned");
    kafka_cli::create(
        &existing,
        &[
            "--partitions",
            "2",
            "--replication-factor",
            "1",
            "--config",
            "retention.ms=1000",
        ],
    );
    // Exists, and its manifest names only the cluster: kept as Kafka has it, nothing planned.
    let bare = unique("bare");
    kafka_cli::create(&bare, &["--partitions", "1", "--replication-factor", "1"]);
    let new = unique("brand-new");
    let manifests = dir.join("topics.yaml");
    std::fs::write(
        &manifests,
        format!(
            "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {{name: a}}\nspec:\n  clusterRef: {{name: kafka}}\n  topicName: {new}\n  partitions: 2\n\
---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {{name: b}}\nspec:\n  clusterRef: {{name: kafka}}\n  topicName: {existing}\n  partitions: 4\n  replicationFactor: 3\n  minInSyncReplicas: 2\n  config: {{retention.ms: 2000}}\n\
---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {{name: c}}\nspec:\n  clusterRef: {{name: kafka}}\n  topicName: {bare}\n"
        ),
    )
    .unwrap();
    let plan = Command::new(BIN)
        .args([
            "plan",
            "--cluster",
            cluster.to_str().unwrap(),
            "-f",
            manifests.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&plan.stdout).into_owned();
    // Changes, none refused, none destructive.
    assert_eq!(plan.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!("{new} ("))
            && out.contains("create: 2 partitions, replication factor 3"),
        "{out}"
    );
    assert!(
        out.contains("differs: replicationFactor declared 3, in Kafka 1"),
        "{out}"
    );
    assert!(out.contains("move replicas: p0 ["), "{out}");
    // min.insync.replicas 2 waits until the move has given every partition 2 in-sync replicas.
    assert!(
        out.contains(r#"configs: set {"retention.ms": "2000"}"#),
        "{out}"
    );
    assert!(
        out.contains("waits (MinIsrRaiseWaiting): min.insync.replicas stays 1"),
        "{out}"
    );
    assert!(out.ends_with("plan has changes (exit 2)\n"), "{out}");
    let bare_plan = out
        .split(&format!("{bare} ("))
        .nth(1)
        .expect("the bare topic is planned");
    assert!(
        bare_plan.contains("keeps 1 partition (not declared)")
            && bare_plan.contains("keeps replication factor 1 (not declared)")
            && bare_plan.contains("no changes"),
        "{out}"
    );
    // Partitions are added once the existing ones have the new replication factor.
    assert!(!out.contains("grow partitions"), "{out}");
    assert!(!kafka_cli::exists(&new), "plan created a topic");
    assert_eq!(
        kafka_cli::describe(&existing).unwrap().replication_factor,
        1
    );
    assert_eq!(
        kafka_cli::overrides(&existing)
            .get("retention.ms")
            .map(String::as_str),
        Some("1000")
    );

    // Invalid input: refused (exit 3), the reason printed.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {name: c}\nspec:\n  clusterRef: {name: kafka}\n  topicName: \"bad name\"\n---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {name: d}\nspec:\n  clusterRef: {name: kafka}\n  replicationFactor: 2\n  minInSyncReplicas: 3\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "plan",
            "--cluster",
            cluster.to_str().unwrap(),
            "-f",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("INVALID: topic name \"bad name\""), "{text}");
    assert!(
        text.contains("INVALID: minInSyncReplicas 3 exceeds replicationFactor 2"),
        "{text}"
    );
    assert!(text.ends_with("plan has refusals (exit 3)\n"), "{text}");

    // Unreadable input: exit 1.
    let out = Command::new(BIN)
        .args([
            "plan",
            "--cluster",
            "/nonexistent.yaml",
            "-f",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: reading /nonexistent.yaml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- TLS and SASL: the environment's SASL_SSL listener (TLS with its CA, SCRAM-SHA-512) ----

const PASSWORD_ENV: &str = "KTO_SASL_PASSWORD";

/// A KafkaCluster file naming the SASL_SSL listener; `security` adds its spec.security (protocol
/// and mechanism, as the operator would have them; the CLI never reads the Secrets it names).
fn sasl_cluster_file(dir: &std::path::Path, security: bool) -> std::path::PathBuf {
    let path = dir.join(if security {
        "cluster-sasl-spec.yaml"
    } else {
        "cluster-sasl.yaml"
    });
    let servers = env_var("KTO_KAFKA_SASL_BOOTSTRAP")
        .split(',')
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let spec = if security {
        "  security:\n    protocol: SASL_SSL\n    tls: {caSecretRef: {name: kafka-ca}}\n    sasl: {mechanism: SCRAM-SHA-512, credentialsSecretRef: {name: kafka-user}}\n"
    } else {
        ""
    };
    std::fs::write(
        &path,
        format!("apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: kafka\nspec:\n  bootstrapServers: [{servers}]\n{spec}"),
    )
    .unwrap();
    path
}

/// A KafkaCluster file whose only bootstrap server is `addr`.
fn cluster_file_at(dir: &std::path::Path, addr: std::net::SocketAddr) -> std::path::PathBuf {
    let path = dir.join("cluster-listener.yaml");
    std::fs::write(
        &path,
        format!("apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: kafka\nspec:\n  bootstrapServers: [\"{addr}\"]\n"),
    )
    .unwrap();
    path
}

/// Runs the binary with `args`, with $KTO_SASL_PASSWORD set to `password_env` (and unset
/// otherwise, whatever the caller's environment holds) and debug logging asked for.
fn cli(args: &[&str], password_env: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove(PASSWORD_ENV)
        .env("RUST_LOG", "trace");
    if let Some(p) = password_env {
        cmd.env(PASSWORD_ENV, p);
    }
    cmd.output().unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn without_first_line(text: &str) -> String {
    text.split_once('\n')
        .map_or("", |(_, rest)| rest)
        .to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that no form of any of `secrets` appears in the command's stdout or stderr.
fn assert_no_secret(out: &std::process::Output, secrets: &[&str]) {
    use base64::Engine;
    let all = format!("{}{}", stdout(out), stderr(out));
    for secret in secrets {
        for form in [
            secret.to_string(),
            base64::engine::general_purpose::STANDARD.encode(secret),
        ] {
            assert!(
                !all.contains(&form),
                "a password appears in the output:\n{all}"
            );
        }
    }
}

/// The SASL flags with the environment's user, its CA and a password file.
fn sasl_flags(ca: &str, user: &str, password_file: &std::path::Path) -> Vec<String> {
    [
        "--security-protocol",
        "SASL_SSL",
        "--tls-ca-file",
        ca,
        "--sasl-mechanism",
        "SCRAM-SHA-512",
        "--sasl-username",
        user,
        "--sasl-password-file",
        password_file.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn plan_and_import_over_sasl_ssl_show_what_plaintext_shows() {
    let dir = tempdir();
    let password = env_var("KTO_KAFKA_SASL_PASSWORD");
    let user = env_var("KTO_KAFKA_SASL_USER");
    let ca = env_var("KTO_KAFKA_CA");
    let password_file = dir.join("password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();

    let name = unique("sasl-cli");
    kafka_cli::create(
        &name,
        &[
            "--partitions",
            "2",
            "--replication-factor",
            "1",
            "--config",
            "retention.ms=1000",
        ],
    );
    let manifests = dir.join("topics.yaml");
    std::fs::write(
        &manifests,
        format!(
            "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {{name: a}}\nspec:\n  clusterRef: {{name: kafka}}\n  topicName: {name}\n  partitions: 2\n  replicationFactor: 1\n  minInSyncReplicas: 1\n  config: {{retention.ms: 2000}}\n"
        ),
    )
    .unwrap();
    let plain = cluster_file(&dir);
    let sasl = sasl_cluster_file(&dir, false);
    let sasl_spec = sasl_cluster_file(&dir, true);
    let flags = sasl_flags(&ca, &user, &password_file);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let manifests = manifests.to_str().unwrap();

    // plan: PLAINTEXT; SASL_SSL with every setting a flag; SASL_SSL with the protocol and
    // mechanism from the KafkaCluster file and the password from the environment.
    let plan_plain = cli(
        &[
            "plan",
            "--cluster",
            plain.to_str().unwrap(),
            "-f",
            manifests,
        ],
        None,
    );
    assert_eq!(plan_plain.status.code(), Some(2), "{}", stderr(&plan_plain));
    let text = stdout(&plan_plain);
    assert!(
        text.contains(r#"configs: set {"retention.ms": "2000"}"#)
            && text.ends_with("plan has changes (exit 2)\n"),
        "{text}"
    );
    // The same plan whichever listener and settings; the first line names the cluster file.
    let text = without_first_line(&text);
    let mut args = vec!["plan", "--cluster", sasl.to_str().unwrap(), "-f", manifests];
    args.extend(&flags);
    let plan_sasl = cli(&args, None);
    assert_eq!(plan_sasl.status.code(), Some(2), "{}", stderr(&plan_sasl));
    assert_eq!(without_first_line(&stdout(&plan_sasl)), text);
    let plan_spec = cli(
        &[
            "plan",
            "--cluster",
            sasl_spec.to_str().unwrap(),
            "-f",
            manifests,
            "--tls-ca-file",
            &ca,
            "--sasl-username",
            &user,
        ],
        Some(&password),
    );
    assert_eq!(plan_spec.status.code(), Some(2), "{}", stderr(&plan_spec));
    assert_eq!(without_first_line(&stdout(&plan_spec)), text);
    // plan wrote nothing.
    assert_eq!(
        kafka_cli::overrides(&name)
            .get("retention.ms")
            .map(String::as_str),
        Some("1000")
    );

    // import: the same YAML over either listener.
    let import_plain = cli(
        &[
            "import",
            "--cluster",
            plain.to_str().unwrap(),
            "--topic",
            &name,
        ],
        None,
    );
    assert!(import_plain.status.success(), "{}", stderr(&import_plain));
    let yaml = stdout(&import_plain);
    assert_eq!(yaml.matches("kind: KafkaTopic").count(), 1, "{yaml}");
    assert!(yaml.contains(&format!("topicName: {name}")), "{yaml}");
    let mut args = vec![
        "import",
        "--cluster",
        sasl.to_str().unwrap(),
        "--topic",
        &name,
    ];
    args.extend(&flags);
    let import_sasl = cli(&args, None);
    assert!(import_sasl.status.success(), "{}", stderr(&import_sasl));
    assert_eq!(stdout(&import_sasl), yaml);
    let import_spec = cli(
        &[
            "import",
            "--cluster",
            sasl_spec.to_str().unwrap(),
            "--topic",
            &name,
            "--tls-ca-file",
            &ca,
            "--sasl-username",
            &user,
        ],
        Some(&password),
    );
    assert!(import_spec.status.success(), "{}", stderr(&import_spec));
    assert_eq!(stdout(&import_spec), yaml);

    for out in [&plan_sasl, &plan_spec, &import_sasl, &import_spec] {
        assert_no_secret(out, &[&password]);
    }
}

#[test]
fn a_wrong_password_is_an_authentication_error_that_never_shows_a_password() {
    let dir = tempdir();
    let password = env_var("KTO_KAFKA_SASL_PASSWORD");
    let user = env_var("KTO_KAFKA_SASL_USER");
    let ca = env_var("KTO_KAFKA_CA");
    let wrong = unique("definitely-wrong");
    let wrong_file = dir.join("wrong-password");
    std::fs::write(&wrong_file, &wrong).unwrap();
    let manifests = dir.join("topics.yaml");
    std::fs::write(
        &manifests,
        "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {name: a}\nspec:\n  clusterRef: {name: kafka}\n",
    )
    .unwrap();
    let sasl = sasl_cluster_file(&dir, false);
    let flags = sasl_flags(&ca, &user, &wrong_file);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();

    // plan, the wrong password from a file.
    let mut args = vec![
        "plan",
        "--cluster",
        sasl.to_str().unwrap(),
        "-f",
        manifests.to_str().unwrap(),
    ];
    args.extend(&flags);
    let plan = cli(&args, None);
    // import, the wrong password from the environment.
    let import = cli(
        &[
            "import",
            "--cluster",
            sasl.to_str().unwrap(),
            "--security-protocol",
            "SASL_SSL",
            "--tls-ca-file",
            &ca,
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--sasl-username",
            &user,
        ],
        Some(&wrong),
    );
    for out in [&plan, &import] {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
        let err = stderr(out);
        assert!(
            err.starts_with(&format!(
                "error: authentication failed for SASL user {user:?} with SCRAM-SHA-512: "
            )) && err.contains("SaslAuthenticationFailed"),
            "{err}"
        );
        assert!(stdout(out).is_empty(), "{}", stdout(out));
        assert_no_secret(out, &[&wrong, &password]);
    }
}

#[test]
fn an_untrusted_broker_certificate_is_a_tls_error_that_names_the_ca_flag() {
    let dir = tempdir();
    let user = env_var("KTO_KAFKA_SASL_USER");
    let sasl = sasl_cluster_file(&dir, true);
    // No --tls-ca-file: the system's CAs, which did not sign the environment's brokers.
    let out = cli(
        &[
            "import",
            "--cluster",
            sasl.to_str().unwrap(),
            "--sasl-username",
            &user,
        ],
        Some("unused-here"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: TLS with 127.0.0.1:")
            && err.contains("give the brokers' CA with --tls-ca-file"),
        "{err}"
    );
    assert_no_secret(&out, &["unused-here"]);
}

/// A listener nothing else uses: after a command, `accept` finding no connection shows that the
/// command never connected.
fn silent_listener() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    listener
}

fn assert_never_connected(listener: &std::net::TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the command connected to Kafka: {other:?}"),
    }
}

#[test]
fn a_password_flag_is_refused() {
    let dir = tempdir();
    let listener = silent_listener();
    let cluster = cluster_file_at(&dir, listener.local_addr().unwrap());
    let cluster = cluster.to_str().unwrap();
    let manifests = dir.join("topics.yaml");
    std::fs::write(&manifests, "").unwrap();
    let manifests = manifests.to_str().unwrap();
    let common = [
        "--security-protocol",
        "SASL_SSL",
        "--sasl-mechanism",
        "PLAIN",
        "--sasl-username",
        "kto",
    ];
    for command in [
        vec!["plan", "--cluster", cluster, "-f", manifests],
        vec!["import", "--cluster", cluster],
    ] {
        for password in [
            vec!["--sasl-password", "hunter2-on-the-command-line"],
            vec!["--sasl-password=hunter2-on-the-command-line"],
            vec!["--password", "hunter2-on-the-command-line"],
        ] {
            let mut args = command.clone();
            args.extend(common);
            args.extend(&password);
            let out = cli(&args, None);
            // A usage error: exit 1, as every error (2 is plan's "changes").
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            let err = stderr(&out);
            let flag = password[0].split('=').next().unwrap();
            assert!(
                err.contains(&format!("unexpected argument '{flag}' found")),
                "{err}"
            );
            assert!(stdout(&out).is_empty());
            assert_no_secret(&out, &["hunter2-on-the-command-line"]);
        }
        // The help lists the password file and no password flag.
        let help = cli(&[command[0], "--help"], None);
        let help = stdout(&help);
        assert!(help.contains("--sasl-password-file <FILE>"), "{help}");
        assert!(help.contains("KTO_SASL_PASSWORD"), "{help}");
        let flags: std::collections::BTreeSet<&str> = help
            .lines()
            .flat_map(|l| l.split([' ', ',', '=', '[', ']']))
            .filter(|w| w.starts_with("--") && w.contains("password"))
            .collect();
        assert_eq!(flags, ["--sasl-password-file"].into(), "{help}");
    }
    assert_never_connected(&listener);
}

#[test]
fn a_missing_password_file_is_reported_before_connecting() {
    let dir = tempdir();
    let listener = silent_listener();
    let cluster = cluster_file_at(&dir, listener.local_addr().unwrap());
    let missing = dir.join("no-such-password-file");
    let out = cli(
        &[
            "import",
            "--cluster",
            cluster.to_str().unwrap(),
            "--security-protocol",
            "SASL_SSL",
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--sasl-username",
            "kto",
            "--sasl-password-file",
            missing.to_str().unwrap(),
        ],
        // A password in the environment does not hide the missing file.
        Some("from-the-environment"),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(
        err,
        format!(
            "error: reading --sasl-password-file {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
    assert_no_secret(&out, &["from-the-environment"]);
    assert_never_connected(&listener);
}

#[test]
fn bad_security_settings_are_reported_before_connecting() {
    let dir = tempdir();
    let listener = silent_listener();
    let cluster = cluster_file_at(&dir, listener.local_addr().unwrap());
    let cluster = cluster.to_str().unwrap();
    let not_pem = dir.join("not-a-ca.pem");
    std::fs::write(&not_pem, "just text\n").unwrap();
    let password_file = dir.join("password");
    std::fs::write(&password_file, "pw\n").unwrap();
    let password_file = password_file.to_str().unwrap();
    let missing_ca = dir.join("no-such-ca.pem");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--security-protocol", "SASL_TLS"],
            "invalid value 'SASL_TLS' for '--security-protocol <PROTOCOL>': unknown security protocol: use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL".into(),
        ),
        (
            vec!["--security-protocol", "SASL_SSL", "--sasl-mechanism", "GSSAPI"],
            "invalid value 'GSSAPI' for '--sasl-mechanism <MECHANISM>': unknown SASL mechanism".into(),
        ),
        (
            vec!["--security-protocol", "SASL_SSL", "--sasl-mechanism", "SCRAM-SHA-256"],
            "error: SASL SCRAM-SHA-256 needs a username: give --sasl-username\n".into(),
        ),
        (
            vec!["--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "PLAIN", "--sasl-username", "kto"],
            "error: SASL PLAIN needs a password: give --sasl-password-file FILE or set KTO_SASL_PASSWORD (a password is never taken on the command line)\n".into(),
        ),
        (
            vec!["--security-protocol", "SASL_SSL", "--sasl-username", "kto", "--sasl-password-file", password_file],
            "error: protocol SASL_SSL needs a SASL mechanism: give --sasl-mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512\n".into(),
        ),
        (
            vec!["--sasl-mechanism", "PLAIN", "--sasl-username", "kto"],
            "error: --sasl-mechanism is for SASL: it needs --security-protocol SASL_PLAINTEXT or SASL_SSL (the protocol is PLAINTEXT)\n".into(),
        ),
        (
            vec!["--security-protocol", "SSL", "--tls-ca-file", missing_ca.to_str().unwrap()],
            format!("error: reading --tls-ca-file {}: No such file or directory (os error 2)\n", missing_ca.display()),
        ),
        (
            vec!["--security-protocol", "SSL", "--tls-ca-file", not_pem.to_str().unwrap()],
            format!("error: --tls-ca-file {}: no valid PEM CA certificate in it\n", not_pem.display()),
        ),
        (
            vec!["--security-protocol", "SASL_PLAINTEXT", "--tls-ca-file", not_pem.to_str().unwrap()],
            "error: --tls-ca-file is for TLS: it needs --security-protocol SSL or SASL_SSL (the protocol is SASL_PLAINTEXT)\n".into(),
        ),
        (
            vec!["--security-protocol", "SSL", "--tls-cert-file", not_pem.to_str().unwrap()],
            "error: --tls-cert-file and --tls-key-file go together: give both or neither\n".into(),
        ),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["import", "--cluster", cluster];
        args.extend(&flags);
        let out = cli(&args, None);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {}", stderr(&out));
        let err = stderr(&out);
        if expected.starts_with("error: ") {
            assert_eq!(err, expected, "{flags:?}");
        } else {
            assert!(err.contains(&expected), "{flags:?}: {err}");
        }
        assert!(stdout(&out).is_empty(), "{flags:?}");
    }
    assert_never_connected(&listener);
}
