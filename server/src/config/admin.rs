//! The admin HTTP server's keys (`admin.*`), read the way Apache's
//! `JettyAdminServer` reads them, with one deliberate difference in when the
//! server runs at all.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::keys;
use super::settings::Settings;
use super::ConfigError;

/// Apache's default `admin.serverPort`.
pub const DEFAULT_ADMIN_PORT: u16 = 8080;
/// Apache's default `admin.commandURL`.
pub const DEFAULT_COMMAND_URL: &str = "/commands";
/// Paths the admin server answers itself, which the command URL must not hide.
pub const RESERVED_ADMIN_PATHS: [&str; 3] = ["/ready", "/health", "/metrics"];

/// Where and whether the admin HTTP server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminConfig {
    /// Whether the admin server runs.
    pub enabled: bool,
    /// `admin.serverAddress:admin.serverPort`.
    pub address: SocketAddr,
    /// The prefix of `/<prefix>/<command>` URLs, starting with `/` and with
    /// no trailing `/`.
    pub command_url: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: false,
            address: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_ADMIN_PORT),
            command_url: DEFAULT_COMMAND_URL.to_owned(),
        }
    }
}

impl AdminConfig {
    /// Reads the `admin.*` keys. Apache starts its admin server unless told
    /// not to, on 0.0.0.0:8080. ringkeeper starts it only when asked, by
    /// `admin.enableServer=true` or by setting `admin.serverPort` or
    /// `admin.serverAddress`: many servers run side by side in tests and on
    /// developer machines, and a port opened on every interface without
    /// anyone asking is a surprise an operator should not have to discover.
    /// An explicit `admin.enableServer=false` always wins.
    pub(super) fn from_settings(settings: &Settings) -> Result<AdminConfig, ConfigError> {
        let defaults = AdminConfig::default();
        let port = settings.port(keys::ADMIN_SERVER_PORT)?;
        let host = settings.text(keys::ADMIN_SERVER_ADDRESS)?;
        let enabled = settings
            .boolean(keys::ADMIN_ENABLE_SERVER)?
            .unwrap_or(port.is_some() || host.is_some());
        let port = port.unwrap_or(DEFAULT_ADMIN_PORT);
        let address = match (&host, settings.get(keys::ADMIN_SERVER_ADDRESS)) {
            (Some(host), Some(setting)) => {
                super::resolve_host(host.trim(), port).map_err(|reason| setting.invalid(reason))?
            }
            _ => SocketAddr::new(defaults.address.ip(), port),
        };
        let command_url = match settings.get(keys::ADMIN_COMMAND_URL) {
            Some(setting) => {
                normalize_command_url(&setting.value).map_err(|reason| setting.invalid(reason))?
            }
            None => defaults.command_url,
        };
        Ok(AdminConfig {
            enabled,
            address,
            command_url,
        })
    }
}

/// Checks a command URL prefix and drops a trailing `/`, so that `/cmds/`
/// and `/cmds` mean the same.
fn normalize_command_url(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    if !trimmed.starts_with('/') {
        return Err("the command URL must start with /".to_owned());
    }
    if trimmed
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return Err("the command URL must be a plain path (no spaces, ? or #)".to_owned());
    }
    let url = trimmed.trim_end_matches('/');
    if url.is_empty() {
        return Err("the command URL must not be / itself".to_owned());
    }
    if RESERVED_ADMIN_PATHS.contains(&url) {
        return Err(format!("{url} is answered by the admin server itself"));
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::normalize_command_url;

    #[test]
    fn command_urls_are_plain_paths_without_a_trailing_slash() {
        assert_eq!(
            normalize_command_url("/commands/").as_deref(),
            Ok("/commands")
        );
        assert_eq!(normalize_command_url(" /a/b ").as_deref(), Ok("/a/b"));
        assert!(normalize_command_url("commands").is_err());
        assert!(normalize_command_url("/").is_err());
        assert!(normalize_command_url("/a b").is_err());
        assert!(normalize_command_url("/metrics").is_err());
    }
}
