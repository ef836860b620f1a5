//! Step 7 and `--paced-floor`: what the brokers alone need for the same topics.

use super::*;

/// The report row for topics Kafka refused to create (None when there are none).
pub fn failed_row(failed: &[String]) -> Option<String> {
    (!failed.is_empty()).then(|| {
        format!(
            "| topics that failed | {}: {} |",
            failed.len(),
            failed
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}

/// Topics per CreateTopics request of the paced floor: the operator's request size
/// (src/kafka/admin.rs sends a batch in requests of 100).
pub const PACED_BATCH: usize = 100;

/// The paced floor (`--paced-floor S`, no operator, run on a fresh environment): what the brokers
/// alone need when N topics arrive at an apply's pace rather than in one request. The topics go
/// to Kafka in CreateTopics of [`PACED_BATCH`], one request every S / (N / 100) seconds (each
/// sent on time, not after the last one's answer), and the time until Kafka's metadata shows
/// every partition with a leader is reported from the first request and from the last one.
/// Compare with the operator's time to all Ready from the start of the apply and from the last
/// object applied, in a run on an environment as fresh as this one.
pub async fn paced_floor(cx: &mut Ctx, over: Duration) -> Result<()> {
    let n = cx.settings.topics;
    let p = cx.settings.partitions;
    let prefix = format!("{}-paced", cx.prefix);
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:05}")).collect();
    let requests = n.div_ceil(PACED_BATCH);
    let interval = over / (requests.max(2) - 1) as u32;
    progress(format!(
        "paced floor: {n} topics ({}) in {requests} CreateTopics of {PACED_BATCH}, one every {}",
        cx.settings.shape(),
        secs(interval)
    ));
    let start = Instant::now();
    let brokers_cpu_start = brokers_cpu(cx.tck);
    let Paced {
        last_sent,
        last_answer,
        failed,
    } = send_paced(cx, names, interval).await?;
    let expected = n - failed.len();
    let mut per_10s = Vec::new();
    let deadline = start + Duration::from_secs(900);
    let all = wait_until_shown(
        cx,
        "paced floor",
        &prefix,
        p as usize,
        expected,
        start,
        deadline,
        brokers_cpu_start,
        &mut per_10s,
    )
    .await?;
    cx.out(format!(
        "## The paced floor: {n} topics ({}) in {requests} CreateTopics of {PACED_BATCH} spread over {} (rdkafka AdminClient, no operator)",
        cx.settings.shape(),
        secs(over)
    ));
    cx.out("");
    cx.out("| what | value |");
    cx.out("|---|---|");
    cx.out(format!(
        "| Kafka heap / JIT | {} / {} |",
        kafka_heap(),
        kafka_jit()
    ));
    cx.out(format!(
        "| last request sent / last answer | {} / {} |",
        secs(last_sent - start),
        secs(last_answer.max(start) - start)
    ));
    if let Some(row) = failed_row(&failed) {
        cx.out(row);
    }
    match all {
        Some((d, cpu)) => {
            cx.out(format!(
                "| **all in metadata, every partition with a leader: from the first request / from the last** | **{} / {}** |",
                secs(d),
                secs(d.saturating_sub(last_sent - start))
            ));
            cx.out(format!("| the brokers' CPU until then | {cpu:.1} s |"));
        }
        None => cx.out("| all in metadata | not within 900 s |"),
    }
    cx.out(format!(
        "| in metadata after 10, 20, 30 ... s | {} |",
        per_10s
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    cx.out("");
    Ok(())
}

/// What [`send_paced`] did.
pub struct Paced {
    pub last_sent: Instant,
    pub last_answer: Instant,
    /// "topic: error" for each topic Kafka refused.
    pub failed: Vec<String>,
}

/// Creates `names` (the run's shape) in CreateTopics of [`PACED_BATCH`], one request every
/// `interval` (each sent on time, not after the last one's answer); returns once all answered.
pub async fn send_paced(cx: &Ctx, names: Vec<String>, interval: Duration) -> Result<Paced> {
    let (p, rf, min_isr) = (
        cx.settings.partitions,
        cx.settings.replication_factor,
        cx.settings.min_isr.to_string(),
    );
    let start = Instant::now();
    let mut sends = Vec::new();
    for (k, chunk) in names.chunks(PACED_BATCH).enumerate() {
        tokio::time::sleep_until((start + interval * k as u32).into()).await;
        let admin = cx.admin.clone();
        let topics: Vec<(String, String)> = chunk
            .iter()
            .map(|name| (name.clone(), min_isr.clone()))
            .collect();
        sends.push(tokio::spawn(async move {
            let new_topics: Vec<NewTopic> = topics
                .iter()
                .map(|(name, min_isr)| {
                    NewTopic::new(name, p, TopicReplication::Fixed(rf))
                        .set("min.insync.replicas", min_isr)
                })
                .collect();
            let opts = AdminOptions::new()
                .operation_timeout(Some(Duration::from_secs(300)))
                .request_timeout(Some(Duration::from_secs(300)));
            let answer = admin.create_topics(new_topics.iter(), &opts).await;
            (Instant::now(), answer)
        }));
    }
    let last_sent = Instant::now();
    let mut last_answer = start;
    let mut failed = Vec::new();
    for send in sends {
        let (at, answer) = send.await?;
        last_answer = last_answer.max(at);
        // A request without an answer (a busy controller) fails its topics, not the run.
        match answer {
            Ok(results) => failed.extend(
                results
                    .into_iter()
                    .filter_map(|r| r.err().map(|(topic, e)| format!("{topic}: {e}"))),
            ),
            Err(e) => failed.push(format!("a CreateTopics request: {e}")),
        }
    }
    Ok(Paced {
        last_sent,
        last_answer,
        failed,
    })
}
