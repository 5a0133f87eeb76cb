//! The inventory loader (INI and YAML) on any text: no panic.
#![no_main]

use etcdflow::inventory::Inventory;
use etcdflow::source::SourceMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for name in ["hosts", "hosts.yml"] {
        let mut sources = SourceMap::new();
        let id = sources.add(name, std::path::Path::new(name), text.to_string());
        let (inv, _) = Inventory::parse(id, &sources);
        for h in inv.hosts.keys() {
            let _ = inv.target(h);
        }
    }
});
