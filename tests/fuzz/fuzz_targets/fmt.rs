//! The formatter on any text: no panic; on text that parses, the output parses to the
//! same AST and formatting it again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(before) = etcdflow::fmt::shape(text) else {
        let _ = etcdflow::fmt::format(text);
        return;
    };
    let Ok(once) = etcdflow::fmt::format(text) else { return };
    let after = etcdflow::fmt::shape(&once).expect("formatted text parses");
    assert_eq!(after, before, "formatting changed the meaning");
    assert_eq!(etcdflow::fmt::format(&once).expect("formats again"), once, "not idempotent");
});
