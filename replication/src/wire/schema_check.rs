//! The hand-written flatbuffers code in `fb.rs` against `replication/schema/peer.fbs`: every
//! table's fields (name, voffset, type, optional or not), the union's discriminants and the
//! root table's slots are read from the schema and compared with the code, so neither can
//! change without the other.

use std::collections::BTreeMap;

use super::fb::{self, body};

const SCHEMA: &str = include_str!("../../schema/peer.fbs");

/// A field as the code describes it: (name, voffset, type).
type Field = (String, u16, String);
/// A table's fields as `fb.rs` lists them (its `FIELDS` constant).
type CodeFields = &'static [(&'static str, u16, &'static str)];

/// The schema without comments, with the voffsets its comments claim, by "table.field".
fn strip_comments(schema: &str) -> (String, Vec<String>) {
    let mut code = String::new();
    let mut claims = Vec::new();
    for line in schema.lines() {
        let (text, comment) = line.split_once("//").unwrap_or((line, ""));
        code.push_str(text);
        code.push('\n');
        claims.push(comment.to_string());
    }
    (code, claims)
}

/// The Rust type the code uses for a schema type, given the schema's enums and their bases.
fn rust_type(schema_type: &str, enums: &BTreeMap<String, String>) -> String {
    let base = enums.get(schema_type).map_or(schema_type, String::as_str);
    match base {
        "long" => "i64".into(),
        "ulong" => "u64".into(),
        "uint" => "u32".into(),
        "ubyte" => "u8".into(),
        "bool" => "bool".into(),
        "[ubyte]" => "[u8]".into(),
        other => other.into(),
    }
}

/// Every `enum Name : base` of the schema.
fn enums(code: &str) -> BTreeMap<String, String> {
    code.lines()
        .filter_map(|l| l.trim().strip_prefix("enum "))
        .filter_map(|rest| {
            let (name, rest) = rest.split_once(':')?;
            let base = rest.split_whitespace().next()?;
            Some((name.trim().to_string(), base.to_string()))
        })
        .collect()
}

/// The body of each `<keyword> Name { ... }` block, by name, with the line number of each
/// member line (to find its comment).
fn blocks<'a>(code: &'a str, keyword: &str) -> BTreeMap<String, Vec<(usize, &'a str)>> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Vec<(usize, &str)>)> = None;
    for (n, line) in code.lines().enumerate() {
        let line = line.trim();
        if let Some((name, members)) = current.as_mut() {
            if line.starts_with('}') {
                out.insert(std::mem::take(name), std::mem::take(members));
                current = None;
            } else if !line.is_empty() {
                members.push((n, line));
            }
        } else if let Some(rest) = line.strip_prefix(keyword) {
            let name = rest.trim().trim_end_matches('{').trim().to_string();
            current = Some((name, Vec::new()));
        }
    }
    out
}

/// The schema's tables as the code should have them: fields in voffset order.
fn schema_tables() -> BTreeMap<String, Vec<Field>> {
    let (code, claims) = strip_comments(SCHEMA);
    let enums = enums(&code);
    let mut tables = BTreeMap::new();
    for (table, members) in blocks(&code, "table ") {
        let mut fields = Vec::new();
        for (index, (line_no, member)) in members.into_iter().enumerate() {
            let (name, rest) = member.split_once(':').expect("field `name: type`");
            let rest = rest.trim().trim_end_matches(';');
            let (ty, default) = match rest.split_once('=') {
                Some((ty, default)) => (ty.trim(), Some(default.trim())),
                None => (rest.split_whitespace().next().unwrap_or(""), None),
            };
            let voffset = 4 + 2 * index as u16;
            // The voffset a comment names must be the one the field's position gives.
            let claim = &claims[line_no];
            if let Some(said) = claim.split("voffset ").nth(1) {
                let said: u16 = said
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|d| d.parse().ok())
                    .expect("a voffset number");
                assert_eq!(said, voffset, "{table}.{name}: comment says voffset {said}");
            }
            let mut rust = rust_type(ty, &enums);
            if default == Some("null") {
                rust = format!("Option<{rust}>");
            }
            fields.push((name.trim().to_string(), voffset, rust));
        }
        tables.insert(table, fields);
    }
    tables
}

/// The tables the code implements, with their fields in voffset order.
fn code_tables() -> BTreeMap<String, Vec<Field>> {
    let listed: [(&str, CodeFields); 16] = [
        ("Entry", fb::Entry::FIELDS),
        ("Hello", fb::Hello::FIELDS),
        ("Vote", fb::Vote::FIELDS),
        ("FollowerInfo", fb::FollowerInfo::FIELDS),
        ("NewEpoch", fb::NewEpoch::FIELDS),
        ("AckEpoch", fb::AckEpoch::FIELDS),
        ("SnapshotChunk", fb::SnapshotChunk::FIELDS),
        ("SnapshotAck", fb::SnapshotAck::FIELDS),
        ("Sync", fb::Sync::FIELDS),
        ("UpToDate", fb::UpToDate::FIELDS),
        ("Proposal", fb::Proposal::FIELDS),
        ("Ack", fb::Ack::FIELDS),
        ("Commit", fb::Commit::FIELDS),
        ("Ping", fb::Ping::FIELDS),
        ("Resync", fb::Resync::FIELDS),
        ("App", fb::App::FIELDS),
    ];
    listed
        .iter()
        .map(|(name, fields)| {
            let mut fields: Vec<Field> = fields
                .iter()
                .map(|(f, v, t)| (f.to_string(), *v, t.replace(' ', "")))
                .collect();
            fields.sort_by_key(|f| f.1);
            (name.to_string(), fields)
        })
        .collect()
}

#[test]
fn every_table_of_the_schema_matches_the_code() {
    let mut schema = schema_tables();
    let frame = schema.remove("Frame").expect("the root table");
    assert_eq!(
        frame,
        vec![("body".to_string(), 4, "Body".to_string())],
        "Frame holds the union alone"
    );
    // A union field takes two slots: its type at the field's voffset, its value after it.
    assert_eq!((fb::FRAME_BODY_TYPE, fb::FRAME_BODY), (4, 6));
    assert_eq!(schema, code_tables());
}

#[test]
fn the_union_discriminants_match_the_code() {
    let (code, _) = strip_comments(SCHEMA);
    let union = blocks(&code, "union ").remove("Body").expect("union Body");
    let in_schema: Vec<(String, u8)> = union
        .iter()
        .map(|(_, member)| {
            let (name, value) = member
                .trim_end_matches(',')
                .split_once('=')
                .expect("Name = N");
            (
                name.trim().to_string(),
                value.trim().parse().expect("a number"),
            )
        })
        .collect();
    let in_code: Vec<(String, u8)> = [
        ("Hello", body::HELLO),
        ("Vote", body::VOTE),
        ("FollowerInfo", body::FOLLOWER_INFO),
        ("NewEpoch", body::NEW_EPOCH),
        ("AckEpoch", body::ACK_EPOCH),
        ("SnapshotChunk", body::SNAPSHOT_CHUNK),
        ("Sync", body::SYNC),
        ("UpToDate", body::UP_TO_DATE),
        ("Proposal", body::PROPOSAL),
        ("Ack", body::ACK),
        ("Commit", body::COMMIT),
        ("Ping", body::PING),
        ("Resync", body::RESYNC),
        ("App", body::APP),
        ("SnapshotAck", body::SNAPSHOT_ACK),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v))
    .collect();
    assert_eq!(in_schema, in_code);
}
