//! Walking from a path up to the root, for persistent-recursive watches.

/// The proper ancestors of `path`, nearest first: "/a/b/c" gives "/a/b", "/a", "/".
///
/// Paths reach the watch manager after the server validated them, but the walk must not
/// panic on anything else either: a path without a slash has no ancestors, and "/" has none.
pub(crate) fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    std::iter::from_fn(move || {
        if rest.is_empty() || rest == "/" {
            return None;
        }
        match rest.rfind('/') {
            Some(0) => {
                rest = "/";
                Some(rest)
            }
            Some(i) => {
                rest = &rest[..i];
                Some(rest)
            }
            None => {
                rest = "";
                None
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::ancestors;

    fn walk(p: &str) -> Vec<&str> {
        ancestors(p).collect()
    }

    #[test]
    fn nearest_first_up_to_root() {
        assert_eq!(walk("/a/b/c"), vec!["/a/b", "/a", "/"]);
        assert_eq!(walk("/a"), vec!["/"]);
    }

    #[test]
    fn root_and_odd_inputs_do_not_panic() {
        assert!(walk("/").is_empty());
        assert!(walk("").is_empty());
        assert!(walk("abc").is_empty());
        assert_eq!(walk("a/b"), vec!["a"]);
        assert_eq!(walk("/a/"), vec!["/a", "/"]);
        assert_eq!(walk("//"), vec!["/"]);
    }
}
