//! The corpus under `tests/cases/{syntax,check,lint}/`: each file's header says what it
//! expects (`# expect: code, code` or `# expect: clean`), optionally an inventory
//! (`# inventory: NAME` from `tests/cases/inventories/`) and params (`# param: k=v`).
//! The snapshot holds the source and the rendered diagnostics together, so a reviewer
//! judges a message by reading one `.snap` file; the expected codes are asserted too, so
//! a blindly accepted snapshot still cannot hide a wrong diagnostic.

use etcdflow::check::{self, Options};
use etcdflow::diagnostics::{self, render};
use etcdflow::inventory::Inventory;
use etcdflow::load::{self, RealFs};
use etcdflow::source::SourceMap;
use std::collections::BTreeSet;
use std::path::Path;

pub struct Outcome {
    pub rendered: String,
    pub codes: BTreeSet<String>,
    pub expected: BTreeSet<String>,
}

pub fn run_case(path: &Path) -> Outcome {
    let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut expected = BTreeSet::new();
    let mut inventory = None;
    let mut params = Vec::new();
    for line in src
        .lines()
        .take_while(|l| l.starts_with('#') && !l.starts_with("##"))
    {
        if let Some(rest) = line.strip_prefix("# expect:") {
            expected.extend(
                rest.split(',')
                    .map(str::trim)
                    .filter(|c| *c != "clean" && !c.is_empty())
                    .map(String::from),
            );
        } else if let Some(rest) = line.strip_prefix("# inventory:") {
            inventory = Some(
                super::root()
                    .join("tests/cases/inventories")
                    .join(rest.trim()),
            );
        } else if let Some(rest) = line.strip_prefix("# param:") {
            params.push(rest.trim().to_string());
        }
    }
    let mut sources = SourceMap::new();
    let mut diags = Vec::new();
    let (params, mut pd) = etcdflow::cli::param_args(&params, None, &mut sources);
    diags.append(&mut pd);
    let mut groups = None;
    let mut inv = None;
    if let Some(path) = inventory {
        // A file or a directory, read as `-i` reads it (no ansible.cfg: cases are hermetic).
        let src = etcdflow::inventory::Sources {
            paths: vec![path],
            ..Default::default()
        };
        let (i, mut d) =
            Inventory::load_sources(&src, &mut sources).unwrap_or_else(|d| panic!("{}", d.message));
        if !d.iter().any(|d| d.is_error()) {
            groups = Some(i.group_names());
            inv = Some(i);
        }
        diags.append(&mut d);
    }
    let opts = Options {
        inventory_hosts: inv.as_ref().map(|i| i.hosts.keys().cloned().collect()),
        inventory_facts: inv.as_ref().map(Inventory::facts),
        inventory_groups: groups,
        require_params: !params.is_empty(),
        params,
    };
    let prog = load::load(&RealFs, path, &mut sources);
    let mut mine = prog.diagnostics.clone();
    let checked = check::check(&prog, &sources, &opts);
    mine.extend(checked.diagnostics);
    // Cases under `lint/` also run the lint rules and their suppressions.
    if path.parent().is_some_and(|d| d.ends_with("lint")) {
        if let Some(flow) = &checked.flow {
            mine.extend(etcdflow::lint::lint(flow, &sources, inv.as_ref()));
        }
        let ids: Vec<_> = prog.files.iter().map(|f| f.file).collect();
        mine = etcdflow::lint::suppress::apply(mine, &sources, &ids);
    }
    diags.extend(mine);
    diagnostics::sort(&mut diags);
    sources.rename_all(super::relative);
    let codes = diags.iter().map(|d| d.code.to_string()).collect();
    // Messages may quote absolute paths (an include's directory): show them relative too.
    let root = format!("{}/", super::root().display());
    Outcome {
        rendered: render::human(&diags, &sources, false).replace(&root, ""),
        codes,
        expected,
    }
}

#[test]
fn corpus() {
    let mut wrong = Vec::new();
    insta::glob!("../cases", "{syntax,check,lint}/*.flow", |path| {
        let out = run_case(path);
        let src = std::fs::read_to_string(path).unwrap_or_default();
        if out.codes != out.expected || out.codes.contains("internal-error") {
            wrong.push(format!(
                "{}: expected {:?}, got {:?}\n{}",
                super::relative(&path.display().to_string()),
                out.expected,
                out.codes,
                out.rendered
            ));
        }
        insta::assert_snapshot!(format!("{src}\n----- diagnostics -----\n{}", out.rendered));
    });
    assert!(
        wrong.is_empty(),
        "{} case(s) gave other codes than their header says:\n\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
