//! How results print: zkCli's layouts (StatPrinter, ACL lines, children lists), with
//! times in UTC so that output does not depend on the machine's zone.

use std::io::Write;

use ringkeeper_engine::{Acl, Stat};

use super::parse::perm_string;
use crate::client::Event;

/// Formats epoch milliseconds as Java's `Date.toString()` does, in UTC
/// (`Thu Jan 01 00:00:00 UTC 1970`).
pub fn java_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        y
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// zkCli's StatPrinter layout.
pub fn write_stat(out: &mut dyn Write, s: &Stat) -> std::io::Result<()> {
    writeln!(out, "cZxid = 0x{:x}", s.czxid)?;
    writeln!(out, "ctime = {}", java_date(s.ctime))?;
    writeln!(out, "mZxid = 0x{:x}", s.mzxid)?;
    writeln!(out, "mtime = {}", java_date(s.mtime))?;
    writeln!(out, "pZxid = 0x{:x}", s.pzxid)?;
    writeln!(out, "cversion = {}", s.cversion)?;
    writeln!(out, "dataVersion = {}", s.version)?;
    writeln!(out, "aclVersion = {}", s.aversion)?;
    writeln!(out, "ephemeralOwner = 0x{:x}", s.ephemeral_owner)?;
    writeln!(out, "dataLength = {}", s.data_length)?;
    writeln!(out, "numChildren = {}", s.num_children)
}

/// zkCli's getAcl layout: the id as jute's CSV (`'world,'anyone`), then `: perms`.
pub fn write_acl(out: &mut dyn Write, acl: &[Acl]) -> std::io::Result<()> {
    for a in acl {
        writeln!(out, "'{},'{}", a.id.scheme, a.id.id)?;
        writeln!(out, ": {}", perm_string(a.perms))?;
    }
    Ok(())
}

/// Children as Java prints a sorted list: `[a, b]`.
pub fn children_list(children: &[String]) -> String {
    let mut sorted = children.to_vec();
    sorted.sort();
    format!("[{}]", sorted.join(", "))
}

/// Node data as text; null data prints `null` as zkCli does.
pub fn data_text(data: Option<&[u8]>) -> String {
    match data {
        Some(d) => String::from_utf8_lossy(d).into_owned(),
        None => "null".to_string(),
    }
}

fn event_type_name(t: i32) -> String {
    match t {
        -1 => "None".into(),
        1 => "NodeCreated".into(),
        2 => "NodeDeleted".into(),
        3 => "NodeDataChanged".into(),
        4 => "NodeChildrenChanged".into(),
        5 => "DataWatchRemoved".into(),
        6 => "ChildWatchRemoved".into(),
        7 => "PersistentWatchRemoved".into(),
        other => format!("Unknown({other})"),
    }
}

fn state_name(s: i32) -> String {
    match s {
        0 => "Disconnected".into(),
        3 => "SyncConnected".into(),
        4 => "AuthFailed".into(),
        5 => "ConnectedReadOnly".into(),
        6 => "SaslAuthenticated".into(),
        -112 => "Expired".into(),
        7 => "Closed".into(),
        other => format!("Unknown({other})"),
    }
}

/// zkCli's watcher line: `WatchedEvent state:SyncConnected type:NodeDataChanged path:/a`.
pub fn event_line(ev: &Event) -> String {
    let path = if ev.path.is_empty() { "null" } else { &ev.path };
    format!(
        "WatchedEvent state:{} type:{} path:{}",
        state_name(ev.state),
        event_type_name(ev.event_type),
        path
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_java_does_in_utc() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        // 2024-02-29T12:34:56.789Z was a Thursday.
        assert_eq!(java_date(1_709_210_096_789), "Thu Feb 29 12:34:56 UTC 2024");
        assert_eq!(java_date(-1000), "Wed Dec 31 23:59:59 UTC 1969");
    }

    #[test]
    fn children_sort_and_events_name_their_kinds() {
        assert_eq!(
            children_list(&["b".into(), "a".into()]),
            "[a, b]".to_string()
        );
        assert_eq!(children_list(&[]), "[]");
        let ev = Event {
            event_type: 3,
            state: 3,
            path: "/a".into(),
        };
        assert_eq!(
            event_line(&ev),
            "WatchedEvent state:SyncConnected type:NodeDataChanged path:/a"
        );
    }
}
