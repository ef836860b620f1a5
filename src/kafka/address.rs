//! `host:port` addresses as Kafka and its users write them. An IPv6 address holds colons of its
//! own, so it is written in brackets (`[fd00::1]:9092`), while Kafka's Metadata answer gives a
//! broker's host bare (`fd00::1`): both directions go through here.

use std::net::Ipv6Addr;

/// The address to connect to for a host and port from Kafka's Metadata answer: an IPv6 literal
/// gets brackets, without which `fd00::1:9092` would be read as host `fd00::1:9092`.
pub fn join_host_port(host: &str, port: i32) -> String {
    if host.parse::<Ipv6Addr>().is_ok() {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The host (without brackets) and port of `host:port` or `[ipv6]:port`; None for anything else,
/// including an IPv6 address without brackets (where the port could not be told apart).
pub fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = match host.strip_prefix('[') {
        Some(inner) => {
            let inner = inner.strip_suffix(']')?;
            inner.parse::<Ipv6Addr>().ok()?;
            inner
        }
        None if host.contains(':') || host.contains(']') => return None,
        None => host,
    };
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ipv4_addresses_split_at_the_last_colon() {
        assert_eq!(
            split_host_port("kafka-0.kafka:9092"),
            Some(("kafka-0.kafka", 9092))
        );
        assert_eq!(split_host_port("10.0.0.7:19092"), Some(("10.0.0.7", 19092)));
    }

    #[test]
    fn a_bracketed_ipv6_address_is_the_host_without_brackets() {
        assert_eq!(split_host_port("[fd00::1]:9092"), Some(("fd00::1", 9092)));
        assert_eq!(split_host_port("[::1]:19092"), Some(("::1", 19092)));
        assert_eq!(
            split_host_port("[::ffff:10.0.0.7]:9092"),
            Some(("::ffff:10.0.0.7", 9092))
        );
    }

    #[test]
    fn ambiguous_or_broken_addresses_are_refused() {
        for bad in [
            "fd00::1:9092", // no brackets: which colon starts the port?
            "[fd00::1]",    // no port
            "[fd00::1:9092",
            "fd00::1]:9092",
            "[kafka]:9092", // brackets hold IPv6 addresses only
            "[]:9092",
            ":9092",
            "kafka",
            "kafka:",
            "kafka:99999",
            "kafka:port",
        ] {
            assert_eq!(split_host_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_broker_advertising_ipv6_is_reached_in_brackets() {
        assert_eq!(join_host_port("fd00::1", 9092), "[fd00::1]:9092");
        assert_eq!(join_host_port("kafka-1.kafka", 9092), "kafka-1.kafka:9092");
        assert_eq!(join_host_port("10.0.0.7", 9092), "10.0.0.7:9092");
        // What Kafka advertises, joined, splits back to the same host and port.
        for host in ["fd00::1", "::1", "kafka-1.kafka", "10.0.0.7"] {
            assert_eq!(
                split_host_port(&join_host_port(host, 9093)),
                Some((host, 9093))
            );
        }
    }

    /// `[::1]:PORT` reaches a listener bound to the IPv6 loopback only, as `[fd00::1]:9092`
    /// reaches fd00::1: the address goes to the socket as an IPv6 address, not to a DNS lookup.
    #[tokio::test]
    async fn a_bracketed_ipv6_bootstrap_server_connects_to_the_ipv6_host() {
        let listener = match tokio::net::TcpListener::bind("[::1]:0").await {
            Ok(l) => l,
            Err(e) => panic!("this test needs the IPv6 loopback (::1): {e}"),
        };
        let port = listener.local_addr().unwrap().port();
        let addr = format!("[::1]:{port}");
        let accepted = tokio::spawn(async move { listener.accept().await.map(|(_, peer)| peer) });
        let security = crate::kafka::security::Security::default();
        // The listener never answers ApiVersions: the open ends at its timeout, after connecting.
        let opened = crate::kafka::connection::Connection::open(
            &addr,
            std::time::Duration::from_secs(2),
            &security,
        );
        let _ = opened.await;
        let peer = tokio::time::timeout(std::time::Duration::from_secs(5), accepted)
            .await
            .expect("no connection reached the IPv6 listener")
            .unwrap()
            .unwrap();
        assert!(peer.is_ipv6(), "connected from {peer}");
    }
}
