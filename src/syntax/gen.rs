//! A structured generator of flows with deep and long expressions, for the robustness
//! test (`check` on thousands of generated flows) and the `structured` fuzz target (which
//! drives it with the fuzzer's bytes). Deterministic for a given byte stream.

/// Bytes as a stream of choices (zeros when they run out).
pub struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Choices<'a> {
    pub fn new(bytes: &'a [u8]) -> Choices<'a> {
        Choices { bytes, at: 0 }
    }

    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn below(&mut self, n: usize) -> usize {
        let v = usize::from(self.byte()) | (usize::from(self.byte()) << 8);
        if n == 0 {
            0
        } else {
            v % n
        }
    }
}

const LEAVES: &[&str] = &[
    "1",
    "true",
    "none",
    "\"s\"",
    "'r'",
    "5s",
    "2GiB",
    "x",
    "host",
    "host.name",
    "masters",
    "main",
    "main.leader",
    "r.stdout",
    "[]",
    "{}",
    "n",
];
const BINARY: &[&str] = &[
    " + ", " - ", " * ", " / ", " == ", " != ", " < ", " and ", " or ", " in ", " | ", " & ",
    " not in ",
];
const CALLS: &[&str] = &[
    "len", "join", "first", "names", "trim", "default", "to_str", "any", "nth", "peer_url",
    "member", "split", "replace",
];

/// One expression of at most `depth` levels; some shapes repeat a level many times (the
/// chains and nests that break naive recursive descent).
pub fn expr(c: &mut Choices<'_>, depth: usize) -> String {
    if depth == 0 {
        return LEAVES[c.below(LEAVES.len())].to_string();
    }
    match c.below(12) {
        0 => {
            let n = 1 + c.below(3000);
            let op = BINARY[c.below(BINARY.len())];
            let leaf = expr(c, 0);
            vec![leaf; n + 1].join(op)
        }
        1 => {
            let n = 1 + c.below(3000);
            format!("{}{}{}", "(".repeat(n), expr(c, depth - 1), ")".repeat(n))
        }
        2 => {
            let n = 1 + c.below(3000);
            format!(
                "{}{}",
                if c.below(2) == 0 { "-" } else { "not " }.repeat(n),
                expr(c, 0)
            )
        }
        3 => {
            let n = 1 + c.below(200);
            format!("{}{}{}", "[".repeat(n), expr(c, depth - 1), "]".repeat(n))
        }
        4 => format!(
            "[{} for x in {} if {}]",
            expr(c, depth - 1),
            expr(c, depth - 1),
            expr(c, depth - 1)
        ),
        5 => format!("{{ a: {}, b: {} }}", expr(c, depth - 1), expr(c, depth - 1)),
        6 => {
            let f = CALLS[c.below(CALLS.len())];
            let args: Vec<String> = (0..c.below(4)).map(|_| expr(c, depth - 1)).collect();
            format!("{f}({})", args.join(", "))
        }
        7 => format!(
            "{}.{}",
            expr(c, depth - 1),
            ["name", "leader", "x", "stdout"][c.below(4)]
        ),
        8 => format!("{}[{}]", expr(c, depth - 1), expr(c, depth - 1)),
        9 => format!("\"a {{{{ {} }}}} b\"", expr(c, depth - 1)),
        10 => format!(
            "{}{}{}",
            expr(c, depth - 1),
            BINARY[c.below(BINARY.len())],
            expr(c, depth - 1)
        ),
        _ => format!("group(\"g{}\")?", c.below(3)),
    }
}

/// A whole flow with generated expressions in every place one can stand.
pub fn flow(c: &mut Choices<'_>) -> String {
    let d = 1 + c.below(4);
    let mut e = || expr(c, d);
    let (p, h, t, w, l, a, x) = (e(), e(), e(), e(), e(), e(), e());
    format!(
        "## generated\nflow g\nparam n: int = {p}\nhosts masters = group(\"master\") | {h}\ncluster main {{\n  members: masters\n}}\nstep s on {t} when: {w} {{\n  let r = run \"true\"\n  let x = {l}\n  assert {a}, \"m\"\n  log \"{{{{ {x} }}}}\"\n}}\n"
    )
}
