//! Members that advertise their URLs by DNS name (kops names them
//! `etcd-a.internal.example.com`, and only the masters' `/etc/hosts` or DNS knows them).
//! Before the facts are trusted, each such name is resolved on a member host of the
//! cluster, as etcd itself resolves it there, and mapped to the inventory host with that
//! address: the controller then dials that host (through its tunnel, if any), and the
//! member's `host` is known to the guards and the facts. A name that resolves to no
//! inventory host stays unmapped (the controller dials the name itself, and says so
//! when it cannot).

use super::*;

/// How long a name that did not resolve is left alone before it is tried again.
const RETRY_UNRESOLVED: Duration = Duration::from_secs(5);

/// Fresh facts of `cluster`, its members' DNS names resolved first.
pub(in crate::runtime) async fn gather(sh: &Shared, cluster: usize) -> Result<tx::Facts, Fail> {
    let c = conf(sh, cluster)?;
    let f = tx::facts(c)
        .await
        .map_err(|e| Fail(format!("cluster `{}`: {e}", c.name)))?;
    if resolve_names(sh, cluster, &f).await {
        // Members whose status went to a name the controller cannot dial: read again.
        return tx::facts(c)
            .await
            .map_err(|e| Fail(format!("cluster `{}`: {e}", c.name)));
    }
    Ok(f)
}

/// The DNS names in the members' URLs that are not mapped yet.
fn unmapped(c: &tx::Conf, f: &tx::Facts) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in f
        .members
        .iter()
        .flat_map(|m| m.client_urls.iter().chain(&m.peer_urls))
    {
        let Some(h) = url_host(u) else { continue };
        if h.parse::<std::net::IpAddr>().is_ok()
            || h.eq_ignore_ascii_case("localhost")
            || c.alias(&h).is_some()
            || out.contains(&h)
        {
            continue;
        }
        out.push(h);
    }
    out
}

/// Map the members' unmapped names; true when a new one was mapped.
async fn resolve_names(sh: &Shared, cluster: usize, f: &tx::Facts) -> bool {
    let Some(c) = sh.cluster_confs.get(cluster).and_then(|c| c.conn.as_ref()) else {
        return false;
    };
    let names = unmapped(c, f);
    if names.is_empty() {
        return false;
    }
    // A member host of the cluster that this run is connected to.
    let prober = sh.probers.lock().ok().and_then(|probers| {
        sh.cluster_confs[cluster]
            .members
            .iter()
            .find_map(|h| probers.get(h).cloned())
    });
    let Some(p) = prober else {
        return false;
    };
    let mut mapped = false;
    for name in names {
        let recent = sh
            .etcd
            .get(cluster)
            .and_then(|st| {
                st.unresolved
                    .lock()
                    .ok()
                    .and_then(|u| u.get(&name).copied())
            })
            .is_some_and(|t| t.elapsed() < RETRY_UNRESOLVED);
        if recent {
            continue;
        }
        let addrs = p.resolve(&name).await.unwrap_or_default();
        let inventory = addrs.iter().find(|a| {
            sh.inventory
                .hosts()
                .any(|h| sh.inventory.target(h).is_some_and(|t| t.address == **a))
        });
        match inventory {
            Some(a) => {
                if let Ok(mut al) = c.aliases.lock() {
                    al.push((name.clone(), a.clone()));
                    mapped = true;
                }
            }
            None => {
                if let Some(st) = sh.etcd.get(cluster) {
                    if let Ok(mut u) = st.unresolved.lock() {
                        u.insert(name.clone(), Instant::now());
                    }
                }
            }
        }
    }
    mapped
}
