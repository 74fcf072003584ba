//! The one place that takes a store lease, keeps it while work runs, and
//! gives it back.
//!
//! A lease has a TTL so that a crashed holder cannot block the fleet; work
//! that may outlast the TTL (a CreateStage with the SDK's retries takes up to
//! ~46 s) would then run without it. So the lease is renewed every third of
//! its TTL while the work runs, and every store write made under it carries
//! the lease's fencing token: if renewal fails (Redis unreachable, a stall
//! longer than the TTL), the next holder's token is newer and the store
//! refuses the late writes of this one.

use std::future::Future;
use std::time::Duration;

use crate::store::{Fence, StoreError};

use super::App;

/// What to do with the lease once the work is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterWork {
    /// Give it up (one-off work such as a scale-up).
    Release,
    /// Keep it until its TTL (the maintenance role stays with one instance).
    Keep,
}

impl App {
    /// A holder name for one piece of work: per call, not per instance, so
    /// that the lease also excludes this instance's other requests.
    pub(crate) fn lease_holder(&self) -> String {
        format!("{}/{}", self.instance_id, super::random_id(8))
    }

    /// Runs `work` under the stage lease ([`super::STAGE_LEASE`]), released
    /// after it, or returns `Ok(None)` when another holder has it.
    pub(crate) async fn with_stage_lease<T, Fut>(
        &self,
        holder: &str,
        work: impl FnOnce(Fence) -> Fut,
    ) -> Result<Option<T>, StoreError>
    where
        Fut: Future<Output = T>,
    {
        self.with_lease(
            super::STAGE_LEASE,
            holder,
            super::STAGE_LEASE_TTL,
            AfterWork::Release,
            work,
        )
        .await
    }

    /// Runs `work` under the lease `name` held by `holder`, or returns
    /// `Ok(None)` when another holder has it. The lease is renewed while
    /// `work` runs; `work` gets the fence its writes must carry.
    pub(crate) async fn with_lease<T, Fut>(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        after: AfterWork,
        work: impl FnOnce(Fence) -> Fut,
    ) -> Result<Option<T>, StoreError>
    where
        Fut: Future<Output = T>,
    {
        let Some(token) = self.store.try_lease(name, holder, ttl).await? else {
            return Ok(None);
        };
        let fence = Fence {
            lease: name.to_string(),
            holder: holder.to_string(),
            token,
        };
        let renewal = {
            let store = self.store.clone();
            let fence = fence.clone();
            async move {
                let every = (ttl / 3).max(Duration::from_millis(10));
                loop {
                    tokio::time::sleep(every).await;
                    match store.try_lease(&fence.lease, &fence.holder, ttl).await {
                        Ok(Some(t)) if t == fence.token => {}
                        Ok(_) => {
                            tracing::warn!(lease = %fence.lease, "lease lost while working; later writes under it are refused");
                            return;
                        }
                        // Retried on the next tick; the fence guards writes
                        // if the lease runs out meanwhile.
                        Err(e) => {
                            tracing::warn!(lease = %fence.lease, error = %e, "could not renew a lease")
                        }
                    }
                }
            }
        };
        let out = tokio::select! {
            out = work(fence.clone()) => out,
            // The renewal loop only ends when the lease is lost: the work is
            // abandoned where it stands. Its writes would be refused anyway,
            // and what it left half-done is an intent in the store that
            // maintenance finishes or undoes.
            () = renewal => {
                return Ok(None);
            }
        };
        if after == AfterWork::Release {
            // A lease left behind blocks the fleet's stage operations until
            // its TTL: retry briefly through a short store outage.
            for attempt in 0..5u32 {
                match self.store.release_lease(name, holder).await {
                    Ok(()) => break,
                    Err(e) if attempt == 4 => {
                        tracing::warn!(lease = name, error = %e, "could not release a lease; it will expire")
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200 << attempt)).await,
                }
            }
        }
        Ok(Some(out))
    }
}
