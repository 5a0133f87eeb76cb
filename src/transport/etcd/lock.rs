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
    fence: std::sync::Arc<Fence>,
    conf: Conf,
    keeper: tokio::task::JoinHandle<()>,
}

/// How long the lease is known to live, on the controller's monotonic clock (SAFETY.md
/// inv. 19, fault T18): a renewal sent at `t` that the server answers with TTL `s` keeps
/// the lease until at least `t + s` (the server counts from when it received it, which
/// is later), so the local deadline is `t + s - LEASE_MARGIN`. A controller stopped
/// past that deadline (SIGSTOP, a paused VM) sees it passed the moment it runs again,
/// before the keeper task has had a round trip.
#[derive(Debug)]
pub struct Fence {
    lost: std::sync::atomic::AtomicBool,
    until: std::sync::Mutex<Instant>,
}

/// Kept off the end of the lease's known life: what an action that passed the check
/// may take to reach its host or member (the remaining window, README "Fault tolerance").
pub const LEASE_MARGIN: Duration = Duration::from_secs(2);

impl Fence {
    fn new(sent: Instant, ttl_secs: i64) -> Fence {
        let f = Fence {
            lost: std::sync::atomic::AtomicBool::new(false),
            until: std::sync::Mutex::new(sent),
        };
        f.renewed(sent, ttl_secs);
        f
    }

    /// A renewal sent at `sent` was answered with `ttl_secs` left.
    fn renewed(&self, sent: Instant, ttl_secs: i64) {
        let life = Duration::from_secs(u64::try_from(ttl_secs).unwrap_or(0));
        let until = (sent + life).checked_sub(LEASE_MARGIN).unwrap_or(sent);
        if let Ok(mut u) = self.until.lock() {
            if until > *u {
                *u = until;
            }
        }
    }

    fn lose(&self) {
        self.lost.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Lost for good (the lease is gone), or past its local deadline.
    fn expired(&self, now: Instant) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
            || self.until.lock().map_or(true, |u| now >= *u)
    }
}

/// One keep-alive round trip on a fresh client: the TTL the server answered, `None`
/// when no answer came.
async fn renew_once(conf: &Conf, lease: i64) -> Option<i64> {
    let mut c = conf.client().await.ok()?;
    let (mut k, mut st) = conf
        .deadline("lease keep-alive", c.lease_keep_alive(lease))
        .await
        .ok()?;
    k.keep_alive().await.ok()?;
    match tokio::time::timeout(conf.timeout, st.message()).await {
        Ok(Ok(Some(r))) => Some(r.ttl()),
        _ => None,
    }
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
        let sent = Instant::now();
        let grant = conf
            .deadline("lease grant", c.lease_grant(secs, None))
            .await
            .map_err(LockError::Failed)?;
        let lease = grant.id();
        let fence = std::sync::Arc::new(Fence::new(sent, grant.ttl()));
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
        let fence2 = std::sync::Arc::clone(&fence);
        let conf = conf.clone();
        let conf2 = conf.clone();
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
                    if let Ok(mut c) = conf2.client().await {
                        chan = c.lease_keep_alive(lease).await.ok();
                    }
                }
                // The lease lives from when the renewal was sent, not from the reply.
                let sent = Instant::now();
                let ttl_left = match chan.as_mut() {
                    Some((k, st)) => {
                        if k.keep_alive().await.is_ok() {
                            match tokio::time::timeout(conf2.timeout, st.message()).await {
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
                    Some(t) if t > 0 => {
                        renewed = sent;
                        fence2.renewed(sent, t);
                    }
                    Some(_) => {
                        // The lease expired or was revoked: someone else may hold it now.
                        fence2.lose();
                        return;
                    }
                    None => {
                        chan = None;
                        if renewed.elapsed() >= ttl {
                            fence2.lose();
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
            fence,
            conf,
            keeper,
        })
    }

    /// Whether the lock is still ours, decided on the controller before anything is
    /// touched: within the lease's known life, yes; past it, one renewal round trip
    /// decides (a lease that is still alive was never free for anyone else; one that
    /// is gone is lost for good).
    pub async fn held(&self) -> bool {
        if !self.fence.expired(Instant::now()) {
            return true;
        }
        if self.fence.lost.load(std::sync::atomic::Ordering::SeqCst) {
            return false;
        }
        let sent = Instant::now();
        match renew_once(&self.conf, self.lease).await {
            Some(t) if t > 0 => {
                self.fence.renewed(sent, t);
                !self.fence.expired(Instant::now())
            }
            _ => {
                self.fence.lose();
                false
            }
        }
    }

    /// Whether the lease is gone for good (no renewal can bring it back).
    pub fn lost(&self) -> bool {
        self.fence.lost.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// What a fenced request compares.
    pub fn token(&self) -> Token {
        Token {
            revision: self.revision,
            lease: self.lease,
        }
    }

    pub async fn release(self, conf: &Conf) {
        self.keeper.abort();
        if let Ok(mut c) = conf.client().await {
            let _ = tokio::time::timeout(conf.timeout, c.lease_revoke(self.lease)).await;
        }
    }
}

/// The lock as a fenced request compares it: the key's create revision and its lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub revision: i64,
    pub lease: i64,
}

/// A fenced no-op on the lock key, on `c` (the client a membership request goes through
/// next): the key must still carry our create revision and lease. A membership RPC has
/// no compare of its own, so this is its server-side fence, in the same request
/// sequence (SAFETY.md inv. 19).
pub(super) async fn fence_txn(conf: &Conf, c: &mut Client, t: Token) -> Result<(), String> {
    use etcd_client::{Compare, CompareOp, Txn, TxnOp};
    let txn = Txn::new()
        .when([
            Compare::create_revision(LOCK_KEY, CompareOp::Equal, t.revision),
            Compare::lease(LOCK_KEY, CompareOp::Equal, t.lease),
        ])
        .and_then([TxnOp::get(LOCK_KEY, None)]);
    let r = conf.deadline("lock fence", c.txn(txn)).await?;
    if r.succeeded() {
        Ok(())
    } else {
        Err("refused [cluster-locked]: the lock key is no longer this run's (inv. 19): another operator may hold the cluster; nothing was changed".into())
    }
}
