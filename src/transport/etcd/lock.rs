//! The run's lease lock in etcd: one operator per cluster, fencing by the key's create
//! revision (SAFETY.md inv. 19).

use super::*;

/// The run's lease-backed hold on a cluster (SAFETY.md inv. 19). Dropping it stops the
/// keep-alive; `release` deletes the key and revokes the lease.
pub struct Lock {
    pub key: String,
    pub lease: i64,
    /// The lock key's create revision: etcdflow's own writes compare it (fencing).
    pub revision: i64,
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
    keeper: tokio::task::JoinHandle<()>,
}

pub const LOCK_KEY: &str = "etcdflow/lock";

/// Why a lock was refused: someone else holds it.
#[derive(Debug)]
pub enum LockError {
    Held(String),
    Failed(String),
}

impl Lock {
    /// Take the lock or say who holds it. The lease lives `ttl`; it is renewed every
    /// third of it; a renewal that fails marks the lock lost.
    ///
    /// `run_id`: a lock held under the same run id (a run being resumed after its
    /// controller died) is taken over, atomically, instead of refused.
    pub async fn acquire(
        conf: &Conf,
        holder: &str,
        run_id: &str,
        ttl: Duration,
    ) -> Result<Lock, LockError> {
        use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};
        let fail = LockError::Failed;
        let mut c = conf.client().await.map_err(fail)?;
        let secs = i64::try_from(ttl.as_secs().max(2)).unwrap_or(10);
        let lease = conf
            .deadline("lease grant", c.lease_grant(secs, None))
            .await
            .map_err(LockError::Failed)?
            .id();
        let txn = Txn::new()
            .when([Compare::create_revision(LOCK_KEY, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                LOCK_KEY,
                holder,
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else([TxnOp::get(LOCK_KEY, None)]);
        let mut r = conf
            .deadline("lock", c.txn(txn))
            .await
            .map_err(LockError::Failed)?;
        if !r.succeeded() {
            let held = r.op_responses().into_iter().find_map(|o| match o {
                TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.value().to_vec()),
                _ => None,
            });
            let who = held
                .as_deref()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_else(|| "an unknown holder".into());
            let same_run = serde_json::from_str::<serde_json::Value>(&who)
                .ok()
                .is_some_and(|v| v["run_id"] == run_id);
            let taken = match held {
                Some(old) if same_run => {
                    // Our own run, resumed: replace the key only if it is still the same.
                    let takeover = Txn::new()
                        .when([Compare::value(LOCK_KEY, CompareOp::Equal, old)])
                        .and_then([TxnOp::put(
                            LOCK_KEY,
                            holder,
                            Some(PutOptions::new().with_lease(lease)),
                        )]);
                    let t = conf
                        .deadline("lock takeover", c.txn(takeover))
                        .await
                        .map_err(LockError::Failed)?;
                    let ok = t.succeeded();
                    r = t;
                    ok
                }
                _ => false,
            };
            if !taken {
                let _ = c.lease_revoke(lease).await;
                return Err(LockError::Held(who));
            }
        }
        let _ = r;
        // Fencing compares the key's create revision (unchanged by a takeover).
        let now = conf
            .deadline("lock read", c.get(LOCK_KEY, None))
            .await
            .map_err(LockError::Failed)?;
        let revision = match now.kvs().first() {
            Some(kv) if kv.value() == holder.as_bytes() => kv.create_revision(),
            _ => {
                return Err(LockError::Failed(
                    "the lock key changed while it was taken".into(),
                ))
            }
        };
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let lost2 = std::sync::Arc::clone(&lost);
        let conf = conf.clone();
        // Renew every third of the TTL through whichever member answers (the one the
        // lock was taken through may be removed by the run itself); the lock is lost
        // only when no renewal succeeded for a whole TTL, or the lease is gone.
        let keeper = tokio::spawn(async move {
            let every = ttl / 3;
            let mut renewed = Instant::now();
            let mut chan = None;
            loop {
                tokio::time::sleep(every).await;
                if chan.is_none() {
                    if let Ok(mut c) = conf.client().await {
                        chan = c.lease_keep_alive(lease).await.ok();
                    }
                }
                let ttl_left = match chan.as_mut() {
                    Some((k, st)) => {
                        if k.keep_alive().await.is_ok() {
                            match tokio::time::timeout(conf.timeout, st.message()).await {
                                Ok(Ok(Some(r))) => Some(r.ttl()),
                                _ => None,
                            }
                        } else {
                            None
                        }
                    }
                    None => None,
                };
                match ttl_left {
                    Some(t) if t > 0 => renewed = Instant::now(),
                    Some(_) => {
                        // The lease expired or was revoked: someone else may hold it now.
                        lost2.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    None => {
                        chan = None;
                        if renewed.elapsed() >= ttl {
                            lost2.store(true, std::sync::atomic::Ordering::SeqCst);
                            return;
                        }
                    }
                }
            }
        });
        Ok(Lock {
            key: LOCK_KEY.into(),
            lease,
            revision,
            lost,
            keeper,
        })
    }

    pub fn lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub async fn release(self, conf: &Conf) {
        self.keeper.abort();
        if let Ok(mut c) = conf.client().await {
            let _ = tokio::time::timeout(conf.timeout, c.lease_revoke(self.lease)).await;
        }
    }
}
