#![allow(clippy::disallowed_methods, clippy::disallowed_macros)] // runs real shells, reports its figures

use super::*;
use std::process::Command;

fn ctx(texts: &[&str]) -> Vec<Hole> {
    holes(texts).expect("safe")
}

#[test]
fn contexts_of_holes() {
    let h = ctx(&["echo ", " \"a ", "\" '", "' $(x ", ")"]);
    assert_eq!(
        h.iter().map(|h| h.quote).collect::<Vec<_>>(),
        [Quote::None, Quote::Double, Quote::Single, Quote::None]
    );
    assert!(h[0].word_start);
    assert!(!h[1].word_start);
}

#[test]
fn dashdash_is_per_command() {
    let h = ctx(&["mkdir -p -- d && chown ", " d/f"]);
    assert!(!h[0].after_dashdash);
    let h = ctx(&["chown -- ", " d/f"]);
    assert!(h[0].after_dashdash);
    assert!(refuse(
        "--reference=/etc/shadow",
        ctx(&["mkdir -p -- d && chown ", " d"])[0]
    )
    .is_some());
}

#[test]
fn literal_prefix_is_not_a_word_start() {
    let h = ctx(&["etcd --name=", ""]);
    assert!(!h[0].word_start);
    assert!(refuse("-x", h[0]).is_none());
}

#[test]
fn unsafe_contexts_are_refused() {
    for (texts, what) in [
        (vec!["echo # ", ""], "a comment"),
        (vec!["echo `", "`"], "backquotes"),
        (vec!["echo $'", "'"], "`$'...'`"),
        (vec!["echo ${x:-", "}"], "`${...}`"),
        (vec!["echo $((", " + 1))"], "`$((...))`"),
        (vec!["echo \\", ""], "the character after a backslash"),
        (vec!["cat <<EOF\n", "\nEOF"], "a here-document"),
        (vec!["cat <<'EOF'\nx ", "\nEOF"], "a here-document"),
        (
            vec!["echo \"$(case a in a) ", ";; esac)\""],
            "a `case` inside `$( )`",
        ),
    ] {
        assert_eq!(
            holes(&texts),
            Err(Unsafe {
                hole: 0,
                context: what
            }),
            "{texts:?}"
        );
    }
    // After the here-document ends, code again.
    assert_eq!(ctx(&["cat <<EOF\nx\nEOF\necho ", ""])[0].quote, Quote::None);
    // `#` inside a word is not a comment.
    assert_eq!(ctx(&["echo a#", ""])[0].quote, Quote::None);
}

/// Payloads that try every way out of every context.
fn payloads() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "plain",
        "$(id)",
        "`id`",
        "'",
        "\"",
        "\\",
        "\\\\",
        "$HOME",
        "${HOME}",
        "; id; #",
        "'; id; '",
        "\"; id; \"",
        "\\\"; id; \\\"",
        "$'\\x41'",
        "*",
        "?",
        "~",
        "~root",
        "!",
        "!!",
        "a\nb",
        "\n",
        "\t",
        "&& id",
        "|| id",
        "| id",
        "> /tmp/x",
        "<x",
        "x\ny\n",
        "ünïcödé",
        "{a,b}",
        "${IFS}",
        "$((1+1))",
        "$(($(id)))",
        "%s %d",
        "'\"'\"'",
        "\"'$(id)'\"",
        "a b  c",
        "$",
        "$1",
        "$@",
        "$*",
        "$0",
        "\\n",
        "EOF",
        "\nEOF\n$(id)",
        ")",
        "(",
        "$(",
        "\")",
        "')",
        "`",
        "${",
        "}",
        "#",
        "x #y",
        "=",
        "a=b",
        "PATH=/x",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Deterministic mixes of the dangerous characters.
    let alphabet: Vec<char> = "$`'\"\\;&|<>(){}*?~!# \n\tabc=%@".chars().collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..90 {
        let mut s = String::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = 1 + (seed % 12) as usize;
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        v.push(s);
    }
    v
}

/// A command template with one hole, and the output expected from the value.
type Template = (Vec<&'static str>, fn(&str) -> String);

/// Command templates with one hole; the expected output from the value.
fn templates() -> Vec<Template> {
    fn same(v: &str) -> String {
        v.to_string()
    }
    fn subst(v: &str) -> String {
        v.trim_end_matches('\n').to_string()
    }
    fn pre_post(v: &str) -> String {
        format!("pre {v} post")
    }
    fn xy(v: &str) -> String {
        format!("x{v}y")
    }
    fn ab(v: &str) -> String {
        format!("a{v}b")
    }
    vec![
        (vec!["printf '%s' ", ""], same),
        (vec!["printf '%s' \"", "\""], same),
        (vec!["printf '%s' '", "'"], same),
        (vec!["printf '%s' \"pre ", " post\""], pre_post),
        (vec!["printf '%s' 'pre ", " post'"], pre_post),
        (vec!["printf '%s' x", "y"], xy),
        (vec!["printf '%s' \"a\"", "'b'"], ab),
        (vec!["printf '%s' \"$(printf '%s' ", ")\""], subst),
        (vec!["printf '%s' \"$(printf '%s' \"", "\")\""], subst),
        (vec!["v=", "; printf '%s' \"$v\""], same),
        (vec!["f() { printf '%s' \"$1\"; }; f ", ""], same),
        (
            vec!["cat <<EOF | head -c 0\nx\nEOF\nprintf '%s' \"", "\""],
            same,
        ),
        (vec!["true && printf '%s' 'pre ", " post' # done"], pre_post),
        (vec!["printf '%s' \"$(printf '%s' 'a", "b')\""], |v| {
            subst(&ab(v))
        }),
        (
            vec!["x=$(printf '%s' x\"", "\"y); printf '%s' \"$x\""],
            |v| subst(&xy(v)),
        ),
    ]
}

#[test]
fn every_payload_reaches_the_shell_as_its_bytes() {
    let shells: Vec<&str> = ["/bin/sh", "/bin/bash"]
        .into_iter()
        .filter(|s| std::path::Path::new(s).exists())
        .collect();
    assert!(!shells.is_empty(), "no shell to test with");
    let (mut cases, mut refused) = (0, 0);
    let mut failures = Vec::new();
    for (texts, expect) in templates() {
        let hole = ctx(&texts)[0];
        for p in payloads() {
            if refuse(&p, hole).is_some() {
                refused += 1;
                continue;
            }
            let cmd = format!("{}{}{}", texts[0], render(&p, hole), texts[1]);
            for sh in &shells {
                cases += 1;
                let out = Command::new(sh)
                    .arg("-c")
                    .arg(&cmd)
                    .output()
                    .expect("spawn");
                let got = String::from_utf8_lossy(&out.stdout).to_string();
                if !out.status.success() || got != expect(&p) {
                    failures.push(format!(
                        "{sh} -c {cmd:?}: got {got:?}, want {:?}",
                        expect(&p)
                    ));
                }
            }
        }
    }
    eprintln!(
        "shell quoting: {cases} cases run, {refused} refused, {} failed",
        failures.len()
    );
    assert!(cases >= 2000, "only {cases} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
