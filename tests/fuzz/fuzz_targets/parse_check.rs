//! Parse + check any text: the oracle is "no panic, no internal error".
#![no_main]

use etcdflow::check::{self, Options};
use etcdflow::load::{self, MemFs};
use etcdflow::source::SourceMap;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut fs = MemFs::default();
    fs.0.insert(PathBuf::from("fuzz.flow"), text.to_string());
    // Includes and templates resolve to the same text, so they are exercised too.
    fs.0.insert(PathBuf::from("inc.flow"), text.to_string());
    fs.0.insert(PathBuf::from("t.j2"), text.to_string());
    let mut sources = SourceMap::new();
    let prog = load::load(&fs, std::path::Path::new("fuzz.flow"), &mut sources);
    let out = check::check(&prog, &sources, &Options::default());
    for d in prog.diagnostics.iter().chain(out.diagnostics.iter()) {
        assert_ne!(d.code, "internal-error", "{}", d.message);
    }
    let _ = etcdflow::diagnostics::render::human(&out.diagnostics, &sources, false);
    let _ = etcdflow::diagnostics::render::json(&out.diagnostics, &sources);
});
