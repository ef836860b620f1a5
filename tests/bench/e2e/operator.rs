//! The operator as a process of its own: started, stopped, its /metrics.

use super::*;

pub struct Operator {
    pub child: tokio::process::Child,
    pub pid: u32,
    pub http: SocketAddr,
    pub log: PathBuf,
}

impl Operator {
    /// `scope`: the flags that say what it watches (`Ctx::operator_scope`).
    pub fn start(scope: &[String], resync: Option<&str>, log: PathBuf) -> Result<Operator> {
        let http = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let bin = operator_bin();
        let mut cmd = tokio::process::Command::new(&bin);
        cmd.arg("run")
            .args(scope)
            .args(["--log-format", "json"])
            .args(["--http-addr", &http.to_string()])
            .env(
                "RUST_LOG",
                std::env::var("KTO_BENCH_RUST_LOG").unwrap_or_else(|_| RUST_LOG.into()),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true);
        // Only our flags decide how it runs.
        for var in [
            "KTO_NAMESPACE",
            "KTO_SELECTOR",
            "KTO_RESYNC_INTERVAL",
            "KTO_KAFKA_TIMEOUT",
            "KTO_HTTP_ADDR",
            "KTO_LEADER_ELECTION",
            "KTO_LOG_FORMAT",
        ] {
            cmd.env_remove(var);
        }
        if let Some(r) = resync {
            cmd.args(["--resync-interval", r]);
        }
        let child = cmd.spawn().with_context(|| format!("starting {bin}"))?;
        let pid = child.id().context("operator pid")?;
        Ok(Operator {
            child,
            pid,
            http,
            log,
        })
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub async fn http_get(&self, path: &str) -> Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.http).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(30), s.read_to_string(&mut response))
            .await
            .context("timed out reading the operator's HTTP answer")??;
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            bail!("GET {path}: {}", head.lines().next().unwrap_or(""));
        }
        Ok(body.to_string())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after 30 s; says which it took.
    pub async fn stop(&mut self) -> String {
        if !self.alive() {
            return "had already exited".into();
        }
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let started = Instant::now();
        let what = match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(_) => format!("exited {} after SIGTERM", secs(started.elapsed())),
            Err(_) => {
                let _ = self.child.kill().await;
                "did not exit within 30 s of SIGTERM; killed".to_string()
            }
        };
        progress(format!("operator {what}"));
        what
    }
}

// ---------------------------------------------------------------- samples
