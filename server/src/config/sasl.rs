//! The SASL keys: where the JAAS file is (`java.security.auth.login.config`, which
//! Apache's launcher passes as a `-D` system property), which of its sections holds the
//! server's users (`zookeeper.sasl.serverconfig`), and which SASL user is the super user
//! (`zookeeper.superUser`). The JAAS file itself is read here, at start-up, so a file that
//! cannot be used stops the server with a clear message, as it stops Apache's.

use std::path::PathBuf;

use ringkeeper_engine::acl::AclSchemes;

use super::settings::Settings;
use super::ConfigError;
use crate::sasl::{SaslServerConfig, DEFAULT_SERVER_SECTION};

pub const JAAS_CONFIG: &str = "java.security.auth.login.config";
pub const SASL_SERVER_SECTION: &str = "sasl.serverconfig";
pub const SUPER_USER: &str = "superUser";

/// The ACL schemes Apache would have a provider for: `sasl` when an `authProvider.N` key
/// names `SASLAuthenticationProvider`, `x509` when one names `X509AuthenticationProvider` or
/// a secure client port is configured (Apache then registers it itself).
pub(super) fn acl_schemes(settings: &Settings, secure_client_port: bool) -> AclSchemes {
    let named = |class: &str| {
        settings
            .family("authProvider.")
            .any(|s| s.value.trim().rsplit('.').next() == Some(class))
    };
    AclSchemes {
        sasl: named("SASLAuthenticationProvider"),
        x509: secure_client_port || named("X509AuthenticationProvider"),
    }
}

/// Reads the SASL keys. `Ok(None)` when no JAAS file is named or it has no server section:
/// SASL requests are then refused.
pub(super) fn sasl_from_settings(
    settings: &Settings,
) -> Result<Option<SaslServerConfig>, ConfigError> {
    let Some(file) = settings.get(JAAS_CONFIG) else {
        return Ok(None);
    };
    if file.value.is_empty() {
        return Ok(None);
    }
    let section = settings
        .get(SASL_SERVER_SECTION)
        .map(|s| s.value.clone())
        .unwrap_or_else(|| DEFAULT_SERVER_SECTION.to_owned());
    let super_user = settings
        .get(SUPER_USER)
        .map(|s| s.value.clone())
        .filter(|v| !v.is_empty());
    let path = PathBuf::from(&file.value);
    SaslServerConfig::load(&path, &section, super_user).map_err(|e| file.invalid(e.to_string()))
}
