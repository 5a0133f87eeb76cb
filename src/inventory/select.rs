//! Host patterns (`--limit`, Ansible's syntax): names, groups, globs, `!` exclusions and
//! `&` intersections.

use super::*;

impl Inventory {
    /// Ansible's host patterns (`--limit`): terms separated by `:` or `,`; a term is a
    /// group, a host, or a `*`/`?` wildcard over both; `&term` intersects, `!term`
    /// excludes; the plain terms are united first.
    pub fn select(&self, pattern: &str) -> Result<BTreeSet<String>, String> {
        let mut union: BTreeSet<String> = BTreeSet::new();
        let mut inters: Vec<BTreeSet<String>> = Vec::new();
        let mut excl: BTreeSet<String> = BTreeSet::new();
        let terms: Vec<&str> = pattern
            .split([',', ':'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        if terms.is_empty() {
            return Err("an empty pattern".into());
        }
        let mut plain = false;
        for t in terms {
            let (kind, name) = match t.as_bytes()[0] {
                b'&' => ('&', &t[1..]),
                b'!' => ('!', &t[1..]),
                _ => ('+', t),
            };
            let hosts = self.pattern_hosts(name)?;
            match kind {
                '&' => inters.push(hosts),
                '!' => excl.extend(hosts),
                _ => {
                    plain = true;
                    union.extend(hosts);
                }
            }
        }
        if !plain {
            union = self.hosts.keys().cloned().collect();
        }
        for i in inters {
            union.retain(|h| i.contains(h));
        }
        union.retain(|h| !excl.contains(h));
        Ok(union)
    }

    fn pattern_hosts(&self, name: &str) -> Result<BTreeSet<String>, String> {
        if name == "all" || name == "*" {
            return Ok(self.hosts.keys().cloned().collect());
        }
        if name.contains(['*', '?']) {
            let mut out: BTreeSet<String> = self
                .hosts
                .keys()
                .filter(|h| glob(name, h))
                .cloned()
                .collect();
            for g in self.groups.keys().filter(|g| glob(name, g)) {
                out.extend(self.group_hosts(g).unwrap_or_default());
            }
            return Ok(out);
        }
        if let Some(hs) = self.group_hosts(name) {
            return Ok(hs.into_iter().collect());
        }
        if self.hosts.contains_key(name) {
            return Ok(BTreeSet::from([name.to_string()]));
        }
        Err(format!(
            "`{name}` is neither a group nor a host of the inventory"
        ))
    }
}

/// `*` and `?` wildcards, as in Ansible's host patterns.
fn glob(pat: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    // Iterative matching with backtracking to the last `*` (linear in practice).
    let (mut i, mut j, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
        i += 1;
    }
    i == p.len()
}
