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

    pub fn topic_api(&self) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(GROUP, VERSION, "KafkaTopic"),
            "kafkatopics",
        );
        Api::namespaced_with(self.client.clone(), &self.ns, &ar)
    }

    pub fn cluster_api(&self) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(GROUP, VERSION, "KafkaCluster"),
            "kafkaclusters",
        );
        Api::namespaced_with(self.client.clone(), &self.ns, &ar)
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
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cx.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": cx.ns}}))?,
        )
        .await
        .context("creating the namespace")?;
    let bootstrap: Vec<String> = env_var("KTO_KAFKA_BOOTSTRAP")?
        .split(',')
        .map(String::from)
        .collect();
    let kc: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "KafkaCluster",
        "metadata": {"name": "kafka", "namespace": cx.ns},
        "spec": {"bootstrapServers": bootstrap, "policy": {"mode": "Enforce"}}
    }))?;
    cx.cluster_api()
        .create(&PostParams::default(), &kc)
        .await
        .context("creating the KafkaCluster")?;
    Ok(())
}

pub async fn wait_operator_ready(cx: &Ctx, op: &mut Operator) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ticker = Ticker::new();
    loop {
        if !op.alive() {
            bail!("the operator exited:\n{}", op.log_tail(30));
        }
        let kc = cx.cluster_api().get("kafka").await?;
        let ready = kc.data["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .map(|c| c["status"] == "True")
            .unwrap_or(false);
        if ready && op.http_get("/readyz").await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the KafkaCluster was not Ready within 120 s; status {}\n{}",
                kc.data["status"],
                op.log_tail(30)
            );
        }
        ticker.tick(|| "waiting for the operator and KafkaCluster Ready".into());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub fn topics_yaml(cx: &Ctx) -> String {
    let s = &cx.settings;
    let mut yaml = String::with_capacity(s.topics * 260);
    for i in 0..s.topics {
        let _ = write!(
            yaml,
            "apiVersion: {GROUP}/{VERSION}\nkind: KafkaTopic\nmetadata:\n  name: {}-{i:05}\n  namespace: {}\nspec:\n  clusterRef:\n    name: kafka\n  partitions: {}\n  replicationFactor: {}\n  minInSyncReplicas: {}\n---\n",
            cx.prefix, cx.ns, s.partitions, s.replication_factor, s.min_isr
        );
    }
    yaml
}
