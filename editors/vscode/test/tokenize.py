#!/usr/bin/env python3
"""Tokenise flows with the extension's TextMate grammar (a small TextMate engine: match
rules, begin/end rules with nested patterns, repository includes; the earliest match
wins, the end pattern on a tie) and check that every keyword, action and builtin outside
strings and comments gets its scope.

  tokenize.py GRAMMAR FLOW...      exit 1 when a word is scoped wrong

Used by `tests/integration/editors.rs` on the stdlib flows and by `editors/vscode/build.sh`."""
import json
import re
import sys

KEYWORDS = {"flow", "param", "hosts", "cluster", "step", "block", "include", "point_of_no_return",
            "let", "assert", "if", "else", "for", "in", "rollback", "use", "on", "and", "or", "not"}
ACTIONS = {"run", "copy", "fetch", "template", "edit", "read", "wait", "fail", "confirm", "log"}


class Grammar:
    def __init__(self, path):
        self.g = json.load(open(path))
        self.cache = {}

    def rules(self, patterns):
        out = []
        for p in patterns:
            if "include" in p:
                out.extend(self.rules(self.g["repository"][p["include"][1:]].get("patterns", [self.g["repository"][p["include"][1:]]])))
            else:
                out.append(p)
        return out

    def rx(self, src):
        if src not in self.cache:
            self.cache[src] = re.compile(src)
        return self.cache[src]

    def tokenize(self, text):
        """[(start, end, scopes)] over the whole text, line by line as TextMate does."""
        stack = []  # (rule, end regex, scopes)
        out = []
        offset = 0
        for line in text.split("\n"):
            pos = 0
            while pos <= len(line):
                scopes = [self.g["scopeName"]] + [s for _, _, s in stack for s in s]
                pats = self.rules(stack[-1][0].get("patterns", [])) if stack else self.rules(self.g["patterns"])
                best = None
                if stack:
                    m = stack[-1][1].search(line, pos)
                    if m:
                        best = (m.start(), 0, "end", m, None)
                for i, p in enumerate(pats):
                    src = p.get("match") or p.get("begin")
                    m = self.rx(src).search(line, pos)
                    if m and (best is None or m.start() < best[0]):
                        best = (m.start(), i + 1, "begin" if "begin" in p else "match", m, p)
                if best is None or best[3].end() == best[3].start() == len(line):
                    if pos < len(line):
                        out.append((offset + pos, offset + len(line), scopes))
                    break
                start, _, kind, m, p = best
                if start > pos:
                    out.append((offset + pos, offset + start, scopes))
                if kind == "end":
                    out.append((offset + m.start(), offset + m.end(), scopes))
                    stack.pop()
                elif kind == "match":
                    out.append((offset + m.start(), offset + m.end(), scopes + ([p["name"]] if "name" in p else [])))
                else:
                    name = [p["name"]] if "name" in p else []
                    out.append((offset + m.start(), offset + m.end(), scopes + name))
                    stack.append((p, self.rx(p["end"]), name))
                nxt = m.end()
                pos = nxt if nxt > pos else pos + 1
            offset += len(line) + 1
        return out


def scope_at(tokens, i):
    for s, e, sc in tokens:
        if s <= i < e:
            return sc
    return []


def check(grammar, path):
    text = open(path).read()
    tokens = grammar.tokenize(text)
    bad, words = [], 0
    for m in re.finditer(r"(?<![\w.])([a-z_]+(?:\.[a-z_]+)?)\b", text):
        w = m.group(1)
        sc = scope_at(tokens, m.start())
        if any(s.startswith(("comment", "string")) and "interpolation" not in s for s in sc[-1:]) or any(s.startswith("comment") for s in sc):
            continue
        if any(s.startswith("string") for s in sc) and not any("interpolation" in s for s in sc):
            continue
        rest = text[m.end():m.end() + 2]
        want = None
        if w in KEYWORDS and not rest.startswith(":"):
            want = "keyword"
        elif (w in ACTIONS or w.startswith("etcd.") or w in ("tls.ca", "tls.cert")) and not rest.startswith((":", "(")):
            line_start = text.rfind("\n", 0, m.start()) + 1
            before = text[line_start:m.start()].strip()
            if before == "" or before.endswith("="):
                want = "support.function.action"
        if want is None:
            continue
        words += 1
        if not any(s.startswith(want) for s in sc):
            line = text.count("\n", 0, m.start()) + 1
            bad.append("%s:%d: `%s` has scopes %s, wants %s" % (path, line, w, sc, want))
    unknown = [t for t in tokens if len(t[2]) == 1 and text[t[0]:t[1]].strip() and re.fullmatch(r"[a-z_]+", text[t[0]:t[1]].strip()) and text[t[0]:t[1]].strip() in KEYWORDS]
    for s, e, sc in unknown:
        bad.append("%s: keyword `%s` without a scope" % (path, text[s:e]))
    return words, bad


def main():
    g = Grammar(sys.argv[1])
    failures = []
    for p in sys.argv[2:]:
        words, bad = check(g, p)
        print("%s: %d keywords and actions scoped, %d wrong" % (p, words, len(bad)))
        failures.extend(bad)
    for b in failures[:50]:
        print(b)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
