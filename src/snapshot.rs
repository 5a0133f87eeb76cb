//! Verifying an etcd snapshot file on the controller, before anything destructive uses it
//! (SAFETY.md inv. 9). A snapshot streamed through etcd's Maintenance API is the member's
//! bbolt database followed by a 32-byte SHA-256 of it; etcd pads the database to a
//! multiple of 512 bytes, so `len % 512 == 32`. Beyond the trailer, the database itself is
//! walked: both meta pages (magic, version, FNV-64a checksum), then every page of the
//! `key` bucket's B+tree, bounds-checked, to find the revision and the number of live keys
//! (what `etcd.count prefix: ""` returns once the snapshot is restored). Pure: no IO but
//! the bytes it is given, never panics on any input (fuzzed with the parser targets).

use sha2::{Digest, Sha256};
use std::hash::Hasher;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub sha256: String,
    pub size: u64,
    pub revision: i64,
    pub key_count: i64,
}

const MAGIC: u32 = 0xED0C_DAED;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const META: u16 = 0x04;
const BUCKET_LEAF: u32 = 0x01;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
/// Deeper than any real bbolt tree; stops a crafted cycle.
const MAX_DEPTH: usize = 64;

/// Check `bytes` (a whole snapshot file) and read its revision and key count.
pub fn verify(bytes: &[u8]) -> Result<SnapshotInfo, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    let size = bytes.len() as u64;
    if bytes.len() % 512 != 32 {
        return Err(format!(
            "{} bytes is not a multiple of 512 plus a 32-byte sha256 trailer: the file is truncated, padded, or a raw data-dir copy (`member/snap/db`) rather than a snapshot saved through the etcd API",
            bytes.len()
        ));
    }
    let (db, trailer) = bytes.split_at(bytes.len() - 32);
    let digest = Sha256::digest(db);
    if digest.as_slice() != trailer {
        return Err(format!(
            "the sha256 trailer does not match the content (trailer {}, content {}): the file is corrupted",
            hex::encode(trailer),
            hex::encode(digest)
        ));
    }
    let (revision, key_count) = walk(db)?;
    Ok(SnapshotInfo {
        sha256: hex::encode(Sha256::digest(bytes)),
        size,
        revision,
        key_count,
    })
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

struct Meta {
    page_size: usize,
    root: u64,
    txid: u64,
}

/// A meta page: magic, version 2, a sane page size and its checksum.
fn meta(db: &[u8], at: usize) -> Result<Meta, String> {
    let m = at + PAGE_HEADER;
    let bad = || format!("meta page at byte {at} is unreadable");
    let flags = u16_at(db, at + 8).ok_or_else(bad)?;
    if flags & META == 0 {
        return Err(format!("page at byte {at} is not a meta page"));
    }
    if u32_at(db, m).ok_or_else(bad)? != MAGIC {
        return Err("not a bbolt database (bad magic): not an etcd snapshot".into());
    }
    if u32_at(db, m + 4).ok_or_else(bad)? != 2 {
        return Err("unsupported bbolt version".into());
    }
    let page_size = u32_at(db, m + 8).ok_or_else(bad)? as usize;
    let mut h = fnv::FnvHasher::default();
    h.write(db.get(m..m + 56).ok_or_else(bad)?);
    if h.finish() != u64_at(db, m + 56).ok_or_else(bad)? {
        return Err(format!("meta page at byte {at} fails its checksum"));
    }
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("implausible page size {page_size}"));
    }
    Ok(Meta {
        page_size,
        root: u64_at(db, m + 16).ok_or_else(bad)?,
        txid: u64_at(db, m + 48).ok_or_else(bad)?,
    })
}

/// A page: its bytes (overflow included), flags and element count.
struct Page<'a> {
    bytes: &'a [u8],
    flags: u16,
    count: usize,
}

fn page(db: &[u8], page_size: usize, id: u64) -> Result<Page<'_>, String> {
    let start = usize::try_from(id)
        .ok()
        .and_then(|i| i.checked_mul(page_size))
        .filter(|s| *s < db.len())
        .ok_or_else(|| format!("page {id} lies outside the file"))?;
    let overflow = u32_at(db, start + 12).ok_or("page header outside the file")? as usize;
    let len = overflow
        .checked_add(1)
        .and_then(|n| n.checked_mul(page_size))
        .ok_or("page overflow out of range")?;
    let bytes = db
        .get(start..start.saturating_add(len).min(db.len()))
        .ok_or("page outside the file")?;
    inline_page(bytes)
}

fn inline_page(bytes: &[u8]) -> Result<Page<'_>, String> {
    Ok(Page {
        flags: u16_at(bytes, 8).ok_or("page header cut short")?,
        count: usize::from(u16_at(bytes, 10).ok_or("page header cut short")?),
        bytes,
    })
}

/// The key and value of leaf element `i` (with its flags).
fn leaf<'a>(p: &Page<'a>, i: usize) -> Result<(u32, &'a [u8], &'a [u8]), String> {
    let e = PAGE_HEADER + i * ELEMENT;
    let cut = || "leaf element outside its page".to_string();
    let flags = u32_at(p.bytes, e).ok_or_else(cut)?;
    let pos = u32_at(p.bytes, e + 4).ok_or_else(cut)? as usize;
    let ksize = u32_at(p.bytes, e + 8).ok_or_else(cut)? as usize;
    let vsize = u32_at(p.bytes, e + 12).ok_or_else(cut)? as usize;
    let k0 = e.checked_add(pos).ok_or_else(cut)?;
    let v0 = k0.checked_add(ksize).ok_or_else(cut)?;
    let v1 = v0.checked_add(vsize).ok_or_else(cut)?;
    let key = p.bytes.get(k0..v0).ok_or_else(cut)?;
    let value = p.bytes.get(v0..v1).ok_or_else(cut)?;
    Ok((flags, key, value))
}

fn branch_child(p: &Page<'_>, i: usize) -> Result<u64, String> {
    u64_at(p.bytes, PAGE_HEADER + i * ELEMENT + 8)
        .ok_or_else(|| "branch element outside its page".to_string())
}

/// Visit every (flags, key, value) of the tree rooted at `root` in key order.
fn each<'a>(
    db: &'a [u8],
    page_size: usize,
    root: Page<'a>,
    depth: usize,
    f: &mut dyn FnMut(u32, &'a [u8], &'a [u8]) -> Result<(), String>,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("the B+tree is deeper than any real database (a cycle?)".into());
    }
    match root.flags {
        BRANCH => {
            for i in 0..root.count {
                let child = page(db, page_size, branch_child(&root, i)?)?;
                each(db, page_size, child, depth + 1, f)?;
            }
            Ok(())
        }
        LEAF => {
            for i in 0..root.count {
                let (flags, k, v) = leaf(&root, i)?;
                f(flags, k, v)?;
            }
            Ok(())
        }
        other => Err(format!("unexpected page type {other:#x} inside a bucket")),
    }
}

/// A bucket's root page from its header value (`root == 0`: stored inline after it).
fn bucket<'a>(db: &'a [u8], page_size: usize, value: &'a [u8]) -> Result<Page<'a>, String> {
    let root = u64_at(value, 0).ok_or("bucket header cut short")?;
    if root == 0 {
        inline_page(value.get(16..).ok_or("inline bucket cut short")?)
    } else {
        page(db, page_size, root)
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct KeyValue {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
}

/// The revision and number of live keys of the database.
fn walk(db: &[u8]) -> Result<(i64, i64), String> {
    let m0 = meta(db, 0);
    let page_size = match &m0 {
        Ok(m) => m.page_size,
        Err(e) => return Err(e.clone()),
    };
    let m1 = meta(db, page_size);
    let m = match (m0, m1) {
        (Ok(a), Ok(b)) => {
            if b.txid > a.txid {
                b
            } else {
                a
            }
        }
        (Ok(a), Err(_)) | (Err(_), Ok(a)) => a,
        (Err(e), Err(_)) => return Err(e),
    };
    let root = page(db, m.page_size, m.root)?;
    let mut key_bucket = None;
    each(db, m.page_size, root, 0, &mut |flags, k, v| {
        if flags & BUCKET_LEAF != 0 && k == b"key" {
            key_bucket = Some(v);
        }
        Ok(())
    })?;
    let Some(kb) = key_bucket else {
        return Err("no `key` bucket: not an etcd v3 database".into());
    };
    let mut live: std::collections::HashMap<Vec<u8>, bool> = std::collections::HashMap::new();
    let mut revision = 0i64;
    let kb = bucket(db, m.page_size, kb)?;
    each(db, m.page_size, kb, 0, &mut |_, k, v| {
        // A revision key: 8-byte main, '_', 8-byte sub, and 't' on a tombstone.
        if !(k.len() == 17 || (k.len() == 18 && k[17] == b't')) || k[8] != b'_' {
            return Err(format!(
                "malformed revision key of {} bytes in the `key` bucket",
                k.len()
            ));
        }
        let main = k
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes);
        revision = revision.max(i64::try_from(main).unwrap_or(i64::MAX));
        let kv = <KeyValue as prost::Message>::decode(v)
            .map_err(|e| format!("undecodable key-value at revision {main}: {e}"))?;
        live.insert(kv.key, k.len() == 17);
        Ok(())
    })?;
    let count = live.values().filter(|l| **l).count();
    Ok((revision, i64::try_from(count).unwrap_or(i64::MAX)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with_trailer(mut db: Vec<u8>) -> Vec<u8> {
        let d = Sha256::digest(&db);
        db.extend_from_slice(&d);
        db
    }

    #[test]
    fn rejects_sizes_and_trailers() {
        assert!(verify(&[]).unwrap_err().contains("empty"));
        assert!(verify(&[0; 4096]).unwrap_err().contains("multiple of 512"));
        let mut f = with_trailer(vec![0; 4096]);
        let n = f.len();
        f[n - 1] ^= 1;
        assert!(verify(&f).unwrap_err().contains("does not match"));
        // A correct trailer over garbage: the database walk refuses it.
        assert!(verify(&with_trailer(vec![7; 4096]))
            .unwrap_err()
            .contains("bbolt"));
    }

    /// A snapshot saved by `etcdctl snapshot save` from etcd 3.4.23: 300 puts, 2
    /// deletes and one overwrite after a first key (`etcdctl snapshot status` says
    /// revision 305).
    const REAL: &[u8] = include_bytes!("../tests/data/etcd-3.4-rev305-299keys.db");

    #[test]
    fn reads_a_real_snapshot() {
        let i = verify(REAL).unwrap();
        assert_eq!((i.revision, i.key_count), (305, 299));
        assert_eq!(i.size, REAL.len() as u64);
    }

    #[test]
    fn every_single_byte_flip_and_truncation_is_caught() {
        // SAFETY.md T7: flips anywhere (sampled every 97 bytes), truncations.
        let mut caught = 0;
        let mut tried = 0;
        for at in (0..REAL.len()).step_by(97) {
            let mut b = REAL.to_vec();
            b[at] ^= 0x10;
            tried += 1;
            caught += usize::from(verify(&b).is_err());
        }
        assert_eq!(caught, tried, "flips caught");
        for cut in [1, 32, 4096] {
            assert!(verify(&REAL[..REAL.len() - cut]).is_err(), "cut {cut}");
        }
        // A raw database (no trailer) is refused too.
        assert!(verify(&REAL[..REAL.len() - 32]).is_err());
    }

    #[test]
    fn never_panics_on_noise() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in [0usize, 32, 512, 544, 4096 + 32, 8192 + 32] {
            for _ in 0..50 {
                let mut b: Vec<u8> = (0..len.saturating_sub(32))
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x & 0xff) as u8
                    })
                    .collect();
                // Make the first meta page plausible so the walk goes deeper.
                if b.len() >= 80 {
                    b[8..10].copy_from_slice(&META.to_le_bytes());
                    b[16..20].copy_from_slice(&MAGIC.to_le_bytes());
                    b[20..24].copy_from_slice(&2u32.to_le_bytes());
                    b[24..28].copy_from_slice(&512u32.to_le_bytes());
                    let mut h = fnv::FnvHasher::default();
                    h.write(&b[16..72]);
                    let c = h.finish().to_le_bytes();
                    b[72..80].copy_from_slice(&c);
                }
                let _ = verify(&with_trailer(b));
            }
        }
    }
}
