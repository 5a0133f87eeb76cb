//! `etcdflow lsp` spoken to as an editor speaks to it: JSON-RPC over the child's stdin and
//! stdout (Content-Length framing), on the stdlib flows and on a flow with mistakes.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

struct Lsp {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Value>,
    next: u64,
    /// publishDiagnostics seen, by uri (the latest).
    diags: std::collections::HashMap<String, Vec<Value>>,
    dir: tempfile::TempDir,
}

fn frame(v: &Value) -> Vec<u8> {
    let body = v.to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

impl Lsp {
    fn start(init_options: Value) -> Lsp {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_etcdflow"))
            .arg("lsp")
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("etcdflow lsp: {e}"));
        let stdin = child.stdin.take().unwrap_or_else(|| panic!("stdin"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                match serde_json::from_slice::<Value>(&body) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                    Err(e) => panic!("not JSON from the server: {e}"),
                }
            }
        });
        let mut lsp = Lsp {
            child,
            stdin,
            rx,
            next: 1,
            diags: Default::default(),
            dir,
        };
        let root = format!("file://{}", lsp.dir.path().display());
        let init = lsp.request(
            "initialize",
            json!({"processId": null, "rootUri": root, "capabilities": {}, "initializationOptions": init_options}),
        );
        assert_eq!(init["serverInfo"]["name"], "etcdflow", "{init}");
        assert_eq!(init["capabilities"]["hoverProvider"], true, "{init}");
        lsp.notify("initialized", json!({}));
        lsp
    }

    fn send(&mut self, v: Value) {
        self.stdin
            .write_all(&frame(&v))
            .unwrap_or_else(|e| panic!("write to the server: {e}"));
        let _ = self.stdin.flush();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn recv(&mut self) -> Value {
        let v = self
            .rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("no message from the server in 30 s: {e}"));
        if v["method"] == "textDocument/publishDiagnostics" {
            let uri = v["params"]["uri"].as_str().unwrap_or("").to_string();
            let d = v["params"]["diagnostics"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            self.diags.insert(uri, d);
        }
        v
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let v = self.recv();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Wait for the next diagnostics of `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        loop {
            let v = self.recv();
            if v["method"] == "textDocument/publishDiagnostics" && v["params"]["uri"] == uri {
                return self.diags.get(uri).cloned().unwrap_or_default();
            }
        }
    }

    fn open(&mut self, name: &str, text: &str) -> (String, Vec<Value>) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        let uri = format!("file://{}", path.display());
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "etcdflow", "version": 1, "text": text}}),
        );
        let d = self.diagnostics(&uri);
        (uri, d)
    }

    fn at(&mut self, method: &str, uri: &str, line: u32, character: u32) -> Value {
        self.request(
            method,
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}, "context": {"includeDeclaration": true}}),
        )
    }

    fn shutdown(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert!(r.is_null());
        self.notify("exit", Value::Null);
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                assert!(st.success(), "etcdflow lsp exited with {st}");
                return;
            }
            assert!(
                Instant::now() < end,
                "etcdflow lsp did not exit after `exit`"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// (line, character) of the first `needle` in `text`, plus `delta` characters.
fn pos(text: &str, needle: &str, delta: usize) -> (u32, u32) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in the text"))
        + delta;
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    (line as u32, col as u32)
}

fn labels(items: &Value) -> Vec<String> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["label"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn the_stdlib_flows_open_without_errors() {
    let mut lsp = Lsp::start(json!({}));
    for (name, text) in etcdflow::stdlib::FLOWS {
        let (_, d) = lsp.open(&format!("{name}.flow"), text);
        let errors: Vec<&Value> = d.iter().filter(|d| d["severity"] == 1).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
    lsp.shutdown();
}

const MISTAKES: &str = "## A flow with mistakes.\nflow t\n\nparam wait_for: duration = 5s  ## how long to wait\nhosts masters = group(\"master\")\n\nstep probe on masters timeout: wait_for {\n  let r = run [\"true\"]\n  log \"{{ r.rc }} on {{ host.name }}\"\n  rollback {}\n}\n\nstep again on mastrs {\n  log \"{{ r.stdout }}\"\n  rollback {}\n}\n";

#[test]
fn diagnostics_fixes_completion_hover_definition_references_rename() {
    let mut lsp = Lsp::start(json!({}));
    let (uri, d) = lsp.open("t.flow", MISTAKES);
    let unknown = d
        .iter()
        .find(|d| d["message"].as_str().unwrap_or("").contains("mastrs"))
        .unwrap_or_else(|| panic!("a diagnostic for `mastrs`: {d:?}"));
    assert_eq!(unknown["source"], "etcdflow");
    assert!(
        unknown["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{unknown}"
    );
    assert!(
        unknown["codeDescription"]["href"]
            .as_str()
            .is_some_and(|h| h.starts_with("etcdflow-explain:")),
        "{unknown}"
    );
    let (l, c) = pos(MISTAKES, "mastrs", 0);
    assert_eq!(
        unknown["range"]["start"],
        json!({"line": l, "character": c})
    );
    // The did-you-mean becomes a quick fix.
    let actions = lsp.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": unknown["range"], "context": {"diagnostics": [unknown]}}),
    );
    let edit = &actions[0]["edit"]["changes"][&uri][0];
    assert_eq!(edit["newText"], "masters", "{actions}");
    // Hover: the diagnostic's explanation; a param's type and doc comment.
    let h = lsp.at("textDocument/hover", &uri, l, c + 2);
    assert!(
        h["contents"]["value"]
            .as_str()
            .unwrap_or("")
            .contains("etcdflow explain"),
        "{h}"
    );
    let (l, c) = pos(MISTAKES, "timeout: wait_for", 10);
    let h = lsp.at("textDocument/hover", &uri, l, c);
    let text = h["contents"]["value"].as_str().unwrap_or("").to_string();
    assert!(
        text.contains("duration") && text.contains("how long to wait"),
        "{h}"
    );
    // Completion: host fields, record fields of a binding, step options, actions.
    let (l, c) = pos(MISTAKES, "host.name", 5);
    assert!(labels(&lsp.at("textDocument/completion", &uri, l, c)).contains(&"address".to_string()));
    let (l, c) = pos(MISTAKES, "r.rc", 2);
    let fields = labels(&lsp.at("textDocument/completion", &uri, l, c));
    assert!(
        fields.contains(&"stdout".to_string()) && fields.contains(&"rc".to_string()),
        "{fields:?}"
    );
    let (l, c) = pos(MISTAKES, "timeout: wait_for", 0);
    let opts = labels(&lsp.at("textDocument/completion", &uri, l, c));
    assert!(
        opts.contains(&"batch".to_string()) && opts.contains(&"when".to_string()),
        "{opts:?}"
    );
    let (l, _) = pos(MISTAKES, "  rollback {}", 0);
    let stmts = labels(&lsp.at("textDocument/completion", &uri, l, 2));
    assert!(
        stmts.contains(&"etcd.member_add".to_string()) && stmts.contains(&"let".to_string()),
        "{stmts:?}"
    );
    // Definition and references of the host set; rename of the param.
    let (l, c) = pos(MISTAKES, "on masters", 4);
    let def = lsp.at("textDocument/definition", &uri, l, c);
    assert_eq!(def["range"]["start"]["line"], 4, "{def}");
    let refs = lsp.at("textDocument/references", &uri, l, c);
    assert_eq!(
        refs.as_array().map_or(0, Vec::len),
        2,
        "declaration and one use: {refs}"
    );
    let (l, c) = pos(MISTAKES, "wait_for {", 1);
    let edit = lsp.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri}, "position": {"line": l, "character": c}, "newName": "patience"}),
    );
    assert_eq!(
        edit["changes"][&uri].as_array().map_or(0, Vec::len),
        2,
        "{edit}"
    );
    // Symbols: params, host sets, steps (with their bindings).
    let syms = lsp.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    );
    let names = labels(&json!(syms
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| json!({"label": s["name"]}))
        .collect::<Vec<_>>()));
    assert_eq!(
        names,
        vec!["wait_for", "masters", "probe", "again"],
        "{syms}"
    );
    lsp.shutdown();
}

#[test]
fn formatting_is_etcdflow_fmt() {
    let mut lsp = Lsp::start(json!({}));
    let messy = "## x\nflow   t\nhosts m=group(\"master\")\nstep s on m {\nrun \"true\"\n  rollback {}\n}\n";
    let (uri, _) = lsp.open("f.flow", messy);
    let edits = lsp.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let want = etcdflow::fmt::format(messy).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(edits[0]["newText"], want.as_str(), "{edits}");
    lsp.shutdown();
}

#[test]
fn inventory_groups_and_vars_complete_from_etcdflow_toml() {
    let mut lsp = Lsp::start(json!({}));
    std::fs::write(
        lsp.dir.path().join("hosts"),
        "[master]\nm1 ansible_host=10.0.0.1 etcd_name=e1\n[workers]\nw1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        lsp.dir.path().join("etcdflow.toml"),
        "inventory = [\"hosts\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let text = "## x\nflow t\nhosts m = group(\"\")\nstep s on m {\n  log \"{{ host.vars. }}\"\n  rollback {}\n}\n";
    let (uri, _) = lsp.open("i.flow", text);
    let (l, c) = pos(text, "group(\"", 7);
    let groups = labels(&lsp.at("textDocument/completion", &uri, l, c));
    assert!(
        groups.contains(&"master".to_string()) && groups.contains(&"workers".to_string()),
        "{groups:?}"
    );
    let (l, c) = pos(text, "host.vars.", 10);
    let vars = labels(&lsp.at("textDocument/completion", &uri, l, c));
    assert!(vars.contains(&"etcd_name".to_string()), "{vars:?}");
    lsp.shutdown();
}

#[test]
fn diagnostics_after_a_change_on_a_thousand_line_flow() {
    let mut lsp = Lsp::start(json!({}));
    let mut text = String::from("## big\nflow big\nhosts m = group(\"master\")\n");
    let mut i = 0;
    while text.lines().count() < 1000 {
        text.push_str(&format!("step s{i} on m timeout: 30s {{\n  let r{i} = run [\"echo\", \"{i}\"]\n  log \"{{{{ r{i}.stdout }}}}\"\n  rollback {{}}\n}}\n"));
        i += 1;
    }
    let (uri, d) = lsp.open("big.flow", &text);
    assert!(d.iter().all(|d| d["severity"] != 1), "{d:?}");
    let mut times = Vec::new();
    for v in 2..12 {
        let changed = text.replace(
            "log \"{{ r3.stdout }}\"",
            &format!("log \"{{{{ r3.stdout }}}} {v}\""),
        );
        let t = Instant::now();
        lsp.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": v}, "contentChanges": [{"text": changed}]}),
        );
        let _ = lsp.diagnostics(&uri);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    super::etcd::report(&format!(
        "lsp: diagnostics after a change on a {}-line flow: median {:.1} ms, max {:.1} ms ({} changes)",
        text.lines().count(),
        times[times.len() / 2],
        times[times.len() - 1],
        times.len()
    ));
    lsp.shutdown();
}
