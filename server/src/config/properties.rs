//! A reader for Java `.properties` text, the format of `zoo.cfg`.
//!
//! Apache ZooKeeper loads `zoo.cfg` with `java.util.Properties.load`, so a
//! drop-in replacement has to accept exactly that grammar: `#` and `!`
//! comments, `key=value`, `key: value` and `key value` forms, backslash line
//! continuation and backslash escapes. Keys and values are trimmed afterwards,
//! as `QuorumPeerConfig.parseProperties` does.

/// One `key = value` entry with the line it started on (1-based), kept so
/// errors can point at the offending line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    /// The key, unescaped and trimmed.
    pub key: String,
    /// The value, unescaped and trimmed.
    pub value: String,
    /// The physical line on which the entry starts.
    pub line: usize,
}

/// Decodes file bytes the way a tolerant reader should: UTF-8 when the bytes
/// are valid UTF-8 (what every modern editor writes), otherwise ISO-8859-1,
/// which is what `Properties.load(InputStream)` assumes and which maps every
/// byte to a character, so no input is ever rejected here.
pub fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Parses properties text into entries in file order. Duplicate keys are all
/// returned; the caller lets the last one win, as `Properties` does.
pub fn parse(text: &str) -> Vec<Property> {
    let lines = split_lines(text);
    let mut out = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let start_line = index + 1;
        let first = lines[index].trim_start_matches(is_properties_whitespace);
        index += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // A logical line continues while the physical line ends in an odd
        // number of backslashes; the continuation's leading blanks are dropped.
        let mut logical = String::from(first);
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.get(index) {
                Some(next) => {
                    logical.push_str(next.trim_start_matches(is_properties_whitespace));
                    index += 1;
                }
                None => break,
            }
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        out.push(Property {
            key: unescape(raw_key).trim().to_owned(),
            value: unescape(raw_value).trim().to_owned(),
            line: start_line,
        });
    }
    out
}

/// Splits on `\n`, `\r\n` and lone `\r`, the three terminators Java accepts.
fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < bytes.len() {
        lines.push(&text[start..]);
    }
    lines
}

fn is_properties_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{000C}')
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Finds where the key ends: at the first unescaped `=`, `:` or blank. One
/// `=` or `:` after optional blanks belongs to the separator, not the value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_properties_whitespace(c) {
            key_end = i;
            break;
        }
    }
    let key = &line[..key_end];
    let mut rest = line[key_end..].trim_start_matches(is_properties_whitespace);
    if let Some(stripped) = rest.strip_prefix(['=', ':']) {
        rest = stripped.trim_start_matches(is_properties_whitespace);
    }
    (key, rest)
}

/// Resolves `\t`, `\n`, `\r`, `\f`, `\uXXXX` and `\x` (any other character
/// stands for itself). A malformed `\u` escape is kept literally rather than
/// rejected: Java throws there, but a lenient reader loses nothing, and the
/// value is validated later by the key's own rules.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{000C}'),
            Some('u') => {
                let hex: String = chars.clone().take(4).collect();
                match (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32)
                {
                    Some(decoded) => {
                        out.push(decoded);
                        for _ in 0..4 {
                            chars.next();
                        }
                    }
                    None => out.push_str("\\u"),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).into_iter().map(|p| (p.key, p.value)).collect()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn separators_comments_and_blank_lines() {
        let text = "# comment\n! also a comment\n\n  tickTime=2000\nclientPort : 2181\ndataDir /var/zk\n   \ninitLimit\t=\t10  \n";
        assert_eq!(
            pairs(text),
            vec![
                pair("tickTime", "2000"),
                pair("clientPort", "2181"),
                pair("dataDir", "/var/zk"),
                pair("initLimit", "10"),
            ]
        );
    }

    #[test]
    fn line_numbers_point_at_the_first_physical_line() {
        let parsed = parse("# c\na=1\nb=2\\\n   3\nc=4\n");
        let lines: Vec<usize> = parsed.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![2, 3, 5]);
        assert_eq!(parsed[1].value, "23");
    }

    #[test]
    fn continuation_only_on_an_odd_number_of_backslashes() {
        assert_eq!(
            pairs("a=x\\\\\nb=y\n"),
            vec![pair("a", "x\\"), pair("b", "y")]
        );
        assert_eq!(pairs("a=one \\\n    two\n"), vec![pair("a", "one two")]);
        // A continuation at end of file simply ends the entry.
        assert_eq!(pairs("a=x\\"), vec![pair("a", "x")]);
    }

    #[test]
    fn escapes_in_keys_and_values() {
        assert_eq!(
            pairs("my\\ key=a\\tb\\u0041\\=\nk\\:2=v\n"),
            vec![pair("my key", "a\tbA="), pair("k:2", "v")]
        );
        // A broken \u escape is kept as written instead of failing the file.
        assert_eq!(pairs("k=\\uZZ\n"), vec![pair("k", "\\uZZ")]);
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        assert_eq!(
            pairs("a=1\r\nb=2\rc=3"),
            vec![pair("a", "1"), pair("b", "2"), pair("c", "3")]
        );
    }

    #[test]
    fn empty_values_and_keys_without_values() {
        assert_eq!(
            pairs("a=\nb\nc =  \n"),
            vec![pair("a", ""), pair("b", ""), pair("c", "")]
        );
    }

    #[test]
    fn values_keep_inner_separators() {
        assert_eq!(
            pairs("server.1=localhost:2888:3888:participant;2181\n"),
            vec![pair("server.1", "localhost:2888:3888:participant;2181")]
        );
        assert_eq!(
            pairs("DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n"),
            vec![pair(
                "DigestAuthenticationProvider.superDigest",
                "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
            )]
        );
    }

    #[test]
    fn latin1_fallback_never_fails() {
        assert_eq!(decode_text(b"a=\xe9"), "a=\u{e9}");
        assert_eq!(decode_text("a=é".as_bytes()), "a=é");
    }
}
