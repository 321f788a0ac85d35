//! The names of the zoo.cfg keys that the TLS and SASL settings read. They live below both
//! the key table (`keys`, which says how each key is used) and the readers (`tls`, `sasl`),
//! so that the table can name them without importing the readers that consult it.

/// Keys of the secure client port and of TLS between members.
pub mod tls {
    pub const SECURE_CLIENT_PORT_ADDRESS: &str = "secureClientPortAddress";
    pub const KEY_STORE_LOCATION: &str = "ssl.keyStore.location";
    pub const KEY_STORE_PASSWORD: &str = "ssl.keyStore.password";
    pub const KEY_STORE_PASSWORD_PATH: &str = "ssl.keyStore.passwordPath";
    pub const KEY_STORE_TYPE: &str = "ssl.keyStore.type";
    pub const TRUST_STORE_LOCATION: &str = "ssl.trustStore.location";
    pub const TRUST_STORE_PASSWORD: &str = "ssl.trustStore.password";
    pub const TRUST_STORE_PASSWORD_PATH: &str = "ssl.trustStore.passwordPath";
    pub const TRUST_STORE_TYPE: &str = "ssl.trustStore.type";
    pub const QUORUM_KEY_STORE_LOCATION: &str = "ssl.quorum.keyStore.location";
    pub const QUORUM_KEY_STORE_PASSWORD: &str = "ssl.quorum.keyStore.password";
    pub const QUORUM_KEY_STORE_PASSWORD_PATH: &str = "ssl.quorum.keyStore.passwordPath";
    pub const QUORUM_KEY_STORE_TYPE: &str = "ssl.quorum.keyStore.type";
    pub const QUORUM_TRUST_STORE_LOCATION: &str = "ssl.quorum.trustStore.location";
    pub const QUORUM_TRUST_STORE_PASSWORD: &str = "ssl.quorum.trustStore.password";
    pub const QUORUM_TRUST_STORE_PASSWORD_PATH: &str = "ssl.quorum.trustStore.passwordPath";
    pub const QUORUM_TRUST_STORE_TYPE: &str = "ssl.quorum.trustStore.type";
    pub const CLIENT_AUTH: &str = "ssl.clientAuth";
    pub const PROTOCOL: &str = "ssl.protocol";
    pub const ENABLED_PROTOCOLS: &str = "ssl.enabledProtocols";
    pub const CIPHER_SUITES: &str = "ssl.ciphersuites";
    pub const HOSTNAME_VERIFICATION: &str = "ssl.hostnameVerification";
    pub const SSL_QUORUM: &str = "sslQuorum";
    pub const QUORUM_PROTOCOL: &str = "ssl.quorum.protocol";
    pub const QUORUM_ENABLED_PROTOCOLS: &str = "ssl.quorum.enabledProtocols";
    pub const QUORUM_CIPHER_SUITES: &str = "ssl.quorum.ciphersuites";
    pub const QUORUM_HOSTNAME_VERIFICATION: &str = "ssl.quorum.hostnameVerification";
    /// `zookeeper.X509AuthenticationProvider.superUser` without its `zookeeper.` prefix.
    pub const X509_SUPER_USER: &str = "X509AuthenticationProvider.superUser";
}

/// Keys of client SASL and of SASL between members.
pub mod sasl {
    pub const JAAS_CONFIG: &str = "java.security.auth.login.config";
    pub const SASL_SERVER_SECTION: &str = "sasl.serverconfig";
    pub const SUPER_USER: &str = "superUser";
    pub const QUORUM_ENABLE_SASL: &str = "quorum.auth.enableSasl";
    pub const QUORUM_LEARNER_REQUIRE_SASL: &str = "quorum.auth.learnerRequireSasl";
    pub const QUORUM_SERVER_REQUIRE_SASL: &str = "quorum.auth.serverRequireSasl";
    pub const QUORUM_LEARNER_CONTEXT: &str = "quorum.auth.learner.saslLoginContext";
    pub const QUORUM_SERVER_CONTEXT: &str = "quorum.auth.server.saslLoginContext";
    pub const QUORUM_KERBEROS_PRINCIPAL: &str = "quorum.auth.kerberos.servicePrincipal";
}
