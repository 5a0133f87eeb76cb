//! The stdlib: procedures from the seed documents, embedded in the binary. Users list
//! them, read their docs and params, and fork them into site playbooks; `run NAME.flow`
//! finds a stdlib flow when no such local file exists.

/// (name, source) of every embedded flow.
pub const FLOWS: &[(&str, &str)] = &[
    (
        "domeos-migrate",
        include_str!("../stdlib/domeos-migrate.flow"),
    ),
    (
        "kops-multi-master",
        include_str!("../stdlib/kops-multi-master.flow"),
    ),
    (
        "kubeadm-ha-setup",
        include_str!("../stdlib/kubeadm-ha-setup.flow"),
    ),
    (
        "kubeadm-ha-uninstall",
        include_str!("../stdlib/kubeadm-ha-uninstall.flow"),
    ),
    (
        "kubeadm-ha-upgrade",
        include_str!("../stdlib/kubeadm-ha-upgrade.flow"),
    ),
    ("restore-icp", include_str!("../stdlib/restore-icp.flow")),
];

/// A stdlib flow by name (`restore-icp` or `restore-icp.flow`).
pub fn get(name: &str) -> Option<(&'static str, &'static str)> {
    let stem = name
        .strip_suffix(".flow")
        .or_else(|| name.strip_suffix(".etcdflow"))
        .unwrap_or(name);
    FLOWS.iter().find(|(n, _)| *n == stem).copied()
}

/// The `##` doc lines before the `flow` header.
pub fn docs(source: &str) -> Vec<String> {
    source
        .lines()
        .take_while(|l| l.starts_with("##") || l.trim().is_empty())
        .filter(|l| l.starts_with("##"))
        .map(|l| {
            l.trim_start_matches('#')
                .strip_prefix(' ')
                .unwrap_or(l.trim_start_matches('#'))
                .to_string()
        })
        .collect()
}
