//! The editor support in `editors/`: the VS Code extension's manifest and its TextMate
//! grammar, run over every stdlib flow by `editors/vscode/test/tokenize.py`.

use std::path::Path;

fn repo(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn the_textmate_grammar_scopes_every_keyword_of_the_stdlib_flows() {
    let mut flows: Vec<String> = std::fs::read_dir(repo("stdlib"))
        .unwrap_or_else(|e| panic!("stdlib/: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "flow"))
        .map(|p| p.display().to_string())
        .collect();
    flows.sort();
    assert_eq!(flows.len(), etcdflow::stdlib::FLOWS.len());
    let out = std::process::Command::new("python3")
        .arg(repo("editors/vscode/test/tokenize.py"))
        .arg(repo("editors/vscode/syntaxes/etcdflow.tmLanguage.json"))
        .args(&flows)
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.ends_with(", 0 wrong")).count(),
        flows.len(),
        "{text}"
    );
}

#[test]
fn the_extension_declares_the_language_and_starts_the_server() {
    let pkg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("editors/vscode/package.json"))
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("package.json: {e}"));
    let lang = &pkg["contributes"]["languages"][0];
    assert_eq!(lang["id"], "etcdflow");
    assert_eq!(
        lang["extensions"],
        serde_json::json!([".flow", ".etcdflow"])
    );
    assert_eq!(
        pkg["contributes"]["grammars"][0]["scopeName"],
        "source.etcdflow"
    );
    let js = std::fs::read_to_string(repo("editors/vscode/extension.js"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(js.contains("args: [\"lsp\"]") && js.contains("etcdflow-explain"));
}
