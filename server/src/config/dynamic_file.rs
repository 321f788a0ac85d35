//! Writing a committed reconfiguration down as Apache 3.8's member does when it activates
//! one (`QuorumPeer.setQuorumVerifier` with `writeToDisk`): the member list goes to
//! `<zoo.cfg path>.dynamic.<version in lower-case hex>`, and zoo.cfg is rewritten to name
//! that file in `dynamicConfigFile` and to carry no member keys any more (Apache's
//! `editStaticConfig`). A restart then reads the new membership through the usual loader
//! (`dynamicConfigFile`, its version taken from the file name).
//!
//! The texts are built by pure functions; [`write`] does the I/O, each file through
//! `replace_file` (temp file, fsync, rename, directory fsync), the dynamic file first, so
//! a crash leaves zoo.cfg naming either the old membership or the new, complete file.

use std::path::{Path, PathBuf};

use ringkeeper_engine::storage::{replace_file, FsDir, StorageError};

use super::keys;

/// The dynamic file for `version` next to `config_file`, named as Apache names it:
/// `zoo.cfg` becomes `zoo.cfg.dynamic.1000000a3`.
pub fn dynamic_file_path(config_file: &Path, version: u64) -> PathBuf {
    let mut name = config_file.as_os_str().to_owned();
    name.push(format!(".dynamic.{version:x}"));
    PathBuf::from(name)
}

/// The version a dynamic file's name carries (`….dynamic.<hex>`), as Apache's loader takes
/// it when the file itself has no `version` line; `None` for any other name.
pub fn version_in_name(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let (_, hex) = name.rsplit_once(".dynamic.")?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// The dynamic file's text: the server lines sorted, one per line, without a version line
/// (the name carries it), as Apache's `writeDynamicConfig` writes them.
pub fn dynamic_text(servers: &[String]) -> String {
    let mut lines: Vec<&str> = servers.iter().map(|l| l.trim()).collect();
    lines.sort_unstable();
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// zoo.cfg's text once it points at `dynamic`: every line kept as written (comments and
/// order too, where Apache's rewrite loses both) except the keys Apache's `editStaticConfig`
/// drops (`server.*`, `group*`, `weight*`, `dynamicConfigFile`, `peerType`, and with
/// `erase_client_port` `clientPort*`), then `dynamicConfigFile=<dynamic>`.
pub fn static_text(current: &str, dynamic: &Path, erase_client_port: bool) -> String {
    let mut out = String::new();
    for line in current.lines() {
        let key = line
            .trim_start()
            .split(['=', ':'])
            .next()
            .unwrap_or("")
            .trim();
        let commented = key.starts_with('#') || key.starts_with('!');
        let dropped = !commented
            && (key.starts_with(keys::SERVER_PREFIX)
                || key.starts_with("group")
                || key.starts_with("weight")
                || key.starts_with(keys::DYNAMIC_CONFIG_FILE)
                || key.starts_with("peerType")
                || (erase_client_port && key.starts_with("clientPort")));
        if !dropped {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "{}={}\n",
        keys::DYNAMIC_CONFIG_FILE,
        dynamic.display()
    ));
    out
}

/// Whether zoo.cfg's client port must go, as Apache decides it: this member's own line in
/// the new configuration names a client address (`…;[host:]port`), which then wins.
pub fn own_line_has_client(servers: &[String], my_id: u64) -> bool {
    let prefix = format!("{}{my_id}=", keys::SERVER_PREFIX);
    servers
        .iter()
        .any(|l| l.trim().starts_with(&prefix) && l.contains(';'))
}

/// Writes the configuration `servers` at `version` down for the member `my_id` started
/// with `config_file`: the dynamic file, then zoo.cfg pointing at it. Returns the dynamic
/// file's path. Each step is durable before the next begins.
pub fn write(
    config_file: &Path,
    my_id: u64,
    version: u64,
    servers: &[String],
) -> Result<PathBuf, StorageError> {
    let io = |op: &'static str, path: &Path, e: std::io::Error| {
        StorageError::io(op, path.display().to_string(), e)
    };
    let dir = match config_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Apache writes the file's canonical path into zoo.cfg.
    let dir = std::fs::canonicalize(&dir).map_err(|e| io("canonicalize", &dir, e))?;
    let file_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let (Some(config_name), Some(dynamic_name)) = (
        file_name(config_file),
        file_name(&dynamic_file_path(config_file, version)),
    ) else {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name");
        return Err(io("name", config_file, e));
    };
    let current = std::fs::read(config_file).map_err(|e| io("read", config_file, e))?;
    let current = String::from_utf8_lossy(&current);
    let dynamic = dir.join(&dynamic_name);
    let mut fs = FsDir::open(&dir)?;
    replace_file(&mut fs, &dynamic_name, dynamic_text(servers).as_bytes())?;
    let erase = own_line_has_client(servers, my_id);
    let edited = static_text(&current, &dynamic, erase);
    replace_file(&mut fs, &config_name, edited.as_bytes())?;
    Ok(dynamic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_apache() {
        let path = dynamic_file_path(Path::new("/etc/zk/zoo.cfg"), 0x1_0000_00a3);
        assert_eq!(path, Path::new("/etc/zk/zoo.cfg.dynamic.1000000a3"));
        assert_eq!(version_in_name(&path), Some(0x1_0000_00a3));
        assert_eq!(version_in_name(Path::new("/etc/zk/zoo.cfg")), None);
        assert_eq!(version_in_name(Path::new("zoo.cfg.dynamic.")), None);
        assert_eq!(version_in_name(Path::new("zoo.cfg.dynamic.next")), None);
        assert_eq!(
            version_in_name(Path::new("a.dynamic.12345678901234567")),
            None
        );
    }

    #[test]
    fn static_text_drops_member_keys_and_points_at_the_dynamic_file() {
        let current = "# my ensemble\ntickTime=2000\nserver.1=a:1:2\nserver.2 = b:1:2\n\
                       group.1=1:2\nweight.1=1\npeerType=participant\n\
                       dynamicConfigFile=/old\nclientPort=2181\ndataDir=/d\n";
        let dynamic = Path::new("/etc/zoo.cfg.dynamic.5");
        assert_eq!(
            static_text(current, dynamic, false),
            "# my ensemble\ntickTime=2000\nclientPort=2181\ndataDir=/d\n\
             dynamicConfigFile=/etc/zoo.cfg.dynamic.5\n"
        );
        assert_eq!(
            static_text(current, dynamic, true),
            "# my ensemble\ntickTime=2000\ndataDir=/d\ndynamicConfigFile=/etc/zoo.cfg.dynamic.5\n"
        );
    }

    #[test]
    fn the_client_port_goes_only_when_the_own_line_names_one() {
        let servers = vec![
            "server.1=a:1:2:participant;2181".to_owned(),
            "server.12=b:1:2:participant".to_owned(),
        ];
        assert!(own_line_has_client(&servers, 1));
        assert!(!own_line_has_client(&servers, 12));
        assert!(!own_line_has_client(&servers, 2));
        // Sorted as strings, as Apache's Collections.sort does: '2' < '='.
        assert_eq!(
            dynamic_text(&servers),
            "server.12=b:1:2:participant\nserver.1=a:1:2:participant;2181\n"
        );
    }
}
