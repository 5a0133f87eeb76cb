//! Parse + check flows made by the structured generator from the fuzzer's bytes: deep and
//! long expressions in every place. Oracle: no panic, no internal error.
#![no_main]

use etcdflow::check::{self, Options};
use etcdflow::load::{self, MemFs};
use etcdflow::source::SourceMap;
use etcdflow::syntax::gen::{flow, Choices};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    let text = flow(&mut Choices::new(data));
    let mut fs = MemFs::default();
    fs.0.insert(PathBuf::from("g.flow"), text);
    let mut sources = SourceMap::new();
    let prog = load::load(&fs, std::path::Path::new("g.flow"), &mut sources);
    let out = check::check(&prog, &sources, &Options::default());
    for d in prog.diagnostics.iter().chain(out.diagnostics.iter()) {
        assert_ne!(d.code, "internal-error", "{}", d.message);
    }
});
