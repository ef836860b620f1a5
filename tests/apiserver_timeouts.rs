//! Calls to an apiserver that stopped answering give up in bounded time. The leader is cut off
//! from the apiserver by a proxy that stalls (requests hang, nothing errors: a half-open
//! connection) and is told to stop at that moment: it must still exit, its Lease release giving
//! up after the Lease client's timeout, instead of waiting for an answer that never comes.

mod common;

use std::time::{Duration, Instant};

use common::proxy::StallingProxy;
use common::*;

const RENEW: Duration = Duration::from_secs(2);
/// src/leader.rs SHUTDOWN_GRACE: the controllers' in-flight reconciles get this long.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_while_the_apiserver_does_not_answer_exits_in_bounded_time() {
    let env = TestEnv::without_operator("apitimeout", ClusterOptions::default()).await;
    let (proxy, kubeconfig) =
        StallingProxy::to_apiserver(std::env::temp_dir().join(format!("{}.kubeconfig", env.ns)))
            .await;
    let log = std::env::temp_dir().join(format!("{}-leader.log", env.ns));
    let http = free_addr().to_string();
    let mut leader = OperatorProcess::start(
        &[
            "run",
            "--namespace",
            &env.ns,
            "--http-addr",
            &http,
            "--leader-election",
            "--lease-namespace",
            &env.ns,
            "--lease-duration",
            "6s",
            "--lease-renew",
            "2s",
        ],
        &[
            ("POD_NAME", "leader"),
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
        ],
        &log,
    );
    env.wait_for("the operator to lead", || lease_holder(&env.ns) == "leader")
        .await;

    proxy.stall();
    leader.terminate();
    let stopped_at = Instant::now();
    let deadline = stopped_at + WAIT;
    let status = loop {
        if let Some(status) = leader.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running {WAIT:?} after SIGTERM with the apiserver silent: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = stopped_at.elapsed();
    let log = std::fs::read_to_string(&log).unwrap();
    eprintln!("apiserver silent: the leader exited {took:?} after SIGTERM ({status})");
    assert!(status.success(), "{status}: {log}");
    // The controllers' grace counts from SIGTERM, alongside the renewal under way (at most
    // RENEW) and the release's read (at most RENEW); 3 s more for the process to exit on a
    // busy machine.
    assert!(
        took < SHUTDOWN_GRACE.max(RENEW * 2) + Duration::from_secs(3),
        "took {took:?}: {log}"
    );
    assert!(
        log.contains("could not read the lease to release it"),
        "{log}"
    );
    // It did not release the Lease: the standby would wait for it to expire.
    assert_eq!(lease_holder(&env.ns), "leader");
}
