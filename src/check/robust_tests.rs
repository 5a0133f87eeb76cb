//! No input crashes `check`: flows from the structured generator (`syntax::gen`) with
//! chains of thousands of operators, thousands of nested parentheses or brackets, long
//! unary runs, comprehensions, maps, calls and interpolations in every place, checked on
//! a 2 MiB stack (a quarter of the CLI's): no panic, no internal error, and input deeper
//! than the limits is `too-deeply-nested`.

use crate::check::{check, Options};
use crate::load::{self, MemFs};
use crate::source::SourceMap;
use crate::syntax::gen::{flow, Choices};
use std::path::PathBuf;

fn codes(text: &str) -> Vec<&'static str> {
    let mut fs = MemFs::default();
    fs.0.insert(PathBuf::from("g.flow"), text.to_string());
    let mut sources = SourceMap::new();
    let prog = load::load(&fs, std::path::Path::new("g.flow"), &mut sources);
    let out = check(&prog, &sources, &Options::default());
    let _ = crate::diagnostics::render::human(&out.diagnostics, &sources, false);
    prog.diagnostics
        .iter()
        .chain(out.diagnostics.iter())
        .map(|d| d.code)
        .collect()
}

#[test]
fn generated_deep_and_long_flows_never_crash_check() {
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            // `ETCDFLOW_GEN_COUNT` / `ETCDFLOW_GEN_SEED` run it longer or elsewhere.
            let env = |k: &str, d: u64| {
                std::env::var(k)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(d)
            };
            let mut state: u64 = env("ETCDFLOW_GEN_SEED", 0x9e37_79b9_7f4a_7c15) | 1;
            let (mut deep, mut total) = (0, 0);
            for _ in 0..env("ETCDFLOW_GEN_COUNT", 3000) {
                let bytes: Vec<u8> = (0..256)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state >> 24) as u8
                    })
                    .collect();
                let text = flow(&mut Choices::new(&bytes));
                let c = codes(&text);
                assert!(!c.contains(&"internal-error"), "internal error on:\n{text}");
                total += 1;
                if c.contains(&"too-deeply-nested") {
                    deep += 1;
                }
            }
            (deep, total)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (deep, total) = worker
        .join()
        .unwrap_or_else(|_| panic!("check crashed on a generated flow"));
    // The generator reaches the limits often, and ordinary sizes too.
    assert!(
        deep > total / 10 && deep < total,
        "{deep} of {total} too deep"
    );
}
