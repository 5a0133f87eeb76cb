//! `etcdflow lsp`: a Language Server Protocol server over stdio (lsp-server, lsp-types),
//! on the same loader, checker and lint rules as `etcdflow lint` — no second parser.
//! Diagnostics on open, change and save (of the changed file and of every open flow that
//! includes it); completion, hover, go to definition, references, rename, document
//! symbols, formatting (`etcdflow fmt`) and quick fixes for "did you mean" suggestions.

pub mod analysis;
pub mod complete;
pub mod symbols;
pub mod text;

use analysis::{Analysis, Config, Overlay};
use lsp_server::{Connection, Message, Notification, Request, Response};
use lsp_types::notification::{self as note, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use symbols::{Decl, Kind};
use text::LineIndex;

/// The error of this phase: the protocol broke (the editor went away, bad framing).
#[derive(Debug)]
pub struct LspError(pub String);

impl std::fmt::Display for LspError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(e: impl std::fmt::Display) -> LspError {
    LspError(e.to_string())
}

/// Serve on stdin/stdout until the editor says `exit`.
pub fn serve() -> Result<(), LspError> {
    let (conn, io) = Connection::stdio();
    serve_on(&conn)?;
    drop(conn);
    io.join().map_err(err)
}

pub fn serve_on(conn: &Connection) -> Result<(), LspError> {
    let (id, params) = conn.initialize_start().map_err(err)?;
    let init: InitializeParams = serde_json::from_value(params).map_err(err)?;
    let caps = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::FULL),
                save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                ..TextDocumentSyncOptions::default()
            },
        )),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "\"".into(), " ".into()]),
            ..CompletionOptions::default()
        }),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        ..ServerCapabilities::default()
    };
    let result = serde_json::json!({
        "capabilities": caps,
        "serverInfo": { "name": "etcdflow", "version": env!("CARGO_PKG_VERSION") },
    });
    conn.initialize_finish(id, result).map_err(err)?;
    let mut server = Server {
        texts: HashMap::new(),
        analyses: HashMap::new(),
        fallback: fallback_config(init.initialization_options.as_ref()),
    };
    for msg in &conn.receiver {
        match msg {
            Message::Request(r) => {
                if conn.handle_shutdown(&r).map_err(err)? {
                    return Ok(());
                }
                let resp = server.request(r);
                conn.sender.send(Message::Response(resp)).map_err(err)?;
            }
            Message::Notification(n) => {
                for out in server.notification(n) {
                    conn.sender.send(Message::Notification(out)).map_err(err)?;
                }
            }
            Message::Response(_) => {}
        }
    }
    Ok(())
}

/// The editor's `initializationOptions`: `{"inventory": [...], "extraVars": {...}}`.
fn fallback_config(v: Option<&serde_json::Value>) -> Config {
    let mut c = Config::default();
    if let Some(v) = v {
        if let Some(inv) = v.get("inventory").and_then(|i| i.as_array()) {
            c.inventory = inv
                .iter()
                .filter_map(|p| p.as_str())
                .map(PathBuf::from)
                .collect();
        }
        if let Some(m) = v.get("extraVars").and_then(|m| m.as_object()) {
            for (k, val) in m {
                let text = val.as_str().map_or_else(|| val.to_string(), str::to_string);
                c.extra_vars.insert(k.clone(), text);
            }
        }
    }
    c
}

struct Server {
    /// Open documents by path.
    texts: HashMap<PathBuf, String>,
    /// The latest analysis of each open document.
    analyses: HashMap<PathBuf, Analysis>,
    fallback: Config,
}

fn path_of(uri: &Url) -> Option<PathBuf> {
    uri.to_file_path().ok()
}

fn uri_of(p: &Path) -> Option<Url> {
    Url::from_file_path(p).ok()
}

impl Server {
    fn analyze(&mut self, path: &Path) -> Option<Notification> {
        let overlay = Overlay { docs: &self.texts };
        let mut extra = Vec::new();
        let config = match Config::for_flow(path, &self.fallback) {
            Ok(c) => c,
            Err(e) => {
                extra.push(lsp_types::Diagnostic {
                    range: Range::default(),
                    severity: Some(DiagnosticSeverity::ERROR),
                    code: Some(NumberOrString::String("invalid-etcdflow-toml".into())),
                    source: Some("etcdflow".into()),
                    message: format!("etcdflow.toml: {e}"),
                    ..lsp_types::Diagnostic::default()
                });
                self.fallback.clone()
            }
        };
        let a = analysis::analyze(path, &overlay, &config);
        let mut diags = to_lsp(&a, path);
        diags.extend(extra);
        self.analyses.insert(path.to_path_buf(), a);
        let params = PublishDiagnosticsParams {
            uri: uri_of(path)?,
            diagnostics: diags,
            version: None,
        };
        Some(Notification::new(
            note::PublishDiagnostics::METHOD.to_string(),
            params,
        ))
    }

    /// The changed document, then every open document that includes it.
    fn changed(&mut self, path: PathBuf) -> Vec<Notification> {
        let mut out: Vec<Notification> = self.analyze(&path).into_iter().collect();
        let dependents: Vec<PathBuf> = self
            .analyses
            .iter()
            .filter(|(root, a)| **root != path && a.files.contains(&path))
            .map(|(root, _)| root.clone())
            .collect();
        for d in dependents {
            out.extend(self.analyze(&d));
        }
        out
    }

    fn notification(&mut self, n: Notification) -> Vec<Notification> {
        match n.method.as_str() {
            note::DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) else {
                    return Vec::new();
                };
                let Some(path) = path_of(&p.text_document.uri) else {
                    return Vec::new();
                };
                self.texts.insert(path.clone(), p.text_document.text);
                self.changed(path)
            }
            note::DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) else {
                    return Vec::new();
                };
                let Some(path) = path_of(&p.text_document.uri) else {
                    return Vec::new();
                };
                if let Some(c) = p.content_changes.into_iter().last() {
                    self.texts.insert(path.clone(), c.text);
                }
                self.changed(path)
            }
            note::DidSaveTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidSaveTextDocumentParams>(n.params) else {
                    return Vec::new();
                };
                path_of(&p.text_document.uri)
                    .map(|path| self.changed(path))
                    .unwrap_or_default()
            }
            note::DidCloseTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) else {
                    return Vec::new();
                };
                if let Some(path) = path_of(&p.text_document.uri) {
                    self.texts.remove(&path);
                    self.analyses.remove(&path);
                    let clear = PublishDiagnosticsParams {
                        uri: p.text_document.uri,
                        diagnostics: Vec::new(),
                        version: None,
                    };
                    return vec![Notification::new(
                        note::PublishDiagnostics::METHOD.to_string(),
                        clear,
                    )];
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn request(&mut self, r: Request) -> Response {
        let id = r.id.clone();
        let method = r.method.clone();
        let out = match method.as_str() {
            req::Completion::METHOD => self.with_position(r, |a, d, f, t, o| {
                serde_json::to_value(CompletionResponse::Array(complete::complete(a, d, f, t, o)))
            }),
            req::HoverRequest::METHOD => self.with_position(r, |a, d, f, t, o| {
                let h = complete::hover(a, d, f, t, o).map(|md| Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: md,
                    }),
                    range: None,
                });
                serde_json::to_value(h)
            }),
            req::GotoDefinition::METHOD => self.with_position(r, |a, d, f, t, o| {
                serde_json::to_value(definition(a, d, f, t, o))
            }),
            req::References::METHOD => self.with_position(r, |a, d, f, t, o| {
                serde_json::to_value(
                    references(a, d, f, t, o)
                        .map(|v| v.into_iter().map(|(l, _)| l).collect::<Vec<_>>()),
                )
            }),
            req::Rename::METHOD => self.rename(r),
            req::DocumentSymbolRequest::METHOD => self.symbols(r),
            req::Formatting::METHOD => self.format(r),
            req::CodeActionRequest::METHOD => self.code_actions(r),
            _ => {
                return Response::new_err(
                    id,
                    lsp_server::ErrorCode::MethodNotFound as i32,
                    format!("etcdflow lsp: no `{method}`"),
                )
            }
        };
        match out {
            Ok(v) => Response::new_ok(id, v),
            Err(e) => Response::new_err(
                id,
                lsp_server::ErrorCode::InvalidParams as i32,
                e.to_string(),
            ),
        }
    }

    /// Run `f` on the analysis of the document at a request's text position.
    fn with_position(
        &mut self,
        r: Request,
        f: impl FnOnce(
            &Analysis,
            &[Decl],
            crate::source::FileId,
            &str,
            usize,
        ) -> serde_json::Result<serde_json::Value>,
    ) -> serde_json::Result<serde_json::Value> {
        // Every positional request's params hold `textDocument` and `position` (the rest,
        // such as a completion's `context`, is not needed here).
        let tdp: TextDocumentPositionParams = serde_json::from_value(r.params)?;
        let Some(path) = path_of(&tdp.text_document.uri) else {
            return Ok(serde_json::Value::Null);
        };
        if !self.analyses.contains_key(&path) {
            if !self.texts.contains_key(&path) {
                if let Ok(t) = std::fs::read_to_string(&path) {
                    self.texts.insert(path.clone(), t);
                }
            }
            let _ = self.analyze(&path);
        }
        let (Some(a), Some(t)) = (self.analyses.get(&path), self.texts.get(&path)) else {
            return Ok(serde_json::Value::Null);
        };
        let Some(file) = a.prog.root else {
            return Ok(serde_json::Value::Null);
        };
        let offset = LineIndex::new(t).offset(tdp.position);
        let decls = symbols::declarations(&a.prog.files);
        f(a, &decls, file, t, offset)
    }

    fn rename(&mut self, r: Request) -> serde_json::Result<serde_json::Value> {
        let p: RenameParams = serde_json::from_value(r.params.clone())?;
        let new = p.new_name.clone();
        let valid = new
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && new.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !crate::check::builtins::BUILTINS.iter().any(|b| b.0 == new)
            && !RESERVED.contains(&new.as_str());
        if !valid {
            return Err(serde::de::Error::custom(format!(
                "`{new}` is not a name a flow can declare"
            )));
        }
        let mut inner = r;
        inner.params = serde_json::json!({ "textDocument": p.text_document_position.text_document, "position": p.text_document_position.position });
        self.with_position(inner, |a, d, f, t, o| {
            let Some(locs) = references(a, d, f, t, o) else {
                return Ok(serde_json::Value::Null);
            };
            let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
            for (l, _) in locs {
                changes.entry(l.uri).or_default().push(TextEdit {
                    range: l.range,
                    new_text: new.clone(),
                });
            }
            serde_json::to_value(WorkspaceEdit {
                changes: Some(changes),
                ..WorkspaceEdit::default()
            })
        })
    }

    fn symbols(&mut self, r: Request) -> serde_json::Result<serde_json::Value> {
        let p: DocumentSymbolParams = serde_json::from_value(r.params)?;
        let Some(path) = path_of(&p.text_document.uri) else {
            return Ok(serde_json::Value::Null);
        };
        if !self.analyses.contains_key(&path) {
            let _ = self.analyze(&path);
        }
        let Some(a) = self.analyses.get(&path) else {
            return Ok(serde_json::Value::Null);
        };
        let Some(root) = a.prog.root else {
            return Ok(serde_json::Value::Null);
        };
        let text = a.sources.text(root);
        let li = LineIndex::new(text);
        let decls = symbols::declarations(&a.prog.files);
        let mut out: Vec<DocumentSymbol> = Vec::new();
        for d in decls.iter().filter(|d| d.span.file == root) {
            let kind = match d.kind {
                Kind::Param => SymbolKind::CONSTANT,
                Kind::Hosts => SymbolKind::ENUM,
                Kind::Cluster => SymbolKind::STRUCT,
                Kind::Step => SymbolKind::FUNCTION,
                Kind::Block => SymbolKind::MODULE,
                Kind::Binding => SymbolKind::VARIABLE,
                Kind::Local => continue,
            };
            #[allow(deprecated)] // `deprecated` is a required field of the struct
            let sym = DocumentSymbol {
                name: d.name.clone(),
                detail: Some(symbols::describe(d, &a.sources)),
                kind,
                tags: None,
                deprecated: None,
                range: li.range(d.full.range()),
                selection_range: li.range(d.span.range()),
                children: None,
            };
            // A binding belongs to the step (or block) it is in.
            if d.kind == Kind::Binding {
                if let Some(parent) = out
                    .iter_mut()
                    .rev()
                    .find(|s| matches!(s.kind, SymbolKind::FUNCTION | SymbolKind::MODULE))
                {
                    parent.children.get_or_insert_with(Vec::new).push(sym);
                    continue;
                }
            }
            out.push(sym);
        }
        serde_json::to_value(DocumentSymbolResponse::Nested(out))
    }

    fn format(&mut self, r: Request) -> serde_json::Result<serde_json::Value> {
        let p: DocumentFormattingParams = serde_json::from_value(r.params)?;
        let Some(path) = path_of(&p.text_document.uri) else {
            return Ok(serde_json::Value::Null);
        };
        let text = match self.texts.get(&path) {
            Some(t) => t.clone(),
            None => std::fs::read_to_string(&path).unwrap_or_default(),
        };
        match crate::fmt::format(&text) {
            Ok(new) if new != text => {
                let end = LineIndex::new(&text).position(text.len());
                serde_json::to_value(vec![TextEdit {
                    range: Range::new(Position::new(0, 0), end),
                    new_text: new,
                }])
            }
            Ok(_) => serde_json::to_value(Vec::<TextEdit>::new()),
            // A file that does not parse is not formatted; its diagnostics say why.
            Err(_) => Ok(serde_json::Value::Null),
        }
    }

    fn code_actions(&mut self, r: Request) -> serde_json::Result<serde_json::Value> {
        let p: CodeActionParams = serde_json::from_value(r.params)?;
        let Some(path) = path_of(&p.text_document.uri) else {
            return Ok(serde_json::Value::Null);
        };
        let Some(a) = self.analyses.get(&path) else {
            return Ok(serde_json::Value::Null);
        };
        let Some(root) = a.prog.root else {
            return Ok(serde_json::Value::Null);
        };
        let li = LineIndex::new(a.sources.text(root));
        let (lo, hi) = (li.offset(p.range.start), li.offset(p.range.end));
        let mut out = Vec::new();
        for d in &a.diagnostics {
            let Some(l) = d.labels.iter().find(|l| l.primary && l.span.file == root) else {
                continue;
            };
            if (l.span.end as usize) < lo || (l.span.start as usize) > hi {
                continue;
            }
            let Some(s) = suggestion(d) else { continue };
            let range = li.range(l.span.range());
            let mut changes = HashMap::new();
            changes.insert(
                p.text_document.uri.clone(),
                vec![TextEdit {
                    range,
                    new_text: s.clone(),
                }],
            );
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("replace with `{s}` ({})", d.code),
                kind: Some(CodeActionKind::QUICKFIX),
                edit: Some(WorkspaceEdit {
                    changes: Some(changes),
                    ..WorkspaceEdit::default()
                }),
                is_preferred: Some(true),
                ..CodeAction::default()
            }));
        }
        serde_json::to_value(out)
    }
}

/// Words a rename may not choose.
const RESERVED: &[&str] = &[
    "flow",
    "param",
    "hosts",
    "cluster",
    "step",
    "block",
    "include",
    "point_of_no_return",
    "let",
    "assert",
    "if",
    "else",
    "for",
    "in",
    "not",
    "and",
    "or",
    "rollback",
    "use",
    "on",
    "true",
    "false",
    "none",
    "host",
    "local",
];

/// A diagnostic's "did you mean `x`?" suggestion.
fn suggestion(d: &crate::diagnostics::Diagnostic) -> Option<String> {
    let text = d.help.as_deref().into_iter().chain([d.message.as_str()]);
    for t in text {
        if let Some(rest) = t.split("did you mean `").nth(1) {
            return rest
                .split('`')
                .next()
                .map(str::to_string)
                .filter(|s| !s.is_empty());
        }
    }
    None
}

fn location(a: &Analysis, span: crate::source::Span) -> Option<Location> {
    let f = a.sources.get(span.file)?;
    let li = LineIndex::new(&f.text);
    Some(Location {
        uri: uri_of(&f.path)?,
        range: li.range(span.range()),
    })
}

/// The diagnostics of an analysis located in `root` (and those without a location).
fn to_lsp(a: &Analysis, root: &Path) -> Vec<lsp_types::Diagnostic> {
    let root_id = a.prog.root.or_else(|| a.sources.find(root));
    let mut out = Vec::new();
    for d in &a.diagnostics {
        let primary = d.labels.iter().find(|l| l.primary).or(d.labels.first());
        let range = match primary {
            Some(l) if Some(l.span.file) == root_id => {
                LineIndex::new(a.sources.text(l.span.file)).range(l.span.range())
            }
            Some(_) => continue,
            None => Range::default(),
        };
        let mut message = d.message.clone();
        if let Some(l) = primary.filter(|l| !l.message.is_empty()) {
            message.push_str(&format!(": {}", l.message));
        }
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        let related: Vec<DiagnosticRelatedInformation> = d
            .labels
            .iter()
            .filter(|l| !l.primary)
            .filter_map(|l| {
                Some(DiagnosticRelatedInformation {
                    location: location(a, l.span)?,
                    message: l.message.clone(),
                })
            })
            .collect();
        out.push(lsp_types::Diagnostic {
            range,
            severity: Some(match d.severity {
                crate::diagnostics::Severity::Error => DiagnosticSeverity::ERROR,
                crate::diagnostics::Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(d.code.to_string())),
            code_description: Url::parse(&format!("etcdflow-explain:{}", d.code))
                .ok()
                .map(|href| CodeDescription { href }),
            source: Some("etcdflow".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            ..lsp_types::Diagnostic::default()
        });
    }
    out
}

/// The declaration under the cursor's name, or the file an `include` names.
fn definition(
    a: &Analysis,
    decls: &[Decl],
    file: crate::source::FileId,
    t: &str,
    o: usize,
) -> Option<GotoDefinitionResponse> {
    let line_start = t[..o.min(t.len())].rfind('\n').map_or(0, |i| i + 1);
    let line_end = t[o.min(t.len())..].find('\n').map_or(t.len(), |i| o + i);
    let line = &t[line_start..line_end];
    if let Some(rest) = line.trim_start().strip_prefix("include ") {
        let target = rest.trim().trim_matches('"');
        let base = a
            .sources
            .get(file)
            .and_then(|f| f.path.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let uri = uri_of(&base.join(target))?;
        return Some(GotoDefinitionResponse::Scalar(Location {
            uri,
            range: Range::default(),
        }));
    }
    let (s, e) = text::word_at(t, o)?;
    if s > 0 && t.as_bytes()[s - 1] == b'.' {
        return None;
    }
    let d = symbols::resolve(decls, file, &t[s..e], s)?;
    location(a, d.span).map(GotoDefinitionResponse::Scalar)
}

/// Every use of the name under the cursor in the files of the analysis.
fn references(
    a: &Analysis,
    decls: &[Decl],
    file: crate::source::FileId,
    t: &str,
    o: usize,
) -> Option<Vec<(Location, bool)>> {
    let (s, e) = text::word_at(t, o)?;
    let d = symbols::resolve(decls, file, &t[s..e], s)?;
    let mut out = Vec::new();
    for f in &a.prog.files {
        let Some(src) = a.sources.get(f.file) else {
            continue;
        };
        let li = LineIndex::new(&src.text);
        let Some(uri) = uri_of(&src.path) else {
            continue;
        };
        for (s, e) in symbols::occurrences(decls, d, f.file, &src.text) {
            let is_decl = d.span.file == f.file && d.span.start as usize == s;
            out.push((
                Location {
                    uri: uri.clone(),
                    range: li.range(s..e),
                },
                is_decl,
            ));
        }
    }
    Some(out)
}
