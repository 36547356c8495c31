// SPDX-License-Identifier: GPL-2.0-only
//! Config fragments: what they ask for, and whether `.config` has it after
//! `olddefconfig` (an option whose dependencies are not met silently drops).

use std::collections::BTreeMap;

/// `CONFIG_FOO` → `y`/`m`/`"string"`/`42`, or `n` for `# CONFIG_FOO is not set`.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for l in text.lines() {
        let l = l.trim();
        if let Some(rest) = l
            .strip_prefix("# ")
            .and_then(|r| r.strip_suffix(" is not set"))
        {
            if rest.starts_with("CONFIG_") {
                m.insert(rest.to_string(), "n".to_string());
            }
        } else if l.starts_with("CONFIG_") {
            if let Some((k, v)) = l.split_once('=') {
                m.insert(k.to_string(), v.to_string());
            }
        }
    }
    m
}

/// One option of a fragment that `.config` does not have as asked.
#[derive(Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub fragment: String,
    pub option: String,
    pub wanted: String,
    pub got: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}={} (from {}) is {} in .config",
            self.option, self.wanted, self.fragment, self.got
        )
    }
}

/// Every option of every fragment that did not stick. `fragments` are
/// (name, text) pairs.
pub fn check(fragments: &[(String, String)], config: &str) -> Vec<Mismatch> {
    let have = parse(config);
    let mut out = Vec::new();
    for (name, text) in fragments {
        for (k, want) in parse(text) {
            let got = have.get(&k);
            let ok = match got {
                Some(g) => *g == want,
                None => want == "n",
            };
            if !ok {
                out.push(Mismatch {
                    fragment: name.clone(),
                    option: k,
                    wanted: want,
                    got: got.cloned().unwrap_or_else(|| "unset".to_string()),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_64BIT=y
CONFIG_RUST=y
CONFIG_KASAN=y
# CONFIG_SLUB_TINY is not set
CONFIG_NR_CPUS=8
CONFIG_SAMPLE_RUST_MISC_DEVICE=m
CONFIG_CMDLINE=\"\"
";

    fn frag(t: &str) -> Vec<(String, String)> {
        vec![("debug.config".to_string(), t.to_string())]
    }

    #[test]
    fn all_stuck() {
        let f = frag("CONFIG_RUST=y\nCONFIG_KASAN=y\n# CONFIG_SLUB_TINY is not set\n# CONFIG_KCOV is not set\nCONFIG_NR_CPUS=8\n");
        assert_eq!(check(&f, CONFIG), vec![]);
    }

    #[test]
    fn dropped_and_changed_options_are_named() {
        let f = frag(
            "CONFIG_PROVE_LOCKING=y\nCONFIG_SAMPLE_RUST_MISC_DEVICE=y\n# CONFIG_KASAN is not set\n",
        );
        let m = check(&f, CONFIG);
        let names: Vec<&str> = m.iter().map(|m| m.option.as_str()).collect();
        assert_eq!(
            names,
            [
                "CONFIG_KASAN",
                "CONFIG_PROVE_LOCKING",
                "CONFIG_SAMPLE_RUST_MISC_DEVICE"
            ]
        );
        assert_eq!(m[2].got, "m");
        assert!(m[1]
            .to_string()
            .contains("CONFIG_PROVE_LOCKING=y (from debug.config)"));
    }

    #[test]
    fn comments_and_blank_lines() {
        let p = parse("# a comment\n\nCONFIG_A=y\n# CONFIG_B is not set\nnot a line\n");
        assert_eq!(p.len(), 2);
        assert_eq!(p["CONFIG_B"], "n");
    }
}
