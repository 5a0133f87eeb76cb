//! Snapshot verification of any bytes (SAFETY.md T7/T12): the oracle is "no panic"; and a
//! file that verifies has a trailer equal to the sha256 of the rest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    // Half the inputs get a valid trailer, so the database walk is reached.
    let mut b = data.to_vec();
    if data.first().is_some_and(|x| x % 2 == 0) {
        let pad = (512 - b.len() % 512) % 512;
        b.extend(std::iter::repeat(0).take(pad));
        let d = Sha256::digest(&b);
        b.extend_from_slice(&d);
    }
    if let Ok(info) = etcdflow::snapshot::verify(&b) {
        let (db, trailer) = b.split_at(b.len() - 32);
        assert_eq!(Sha256::digest(db).as_slice(), trailer);
        assert!(info.key_count >= 0 && info.revision >= 0);
    }
});
