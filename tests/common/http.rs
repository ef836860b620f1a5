//! The operator's HTTP endpoints as a test reads them: plain HTTP/1.1 GETs and Prometheus text.

use std::io::{Read, Write};

/// GET `path` from `addr`: (status code, body); None while nothing listens there.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

/// The samples of `metric` in a /metrics body whose labels include every `label="value"` given.
pub fn metric_samples<'a>(
    body: &'a str,
    metric: &'a str,
    labels: &'a [(&'a str, &'a str)],
) -> impl Iterator<Item = f64> + 'a {
    body.lines()
        .filter(move |l| {
            l.starts_with(&format!("{metric}{{")) || l.starts_with(&format!("{metric} "))
        })
        .filter(move |l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
}

/// Sum of the samples of `metric` whose labels include every `label="value"` given.
pub fn metric_sum(body: &str, metric: &str, labels: &[(&str, &str)]) -> f64 {
    metric_samples(body, metric, labels).sum()
}
