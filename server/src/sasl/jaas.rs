//! A reader for JAAS login configuration files (`java.security.auth.login.config`), the
//! subset Apache ZooKeeper's SASL server uses:
//!
//! ```text
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_super="secret"
//!     user_alice="alice-password";
//! };
//! ```
//!
//! A file is a list of named sections; each holds login-module entries `Class flag
//! option=value ... ;`. Comments are `//` to the end of the line and `/* ... */`, as Java's
//! `ConfigFile` (a `StreamTokenizer`) accepts them. Values are bare words or double-quoted
//! strings with backslash escapes.

use std::collections::HashMap;
use std::path::PathBuf;

/// Why a JAAS file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JaasError {
    #[error("cannot read JAAS configuration {path}: {error}")]
    Read { path: PathBuf, error: String },
    #[error("JAAS configuration, line {line}: {reason}")]
    Syntax { line: usize, reason: String },
}

/// One login-module entry of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleEntry {
    pub module: String,
    pub flag: String,
    pub options: Vec<(String, String)>,
}

/// One named section (a "login context").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub entries: Vec<ModuleEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semi,
    Equals,
}

fn syntax(line: usize, reason: impl Into<String>) -> JaasError {
    JaasError::Syntax {
        line,
        reason: reason.into(),
    }
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, JaasError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let start = line;
                let mut prev = '\0';
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if prev == '*' && c == '/' {
                        closed = true;
                        break;
                    }
                    prev = c;
                }
                if !closed {
                    return Err(syntax(start, "unterminated /* comment"));
                }
            }
            '{' => out.push((Token::Open, line)),
            '}' => out.push((Token::Close, line)),
            ';' => out.push((Token::Semi, line)),
            '=' => out.push((Token::Equals, line)),
            '"' => {
                let start = line;
                let mut value = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some(other) => value.push(other),
                            None => break,
                        },
                        '\n' => {
                            line += 1;
                            value.push('\n');
                        }
                        other => value.push(other),
                    }
                }
                if !closed {
                    return Err(syntax(start, "unterminated quoted string"));
                }
                out.push((Token::Quoted(value), start));
            }
            first => {
                let mut word = String::from(first);
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | ';' | '=' | '"') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push((Token::Word(word), line));
            }
        }
    }
    Ok(out)
}

/// Parses a whole JAAS file into its sections, in file order.
pub fn parse(text: &str) -> Result<Vec<Section>, JaasError> {
    let tokens = tokenize(text)?;
    let mut it = tokens.into_iter().peekable();
    let mut sections = Vec::new();
    while let Some((tok, line)) = it.next() {
        let name = match tok {
            Token::Word(w) | Token::Quoted(w) => w,
            other => {
                return Err(syntax(
                    line,
                    format!("expected a section name, found {other:?}"),
                ))
            }
        };
        match it.next() {
            Some((Token::Open, _)) => {}
            _ => return Err(syntax(line, format!("expected '{{' after section {name}"))),
        }
        let mut entries = Vec::new();
        loop {
            let (tok, line) = it
                .next()
                .ok_or_else(|| syntax(line, format!("section {name} is not closed")))?;
            let module = match tok {
                Token::Close => break,
                Token::Word(w) => w,
                other => {
                    return Err(syntax(
                        line,
                        format!("expected a login module, found {other:?}"),
                    ))
                }
            };
            let flag = match it.next() {
                Some((Token::Word(w), _)) => w,
                _ => return Err(syntax(line, format!("module {module} has no control flag"))),
            };
            let mut options = Vec::new();
            loop {
                match it.next() {
                    Some((Token::Semi, _)) => break,
                    Some((Token::Word(key), line)) => {
                        match it.next() {
                            Some((Token::Equals, _)) => {}
                            _ => return Err(syntax(line, format!("option {key} has no '='"))),
                        }
                        match it.next() {
                            Some((Token::Word(v) | Token::Quoted(v), _)) => options.push((key, v)),
                            _ => return Err(syntax(line, format!("option {key} has no value"))),
                        }
                    }
                    Some((other, line)) => {
                        return Err(syntax(
                            line,
                            format!("unexpected {other:?} in module options"),
                        ))
                    }
                    None => {
                        return Err(syntax(line, format!("module {module} is not ended by ';'")))
                    }
                }
            }
            entries.push(ModuleEntry {
                module,
                flag,
                options,
            });
        }
        // The ';' after a section's '}' is required by Java; a missing one is tolerated
        // here because nothing is ambiguous without it.
        if matches!(it.peek(), Some((Token::Semi, _))) {
            it.next();
        }
        sections.push(Section { name, entries });
    }
    Ok(sections)
}

/// The users of section `name`: every option `user_<name>="<password>"` of any of its
/// modules, as Apache's `SaslServerCallbackHandler` collects them. `None` when the file
/// has no such section.
pub fn server_users(sections: &[Section], name: &str) -> Option<HashMap<String, String>> {
    let section = sections.iter().rev().find(|s| s.name == name)?;
    let mut users = HashMap::new();
    for entry in &section.entries {
        for (key, value) in &entry.options {
            if let Some(user) = key.strip_prefix("user_") {
                users.insert(user.to_owned(), value.clone());
            }
        }
    }
    Some(users)
}

/// The `username` and `password` options of section `name` (Apache's `QuorumLearner`
/// section, read by Java's DIGEST-MD5 client through `SaslQuorumAuthLearner`). `None` when
/// the file has no such section; a section without both options gives `Some(None)`.
pub fn client_credentials(sections: &[Section], name: &str) -> Option<Option<(String, String)>> {
    let section = sections.iter().rev().find(|s| s.name == name)?;
    let option = |key: &str| {
        section
            .entries
            .iter()
            .flat_map(|e| e.options.iter())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    Some(option("username").zip(option("password")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exactly what kazoo's harness writes with ZOOKEEPER_JAAS_AUTH=digest.
    const KAZOO: &str = "\nServer {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_super=\"super_secret\"\n    user_jaasuser=\"jaas_password\";\n};";

    #[test]
    fn reads_kazoo_digest_file() {
        let sections = parse(KAZOO).expect("parses");
        assert_eq!(sections.len(), 1);
        assert_eq!(
            sections[0].entries[0].module,
            "org.apache.zookeeper.server.auth.DigestLoginModule"
        );
        let users = server_users(&sections, "Server").expect("has Server");
        assert_eq!(users.len(), 2);
        assert_eq!(users["jaasuser"], "jaas_password");
        assert_eq!(users["super"], "super_secret");
    }

    #[test]
    fn empty_file_has_no_server_section() {
        let sections = parse("").expect("parses");
        assert!(server_users(&sections, "Server").is_none());
    }

    #[test]
    fn comments_escapes_and_several_sections() {
        let text = "// a comment\nClient { m required username=\"bob\" password=\"x\"; };\n/* block\n comment */ Server {\n a.B required user_q=\"a\\\"b\" debug=true;\n c.D optional user_r=plain;\n};\n";
        let sections = parse(text).expect("parses");
        assert_eq!(sections.len(), 2);
        let users = server_users(&sections, "Server").expect("has Server");
        assert_eq!(users["q"], "a\"b");
        assert_eq!(users["r"], "plain");
        assert!(!users.contains_key("username"));
        let client = server_users(&sections, "Client").expect("has Client");
        assert!(client.is_empty());
        assert_eq!(
            client_credentials(&sections, "Client"),
            Some(Some(("bob".to_owned(), "x".to_owned())))
        );
        assert_eq!(client_credentials(&sections, "Server"), Some(None));
        assert_eq!(client_credentials(&sections, "QuorumLearner"), None);
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        for bad in [
            "Server {",
            "Server { m required user_a=\"x\" }",
            "Server { m required user_a= ; };",
            "Server { m };",
            "{ };",
            "Server { m required user_a=\"unterminated; };",
            "/* never closed",
            "Server m required;",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
