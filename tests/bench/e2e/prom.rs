//! Prometheus text and the kube client's request log, read into counters.

use super::*;

/// Parses one Prometheus text line `name{a="x",b="y"} value` into (name, labels, value).
/// One sample of a Prometheus text exposition: name, labels, value.
pub type PromSample = (String, Vec<(String, String)>, f64);

pub fn parse_sample(line: &str) -> Option<PromSample> {
    if line.starts_with('#') || line.is_empty() {
        return None;
    }
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let Some((name, labels)) = head.split_once('{') else {
        return Some((head.to_string(), vec![], value));
    };
    let labels = labels.strip_suffix('}')?;
    let mut out = Vec::new();
    let mut rest = labels;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(n);
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((key.trim_start_matches(',').trim().to_string(), value));
        rest = &after[end..];
    }
    Some((name.to_string(), out, value))
}

/// The operator's counters (`kto_*_total`), keyed by name and labels other than the
/// cluster's and namespace's.
pub fn operator_counters(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((name, labels, value)) = parse_sample(line) else {
            continue;
        };
        if !name.starts_with("kto_") || !name.ends_with("_total") {
            continue;
        }
        let labels: Vec<String> = labels
            .into_iter()
            .filter(|(k, _)| k != "cluster" && k != "namespace")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        *out.entry(format!("{name} {}", labels.join(" ")).trim().to_string())
            .or_default() += value;
    }
    out
}

/// Write requests the apiserver served (and the seconds it spent on them: keys `seconds VERB
/// resource`), for the resources the operator writes, by verb and
/// resource (all clients: the benchmark's own apply and anything else running count too).
pub fn apiserver_writes(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        // Counts, and the seconds the apiserver spent serving them (the histogram's sum).
        let prefix = if line.starts_with("apiserver_request_total{") {
            ""
        } else if line.starts_with("apiserver_request_duration_seconds_sum{") {
            "seconds "
        } else {
            continue;
        };
        let Some((_, labels, value)) = parse_sample(line) else {
            continue;
        };
        let get = |k: &str| {
            labels
                .iter()
                .find(|(l, _)| l == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let verb = get("verb");
        let resource = get("resource");
        if !matches!(
            verb,
            "POST" | "PUT" | "PATCH" | "APPLY" | "DELETE" | "DELETECOLLECTION"
        ) || !matches!(resource, "kafkatopics" | "kafkaclusters" | "events")
        {
            continue;
        }
        let sub = get("subresource");
        let key = if sub.is_empty() {
            format!("{prefix}{verb} {resource}")
        } else {
            format!("{prefix}{verb} {resource}/{sub}")
        };
        *out.entry(key).or_default() += value;
    }
    out
}

/// The difference of two scrapes; None when either failed.
pub fn delta_of(
    after: &Option<BTreeMap<String, f64>>,
    before: &Option<BTreeMap<String, f64>>,
) -> Option<BTreeMap<String, f64>> {
    Some(delta(after.as_ref()?, before.as_ref()?))
}

pub fn delta(
    after: &BTreeMap<String, f64>,
    before: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v != 0.0)
        .collect()
}

/// The operator's apiserver requests in its log since `from` (a byte offset): counts by
/// "METHOD resource" (watches apart), and the new offset.
pub fn kube_requests(log: &Path, from: u64) -> (BTreeMap<String, f64>, u64) {
    let Ok(bytes) = std::fs::read(log) else {
        return (BTreeMap::new(), from);
    };
    let end = bytes[..]
        .iter()
        .rposition(|b| *b == b'\n')
        .map(|p| p as u64 + 1)
        .unwrap_or(0)
        .max(from);
    let mut out = BTreeMap::new();
    for line in String::from_utf8_lossy(&bytes[from as usize..end as usize]).lines() {
        if !line.contains("\"requesting\"") {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(span) = v["spans"]
            .as_array()
            .and_then(|s| s.iter().rev().find(|s| s["name"] == "HTTP"))
        else {
            continue;
        };
        let method = span["http.method"].as_str().unwrap_or("?");
        let url = span["http.url"].as_str().unwrap_or("");
        *out.entry(request_key(method, url)).or_default() += 1.0;
    }
    (out, end)
}

/// "PATCH kafkatopics/status", "GET kafkatopics (watch)", "POST events" from a request URL.
pub fn request_key(method: &str, url: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = path
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let path = path.find('/').map(|i| &path[i..]).unwrap_or(path);
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... or /apis/group/version/...
    let rest = match segs.first() {
        Some(&"api") => segs.get(2..).unwrap_or_default(),
        Some(&"apis") => segs.get(3..).unwrap_or_default(),
        _ => &segs[..],
    };
    let rest = if rest.first() == Some(&"namespaces") && rest.len() > 2 {
        &rest[2..]
    } else {
        rest
    };
    let mut resource = rest.first().copied().unwrap_or("?").to_string();
    if let Some(sub) = rest.get(2) {
        resource = format!("{resource}/{sub}");
    }
    let kind = if query.split('&').any(|q| q == "watch=true") {
        " (watch)"
    } else if method == "GET" && rest.len() == 1 {
        " (list)"
    } else {
        ""
    };
    format!("{method} {resource}{kind}")
}

pub fn is_write(key: &str) -> bool {
    ["POST ", "PUT ", "PATCH ", "DELETE "]
        .iter()
        .any(|m| key.starts_with(m))
}

// ---------------------------------------------------------------- watch of the KafkaTopics

/// The sum of the counts whose key satisfies `pick`.
pub fn total(m: &BTreeMap<String, f64>, pick: impl Fn(&str) -> bool) -> u64 {
    m.iter()
        .filter(|(k, _)| pick(k))
        .map(|(_, v)| *v as u64)
        .sum()
}

/// "create_topic result=ok 20, snapshot result=ok 4" from the keys that start with `prefix`.
pub fn breakdown(m: &BTreeMap<String, f64>, prefix: &str) -> String {
    let parts: Vec<String> = m
        .iter()
        .filter_map(|(k, v)| Some(format!("{} {v}", k.strip_prefix(prefix)?)))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// Kafka write operations in a counters delta (every `kto_kafka_requests_total` operation
/// that changes Kafka).
pub fn kafka_write_ops(counters: &BTreeMap<String, f64>) -> u64 {
    const WRITES: [&str; 7] = [
        "create_topics",
        "create_partitions",
        "alter_topic_configs",
        "alter_broker_configs",
        "alter_reassignments",
        "elect_preferred_leaders",
        "delete_topic",
    ];
    total(counters, |k| {
        WRITES
            .iter()
            .any(|w| k.starts_with(&format!("kto_kafka_requests_total operation={w} ")))
    })
}

/// The operator's `kafka write:` log lines after `from`, as "message: topics" texts.
pub fn kafka_write_lines(log: &Path, from: u64) -> Vec<String> {
    let bytes = std::fs::read(log).unwrap_or_default();
    let from = (from as usize).min(bytes.len());
    String::from_utf8_lossy(&bytes[from..])
        .lines()
        .filter(|l| l.contains("kafka write:"))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            let what = v["topics"].as_str().or(v["topic"].as_str()).unwrap_or("");
            format!("{}: {what}", v["message"].as_str().unwrap_or(""))
        })
        .collect()
}
