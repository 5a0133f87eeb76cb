//! Loading: read a flow file, parse it, follow its `include`s and read the template
//! files it names, so that the checker gets everything as data and does no IO itself.

use crate::diagnostics::Diagnostic;
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::{self, ast};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where file contents come from: the disk, or (for tests and the embedded stdlib) memory.
pub trait Fs {
    fn read(&self, path: &Path) -> std::io::Result<String>;
    /// Whether a file is there (a `copy` source on the controller).
    fn exists(&self, path: &Path) -> bool;
}

pub struct RealFs;

impl Fs for RealFs {
    fn exists(&self, path: &Path) -> bool {
        path.is_file()
    }

    /// UTF-8 text, with a leading byte-order mark dropped (editors on some systems write
    /// one); text that is not UTF-8 is an `InvalidData` error naming the first bad byte.
    fn read(&self, path: &Path) -> std::io::Result<String> {
        let bytes = std::fs::read(path)?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "not UTF-8 text (byte {} is invalid)",
                    e.utf8_error().valid_up_to()
                ),
            )
        })
    }
}

/// An in-memory file system: tests and embedded stdlib flows.
#[derive(Default)]
pub struct MemFs(pub HashMap<PathBuf, String>);

impl Fs for MemFs {
    fn exists(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }

    fn read(&self, path: &Path) -> std::io::Result<String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    }
}

/// A flow and everything it pulled in.
pub struct Program {
    pub root: Option<FileId>,
    /// The root file first, then included files in the order they were reached.
    pub files: Vec<ast::File>,
    /// Template sources by (flow file, path as written); `None` when unreadable.
    pub templates: HashMap<(FileId, String), Result<FileId, String>>,
    /// Literal controller paths (`copy` sources, a cluster's `ca`/`cert`/`key`) by (flow
    /// file, path as written): whether the file exists on the controller now.
    pub local_files: HashMap<(FileId, String), bool>,
    /// Some file needed syntax error recovery: unknown names may be follow-on errors.
    pub recovered: bool,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn load(fs: &dyn Fs, path: &Path, sources: &mut SourceMap) -> Program {
    let mut prog = Program {
        root: None,
        files: Vec::new(),
        templates: HashMap::new(),
        local_files: HashMap::new(),
        recovered: false,
        diagnostics: Vec::new(),
    };
    match fs.read(path) {
        Ok(text) => {
            let id = sources.add(path.display().to_string(), path, text);
            prog.root = Some(id);
            let mut stack = vec![path.to_path_buf()];
            load_file(fs, id, sources, &mut prog, &mut stack);
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => prog.diagnostics.push(
            Diagnostic::error("invalid-encoding", format!("`{}` is {e}", path.display()))
                .help("save the file as UTF-8 (flows are UTF-8 text)"),
        ),
        Err(e) => prog.diagnostics.push(
            Diagnostic::error(
                "file-not-found",
                format!("cannot read `{}`: {e}", path.display()),
            )
            .help("check the path; flow files end in `.flow` or `.etcdflow`"),
        ),
    }
    prog
}

fn dir_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn load_file(
    fs: &dyn Fs,
    id: FileId,
    sources: &mut SourceMap,
    prog: &mut Program,
    stack: &mut Vec<PathBuf>,
) {
    let parsed = syntax::parse(id, sources.text(id));
    prog.recovered |= parsed.recovered;
    prog.diagnostics.extend(parsed.diagnostics);
    let file = parsed.file;
    let dir = sources.get(id).map(|f| dir_of(&f.path)).unwrap_or_default();

    // Templates named by literal paths.
    let mut tpl_paths: Vec<String> = Vec::new();
    let mut copies: Vec<String> = Vec::new();
    for item in &file.items {
        match &item.kind {
            ast::ItemKind::Step(step) => collect_templates(&step.body, &mut tpl_paths, &mut copies),
            ast::ItemKind::Block(b) => collect_templates(&b.body, &mut tpl_paths, &mut copies),
            ast::ItemKind::Cluster(c) => copies.extend(
                c.fields
                    .iter()
                    .filter(|f| matches!(f.key.name.as_str(), "ca" | "cert" | "key"))
                    .filter_map(|f| f.value.as_ref().and_then(|e| e.as_plain_str())),
            ),
            _ => {}
        }
    }
    for rel in copies {
        let here = fs.exists(&normalize(&dir.join(&rel)));
        prog.local_files.insert((id, rel), here);
    }
    for rel in tpl_paths {
        if prog.templates.contains_key(&(id, rel.clone())) {
            continue;
        }
        let full = normalize(&dir.join(&rel));
        let entry = match sources.find(&full) {
            Some(t) => Ok(t),
            None => match fs.read(&full) {
                Ok(text) => Ok(sources.add(full.display().to_string(), &full, text)),
                Err(e) => Err(format!("cannot read `{}`: {e}", full.display())),
            },
        };
        prog.templates.insert((id, rel), entry);
    }

    let includes: Vec<(String, Span)> = file
        .items
        .iter()
        .filter_map(|i| match &i.kind {
            ast::ItemKind::Include(s) => Some((s.as_plain()?, s.span)),
            _ => None,
        })
        .collect();
    prog.files.push(file);

    for (rel, span) in includes {
        let full = normalize(&dir.join(&rel));
        if let Some(pos) = stack.iter().position(|p| *p == full) {
            let chain: Vec<String> = stack[pos..]
                .iter()
                .chain(std::iter::once(&full))
                .map(|p| p.display().to_string())
                .collect();
            prog.diagnostics.push(
                Diagnostic::error(
                    "include-cycle",
                    format!("`{rel}` is already being included"),
                )
                .at(span, "this include closes a loop")
                .note(format!("include chain: {}", chain.join(" -> ")))
                .help("move what both files need into a third file that both include"),
            );
            continue;
        }
        if sources.find(&full).is_some() {
            continue; // already included through another path: once is enough
        }
        match fs.read(&full) {
            Ok(text) => {
                let inc = sources.add(full.display().to_string(), &full, text);
                stack.push(full);
                load_file(fs, inc, sources, prog, stack);
                stack.pop();
            }
            Err(e) => prog.diagnostics.push(
                Diagnostic::error(
                    "include-not-found",
                    format!("cannot read included file `{rel}`"),
                )
                .at(span, format!("{e}"))
                .help(if dir.as_os_str().is_empty() {
                    "include paths are relative to this file's directory (here: the current directory)".to_string()
                } else {
                    format!(
                        "include paths are relative to this file's directory (`{}`)",
                        dir.display()
                    )
                }),
            ),
        }
    }
}

/// Template paths and `copy` sources written as literals, in a block and its sub-blocks.
fn collect_templates(block: &ast::Block, out: &mut Vec<String>, copies: &mut Vec<String>) {
    for s in &block.stmts {
        match &s.kind {
            ast::StmtKind::Action(a)
            | ast::StmtKind::Let {
                value: ast::LetValue::Action(a),
                ..
            } => {
                let lit = a.positional.as_ref().and_then(|e| e.as_plain_str());
                match (a.verb.name.as_str(), lit) {
                    ("template", Some(p)) => out.push(p),
                    ("copy", Some(p)) => copies.push(p),
                    _ => {}
                }
            }
            ast::StmtKind::If {
                then, otherwise, ..
            } => {
                collect_templates(then, out, copies);
                if let Some(o) = otherwise {
                    collect_templates(o, out, copies);
                }
            }
            ast::StmtKind::For { body, .. } | ast::StmtKind::Rollback(body) => {
                collect_templates(body, out, copies)
            }
            _ => {}
        }
    }
}

/// Lexical normalisation (`a/./b/../c` → `a/c`) so a file reached two ways is one file.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c.as_os_str()),
        }
    }
    out
}
