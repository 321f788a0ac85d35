//! Znode path rules and small path helpers.
//!
//! Validation follows Apache ZooKeeper's `PathUtils.validatePath` character for character.
//! Java strings are sequences of UTF-16 code units and Apache's checks are written against
//! those units (its forbidden range 0xD800..=0xF8FF covers the surrogates), so we check the
//! UTF-16 form too: that is what makes a path containing, say, an emoji invalid here exactly
//! as it is there.

use crate::types::ErrorCode;

/// The root path.
pub const ROOT: &str = "/";

/// Checks a znode path as Apache's `PathUtils.validatePath(path, isSequential)` does.
///
/// A sequential create is validated with a digit appended, because the server appends the
/// sequence number before the node exists: `/a/` is a valid prefix for a sequential node.
/// Every failure is `BadArguments`, the code Apache's servers answer with.
pub fn validate_path(path: &str, sequential: bool) -> Result<(), ErrorCode> {
    if sequential {
        let mut with_digit = String::with_capacity(path.len() + 1);
        with_digit.push_str(path);
        with_digit.push('1');
        return check(&with_digit);
    }
    check(path)
}

fn check(path: &str) -> Result<(), ErrorCode> {
    let units: Vec<u16> = path.encode_utf16().collect();
    let slash = u16::from(b'/');
    let dot = u16::from(b'.');
    if units.is_empty() || units[0] != slash {
        return Err(ErrorCode::BadArguments);
    }
    if units.len() == 1 {
        return Ok(());
    }
    if units[units.len() - 1] == slash {
        return Err(ErrorCode::BadArguments);
    }
    let ends_component = |i: usize| i + 1 == units.len() || units[i + 1] == slash;
    let mut last = slash;
    for i in 1..units.len() {
        let c = units[i];
        let bad = if c == 0 || (c == slash && last == slash) {
            true
        } else if c == dot && last == dot {
            // `..` as a whole component; i >= 2 here because units[0] is '/' and last is '.'.
            units[i - 2] == slash && ends_component(i)
        } else if c == dot {
            last == slash && ends_component(i)
        } else {
            is_forbidden_unit(c)
        };
        if bad {
            return Err(ErrorCode::BadArguments);
        }
        last = c;
    }
    Ok(())
}

/// The control characters, the C1 block, surrogates, the private use area and the
/// specials block, as Apache forbids them.
fn is_forbidden_unit(c: u16) -> bool {
    (0x0001..=0x001f).contains(&c)
        || (0x007f..=0x009f).contains(&c)
        || (0xd800..=0xf8ff).contains(&c)
        || (0xfff0..=0xffff).contains(&c)
}

/// The parent of a path as Apache computes it (`path.substring(0, lastIndexOf('/'))`), except
/// that the parent of a top-level node is `/` rather than Apache's internal alias `""`.
/// Returns `None` for the root and for strings without a slash.
pub fn parent(path: &str) -> Option<&str> {
    if path == ROOT {
        return None;
    }
    let slash = path.rfind('/')?;
    Some(if slash == 0 { ROOT } else { &path[..slash] })
}

/// The last component of a path (`""` for the root and for strings without a slash).
pub fn name(path: &str) -> &str {
    match path.rfind('/') {
        Some(slash) => &path[slash + 1..],
        None => "",
    }
}

/// Appends a child name to a path, without doubling the slash after the root.
pub fn join(parent: &str, child: &str) -> String {
    let mut out = String::with_capacity(parent.len() + 1 + child.len());
    out.push_str(parent);
    if !parent.ends_with('/') {
        out.push('/');
    }
    out.push_str(child);
    out
}

/// Splits a path at its last slash into Apache's raw parent (`""` for a top-level node)
/// and the child name. Used where the exact Apache lookup key matters (request preparation).
pub(crate) fn split_last(path: &str) -> Option<(&str, &str)> {
    let slash = path.rfind('/')?;
    Some((&path[..slash], &path[slash + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> bool {
        validate_path(p, false).is_ok()
    }

    // The cases of Apache's PathUtilsTest, one for one.
    #[test]
    fn apache_path_utils_test_cases() {
        assert!(ok("/this is / a valid/path"));
        assert!(!ok(""));
        assert!(!ok("not/valid"));
        assert!(!ok("/ends/with/slash/"));
        assert!(!ok("/test\u{0000}"));
        assert!(!ok("/double//slash"));
        assert!(!ok("/single/./period"));
        assert!(!ok("/double/../period"));
        assert!(ok("/name/with.period."));
        assert!(!ok("/test\u{0001}"));
        assert!(!ok("/test\u{001F}"));
        assert!(ok("/test\u{0020}"));
        assert!(ok("/test\u{007e}"));
        assert!(!ok("/test\u{007f}"));
        assert!(!ok("/test\u{009f}"));
        assert!(!ok("/test\u{f8ff}"));
        assert!(ok("/test\u{ffef}"));
        assert!(!ok("/test\u{fff0}"));
    }

    #[test]
    fn supplementary_characters_are_refused_like_java_surrogates() {
        // Apache's test uses a lone \ud800, which Rust strings cannot hold; any character
        // outside the BMP becomes a surrogate pair in Java and is refused the same way.
        assert!(!ok("/test\u{1F600}"));
        assert!(!ok("/test\u{e000}"));
    }

    #[test]
    fn dots_only_refused_as_whole_components() {
        assert!(!ok("/."));
        assert!(!ok("/.."));
        assert!(!ok("/a/."));
        assert!(!ok("/a/.."));
        assert!(!ok("/./a"));
        assert!(ok("/..."));
        assert!(ok("/.a"));
        assert!(ok("/a."));
        assert!(ok("/a/..b"));
        assert!(ok("/a/b.."));
    }

    #[test]
    fn root_and_sequential_prefixes() {
        assert!(ok("/"));
        assert!(!ok("//"));
        assert!(validate_path("/a/", true).is_ok());
        assert!(validate_path("/", true).is_ok());
        assert!(validate_path("/a//", true).is_err());
        assert!(validate_path("/a/.", true).is_ok());
        assert_eq!(validate_path("x", true), Err(ErrorCode::BadArguments));
    }

    #[test]
    fn helpers() {
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/"), None);
        assert_eq!(parent("abc"), None);
        assert_eq!(name("/a/b"), "b");
        assert_eq!(name("/"), "");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(split_last("/a"), Some(("", "a")));
        assert_eq!(split_last("/a/b"), Some(("/a", "b")));
        assert_eq!(split_last("a"), None);
    }
}
