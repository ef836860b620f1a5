//! Leader election on a coordination.k8s.io Lease, so that of several replicas only one
//! reconciles. The holder renews the lease every `renew` interval; a lease not renewed for
//! `duration` may be taken over. Every write carries the lease's resourceVersion, so two
//! candidates can never both win.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

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
}

#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    Acquired,
    HeldBy(String),
}

impl Elector {
    pub fn new(client: kube::Client, settings: LeaseSettings) -> Self {
        Elector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
        }
    }

    /// Waits until this process holds the lease (or `shutdown`). Returns false on shutdown.
    pub async fn acquire(&self, shutdown: &CancellationToken) -> bool {
        let mut announced = false;
        loop {
            match self.try_acquire().await {
                Ok(Attempt::Acquired) => {
                    info!(lease = %self.settings.name, identity = %self.settings.identity, "became the leader");
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
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    self.release().await;
                    return true;
                }
                _ = tokio::time::sleep(self.settings.renew) => {}
            }
            match self.try_acquire().await {
                Ok(Attempt::Acquired) => last_renewal = tokio::time::Instant::now(),
                Ok(Attempt::HeldBy(holder)) => {
                    warn!(%holder, "lost the lease to another replica");
                    return false;
                }
                Err(e) => {
                    warn!(error = %e, "could not renew the lease");
                    // Others may take it once it expires: stop before that.
                    if last_renewal.elapsed() + self.settings.renew >= self.settings.duration {
                        return false;
                    }
                }
            }
        }
    }

    async fn try_acquire(&self) -> Result<Attempt, kube::Error> {
        let now = Timestamp::now();
        let me = &self.settings.identity;
        let duration_s = self.settings.duration.as_secs().max(1) as i32;
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
                Ok(_) => Ok(Attempt::Acquired),
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    Ok(Attempt::HeldBy("(just created by another replica)".into()))
                }
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let expires = spec
            .renew_time
            .as_ref()
            .map(|t| {
                t.0 + std::time::Duration::from_secs(
                    spec.lease_duration_seconds.unwrap_or(duration_s).max(0) as u64,
                )
            })
            .unwrap_or(now);
        if !holder.is_empty() && holder != *me && expires > now {
            return Ok(Attempt::HeldBy(holder));
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

    async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.settings.name).await
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
