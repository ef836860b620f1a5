//! CPU and memory of processes, from /proc.

pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// A `/proc/<pid>/status` value in MiB (VmRSS, VmHWM).
pub fn status_mib(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
}

/// The environment's processes whose CPU the report shows beside the operator's.
pub const ENV_PROCESSES: [(&str, &[&str]); 3] = [
    ("Kafka brokers (3)", &["kafka-1", "kafka-2", "kafka-3"]),
    ("kube-apiserver", &["kube-apiserver"]),
    ("etcd", &["etcd"]),
];

pub fn env_pid(name: &str) -> Option<u32> {
    let dir = std::env::var("KTO_ENV_DIR").unwrap_or_else(|_| "/tmp/kto-env".into());
    std::fs::read_to_string(format!("{dir}/pids/{name}.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The `-Xmx` of Kafka node 1, from its command line.
pub fn kafka_heap() -> String {
    kafka_jvm_arg("-Xmx").unwrap_or_else(|| "?".into())
}

/// The brokers' JIT: "C1 only" when the environment stops tiered compilation at level 1
/// (tests/env/up.sh, KAFKA_JVM_EXTRA), else the JVM's default (C1 then C2).
pub fn kafka_jit() -> &'static str {
    match kafka_jvm_arg("-XX:TieredStopAtLevel=").as_deref() {
        Some("1") => "C1 only (-XX:TieredStopAtLevel=1)",
        _ => "the JVM's default (C1 then C2)",
    }
}

/// The value of the first argument of kafka-1's command line that starts with `prefix`.
pub fn kafka_jvm_arg(prefix: &str) -> Option<String> {
    env_pid("kafka-1")
        .and_then(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .and_then(|cmdline| {
            cmdline
                .split(|b| *b == 0)
                .filter_map(|arg| std::str::from_utf8(arg).ok())
                .find_map(|arg| arg.strip_prefix(prefix).map(String::from))
        })
}

// ---------------------------------------------------------------- metrics texts

/// CPU seconds the three Kafka brokers have used so far.
pub fn brokers_cpu(tck: f64) -> f64 {
    ["kafka-1", "kafka-2", "kafka-3"]
        .iter()
        .filter_map(|n| cpu_ticks(env_pid(n)?))
        .sum::<u64>() as f64
        / tck
}

pub fn status_mem_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0)
}
