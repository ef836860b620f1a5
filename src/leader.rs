//! Leader election on a coordination.k8s.io Lease, so that of several replicas only one
//! reconciles. The holder renews the lease every `renew` interval; a lease not renewed for
//! `duration` may be taken over. Every write carries the lease's resourceVersion, so two
//! candidates can never both win.
//!
//! Fencing: two replicas must never write to Kafka in the same period. The holder may send
//! Kafka writes only until `renewal started + duration - renew` (the [`WriteFence`] it is handed), a
//! bound it can judge on its own monotonic clock; a standby takes a lease over only after it has
//! itself watched the lease stay unchanged for `duration` (never by comparing the holder's
//! `renewTime` with its own wall clock). So the old holder stops writing at least `renew`
//! before anyone else may start. Renewals are time-boxed to `renew`: a hung apiserver call
//! cannot keep a stale leader going.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use prometheus_client::metrics::gauge::Gauge;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::kafka::fence::WriteFence;

#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    /// Who we are (the pod name).
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub duration: Duration,
    /// How often the holder renews (well under `duration`).
    pub renew: Duration,
}

pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// The other holder's lease as this replica last saw it change: (resourceVersion, when
    /// seen, on our monotonic clock). Expiry is judged from here.
    seen: Mutex<Option<(String, tokio::time::Instant)>>,
    /// Opened after each acquisition or renewal until `renewal start + duration - renew`.
    fence: WriteFence,
    /// `kto_leader`: 1 from acquiring the lease until giving it up or losing it.
    leader_gauge: Gauge,
}

/// How long a leader waits before it tries again to renew after a failed attempt: a fifth of
/// the renew interval, at least 200 ms (client-go's leader election retries every 2 s of a
/// 10 s renew deadline, the same ratio).
fn retry_after_failed_renewal(renew: Duration) -> Duration {
    (renew / 5).max(Duration::from_millis(200))
}

/// The Lease's `leaseDurationSeconds` for `duration`: whole seconds, rounded up. A standby takes
/// over after watching the Lease unchanged for that long while this holder writes until
/// `duration - renew` after a renewal: rounded down (1.5 s written as 1 s) it would eat the
/// `renew` the holder's fence leaves between the two.
fn lease_duration_seconds(duration: Duration) -> i32 {
    let whole = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(whole.max(1)).unwrap_or(i32::MAX)
}

/// Whether a lease held by someone else has expired, judged only on our clock: it has, once we
/// have watched it stay unchanged (same resourceVersion) for longer than its duration.
fn expired_locally(
    seen: &mut Option<(String, tokio::time::Instant)>,
    version: &str,
    duration: Duration,
    now: tokio::time::Instant,
) -> bool {
    match seen {
        Some((v, since)) if v == version => now.duration_since(*since) > duration,
        _ => {
            *seen = Some((version.to_string(), now));
            false
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    Acquired,
    /// Acquired by creating the Lease: none existed.
    Created,
    HeldBy(String),
}

impl Elector {
    /// An elector that opens and closes `fence` as it holds and loses the lease.
    pub fn new(client: kube::Client, settings: LeaseSettings, fence: WriteFence) -> Self {
        fence.close();
        Elector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            seen: Mutex::new(None),
            fence,
            leader_gauge: Gauge::default(),
        }
    }

    /// Reports on `gauge` whether this replica holds the lease (1) or stands by (0).
    pub fn with_leader_gauge(mut self, gauge: Gauge) -> Self {
        gauge.set(0);
        self.leader_gauge = gauge;
        self
    }

    /// Waits until this process holds the lease (or `shutdown`). Returns false on shutdown.
    pub async fn acquire(&self, shutdown: &CancellationToken) -> bool {
        let mut announced = false;
        loop {
            let started = tokio::time::Instant::now();
            match self.try_acquire_timed().await {
                Ok(Attempt::Acquired) => {
                    self.fence_from(started);
                    self.leader_gauge.set(1);
                    info!(lease = %self.settings.name, identity = %self.settings.identity, "became the leader");
                    return true;
                }
                Ok(Attempt::Created) => {
                    // No Lease existed: maybe never, maybe deleted under a leader whose fence is
                    // still open. Writes start only once that fence has surely closed.
                    self.fence.open_until(
                        started + self.settings.duration.saturating_sub(self.settings.renew),
                        Some(started + self.settings.duration),
                    );
                    self.leader_gauge.set(1);
                    info!(lease = %self.settings.name, identity = %self.settings.identity, wait_s = self.settings.duration.as_secs(), "became the leader of a new Lease; writing once any earlier holder's lease has surely ended");
                    return true;
                }
                Ok(Attempt::HeldBy(holder)) if !announced => {
                    info!(lease = %self.settings.name, %holder, "another replica leads; standing by");
                    announced = true;
                }
                Ok(Attempt::HeldBy(_)) => {}
                Err(e) => warn!(error = %e, "leader election: could not read or write the lease"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(self.settings.renew) => {}
            }
        }
    }

    /// Renews the lease until `shutdown` (then releases it, so a standby takes over at once) or
    /// until leadership is lost (returns false: the caller must stop reconciling).
    pub async fn hold(&self, shutdown: &CancellationToken) -> bool {
        let kept = self.hold_until_given_up_or_lost(shutdown).await;
        self.leader_gauge.set(0);
        kept
    }

    async fn hold_until_given_up_or_lost(&self, shutdown: &CancellationToken) -> bool {
        let mut last_renewal = tokio::time::Instant::now();
        let mut next_attempt = self.settings.renew;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    // No write starts from here on; those under way end first (each by its
                    // deadline, within the lease). Only then may the standby start at once.
                    if self.fence.close_and_drain().await {
                        self.release().await;
                    } else {
                        warn!("a Kafka write ended without an answer and may still reach Kafka: leaving the lease to expire instead of releasing it");
                    }
                    return true;
                }
                _ = tokio::time::sleep(next_attempt) => {}
            }
            let started = tokio::time::Instant::now();
            match self.try_acquire_timed().await {
                Ok(Attempt::Acquired | Attempt::Created) => {
                    last_renewal = started;
                    next_attempt = self.settings.renew;
                    self.fence_from(started);
                }
                Ok(Attempt::HeldBy(holder)) => {
                    self.fence.close();
                    warn!(%holder, "lost the lease to another replica");
                    return false;
                }
                Err(e) => {
                    warn!(error = %e, "could not renew the lease");
                    // Others may take it once it expires: stop before that. (Kafka writes
                    // stopped already at the fence.)
                    if last_renewal.elapsed() + self.settings.renew >= self.settings.duration {
                        self.fence.close();
                        return false;
                    }
                    // Try again soon rather than a whole renew interval later: a busy
                    // apiserver (429 Too Many Requests, a timeout) usually answers the next
                    // call, and every attempt before the lease lapses is a chance to keep it.
                    next_attempt = retry_after_failed_renewal(self.settings.renew);
                }
            }
        }
    }

    /// After a successful acquire or renewal whose request started at `started`: writes are
    /// allowed until `renew` before the earliest moment another replica could take over.
    fn fence_from(&self, started: tokio::time::Instant) {
        let until = started + self.settings.duration.saturating_sub(self.settings.renew);
        self.fence.open_until(until, None);
    }

    /// One attempt, given at most `renew` to complete.
    async fn try_acquire_timed(&self) -> Result<Attempt, String> {
        match tokio::time::timeout(self.settings.renew, self.try_acquire()).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "the apiserver did not answer within {} s",
                self.settings.renew.as_secs_f32()
            )),
        }
    }

    async fn try_acquire(&self) -> Result<Attempt, kube::Error> {
        let now = Timestamp::now();
        let me = &self.settings.identity;
        let duration_s = lease_duration_seconds(self.settings.duration);
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me.clone()),
                    lease_duration_seconds: Some(duration_s),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Created),
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    Ok(Attempt::HeldBy("(just created by another replica)".into()))
                }
                Err(e) => Err(e),
            };
        };
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let their_duration =
            Duration::from_secs(spec.lease_duration_seconds.unwrap_or(duration_s).max(0) as u64);
        if !holder.is_empty() && holder != *me {
            let expired = expired_locally(
                &mut self.seen.lock().unwrap_or_else(|e| e.into_inner()),
                &version,
                their_duration,
                tokio::time::Instant::now(),
            );
            if !expired {
                return Ok(Attempt::HeldBy(holder));
            }
        }
        if holder != *me {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(me.clone());
        spec.lease_duration_seconds = Some(duration_s);
        spec.renew_time = Some(MicroTime(now));
        // replace carries metadata.resourceVersion: a concurrent winner makes this fail with 409.
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(Attempt::Acquired),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                Ok(Attempt::HeldBy("(taken concurrently)".into()))
            }
            Err(e) => Err(e),
        }
    }

    /// Bounded by the Lease client's timeouts (src/apiserver.rs): an apiserver that does not
    /// answer must not keep a stopping process from exiting.
    async fn release(&self) {
        let lease = match self.api.get_opt(&self.settings.name).await {
            Ok(lease) => lease,
            Err(e) => {
                warn!(error = %e, "could not read the lease to release it; it expires on its own");
                return;
            }
        };
        if let Some(mut lease) = lease
            && let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(self.settings.identity.as_str())
        {
            spec.holder_identity = None;
            spec.renew_time = None;
            match self
                .api
                .replace(&self.settings.name, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => info!("released the lease"),
                Err(e) => warn!(error = %e, "could not release the lease; it expires on its own"),
            }
        }
    }
}

/// How long the controllers may take to finish their reconciles once they are told to stop. A
/// reconcile stuck on an unreachable apiserver or Kafka must not keep the pod from stopping:
/// every write is fenced or re-read anyway, so stopping mid-reconcile is safe.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How a term of running the controllers ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Asked to stop (SIGTERM): leadership was given up in order (see [`Elector::hold`]).
    Shutdown,
    /// Another replica holds the lease now.
    LostLease,
    /// The controllers ended or panicked without being asked to: leadership was given up as on
    /// shutdown, and /healthz answers 503 from then on.
    ControllersEnded(String),
}

/// Runs `controllers` (told to stop through `leading`) for as long as `hold` keeps leadership.
///
/// `hold` is [`Elector::hold`] (or, without leader election, a wait for its token): it gives
/// leadership up in order (fence closed, writes drained, Lease released) once its token is
/// cancelled, which happens on `shutdown` and also when the controllers end unasked: a leader
/// without controllers would otherwise keep renewing its lease and no replica would reconcile.
/// Then `healthy` turns false so that /healthz fails and the kubelet restarts the process, should
/// it not exit on its own.
pub async fn lead<H, F>(
    hold: H,
    controllers: tokio::task::JoinHandle<()>,
    leading: CancellationToken,
    shutdown: &CancellationToken,
    healthy: &AtomicBool,
) -> Ended
where
    H: FnOnce(CancellationToken) -> F,
    F: Future<Output = bool>,
{
    let give_up = shutdown.child_token();
    let holding = hold(give_up.clone());
    // The controllers' end, or None once SHUTDOWN_GRACE has passed since they were told to
    // stop (counted from then, while the lease is being given up alongside).
    let told = leading.clone();
    let controllers_within_grace = async move {
        tokio::select! {
            outcome = controllers => Some(outcome),
            _ = async {
                told.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "reconciles still running after the shutdown grace period; exiting anyway");
                None
            }
        }
    };
    tokio::pin!(holding, controllers_within_grace);
    let term = |kept: bool| {
        if kept {
            Ended::Shutdown
        } else {
            Ended::LostLease
        }
    };
    let outcome = tokio::select! {
        kept = &mut holding => {
            leading.cancel();
            controllers_within_grace.await;
            return term(kept);
        }
        ended = &mut controllers_within_grace => match ended {
            Some(outcome) if !shutdown.is_cancelled() => outcome,
            // They stopped (or ran out of time) because they were asked to.
            _ => return term(holding.await),
        },
    };
    let why = match outcome {
        Ok(()) => "they returned".to_string(),
        Err(e) if e.is_panic() => format!(
            "they panicked: {}",
            crate::util::supervise::panic_message(e.into_panic().as_ref())
        ),
        Err(e) => e.to_string(),
    };
    healthy.store(false, Ordering::Relaxed);
    error!(%why, "the controllers ended while leading: giving up leadership; /healthz fails from now on");
    give_up.cancel();
    holding.await;
    Ended::ControllersEnded(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    /// A stand-in for [`Elector::hold`]: holds until its token is cancelled, then counts a
    /// release.
    fn holding(
        released: &Arc<AtomicUsize>,
    ) -> impl FnOnce(CancellationToken) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>>
    {
        let released = released.clone();
        move |give_up| {
            Box::pin(async move {
                give_up.cancelled().await;
                released.fetch_add(1, Ordering::SeqCst);
                true
            })
        }
    }

    async fn lead_with(
        controllers: impl Future<Output = ()> + Send + 'static,
    ) -> (Ended, bool, usize) {
        let released = Arc::new(AtomicUsize::new(0));
        let healthy = AtomicBool::new(true);
        let shutdown = CancellationToken::new();
        let ended = tokio::time::timeout(
            Duration::from_secs(5),
            lead(
                holding(&released),
                tokio::spawn(controllers),
                shutdown.child_token(),
                &shutdown,
                &healthy,
            ),
        )
        .await
        .expect("lead returned");
        (
            ended,
            healthy.load(Ordering::Relaxed),
            released.load(Ordering::SeqCst),
        )
    }

    #[tokio::test]
    async fn controllers_that_end_unasked_give_up_the_lease_and_fail_healthz() {
        let (ended, healthy, released) = lead_with(async {}).await;
        assert_eq!(ended, Ended::ControllersEnded("they returned".into()));
        assert!(!healthy);
        assert_eq!(released, 1);
    }

    #[tokio::test]
    async fn controllers_that_panic_give_up_the_lease_and_fail_healthz() {
        let (ended, healthy, released) = lead_with(async { panic!("a bug") }).await;
        assert_eq!(
            ended,
            Ended::ControllersEnded("they panicked: a bug".into())
        );
        assert!(!healthy);
        assert_eq!(released, 1);
    }

    #[tokio::test]
    async fn on_shutdown_the_controllers_stop_and_healthz_stays_ok() {
        let released = Arc::new(AtomicUsize::new(0));
        let healthy = AtomicBool::new(true);
        let shutdown = CancellationToken::new();
        let leading = shutdown.child_token();
        let stopped = Arc::new(AtomicBool::new(false));
        let (told, flag) = (leading.clone(), stopped.clone());
        let controllers = tokio::spawn(async move {
            told.cancelled().await;
            flag.store(true, Ordering::SeqCst);
        });
        shutdown.cancel();
        let ended = tokio::time::timeout(
            Duration::from_secs(5),
            lead(
                holding(&released),
                controllers,
                leading,
                &shutdown,
                &healthy,
            ),
        )
        .await
        .expect("lead returned");
        assert_eq!(ended, Ended::Shutdown);
        assert!(healthy.load(Ordering::Relaxed));
        assert!(stopped.load(Ordering::SeqCst));
        assert_eq!(released.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_renewal_is_retried_well_within_the_renew_interval() {
        assert_eq!(
            retry_after_failed_renewal(Duration::from_secs(5)),
            Duration::from_secs(1)
        );
        assert_eq!(
            retry_after_failed_renewal(Duration::from_millis(500)),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn the_lease_says_its_duration_rounded_up_to_whole_seconds() {
        assert_eq!(lease_duration_seconds(Duration::from_secs(15)), 15);
        assert_eq!(lease_duration_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(lease_duration_seconds(Duration::from_millis(200)), 1);
        assert_eq!(
            lease_duration_seconds(Duration::from_secs(u64::MAX)),
            i32::MAX
        );
    }

    #[test]
    fn a_lease_expires_only_after_we_watched_it_unchanged_for_its_duration() {
        let d = Duration::from_secs(6);
        let t0 = tokio::time::Instant::now();
        let mut seen = None;
        // First sight: never expired, whatever its renewTime says.
        assert!(!expired_locally(&mut seen, "10", d, t0));
        assert!(!expired_locally(
            &mut seen,
            "10",
            d,
            t0 + Duration::from_secs(5)
        ));
        // Renewed (new resourceVersion): the clock starts again.
        assert!(!expired_locally(
            &mut seen,
            "11",
            d,
            t0 + Duration::from_secs(7)
        ));
        assert!(!expired_locally(
            &mut seen,
            "11",
            d,
            t0 + Duration::from_secs(12)
        ));
        assert!(expired_locally(
            &mut seen,
            "11",
            d,
            t0 + Duration::from_secs(14)
        ));
    }
}
