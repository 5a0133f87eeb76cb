//! The records the etcd actions build are the records the checker declares.

use super::*;
use crate::check::types::Record;
use crate::runtime::record_tests::{declared, facts, keys};

#[test]
fn etcd_records_are_the_records_the_checker_declares() {
    let (m, _) = facts();
    let v = Verified {
        sha256: "ab".into(),
        path: "/s.db".into(),
        revision: 1,
        key_count: 1,
    };
    assert_eq!(
        keys(&snapshot_value(&v, 1, "e", "t")),
        declared(Record::SnapshotInfo)
    );
    assert_eq!(
        keys(&restored_value(&v, "n", false)),
        declared(Record::Restored)
    );
    assert_eq!(
        keys(&added(&m, "n1", String::new(), false)),
        declared(Record::MemberAdded)
    );
}
