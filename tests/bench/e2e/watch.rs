//! Watches: when each KafkaTopic appears and becomes Ready; what Kafka's metadata shows.

use super::*;

#[derive(Default)]
pub struct TopicState {
    pub seen: Option<Instant>,
    pub ready: bool,
    pub first_ready: Option<Instant>,
    pub reason: String,
    /// Degraded=True (under-replicated, under min ISR or offline).
    pub degraded: bool,
}

#[derive(Default)]
pub struct Watched {
    pub topics: HashMap<String, TopicState>,
    /// Ready=True -> anything else, after the first Ready.
    pub regressions: u64,
    /// Every not-Ready reason a topic showed, with the topics that showed it.
    pub reasons_seen: BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl Watched {
    pub fn apply(&mut self, obj: &DynamicObject) {
        let Some(name) = obj.metadata.name.clone() else {
            return;
        };
        let cond = obj.data["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
        let ready = cond.is_some_and(|c| c["status"] == "True");
        let reason = cond
            .and_then(|c| c["reason"].as_str())
            .unwrap_or("(no status)")
            .to_string();
        let now = Instant::now();
        if !ready {
            self.reasons_seen
                .entry(reason.clone())
                .or_default()
                .insert(name.clone());
        }
        let t = self.topics.entry(name).or_default();
        t.seen.get_or_insert(now);
        if t.ready && !ready {
            self.regressions += 1;
        }
        if ready && t.first_ready.is_none() {
            t.first_ready = Some(now);
        }
        t.ready = ready;
        t.reason = if ready { "Ready".into() } else { reason };
        t.degraded = obj.data["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Degraded"))
            .is_some_and(|c| c["status"] == "True");
    }

    pub fn counts(&self) -> (usize, usize) {
        (
            self.topics.len(),
            self.topics.values().filter(|t| t.ready).count(),
        )
    }

    pub fn degraded(&self) -> usize {
        self.topics.values().filter(|t| t.degraded).count()
    }

    pub fn reasons(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for t in self.topics.values().filter(|t| !t.ready) {
            *out.entry(t.reason.clone()).or_default() += 1;
        }
        out
    }
}

/// Watches the run's KafkaTopics (by its label, in all its namespaces; names are unique).
pub fn spawn_watch(cx: &Ctx, state: Arc<Mutex<Watched>>) -> tokio::task::JoinHandle<()> {
    let (api, config) = (
        cx.all_topics_api(),
        watcher::Config::default().labels(&cx.selector()),
    );
    tokio::spawn(async move {
        let mut stream = watcher::watcher(api, config).default_backoff().boxed();
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Apply(o)) | Ok(Event::InitApply(o)) => state.lock().unwrap().apply(&o),
                Ok(Event::Delete(o)) => {
                    if let Some(n) = o.metadata.name {
                        state.lock().unwrap().topics.remove(&n);
                    }
                }
                Ok(_) => {}
                Err(e) => progress(format!("watch error (retrying): {e}")),
            }
        }
    })
}

// ---------------------------------------------------------------- the operator process

/// Kafka metadata of every topic (a blocking call, on a worker thread).
pub async fn kafka_metadata(
    admin: Arc<AdminClient<DefaultClientContext>>,
) -> Result<BTreeMap<String, TopicMeta>> {
    tokio::task::spawn_blocking(move || -> Result<BTreeMap<String, TopicMeta>> {
        let md = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(30))?;
        Ok(md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| {
                let parts = t.partitions();
                let meta = TopicMeta {
                    partitions: parts.len(),
                    led: parts.iter().all(|p| p.leader() >= 0),
                };
                (t.name().to_string(), meta)
            })
            .collect())
    })
    .await?
}

/// When each of the run's topics first showed in Kafka's metadata with every partition led:
/// polled every 500 ms while the operator creates them, so that the time to all Ready splits
/// into the brokers' part (until the last topic shows) and the operator's (Ready after that).
pub fn spawn_kafka_watch(
    admin: Arc<AdminClient<DefaultClientContext>>,
    prefix: String,
    partitions: usize,
    shown: Arc<Mutex<HashMap<String, Instant>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Ok(md) = kafka_metadata(admin.clone()).await {
                let now = Instant::now();
                let mut shown = shown.lock().unwrap();
                for (name, meta) in md {
                    if name.starts_with(&prefix) && meta.partitions == partitions && meta.led {
                        shown.entry(name).or_insert(now);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// One topic in Kafka's metadata, as the floor and the clean-up look at it.
pub struct TopicMeta {
    pub partitions: usize,
    /// Every partition has a leader.
    pub led: bool,
}

/// Polls Kafka's metadata until `expected` topics named `prefix`* show with `partitions`
/// partitions, each with a leader, or `deadline` passes. Returns the time since `start` and the
/// brokers' CPU since `brokers_cpu_start`, and (to `per_10s`) how many showed at every 10 s.
#[allow(clippy::too_many_arguments)]
pub async fn wait_until_shown(
    cx: &Ctx,
    what: &str,
    prefix: &str,
    partitions: usize,
    expected: usize,
    start: Instant,
    deadline: Instant,
    brokers_cpu_start: f64,
    per_10s: &mut Vec<usize>,
) -> Result<Option<(Duration, f64)>> {
    let mut ticker = Ticker::new();
    loop {
        let md = cx.metadata().await?;
        let visible = md
            .iter()
            .filter(|(k, t)| k.starts_with(prefix) && t.partitions == partitions && t.led)
            .count();
        while start.elapsed() >= Duration::from_secs(10 * (per_10s.len() as u64 + 1)) {
            per_10s.push(visible);
        }
        if visible == expected {
            return Ok(Some((
                start.elapsed(),
                brokers_cpu(cx.tck) - brokers_cpu_start,
            )));
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
        ticker.tick(|| format!("{what}: {visible}/{expected} topics in metadata with leaders"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
