//! Unit tests of the etcd actions' pure parts.

use super::*;

#[test]
fn versions() {
    assert!(version_at_least("3.4.27", 3, 4, 27));
    assert!(!version_at_least("3.4.23", 3, 4, 27));
    assert!(version_at_least("3.5.0", 3, 4, 27));
    assert!(!version_at_least("garbage", 3, 4, 0));
}

#[test]
fn initial_cluster_names_the_new_member() {
    let m = |id, name: &str, url: &str| tx::Member {
        id,
        name: name.into(),
        peer_urls: vec![url.into()],
        client_urls: vec![],
        learner: false,
    };
    let list = [m(1, "a", "http://a:2380"), m(2, "", "http://b:2380")];
    assert_eq!(
        initial_cluster(&list, 2, "b"),
        "a=http://a:2380,b=http://b:2380"
    );
}

#[test]
fn version_skew_is_by_minor_version() {
    let st = |ep: &str, v: &str| tx::Status {
        endpoint: ep.into(),
        member_id: 1,
        version: v.into(),
        db_size: 0,
        db_size_in_use: 0,
        leader: 1,
        raft_index: 0,
        raft_applied_index: 0,
        raft_term: 0,
        is_learner: false,
        errors: vec![],
        cluster_id: 1,
        revision: 0,
    };
    let mut f = tx::Facts {
        status: vec![st("a", "3.4.23"), st("b", "3.4.27")],
        ..tx::Facts::default()
    };
    assert_eq!(version_skew(&f), None, "patch versions may differ");
    f.status.push(st("c", "3.5.9"));
    assert!(version_skew(&f).is_some_and(|m| m.contains("c 3.5.9")));
}

#[test]
fn quorum_sizes() {
    assert_eq!(
        [1, 2, 3, 4, 5].map(quorum),
        [1, 2, 2, 3, 3],
        "quorum of 1..5 voters"
    );
}

#[test]
fn peer_url_parts() {
    assert_eq!(
        url_host_port("https://[fd00::1]:2380"),
        Some(("fd00::1".into(), 2380))
    );
    assert_eq!(url_host_port("10.0.0.1:2380"), None);
}

#[test]
fn urls_are_compared_in_canonical_form() {
    assert_eq!(
        norm_url("http://10.213.31.12:02380"),
        Ok("http://10.213.31.12:2380".into())
    );
    assert_eq!(
        norm_url("HTTPS://Etcd-B.Internal:2380/"),
        Ok("https://etcd-b.internal:2380".into())
    );
    assert_eq!(
        norm_url("https://[FD00:0::1]:2380"),
        Ok("https://[fd00::1]:2380".into())
    );
    assert!(same_url("http://10.0.0.1:2380", "http://10.0.0.1:02380"));
    assert!(!same_url("http://10.0.0.1:2380", "http://10.0.0.2:2380"));
    for bad in [
        "10.0.0.1:2380",
        "ftp://a:1",
        "http://a",
        "http://a:0",
        "http://u@a:1",
        "http://a:1/p",
        "http://fd00::1:2380",
    ] {
        assert!(norm_url(bad).is_err(), "{bad}");
    }
}
