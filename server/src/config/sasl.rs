//! The SASL keys: where the JAAS file is (`java.security.auth.login.config`, which
//! Apache's launcher passes as a `-D` system property), which of its sections holds the
//! server's users (`zookeeper.sasl.serverconfig`), and which SASL user is the super user
//! (`zookeeper.superUser`). The JAAS file itself is read here, at start-up, so a file that
//! cannot be used stops the server with a clear message, as it stops Apache's.

use std::path::PathBuf;
use std::sync::Arc;

use ringkeeper_engine::acl::AclSchemes;

use super::settings::Settings;
use super::ConfigError;
use crate::peer::auth::PeerSasl;
use crate::sasl::{jaas, SaslServerConfig, DEFAULT_SERVER_SECTION};

pub use super::names::sasl::*;

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

/// Quorum SASL (`quorum.auth.*`) when `quorum.auth.enableSasl=true`, as Apache's
/// `QuorumPeer` sets it up: the JAAS file must hold both login contexts (by default
/// `QuorumServer`, with `user_<name>` entries, and `QuorumLearner`, with `username` and
/// `password`), with DIGEST-MD5; Kerberos is refused. A `*RequireSasl=true` without
/// `enableSasl=true` is refused too, as Apache refuses it.
pub(super) fn quorum_sasl_from_settings(
    settings: &Settings,
) -> Result<Option<Arc<PeerSasl>>, ConfigError> {
    let enabled = settings.boolean(QUORUM_ENABLE_SASL)?.unwrap_or(false);
    let learner_require = settings
        .boolean(QUORUM_LEARNER_REQUIRE_SASL)?
        .unwrap_or(false);
    let server_require = settings
        .boolean(QUORUM_SERVER_REQUIRE_SASL)?
        .unwrap_or(false);
    let inconsistent = |key: &str, reason: String| ConfigError::Inconsistent {
        reason,
        origin: settings.origin_of(key),
    };
    if !enabled {
        if let Some(key) = [
            (QUORUM_LEARNER_REQUIRE_SASL, learner_require),
            (QUORUM_SERVER_REQUIRE_SASL, server_require),
        ]
        .iter()
        .find_map(|(k, on)| on.then_some(*k))
        {
            return Err(inconsistent(
                key,
                format!("{key}=true needs {QUORUM_ENABLE_SASL}=true"),
            ));
        }
        return Ok(None);
    }
    if let Some(s) = settings.get(QUORUM_KERBEROS_PRINCIPAL) {
        return Err(s.invalid(
            "Kerberos (GSSAPI) quorum authentication is not supported; members authenticate with DIGEST-MD5 (DigestLoginModule in the JAAS file)",
        ));
    }
    let Some(file) = settings.get(JAAS_CONFIG).filter(|s| !s.value.is_empty()) else {
        return Err(inconsistent(
            QUORUM_ENABLE_SASL,
            format!("{QUORUM_ENABLE_SASL}=true needs {JAAS_CONFIG}: the JAAS file with the QuorumServer and QuorumLearner sections"),
        ));
    };
    let path = PathBuf::from(&file.value);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| file.invalid(format!("cannot read {}: {e}", path.display())))?;
    let sections = jaas::parse(&text).map_err(|e| file.invalid(e.to_string()))?;
    let context = |key: &str, default: &str| {
        settings
            .get(key)
            .map(|s| s.value.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    let server_context = context(QUORUM_SERVER_CONTEXT, "QuorumServer");
    let learner_context = context(QUORUM_LEARNER_CONTEXT, "QuorumLearner");
    for name in [&server_context, &learner_context] {
        check_digest_section(&sections, name).map_err(|why| file.invalid(why))?;
    }
    let users = jaas::server_users(&sections, &server_context).unwrap_or_default();
    let learner = jaas::client_credentials(&sections, &learner_context)
        .flatten()
        .ok_or_else(|| {
            file.invalid(format!(
                "section {learner_context} needs username=\"...\" and password=\"...\""
            ))
        })?;
    Ok(Some(Arc::new(PeerSasl {
        learner_require,
        server_require,
        learner,
        server: SaslServerConfig::new(path, users, None),
    })))
}

/// A login context must exist and use DIGEST-MD5 (Apache's `DigestLoginModule`): another
/// module means Kerberos, which ringkeeper does not do.
fn check_digest_section(sections: &[jaas::Section], name: &str) -> Result<(), String> {
    let section = sections
        .iter()
        .rev()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("has no {name} section, which quorum SASL needs"))?;
    match section
        .entries
        .iter()
        .find(|e| !e.module.ends_with("DigestLoginModule"))
    {
        Some(e) => Err(format!(
            "section {name} uses {}; only DigestLoginModule (DIGEST-MD5) is supported for quorum SASL, Kerberos (GSSAPI) is not",
            e.module
        )),
        None => Ok(()),
    }
}
