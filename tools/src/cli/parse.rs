//! Turning a command line into words and flags, and ACL text into ACL entries.

use ringkeeper_engine::{perms, Acl, Id};

/// Splits a line into words. Double or single quotes group words with spaces (`create /a
/// "hello world"`), and a backslash escapes the next character outside single quotes.
pub fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                let next = chars.next().ok_or("a trailing backslash escapes nothing")?;
                cur.push(next);
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".to_string());
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// A command's words split into flags and positional arguments.
#[derive(Debug, Default)]
pub struct Args {
    pub flags: Vec<char>,
    /// Flags that take a value (`-v 3`, `-t 1000`), by letter.
    pub values: Vec<(char, String)>,
    pub positional: Vec<String>,
}

impl Args {
    pub fn has(&self, flag: char) -> bool {
        self.flags.contains(&flag)
    }

    pub fn value(&self, flag: char) -> Option<&str> {
        self.values
            .iter()
            .find(|(f, _)| *f == flag)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric flag value, if given.
    pub fn number<T: std::str::FromStr>(&self, flag: char) -> Result<Option<T>, String> {
        self.value(flag)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| format!("-{flag} needs a number, got {v:?}"))
            })
            .transpose()
    }
}

/// Parses words after the command name. `allowed` lists the flags without a value and
/// `with_value` those that take one. A word that starts with `-` but is not a known flag
/// is refused; after the first positional word, `-` words are positional (data may start
/// with a dash).
pub fn parse_args(words: &[String], allowed: &str, with_value: &str) -> Result<Args, String> {
    let mut args = Args::default();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let flag_word = args.positional.is_empty() && w.len() > 1 && w.starts_with('-');
        if !flag_word {
            args.positional.push(w.clone());
            i += 1;
            continue;
        }
        for (n, f) in w[1..].chars().enumerate() {
            if with_value.contains(f) {
                // A value flag must come last in its group; its value is the next word.
                if n + 2 != w.len() {
                    return Err(format!("-{f} must be followed by its value"));
                }
                i += 1;
                let v = words.get(i).ok_or(format!("-{f} needs a value"))?;
                args.values.push((f, v.clone()));
            } else if allowed.contains(f) {
                args.flags.push(f);
            } else {
                return Err(format!("unknown option -{f}"));
            }
        }
        i += 1;
    }
    Ok(args)
}

/// Parses zkCli's ACL syntax: comma-separated `scheme:id:perms`, where the id may itself
/// contain colons (`digest:user:hash:rw`, `ip:10.0.0.1:r`) and perms are letters of
/// `cdrwa`.
pub fn parse_acl(text: &str) -> Result<Vec<Acl>, String> {
    let mut acl = Vec::new();
    for entry in text.split(',').filter(|e| !e.is_empty()) {
        let first = entry.find(':');
        let last = entry.rfind(':');
        let (Some(first), Some(last)) = (first, last) else {
            return Err(format!("{entry:?} is not scheme:id:perms"));
        };
        if first == last {
            return Err(format!("{entry:?} is not scheme:id:perms"));
        }
        let scheme = &entry[..first];
        let id = &entry[first + 1..last];
        let perms = parse_perms(&entry[last + 1..])?;
        acl.push(Acl::new(perms, Id::new(scheme, id)));
    }
    if acl.is_empty() {
        return Err("empty ACL".to_string());
    }
    Ok(acl)
}

fn parse_perms(text: &str) -> Result<i32, String> {
    let mut bits = 0;
    for c in text.chars() {
        bits |= match c {
            'c' => perms::CREATE,
            'd' => perms::DELETE,
            'r' => perms::READ,
            'w' => perms::WRITE,
            'a' => perms::ADMIN,
            _ => return Err(format!("unknown permission {c:?} in {text:?} (use cdrwa)")),
        };
    }
    Ok(bits)
}

/// Permission bits as zkCli prints them, in the order c, d, r, w, a.
pub fn perm_string(bits: i32) -> String {
    [
        (perms::CREATE, 'c'),
        (perms::DELETE, 'd'),
        (perms::READ, 'r'),
        (perms::WRITE, 'w'),
        (perms::ADMIN, 'a'),
    ]
    .iter()
    .filter(|(b, _)| bits & b != 0)
    .map(|(_, c)| *c)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        tokenize(s).unwrap()
    }

    #[test]
    fn quotes_group_and_escapes_apply() {
        assert_eq!(
            words(r#"create /a "hello world" 'x y'"#),
            ["create", "/a", "hello world", "x y"]
        );
        assert_eq!(words(r#"set /a a\"b"#), ["set", "/a", "a\"b"]);
        assert_eq!(words(r#"set /a """#), ["set", "/a", ""]);
        assert!(tokenize("get \"/a").is_err());
    }

    #[test]
    fn flags_values_and_positionals() {
        let a = parse_args(&words("-s -e -t 500 /a -1"), "sec", "t").unwrap();
        assert!(a.has('s') && a.has('e') && !a.has('c'));
        assert_eq!(a.number::<i64>('t').unwrap(), Some(500));
        assert_eq!(a.positional, ["/a", "-1"]);
        let a = parse_args(&words("-se /a"), "sec", "t").unwrap();
        assert!(a.has('s') && a.has('e'));
        assert!(parse_args(&words("-x /a"), "s", "").is_err());
        assert!(parse_args(&words("-v"), "", "v").is_err());
        assert!(parse_args(&words("-v x /a"), "", "v")
            .unwrap()
            .number::<i32>('v')
            .is_err());
    }

    #[test]
    fn acl_text_round_trips_through_perm_strings() {
        let acl = parse_acl("world:anyone:cdrwa,digest:u:abc=:r,ip:10.0.0.1:rw").unwrap();
        assert_eq!(acl[0], Acl::new(perms::ALL, Id::anyone()));
        assert_eq!(acl[1].id, Id::new("digest", "u:abc="));
        assert_eq!(acl[1].perms, perms::READ);
        assert_eq!(perm_string(acl[2].perms), "rw");
        assert_eq!(perm_string(perms::ALL), "cdrwa");
        assert!(parse_acl("world:anyone").is_err());
        assert!(parse_acl("world:anyone:x").is_err());
    }
}
