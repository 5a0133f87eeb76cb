//! The checker: AST to [`ir::Flow`], with every diagnostic a user can get before a host
//! is touched.
//!
//! Algorithm, in one pass over the items in source order (included files spliced in
//! where their `include` stands):
//! 1. declare every param, host set, cluster and step name (one namespace;
//!    `duplicate-definition`), and note every step-level `let` so that a use before it
//!    can say "defined later" instead of "unknown";
//! 2. check params (types, defaults, `-e` values), host sets (in order: a host set sees
//!    the ones above it), clusters (fields by the schema in [`schema`]);
//! 3. check steps in order: targets, options, then the body statement by statement. A
//!    step-level `let` becomes a flow binding visible to later statements and steps; a
//!    `let` inside `if`/`for` is local to its block. A `rollback` block sees what was
//!    bound before it;
//! 4. report unused params, host sets and bindings, and inventory groups the inventory
//!    lacks.
//!
//! What it does not do: no IO (the loader read every file already), no evaluation of
//! facts (that needs a live cluster), no flow-sensitive analysis (that is `lint`).

mod args;
pub mod builtins;
mod calls;
pub(crate) mod expr;
mod inventory;
mod params;
mod reach;
mod reuse;
#[cfg(test)]
mod robust_tests;
#[cfg(test)]
mod secret_tests;
mod steps;
mod stmts;
pub(crate) mod values;
pub use builtins::BUILTINS;
pub mod schema;
pub mod types;

use crate::diagnostics::{did_you_mean, Diagnostic};
use crate::ir;
use crate::load::Program;
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::ast;
use indexmap::IndexMap;
use std::collections::{BTreeSet, HashMap};
use stmts::ends_block;
use types::Ty;

/// A `-e name=value` from the command line, placed in the source map so that
/// diagnostics can point at it.
#[derive(Clone, Debug)]
pub struct ParamArg {
    pub name: String,
    pub value: String,
    pub name_span: Span,
    pub value_span: Span,
    /// The source may be shown in a diagnostic (the command line, whose values are
    /// masked); a vars file's line would show the value, which may be a secret.
    pub source_shown: bool,
}

#[derive(Default)]
pub struct Options {
    /// Group names of the inventory given with `-i`, if any.
    pub inventory_groups: Option<BTreeSet<String>>,
    /// Host names of that inventory: `host`/`hosts` param values must name them.
    pub inventory_hosts: Option<BTreeSet<String>>,
    /// Its groups' hosts and each host's variable names: `nth(...)` out of range and a
    /// `host.vars.NAME` some target lacks are found before the run.
    pub inventory_facts: Option<InventoryFacts>,
    pub params: Vec<ParamArg>,
    /// Check a concrete invocation: every param without a default needs a value.
    pub require_params: bool,
}

/// What the checker may know of an inventory (no connection data).
#[derive(Clone, Debug, Default)]
pub struct InventoryFacts {
    /// Group → its hosts, in inventory order.
    pub groups: std::collections::BTreeMap<String, Vec<String>>,
    /// Host → the names of its variables (host and group vars merged).
    pub var_names: std::collections::BTreeMap<String, BTreeSet<String>>,
}

pub struct Checked {
    pub flow: Option<ir::Flow>,
    pub diagnostics: Vec<Diagnostic>,
    /// Param values from `-e`, by param name, already typed.
    pub param_values: IndexMap<String, ir::Expr>,
}

struct ParamInfo {
    name: String,
    ty: Ty,
    span: Span,
    used: bool,
    /// The text of its value when known before the run (a literal default, or the
    /// `-e` value of this invocation): lets the checker decide what the run would.
    known: Option<String>,
}

struct NamedInfo {
    name: String,
    span: Span,
    used: bool,
}

struct BindingInfo {
    name: String,
    ty: Ty,
    span: Span,
    used: bool,
    step: usize,
    step_name: String,
    /// Bound once (a step `on local` or with `run_once`): every host sees it.
    global: bool,
    /// Its step has `when:`: not bound where the condition was false.
    conditional: bool,
    /// That `when:`, when it reads only params and literals (the same on every host and
    /// for the whole run): a later step with the same condition sees the binding.
    run_wide_when: Option<ir::Expr>,
    /// Its step's targets (`None`: `on local`).
    targets: Option<ir::Expr>,
}

pub(super) struct Local {
    name: String,
    ty: Ty,
    span: Span,
    used: bool,
    /// Loop variables are not reported unused.
    report_unused: bool,
    /// A block's `cluster` param stands for the cluster its use names: every reference
    /// is that cluster (so `cluster: c` resolves when the block is expanded).
    cluster: Option<usize>,
}

pub(crate) struct Checker<'a> {
    prog: &'a Program,
    sources: &'a SourceMap,
    opts: &'a Options,
    diags: Vec<Diagnostic>,
    params: Vec<ParamInfo>,
    hosts: Vec<NamedInfo>,
    /// Host sets declared so far (a host set sees only those above it).
    hosts_visible: usize,
    clusters: Vec<NamedInfo>,
    bindings: Vec<BindingInfo>,
    /// Name → index of the latest flow binding of that name (lookups are hot).
    binding_index: HashMap<String, usize>,
    /// Every step-level `let`, for "defined later" messages.
    later_bindings: HashMap<String, Span>,
    /// Every host set, for "declared later" messages.
    later_hosts: HashMap<String, Span>,
    locals: Vec<Vec<Local>>,
    in_step: bool,
    step_index: usize,
    /// Where the step being checked runs (what its bindings' uses are checked against).
    site: reach::Site,
    /// The step being checked has `run_once` / `when:`.
    step_once: bool,
    step_when: bool,
    /// The step's `when:` when it is run-wide (params and literals only).
    step_when_run_wide: Option<ir::Expr>,
    /// Blocks by name: where they are, their definition, whether a `use` named them.
    blocks: HashMap<String, (FileId, ast::BlockDef, bool)>,
    /// Every param's name, and whether a param's default is being checked (where the
    /// other params are out of reach on purpose).
    all_params: Vec<String>,
    in_default: bool,
    /// An action before this point may write files on the controller (a `run` on
    /// `local`, `fetch`, `tls.*`, a snapshot): a `copy` source missing now may exist then.
    controller_writes: bool,
    /// `host.vars.NAME` read in the step being checked (not through `default`).
    host_var_uses: Vec<(String, Span)>,
    /// Locals whose block has ended (name, where bound), for "bound only inside a block".
    gone_locals: Vec<(String, Span)>,
    /// The blocks being expanded (a `use` inside a block), innermost last.
    expanding: Vec<String>,
    /// Checking the first argument of `default(...)`: a `when:`-conditional binding is
    /// read there on purpose.
    allow_unbound: bool,
    /// Checking a text argument that may be a secret (`content:`, `stdin:`): a string
    /// that interpolates a secret is then a secret itself, not an error.
    secret_text: bool,
    /// Every host set's checked definition (by index), for subset proofs.
    host_defs: Vec<ir::Expr>,
    file: FileId,
    groups_used: Vec<(String, Span, bool)>,
    /// The next map literal is a template's `vars:`, whose secret values get the more
    /// specific `secret-in-template` (one mistake, one diagnostic).
    template_vars: bool,
}

pub fn check(prog: &Program, sources: &SourceMap, opts: &Options) -> Checked {
    let mut c = Checker {
        prog,
        sources,
        opts,
        diags: Vec::new(),
        params: Vec::new(),
        hosts: Vec::new(),
        hosts_visible: 0,
        clusters: Vec::new(),
        bindings: Vec::new(),
        binding_index: HashMap::new(),
        later_bindings: HashMap::new(),
        later_hosts: HashMap::new(),
        locals: Vec::new(),
        in_step: false,
        step_index: 0,
        site: reach::Site::default(),
        host_defs: Vec::new(),
        step_once: false,
        step_when: false,
        step_when_run_wide: None,
        allow_unbound: false,
        blocks: HashMap::new(),
        expanding: Vec::new(),
        gone_locals: Vec::new(),
        all_params: Vec::new(),
        in_default: false,
        host_var_uses: Vec::new(),
        controller_writes: false,
        secret_text: false,
        file: prog.root.unwrap_or(FileId(0)),
        groups_used: Vec::new(),
        template_vars: false,
    };
    let (flow, param_values) = c.run();
    Checked {
        flow,
        diagnostics: c.diags,
        param_values,
    }
}

/// Items of all files in order: an include is replaced by the included file's items.
fn ordered_items<'p>(prog: &'p Program, sources: &SourceMap) -> Vec<(FileId, &'p ast::Item)> {
    let by_id: HashMap<FileId, &ast::File> = prog.files.iter().map(|f| (f.file, f)).collect();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    if let Some(root) = prog.root {
        splice(root, &by_id, sources, &mut seen, &mut out, true);
    }
    out
}

fn splice<'p>(
    id: FileId,
    by_id: &HashMap<FileId, &'p ast::File>,
    sources: &SourceMap,
    seen: &mut std::collections::HashSet<FileId>,
    out: &mut Vec<(FileId, &'p ast::Item)>,
    is_root: bool,
) {
    if !seen.insert(id) {
        return;
    }
    let Some(file) = by_id.get(&id) else { return };
    let dir = sources
        .get(id)
        .and_then(|f| f.path.parent().map(std::path::Path::to_path_buf))
        .unwrap_or_default();
    for item in &file.items {
        match &item.kind {
            ast::ItemKind::Include(s) => {
                if let Some(rel) = s.as_plain() {
                    let full = crate::load::normalize(&dir.join(rel));
                    if let Some(inc) = sources.find(&full) {
                        splice(inc, by_id, sources, seen, out, false);
                    }
                }
            }
            ast::ItemKind::Flow(_) if !is_root => {}
            _ => out.push((id, item)),
        }
    }
}

impl<'a> Checker<'a> {
    fn emit(&mut self, d: Diagnostic) {
        // A block used twice reports a mistake in its body once.
        if !self.expanding.is_empty() && self.diags.contains(&d) {
            return;
        }
        self.diags.push(d);
    }

    fn run(&mut self) -> (Option<ir::Flow>, IndexMap<String, ir::Expr>) {
        let items = ordered_items(self.prog, self.sources);
        let root = self.prog.root;

        // 1. Declarations.
        let mut flow_name: Option<(String, Vec<String>)> = None;
        let mut declared: HashMap<String, (&'static str, Span)> = HashMap::new();
        for (file, item) in &items {
            let (kind, ident) = match &item.kind {
                ast::ItemKind::Flow(i) => {
                    if let Some((prev, _)) = &flow_name {
                        let prev = prev.clone();
                        self.emit(
                            Diagnostic::error(
                                "duplicate-definition",
                                format!("a second `flow` header (`{}`)", i.name),
                            )
                            .at(i.span, "second header")
                            .help(format!("a file is one flow; it is already called `{prev}`")),
                        );
                    } else {
                        flow_name = Some((i.name.clone(), item.docs.clone()));
                    }
                    continue;
                }
                ast::ItemKind::Param(p) => {
                    self.all_params.push(p.name.name.clone());
                    ("param", &p.name)
                }
                ast::ItemKind::Hosts(h) => ("host set", &h.name),
                ast::ItemKind::Cluster(c) => ("cluster", &c.name),
                ast::ItemKind::Step(s) => ("step", &s.name),
                ast::ItemKind::Block(b) => {
                    self.blocks
                        .insert(b.name.name.clone(), (*file, b.clone(), false));
                    ("block", &b.name)
                }
                _ => continue,
            };
            if let Some((prev_kind, prev_span)) = declared.get(&ident.name) {
                let d = Diagnostic::error(
                    "duplicate-definition",
                    format!("`{}` is defined twice", ident.name),
                )
                .at(ident.span, format!("this {kind} reuses the name"))
                .also(*prev_span, format!("first defined here as a {prev_kind}"))
                .help("params, host sets, clusters and steps share one namespace: rename one");
                self.emit(d);
            } else {
                declared.insert(ident.name.clone(), (kind, ident.span));
            }
            match &item.kind {
                ast::ItemKind::Step(s) => collect_lets(&s.body, &mut self.later_bindings),
                ast::ItemKind::Hosts(h) => {
                    self.later_hosts
                        .entry(h.name.name.clone())
                        .or_insert(h.name.span);
                }
                _ => {}
            }
        }
        // A file whose parse stopped early (a syntax error, a limit) may have its header
        // in the part that did not parse: one mistake, one diagnostic.
        if flow_name.is_none() && !self.prog.recovered {
            if let Some(root) = root {
                let at = Span::new(root, 0, 0);
                self.emit(
                    Diagnostic::warning(
                        "missing-flow-header",
                        "this file has no `flow NAME` header",
                    )
                    .at(at, "expected `flow NAME` here")
                    .help("start the file with `## what it does` and `flow my_procedure`"),
                );
            }
        }

        // 2-3. Items in order.
        let mut params = Vec::new();
        let mut hosts = Vec::new();
        let mut clusters = Vec::new();
        let mut steps = Vec::new();
        let mut no_return: Option<ir::Expr> = None;
        // Params first, so that host sets and clusters above a param may use it.
        for (file, item) in &items {
            self.file = *file;
            if let ast::ItemKind::Param(p) = &item.kind {
                params.push(self.param(p, &item.docs));
            }
        }
        let param_values = self.param_values();
        for (file, item) in &items {
            self.file = *file;
            match &item.kind {
                ast::ItemKind::Hosts(h) => {
                    let value = self.expect(&h.value, &Ty::Hosts, "a host set");
                    self.hosts.push(NamedInfo {
                        name: h.name.name.clone(),
                        span: h.name.span,
                        used: false,
                    });
                    self.hosts_visible = self.hosts.len();
                    self.host_defs.push(value.clone());
                    hosts.push(ir::HostsDef {
                        name: h.name.name.clone(),
                        value,
                        span: item.span,
                    });
                }
                ast::ItemKind::Cluster(cl) => {
                    let fields = self.cluster(cl);
                    self.clusters.push(NamedInfo {
                        name: cl.name.name.clone(),
                        span: cl.name.span,
                        used: false,
                    });
                    clusters.push(ir::Cluster {
                        name: cl.name.name.clone(),
                        fields,
                        span: item.span,
                    });
                }
                _ => {}
            }
        }
        // Clusters may be named by steps anywhere; host sets declared below a step are
        // visible to it too (only host sets themselves are ordered).
        self.hosts_visible = self.hosts.len();
        for (file, item) in &items {
            self.file = *file;
            match &item.kind {
                ast::ItemKind::PointOfNoReturn(s) => {
                    let e = ast::Expr {
                        kind: ast::ExprKind::Str(s.clone()),
                        span: s.span,
                    };
                    no_return = Some(self.expect(&e, &Ty::Str, "a recovery message"));
                }
                ast::ItemKind::Step(s) => {
                    self.step_index = steps.len();
                    let mut st = self.step(s, &item.docs, item.span);
                    st.no_return = no_return.clone();
                    steps.push(st);
                }
                _ => {}
            }
        }

        // 4. Unused things (only for a flow without errors: a broken expression leaves
        // names unused that are not), and inventory groups.
        if !self.prog.recovered && !self.diags.iter().any(Diagnostic::is_error) {
            self.report_unused();
            self.unused_blocks();
        }
        self.check_groups();

        let bindings = self
            .bindings
            .iter()
            .map(|b| ir::Binding {
                name: b.name.clone(),
                ty: b.ty.clone(),
                step: b.step,
                global: b.global,
                span: b.span,
            })
            .collect();
        let (name, docs) = flow_name.unwrap_or_else(|| {
            let stem = root
                .and_then(|r| self.sources.get(r))
                .and_then(|f| f.path.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "flow".into());
            (stem, Vec::new())
        });
        let flow = ir::Flow {
            name,
            docs,
            params,
            hosts,
            clusters,
            bindings,
            steps,
        };
        (Some(flow), param_values)
    }

    fn param(&mut self, p: &ast::Param, docs: &[String]) -> ir::Param {
        let ty = self.type_expr(&p.ty);
        let default = p.default.as_ref().filter(|_| ty != Ty::Secret).map(|d| {
            let saved = std::mem::take(&mut self.params);
            // A default may not use other params: it is a constant.
            self.in_default = true;
            let e = self.expect(d, &ty, "the param's default");
            self.in_default = false;
            self.params = saved;
            e
        });
        if ty == Ty::Secret && p.default.is_some() {
            self.emit(
                Diagnostic::error(
                    "secret-in-command",
                    format!(
                        "secret param `{}` has a default written in the flow",
                        p.name.name
                    ),
                )
                .at(
                    p.default.as_ref().map_or(p.name.span, |d| d.span),
                    "a secret in the source is no secret",
                )
                .help("drop the default and pass it with `-e` or `--vars` from a protected file"),
            );
        }
        let known = match default.as_ref().map(|d| &d.kind) {
            Some(ir::ExprKind::Str(s)) => Some(s.clone()),
            _ => None,
        };
        self.params.push(ParamInfo {
            name: p.name.name.clone(),
            ty: ty.clone(),
            span: p.name.span,
            used: false,
            known,
        });
        ir::Param {
            name: p.name.name.clone(),
            ty,
            default,
            docs: docs.to_vec(),
            span: p.name.span,
        }
    }

    fn type_expr(&mut self, t: &ast::TypeExpr) -> Ty {
        let base = match (t.name.name.as_str(), &t.arg) {
            ("list", Some(arg)) => Ty::List(Box::new(self.type_expr(arg))),
            ("map", Some(arg)) => Ty::Map(Box::new(self.type_expr(arg))),
            ("list" | "map", None) => {
                self.emit(
                    Diagnostic::error(
                        "unknown-type",
                        format!("`{}` needs an element type", t.name.name),
                    )
                    .at(t.name.span, "missing `[T]`")
                    .help(format!(
                        "write `{}[str]`, `{}[int]`...",
                        t.name.name, t.name.name
                    )),
                );
                Ty::Error
            }
            (name, arg) => {
                let found = Ty::from_name(name);
                if let (Some(_), Some(a)) = (&found, arg) {
                    self.emit(
                        Diagnostic::error(
                            "unknown-type",
                            format!("`{name}` takes no element type"),
                        )
                        .at(a.span, "remove this")
                        .help("only `list[T]` and `map[T]` have element types"),
                    );
                }
                match found {
                    Some(ty) => ty,
                    None => {
                        let mut names: Vec<&str> = Ty::SCALAR_NAMES.to_vec();
                        names.extend(["list", "map"]);
                        names.extend(types::Record::ALL.iter().map(|r| r.name()));
                        let help = did_you_mean(name, names.iter().copied(), "types");
                        self.emit(
                            Diagnostic::error("unknown-type", format!("unknown type `{name}`"))
                                .at(t.name.span, "not a type")
                                .help(help),
                        );
                        Ty::Error
                    }
                }
            }
        };
        if t.optional {
            Ty::Optional(Box::new(base))
        } else {
            base
        }
    }
}

fn collect_lets(block: &ast::Block, out: &mut HashMap<String, Span>) {
    for s in &block.stmts {
        if let ast::StmtKind::Let { name, .. } = &s.kind {
            out.entry(name.name.clone()).or_insert(name.span);
        }
    }
}
