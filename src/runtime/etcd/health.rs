//! Continuous health (SAFETY.md inv. 1, fault T4): every member of a cluster whose
//! membership the flow changes is sampled by a background observer for the whole run,
//! so "healthy for 5 s" means no sample in those 5 s missed — not "healthy at two
//! observations 5 s apart".

use super::*;
use std::collections::HashMap;

/// How often the observer samples every member.
pub(in crate::runtime) const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// A member that does not answer `status` within this is a miss.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Two good samples further apart than this are not continuous: nobody looked in
/// between (the controller was stopped, a probe hung), so the clock starts again.
const MAX_GAP: Duration = Duration::from_secs(2);

/// Per member id: since when it has answered without a break, and its last good sample.
#[derive(Debug, Default)]
pub struct HealthClock {
    since: std::sync::Mutex<HashMap<u64, (Instant, Instant)>>,
    /// The members to sample: (id, first client URL), from the latest facts.
    members: std::sync::Mutex<Vec<(u64, String)>>,
}

impl HealthClock {
    /// One sample of member `id` taken at `now`.
    pub(in crate::runtime) fn sample(&self, id: u64, healthy: bool, now: Instant) {
        let Ok(mut since) = self.since.lock() else {
            return;
        };
        if !healthy {
            since.remove(&id);
            return;
        }
        let start = match since.get(&id) {
            Some((start, last)) if now.saturating_duration_since(*last) <= MAX_GAP => *start,
            _ => now,
        };
        since.insert(id, (start, now.max(start)));
    }

    /// The samples in fresh facts; the members to sample from now on.
    pub(in crate::runtime) fn facts(&self, f: &tx::Facts) {
        let now = Instant::now();
        for m in &f.members {
            self.sample(m.id, healthy(f, m), now);
        }
        if let Ok(mut ms) = self.members.lock() {
            *ms = f
                .members
                .iter()
                .filter_map(|m| m.client_urls.first().map(|u| (m.id, u.clone())))
                .collect();
        }
        if let Ok(mut since) = self.since.lock() {
            since.retain(|id, _| f.members.iter().any(|m| m.id == *id));
        }
    }

    /// How long member `id` has been healthy without a break (`None`: it is not).
    pub(in crate::runtime) fn healthy_for(&self, id: u64) -> Option<Duration> {
        let since = self.since.lock().ok()?;
        let (start, last) = since.get(&id)?;
        // A clock nobody has fed for longer than a gap has stopped meaning anything.
        (last.elapsed() <= MAX_GAP).then(|| start.elapsed())
    }
}

/// Sample every member of `conf`'s cluster every `SAMPLE_EVERY` into `clock`, until
/// aborted. Each probe is a `status` on that member's own endpoint.
pub(in crate::runtime) fn spawn_observer(
    conf: tx::Conf,
    clock: Arc<HealthClock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if clock.members.lock().map_or(true, |m| m.is_empty()) {
            if let Ok(f) = tx::facts(&conf).await {
                clock.facts(&f);
            }
        }
        loop {
            let members = clock.members.lock().map(|m| m.clone()).unwrap_or_default();
            let mut set = tokio::task::JoinSet::new();
            for (id, ep) in members {
                let conf = conf.clone();
                set.spawn(async move {
                    let probe = async {
                        let mut c = conf.one(&ep).await.ok()?;
                        c.status().await.ok()
                    };
                    let ok = matches!(
                        tokio::time::timeout(PROBE_TIMEOUT, probe).await,
                        Ok(Some(s)) if s.errors().is_empty()
                    );
                    (id, ok)
                });
            }
            while let Some(r) = set.join_next().await {
                if let Ok((id, ok)) = r {
                    clock.sample(id, ok, Instant::now());
                }
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_miss_or_a_gap_starts_the_clock_again() {
        let c = HealthClock::default();
        let start = |id: u64| c.since.lock().ok().and_then(|m| m.get(&id).map(|v| v.0));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_millis(s);
        c.sample(1, true, at(0));
        c.sample(1, true, at(500));
        assert_eq!(start(1), Some(at(0)), "continuous samples");
        c.sample(1, false, at(1000));
        assert_eq!(start(1), None, "a miss");
        c.sample(1, true, at(1500));
        assert_eq!(start(1), Some(at(1500)), "starts again");
        // Nobody looked for 3 s (the controller was stopped): not continuous.
        c.sample(1, true, at(4500));
        assert_eq!(start(1), Some(at(4500)), "a gap");
    }
}
