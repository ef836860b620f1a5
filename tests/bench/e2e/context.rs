//! The run's context: clients, the namespace, samples of the figures; set-up steps.

use super::*;

pub fn progress(msg: impl AsRef<str>) {
    eprintln!(
        "[e2e {}] {}",
        chrono::Utc::now().format("%H:%M:%S"),
        msg.as_ref()
    );
}

/// Prints `msg()` to stderr at most every PROGRESS.
pub struct Ticker(pub Instant);

impl Ticker {
    pub fn new() -> Ticker {
        Ticker(Instant::now())
    }
    pub fn tick(&mut self, msg: impl FnOnce() -> String) {
        if self.0.elapsed() >= PROGRESS {
            self.0 = Instant::now();
            progress(msg());
        }
    }
}

// ---------------------------------------------------------------- processes (/proc)

/// Everything measured at one moment, so phases are differences of two samples.
pub struct Sample {
    pub at: Instant,
    pub operator_cpu: f64,
    pub operator_rss: f64,
    pub operator_hwm: f64,
    /// CPU seconds by process id, per group of the environment's processes.
    pub env_cpu: BTreeMap<&'static str, Vec<(u32, f64)>>,
    /// None when the scrape failed.
    pub counters: Option<BTreeMap<String, f64>>,
    pub apiserver: Option<BTreeMap<String, f64>>,
    pub kube_log: BTreeMap<String, f64>,
    pub log_offset: u64,
}

pub struct Ctx {
    pub settings: Settings,
    pub kubectl: String,
    pub tck: f64,
    pub dir: PathBuf,
    pub ns: String,
    pub prefix: String,
    pub client: Client,
    pub admin: Arc<AdminClient<DefaultClientContext>>,
}

impl Ctx {
    pub fn out(&mut self, line: impl AsRef<str>) {
        println!("{}", line.as_ref());
    }

    pub async fn kubectl(&self, args: &[&str], timeout: Duration) -> Result<String> {
        let fut = tokio::process::Command::new(&self.kubectl)
            .args(args)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(timeout, fut)
            .await
            .with_context(|| format!("kubectl {args:?} timed out after {timeout:?}"))??;
        if !out.status.success() {
            bail!(
                "kubectl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The label on everything the run creates, and the operator's --selector.
    /// One `kubectl apply --server-side` of `path`, as a user's GitOps tool would send it.
    pub async fn apply_file(&self, path: &Path) -> Result<()> {
        let path = path.to_string_lossy().into_owned();
        self.kubectl(
            &[
                "apply",
                "--server-side",
                "--field-manager=kto-bench",
                "-f",
                &path,
            ],
            Duration::from_secs(900),
        )
        .await?;
        Ok(())
    }

    pub fn selector(&self) -> String {
        format!("{RUN_LABEL}={}", self.prefix)
    }

    /// The run's namespaces: one, or one per KafkaCluster in the many-clusters mode.
    pub fn namespaces(&self) -> Vec<String> {
        match self.settings.clusters {
            None => vec![self.ns.clone()],
            Some(c) => (0..c).map(|i| format!("{}-{i:03}", self.ns)).collect(),
        }
    }

    /// Topic `i` of the run (0..topics): its namespace and name (also its Kafka topic's).
    pub fn topic_ns(&self, i: usize) -> String {
        match self.settings.clusters {
            None => self.ns.clone(),
            Some(c) => format!("{}-{:03}", self.ns, i / (self.settings.topics / c)),
        }
    }

    pub fn topic_name(&self, i: usize) -> String {
        match self.settings.clusters {
            None => format!("{}-{i:05}", self.prefix),
            Some(c) => {
                let per = self.settings.topics / c;
                format!("{}-{:03}-{:05}", self.prefix, i / per, i % per)
            }
        }
    }

    /// How the operator is started: one namespace, or all namespaces limited to the run's label.
    pub fn operator_scope(&self) -> Vec<String> {
        match self.settings.clusters {
            None => vec!["--namespace".into(), self.ns.clone()],
            Some(_) => vec!["--selector".into(), self.selector()],
        }
    }

    fn resource(kind: &str, plural: &str) -> ApiResource {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, kind), plural)
    }

    pub fn topic_api(&self, ns: &str) -> Api<DynamicObject> {
        let ar = Self::resource("KafkaTopic", "kafkatopics");
        Api::namespaced_with(self.client.clone(), ns, &ar)
    }

    pub fn cluster_api(&self, ns: &str) -> Api<DynamicObject> {
        let ar = Self::resource("KafkaCluster", "kafkaclusters");
        Api::namespaced_with(self.client.clone(), ns, &ar)
    }

    /// The run's KafkaTopics in all its namespaces (watched with `self.selector()`).
    pub fn all_topics_api(&self) -> Api<DynamicObject> {
        Api::all_with(
            self.client.clone(),
            &Self::resource("KafkaTopic", "kafkatopics"),
        )
    }

    pub fn all_clusters_api(&self) -> Api<DynamicObject> {
        Api::all_with(
            self.client.clone(),
            &Self::resource("KafkaCluster", "kafkaclusters"),
        )
    }

    /// The moment's figures first (CPU, memory, the request log), then the slower scrapes.
    pub async fn sample(&self, op: &Operator, log_offset: u64) -> Sample {
        let at = Instant::now();
        let operator_cpu = cpu_ticks(op.pid).unwrap_or(0) as f64 / self.tck;
        let (kube_log, log_offset) = kube_requests(&op.log, log_offset);
        let mut env_cpu = BTreeMap::new();
        for (label, names) in ENV_PROCESSES {
            let cpus: Vec<(u32, f64)> = names
                .iter()
                .filter_map(|n| env_pid(n))
                .filter_map(|p| Some((p, cpu_ticks(p)? as f64 / self.tck)))
                .collect();
            env_cpu.insert(label, cpus);
        }
        let mut counters = None;
        for attempt in 1..=3 {
            match op.http_get("/metrics").await {
                Ok(text) => {
                    counters = Some(operator_counters(&text));
                    break;
                }
                Err(e) => progress(format!("operator /metrics (attempt {attempt}): {e}")),
            }
        }
        let apiserver = match self
            .kubectl(&["get", "--raw", "/metrics"], Duration::from_secs(60))
            .await
        {
            Ok(text) => Some(apiserver_writes(&text)),
            Err(e) => {
                progress(format!("apiserver /metrics: {e}"));
                None
            }
        };
        Sample {
            at,
            operator_cpu,
            operator_rss: status_mib(op.pid, "VmRSS:").unwrap_or(0.0),
            operator_hwm: status_mib(op.pid, "VmHWM:").unwrap_or(0.0),
            env_cpu,
            counters,
            apiserver,
            kube_log,
            log_offset,
        }
    }

    /// Kafka metadata of every topic.
    pub async fn metadata(&self) -> Result<BTreeMap<String, TopicMeta>> {
        kafka_metadata(self.admin.clone()).await
    }
}

pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

pub async fn setup_cluster(cx: &Ctx) -> Result<()> {
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/");
    cx.kubectl(
        &["apply", "--server-side", "--force-conflicts", "-f", crds],
        Duration::from_secs(120),
    )
    .await?;
    cx.kubectl(
        &[
            "wait",
            "--for",
            "condition=established",
            "--timeout=60s",
            "-f",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/crds/kafka.topic-operator.dev.yaml"
            ),
        ],
        Duration::from_secs(90),
    )
    .await?;
    let bootstrap: Vec<String> = env_var("KTO_KAFKA_BOOTSTRAP")?
        .split(',')
        .map(String::from)
        .collect();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cx.client.clone());
    let labels = json!({ RUN_LABEL: cx.prefix });
    // A few at a time: hundreds of namespaces in the many-clusters mode.
    let creations = cx.namespaces().into_iter().map(|ns| {
        let (namespaces, bootstrap, labels) = (&namespaces, &bootstrap, &labels);
        async move {
            namespaces
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(json!({"metadata": {"name": ns, "labels": labels}}))?,
                )
                .await
                .with_context(|| format!("creating the namespace {ns}"))?;
            let kc: DynamicObject = serde_json::from_value(json!({
                "apiVersion": format!("{GROUP}/{VERSION}"),
                "kind": "KafkaCluster",
                "metadata": {"name": "kafka", "namespace": ns, "labels": labels},
                "spec": {"bootstrapServers": bootstrap, "policy": {"mode": "Enforce"}}
            }))?;
            cx.cluster_api(&ns)
                .create(&PostParams::default(), &kc)
                .await
                .with_context(|| format!("creating the KafkaCluster in {ns}"))?;
            anyhow::Ok(())
        }
    });
    let results: Vec<Result<()>> = futures::stream::iter(creations)
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

pub async fn wait_operator_ready(cx: &Ctx, op: &mut Operator) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ticker = Ticker::new();
    loop {
        if !op.alive() {
            bail!("the operator exited:\n{}", op.log_tail(30));
        }
        let clusters = cx
            .all_clusters_api()
            .list(&ListParams::default().labels(&cx.selector()))
            .await?;
        let not_ready: Vec<&DynamicObject> = clusters
            .items
            .iter()
            .filter(|kc| {
                !kc.data["status"]["conditions"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                    .is_some_and(|c| c["status"] == "True")
            })
            .collect();
        let ready = not_ready.is_empty() && clusters.items.len() == cx.namespaces().len();
        if ready && op.http_get("/readyz").await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} of {} KafkaClusters not Ready within 120 s; a status: {}\n{}",
                not_ready.len(),
                cx.namespaces().len(),
                not_ready
                    .first()
                    .map_or(Value::Null, |kc| kc.data["status"].clone()),
                op.log_tail(30)
            );
        }
        ticker.tick(|| {
            format!(
                "waiting for the operator and the KafkaClusters Ready ({} not yet)",
                not_ready.len()
            )
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub fn topics_yaml(cx: &Ctx) -> String {
    let s = &cx.settings;
    let mut yaml = String::with_capacity(s.topics * 260);
    for i in 0..s.topics {
        let _ = write!(
            yaml,
            "apiVersion: {GROUP}/{VERSION}\nkind: KafkaTopic\nmetadata:\n  name: {}\n  namespace: {}\n  labels:\n    {RUN_LABEL}: {}\nspec:\n  clusterRef:\n    name: kafka\n  partitions: {}\n  replicationFactor: {}\n  minInSyncReplicas: {}\n---\n",
            cx.topic_name(i),
            cx.topic_ns(i),
            cx.prefix,
            s.partitions,
            s.replication_factor,
            s.min_isr
        );
    }
    yaml
}

/// What was built: KTO_BENCH_COMMIT when the binary comes from elsewhere, else this tree.
pub fn build_commit() -> String {
    match std::env::var("KTO_BENCH_COMMIT") {
        Ok(c) if !c.is_empty() => c,
        _ => {
            let git = |args: &[&str]| {
                std::process::Command::new("git")
                    .args(["-C", env!("CARGO_MANIFEST_DIR")])
                    .args(args)
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                    .unwrap_or_default()
            };
            let dirty = !git(&["status", "--porcelain", "src"]).is_empty();
            format!(
                "{}{}",
                git(&["rev-parse", "--short", "HEAD"]),
                if dirty {
                    " (plus uncommitted changes in src/)"
                } else {
                    ""
                }
            )
        }
    }
}
