//! Gathering raw `key=value` settings from every source, in precedence
//! order, and reading them as typed values with errors that say where the
//! value came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::cli::Cli;
use super::error::{ConfigError, Origin};
use super::keys::{self, KeyUse};
use super::properties;
use super::servers::{self, ServerMember};

/// One raw setting, as last written by any source.
#[derive(Clone, Debug)]
pub(super) struct Setting {
    /// The key as the user wrote it (before alias resolution), for messages.
    pub written_key: String,
    pub value: String,
    pub origin: Origin,
}

impl Setting {
    pub fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            key: self.written_key.clone(),
            value: self.value.clone(),
            origin: self.origin.clone(),
            reason: reason.into(),
        }
    }
}

/// All settings after precedence is applied: zoo.cfg, then the dynamic
/// config file, then `-D`/`--set`, then the named flags; the last wins.
#[derive(Debug, Default)]
pub(super) struct Settings {
    pub config_file: Option<PathBuf>,
    /// Canonical key (aliases resolved) to its winning setting.
    map: BTreeMap<String, Setting>,
    pub warnings: Vec<String>,
    /// Every key the parser asked for, so that a test can hold the key table and the
    /// parser to each other.
    #[cfg(test)]
    pub asked: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl Settings {
    pub fn gather(cli: &Cli) -> Result<Settings, ConfigError> {
        let mut settings = Settings {
            config_file: cli.config.clone(),
            ..Settings::default()
        };
        if let Some(path) = &cli.config {
            let entries = read_properties(path, "config file")?;
            check_static_file(path, &entries)?;
            for p in entries {
                settings.put(
                    p.key,
                    p.value,
                    Origin::File {
                        path: path.clone(),
                        line: p.line,
                    },
                );
            }
        }
        for raw in &cli.set {
            // Java's `-Dname` without `=` sets the property to "".
            let (key, value) = raw.split_once('=').unwrap_or((raw.as_str(), ""));
            // Apache turns unknown zoo.cfg keys into `zookeeper.<key>` system
            // properties, so the two spellings name the same setting.
            let key = key.trim();
            let key = key.strip_prefix("zookeeper.").unwrap_or(key);
            settings.put(
                key.to_owned(),
                value.trim().to_owned(),
                Origin::Flag("-D".to_owned()),
            );
        }
        for (flag, key, value) in cli.key_overrides() {
            settings.put(
                key.to_owned(),
                value.trim().to_owned(),
                Origin::Flag(flag.to_owned()),
            );
        }
        if let Some(dynamic) = settings.get(keys::DYNAMIC_CONFIG_FILE) {
            let path = PathBuf::from(&dynamic.value);
            let entries = read_properties(&path, "dynamic config file")?;
            for p in entries {
                let allowed = p.key.starts_with(keys::SERVER_PREFIX)
                    || p.key.starts_with("group")
                    || p.key.starts_with("weight")
                    || p.key == keys::DYNAMIC_VERSION;
                let origin = Origin::File {
                    path: path.clone(),
                    line: p.line,
                };
                if !allowed {
                    return Err(ConfigError::Inconsistent {
                        reason: format!(
                            "{} does not belong in a dynamic config file (only server.N, group, weight and version do)",
                            p.key
                        ),
                        origin,
                    });
                }
                // The command line still wins over the dynamic file.
                if settings.get(&p.key).is_none() {
                    settings.put(p.key, p.value, origin);
                }
            }
            // A file without a `version` line (what a member writes when it activates a
            // reconfiguration, as Apache's does) has it in its name: `….dynamic.<hex>`.
            if settings.get(keys::DYNAMIC_VERSION).is_none() {
                if let Some(version) = super::dynamic_file::version_in_name(&path) {
                    let origin = Origin::File { path, line: 0 };
                    settings.put(
                        keys::DYNAMIC_VERSION.to_owned(),
                        format!("{version:x}"),
                        origin,
                    );
                }
            }
        }
        settings.classify()?;
        Ok(settings)
    }

    fn put(&mut self, written_key: String, value: String, origin: Origin) {
        let canonical = keys::canonical(&written_key).to_owned();
        self.map.insert(
            canonical,
            Setting {
                written_key,
                value,
                origin,
            },
        );
    }

    /// Warns about every key that will not change ringkeeper's behaviour, with the
    /// reason, and refuses a key whose ignored value would weaken what was asked for.
    fn classify(&mut self) -> Result<(), ConfigError> {
        for (key, setting) in &self.map {
            let at = &setting.origin;
            let written = &setting.written_key;
            let Some(spec) = keys::lookup(key) else {
                self.warnings
                    .push(format!("unknown key {written} ({at}) is ignored"));
                continue;
            };
            match spec.usage {
                KeyUse::Used => {}
                KeyUse::Ignored => self.warnings.push(format!(
                    "{written} ({at}) is accepted for compatibility but not used by ringkeeper: {}",
                    spec.reason
                )),
                KeyUse::OnlyValue(value) if setting.value.eq_ignore_ascii_case(value) => {}
                KeyUse::OnlyValue(value) => {
                    return Err(
                        setting.invalid(format!("only {value} is supported: {}", spec.reason))
                    )
                }
                KeyUse::Jvm => self.warnings.push(format!(
                    "{written} ({at}) is a JVM setting and has no effect on ringkeeper"
                )),
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&Setting> {
        #[cfg(test)]
        self.asked.borrow_mut().insert(key.to_owned());
        self.map.get(key)
    }

    /// Every setting whose canonical key starts with `prefix` (`authProvider.` and the like).
    pub fn family<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Setting> + 'a {
        #[cfg(test)]
        self.asked.borrow_mut().insert(prefix.to_owned());
        self.map
            .iter()
            .filter(move |(key, _)| key.starts_with(prefix))
            .map(|(_, setting)| setting)
    }

    /// The whole config file as an origin, for errors about missing keys.
    pub fn file_origin(&self) -> Origin {
        match &self.config_file {
            Some(path) => Origin::File {
                path: path.clone(),
                line: 0,
            },
            None => Origin::Default,
        }
    }

    pub fn origin_of(&self, key: &str) -> Origin {
        self.get(key)
            .map(|s| s.origin.clone())
            .unwrap_or_else(|| self.file_origin())
    }

    /// A non-empty text value.
    pub fn text(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(s) if s.value.is_empty() => Err(s.invalid("must not be empty")),
            Some(s) => Ok(Some(s.value.clone())),
        }
    }

    pub fn i64_in(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        let Some(s) = self.get(key) else {
            return Ok(None);
        };
        let n: i64 = s.value.parse().map_err(|_| s.invalid("not an integer"))?;
        if n < min || n > max {
            return Err(s.invalid(format!("must be between {min} and {max}")));
        }
        Ok(Some(n))
    }

    pub fn u64_in(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, ConfigError> {
        let Some(s) = self.get(key) else {
            return Ok(None);
        };
        let n: u64 = s
            .value
            .parse()
            .map_err(|_| s.invalid("not a non-negative integer"))?;
        if n < min || n > max {
            return Err(s.invalid(format!("must be between {min} and {max}")));
        }
        Ok(Some(n))
    }

    pub fn u32_in(&self, key: &str, min: u32, max: u32) -> Result<Option<u32>, ConfigError> {
        Ok(self
            .u64_in(key, u64::from(min), u64::from(max))?
            .map(|n| n as u32))
    }

    pub fn port(&self, key: &str) -> Result<Option<u16>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(s) => servers::parse_port(&s.value)
                .map(Some)
                .map_err(|reason| s.invalid(reason)),
        }
    }

    /// `true` or `false`, any case, as Apache's `parseBoolean` demands.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(s) if s.value.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(s) if s.value.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(s) => Err(s.invalid("choose true or false")),
        }
    }

    pub fn hex_u64(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(s) => u64::from_str_radix(&s.value, 16)
                .map(Some)
                .map_err(|_| s.invalid("not a hexadecimal number")),
        }
    }

    /// Every `server.N` line, parsed and sorted by id.
    pub fn servers(&self, multi_address_enabled: bool) -> Result<Vec<ServerMember>, ConfigError> {
        #[cfg(test)]
        self.asked
            .borrow_mut()
            .insert(keys::SERVER_PREFIX.to_owned());
        let mut out = Vec::new();
        for (key, s) in self.map.range(keys::SERVER_PREFIX.to_owned()..) {
            if !key.starts_with(keys::SERVER_PREFIX) {
                break;
            }
            let id = servers::parse_server_id(key).map_err(|reason| s.invalid(reason))?;
            let member = servers::parse_server_line(id, &s.value, multi_address_enabled)
                .map_err(|reason| s.invalid(reason))?;
            out.push(member);
        }
        out.sort_by_key(|m| m.id);
        Ok(out)
    }
}

fn read_properties(
    path: &Path,
    what: &'static str,
) -> Result<Vec<properties::Property>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Unreadable {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    Ok(properties::parse(&properties::decode_text(&bytes)))
}

/// Apache refuses member lines in the static file once a dynamic config file
/// is named: the two lists could disagree.
fn check_static_file(path: &Path, entries: &[properties::Property]) -> Result<(), ConfigError> {
    if !entries.iter().any(|p| p.key == keys::DYNAMIC_CONFIG_FILE) {
        return Ok(());
    }
    match entries.iter().find(|p| {
        p.key.starts_with(keys::SERVER_PREFIX)
            || p.key.starts_with("group")
            || p.key.starts_with("weight")
    }) {
        Some(p) => Err(ConfigError::Inconsistent {
            reason: format!(
                "{} must be in the dynamic config file, since dynamicConfigFile is set",
                p.key
            ),
            origin: Origin::File {
                path: path.to_path_buf(),
                line: p.line,
            },
        }),
        None => Ok(()),
    }
}
