//! A small JSON value and its text form: the admin answers are built from
//! text the server already renders, so a full serialization framework would
//! buy nothing but a dependency.

use std::fmt::Write as _;

/// A JSON value. Objects keep their keys in insertion order, so answers read
/// in the order the four-letter words print them.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An empty object.
    pub fn object() -> Json {
        Json::Object(Vec::new())
    }

    /// Appends a member to an object; on any other value it does nothing,
    /// since only objects have members.
    pub fn push(&mut self, key: impl Into<String>, value: Json) {
        if let Json::Object(members) = self {
            members.push((key.into(), value));
        }
    }

    /// Looks up a member of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A number when the text is one (decimal, or hexadecimal after `0x` as
    /// the four-letter words print zxids), otherwise the text as a string.
    pub fn scalar(text: &str) -> Json {
        let text = text.trim();
        if let Some(hex) = text.strip_prefix("0x") {
            if let Ok(v) = u64::from_str_radix(hex, 16) {
                return Json::Int(v as i64);
            }
        }
        if let Ok(v) = text.parse::<i64>() {
            return Json::Int(v);
        }
        if !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        {
            if let Ok(v) = text.parse::<f64>() {
                return Json::Float(v);
            }
        }
        Json::Str(text.to_owned())
    }

    /// The compact JSON text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(v) => {
                let _ = write!(out, "{v}");
            }
            // JSON has no NaN or infinities; null is what most encoders emit.
            Json::Float(v) if !v.is_finite() => out.push_str("null"),
            Json::Float(v) => {
                let _ = write!(out, "{v:?}");
            }
            Json::Str(s) => write_string(out, s),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(out, key);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::Json;

    #[test]
    fn strings_are_escaped_and_members_keep_their_order() {
        let mut o = Json::object();
        o.push("b", Json::Str("a\"q\\\n\u{1}é".into()));
        o.push(
            "a",
            Json::Array(vec![Json::Int(-1), Json::Null, Json::Bool(true)]),
        );
        o.push("f", Json::Float(0.5));
        o.push("nan", Json::Float(f64::NAN));
        assert_eq!(
            o.render(),
            r#"{"b":"a\"q\\\n\u0001é","a":[-1,null,true],"f":0.5,"nan":null}"#
        );
    }

    #[test]
    fn scalars_become_numbers_only_when_they_are_numbers() {
        assert_eq!(Json::scalar("42"), Json::Int(42));
        assert_eq!(Json::scalar("0x1f"), Json::Int(31));
        assert_eq!(Json::scalar("0.25"), Json::Float(0.25));
        assert_eq!(Json::scalar("1.0"), Json::Float(1.0));
        assert_eq!(Json::scalar("standalone"), Json::Str("standalone".into()));
        assert_eq!(Json::scalar("3.8.4-x"), Json::Str("3.8.4-x".into()));
        assert_eq!(Json::scalar("inf"), Json::Str("inf".into()));
        assert_eq!(Json::Float(1.0).render(), "1.0");
    }
}
