//! Every configuration key ringkeeper recognises, and what it does with it.
//!
//! The table is the single list the parser classifies keys by, and a unit
//! test checks that each entry is documented in `docs/configuration.md`, so
//! the reference cannot drift from the code.

/// What ringkeeper does with a recognised key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyUse {
    /// Parsed, validated and exposed as a typed field of `Config`.
    Used,
    /// Accepted for compatibility with Apache ZooKeeper configurations, not
    /// acted on; setting it produces a warning.
    Ignored,
    /// A JVM or logging setting that only means something to a Java server;
    /// accepted with a warning.
    Jvm,
}

/// One recognised key, or a family of keys when `prefix` is true (the name
/// then ends with `.` or is matched as a plain prefix, e.g. `server.`).
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub name: &'static str,
    pub prefix: bool,
    pub usage: KeyUse,
}

const fn used(name: &'static str) -> KeySpec {
    KeySpec {
        name,
        prefix: false,
        usage: KeyUse::Used,
    }
}

const fn ignored(name: &'static str) -> KeySpec {
    KeySpec {
        name,
        prefix: false,
        usage: KeyUse::Ignored,
    }
}

const fn ignored_family(name: &'static str) -> KeySpec {
    KeySpec {
        name,
        prefix: true,
        usage: KeyUse::Ignored,
    }
}

const fn jvm_family(name: &'static str) -> KeySpec {
    KeySpec {
        name,
        prefix: true,
        usage: KeyUse::Jvm,
    }
}

const fn jvm(name: &'static str) -> KeySpec {
    KeySpec {
        name,
        prefix: false,
        usage: KeyUse::Jvm,
    }
}

pub const TICK_TIME: &str = "tickTime";
pub const INIT_LIMIT: &str = "initLimit";
pub const SYNC_LIMIT: &str = "syncLimit";
pub const DATA_DIR: &str = "dataDir";
pub const DATA_LOG_DIR: &str = "dataLogDir";
pub const CLIENT_PORT: &str = "clientPort";
pub const CLIENT_PORT_ADDRESS: &str = "clientPortAddress";
pub const CLIENT_PORT_LISTEN_BACKLOG: &str = "clientPortListenBacklog";
pub const SECURE_CLIENT_PORT: &str = "secureClientPort";
pub const MAX_CLIENT_CNXNS: &str = "maxClientCnxns";
pub const MAX_CNXNS: &str = "maxCnxns";
pub const MIN_SESSION_TIMEOUT: &str = "minSessionTimeout";
pub const MAX_SESSION_TIMEOUT: &str = "maxSessionTimeout";
pub const FOUR_LETTER_WHITELIST: &str = "4lw.commands.whitelist";
pub const READ_ONLY_MODE: &str = "readonlymode.enabled";
pub const RECONFIG_ENABLED: &str = "reconfigEnabled";
pub const STANDALONE_ENABLED: &str = "standaloneEnabled";
pub const DYNAMIC_CONFIG_FILE: &str = "dynamicConfigFile";
pub const PEER_TYPE: &str = "peerType";
pub const ELECTION_ALG: &str = "electionAlg";
pub const MULTI_ADDRESS_ENABLED: &str = "multiAddress.enabled";
pub const LOCAL_SESSIONS_ENABLED: &str = "localSessionsEnabled";
pub const LOCAL_SESSIONS_UPGRADING_ENABLED: &str = "localSessionsUpgradingEnabled";
pub const SNAP_RETAIN_COUNT: &str = "autopurge.snapRetainCount";
pub const PURGE_INTERVAL: &str = "autopurge.purgeInterval";
pub const SNAP_COUNT: &str = "snapCount";
pub const FORCE_SYNC: &str = "forceSync";
pub const PRE_ALLOC_SIZE: &str = "preAllocSize";
pub const GLOBAL_OUTSTANDING_LIMIT: &str = "globalOutstandingLimit";
pub const SERVER_PREFIX: &str = "server.";
pub const DYNAMIC_VERSION: &str = "version";
pub const SHARDS: &str = "ringkeeper.shards";
pub const SEQUENCER_CORE: &str = "ringkeeper.sequencerCore";
pub const PACKET_LIMIT: &str = "ringkeeper.packetLimit";
pub const SUPER_DIGEST: &str = "ringkeeper.superDigest";
pub const EXTENDED_TYPES: &str = "ringkeeper.extendedTypes";
pub const MAX_WATCHES_PER_SESSION: &str = "ringkeeper.maxWatchesPerSession";
pub const MAX_SESSIONS: &str = "ringkeeper.maxSessions";
pub const BATCH_BYTES_MAX: &str = "ringkeeper.batchBytesMax";
pub const BATCH_TXNS_MAX: &str = "ringkeeper.batchTxnsMax";
pub const REPLICATION_LOG_WINDOW: &str = "ringkeeper.replication.logWindow";
pub const REPLY_BYTES_MAX: &str = "ringkeeper.replyBytesMax";
pub const QUEUED_REPLY_BYTES_MAX: &str = "ringkeeper.queuedReplyBytesMax";
pub const HANDSHAKE_TIMEOUT: &str = "ringkeeper.handshakeTimeoutMs";
pub const REPORTED_VERSION: &str = "ringkeeper.reportedVersion";
pub const ADMIN_ENABLE_SERVER: &str = "admin.enableServer";
pub const ADMIN_SERVER_ADDRESS: &str = "admin.serverAddress";
pub const ADMIN_SERVER_PORT: &str = "admin.serverPort";
pub const ADMIN_COMMAND_URL: &str = "admin.commandURL";

/// Apache names that set the same thing as one of ringkeeper's own keys:
/// `(alias, canonical key)`. The last setting of either name wins.
pub const ALIASES: &[(&str, &str)] = &[
    ("jute.maxbuffer", PACKET_LIMIT),
    ("DigestAuthenticationProvider.superDigest", SUPER_DIGEST),
    ("extendedTypesEnabled", EXTENDED_TYPES),
];

/// All recognised keys. Order is the documentation's order.
pub const KEYS: &[KeySpec] = &[
    used(TICK_TIME),
    used(INIT_LIMIT),
    used(SYNC_LIMIT),
    used(DATA_DIR),
    used(DATA_LOG_DIR),
    used(CLIENT_PORT),
    used(CLIENT_PORT_ADDRESS),
    used(CLIENT_PORT_LISTEN_BACKLOG),
    used(SECURE_CLIENT_PORT),
    used(MAX_CLIENT_CNXNS),
    used(MAX_CNXNS),
    used(MIN_SESSION_TIMEOUT),
    used(MAX_SESSION_TIMEOUT),
    used(FOUR_LETTER_WHITELIST),
    used(READ_ONLY_MODE),
    used(RECONFIG_ENABLED),
    used(STANDALONE_ENABLED),
    used(DYNAMIC_CONFIG_FILE),
    used(PEER_TYPE),
    used(ELECTION_ALG),
    used(MULTI_ADDRESS_ENABLED),
    used(LOCAL_SESSIONS_ENABLED),
    used(LOCAL_SESSIONS_UPGRADING_ENABLED),
    used(SNAP_RETAIN_COUNT),
    used(PURGE_INTERVAL),
    used(SNAP_COUNT),
    used(FORCE_SYNC),
    used(PRE_ALLOC_SIZE),
    used(GLOBAL_OUTSTANDING_LIMIT),
    KeySpec {
        name: SERVER_PREFIX,
        prefix: true,
        usage: KeyUse::Used,
    },
    used(DYNAMIC_VERSION),
    used("jute.maxbuffer"),
    used("DigestAuthenticationProvider.superDigest"),
    used("extendedTypesEnabled"),
    used(SHARDS),
    used(SEQUENCER_CORE),
    used(PACKET_LIMIT),
    used(SUPER_DIGEST),
    used(EXTENDED_TYPES),
    used(MAX_WATCHES_PER_SESSION),
    used(MAX_SESSIONS),
    used(BATCH_BYTES_MAX),
    used(BATCH_TXNS_MAX),
    used(REPLICATION_LOG_WINDOW),
    used(REPLY_BYTES_MAX),
    used(QUEUED_REPLY_BYTES_MAX),
    used(HANDSHAKE_TIMEOUT),
    used(REPORTED_VERSION),
    used(ADMIN_ENABLE_SERVER),
    used(ADMIN_SERVER_ADDRESS),
    used(ADMIN_SERVER_PORT),
    used(ADMIN_COMMAND_URL),
    used(super::sasl::JAAS_CONFIG),
    used(super::sasl::SASL_SERVER_SECTION),
    used(super::sasl::SUPER_USER),
    used(super::tls::SECURE_CLIENT_PORT_ADDRESS),
    used(super::tls::KEY_STORE_LOCATION),
    used(super::tls::KEY_STORE_PASSWORD),
    used(super::tls::KEY_STORE_TYPE),
    used(super::tls::TRUST_STORE_LOCATION),
    used(super::tls::TRUST_STORE_PASSWORD),
    used(super::tls::TRUST_STORE_TYPE),
    used(super::tls::CLIENT_AUTH),
    used(super::tls::PROTOCOL),
    used(super::tls::ENABLED_PROTOCOLS),
    used(super::tls::CIPHER_SUITES),
    used(super::tls::HOSTNAME_VERIFICATION),
    used(super::tls::X509_SUPER_USER),
    // Accepted so Apache configurations load, but not acted on.
    ignored_family("ssl."),
    ignored("sslQuorum"),
    ignored("sslQuorumReloadCertFiles"),
    ignored("portUnification"),
    ignored_family("client."),
    ignored_family("authProvider."),
    ignored_family("admin."),
    ignored("serverCnxnFactory"),
    ignored_family("metricsProvider."),
    ignored_family("quorum."),
    ignored("quorumListenOnAllIPs"),
    ignored("syncEnabled"),
    ignored("connectToLearnerMasterLimit"),
    ignored("observerMasterPort"),
    ignored_family("multiAddress."),
    ignored("oraclePath"),
    ignored_family("group."),
    ignored_family("weight."),
    ignored_family("jvm.pause."),
    ignored("skipACL"),
    ignored("requireClientAuthScheme"),
    ignored("sessionRequireClientSASLAuth"),
    ignored_family("enforce.auth."),
    ignored("audit.enable"),
    ignored_family("digest."),
    ignored("snapshot.trust.empty"),
    ignored("snapshot.compression.method"),
    ignored("cnxTimeout"),
    ignored("electionPortBindRetry"),
    ignored("tcpKeepAlive"),
    ignored("clientTcpKeepAlive"),
    ignored_family("netty."),
    ignored_family("kerberos."),
    ignored("commitLogCount"),
    ignored("snapSizeLimitInKb"),
    ignored("txnLogSizeLimitInKb"),
    ignored("fsync.warningthresholdms"),
    ignored("leaderServes"),
    ignored("maxResponseCacheSize"),
    ignored("maxGetChildrenResponseCacheSize"),
    ignored_family("request_throttle"),
    ignored_family("connection_throttle"),
    ignored("flushDelay"),
    ignored("maxWriteQueuePollTime"),
    ignored("maxBatchSize"),
    ignored("watchManagerName"),
    ignored("closeSessionTxn.enabled"),
    // JVM and logging settings a Java launcher passes as -D.
    jvm("file.encoding"),
    jvm_family("java."),
    jvm_family("javax."),
    jvm_family("sun."),
    jvm_family("com.sun."),
    jvm_family("log4j."),
    jvm_family("logback."),
    jvm_family("log."),
    jvm("root.logger"),
    jvm_family("jmx."),
];

/// Maps an alias to its canonical key; other keys are returned unchanged.
pub fn canonical(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map(|(_, target)| *target)
        .unwrap_or(key)
}

/// Finds the table entry for a key: an exact entry first, then the longest
/// matching family.
pub fn lookup(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter()
        .find(|spec| !spec.prefix && spec.name == key)
        .or_else(|| {
            KEYS.iter()
                .filter(|spec| spec.prefix && key.starts_with(spec.name))
                .max_by_key(|spec| spec.name.len())
        })
}

/// How a key is written in the documentation: a family as `name*`.
#[cfg(test)]
pub fn doc_name(spec: &KeySpec) -> String {
    if spec.prefix {
        format!("{}*", spec.name)
    } else {
        spec.name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_entries_win_over_families() {
        assert_eq!(
            lookup(MULTI_ADDRESS_ENABLED).map(|s| s.usage),
            Some(KeyUse::Used)
        );
        assert_eq!(
            lookup("multiAddress.reachabilityCheckEnabled").map(|s| s.usage),
            Some(KeyUse::Ignored)
        );
        assert_eq!(lookup("server.3").map(|s| s.name), Some(SERVER_PREFIX));
        assert_eq!(
            lookup("java.security.krb5.conf").map(|s| s.usage),
            Some(KeyUse::Jvm)
        );
        assert!(lookup("noSuchKey").is_none());
    }

    #[test]
    fn aliases_resolve_to_used_keys() {
        for (alias, target) in ALIASES {
            assert_eq!(canonical(alias), *target);
            assert_eq!(lookup(target).map(|s| s.usage), Some(KeyUse::Used));
        }
        assert_eq!(canonical(TICK_TIME), TICK_TIME);
    }

    #[test]
    fn no_duplicate_entries() {
        let mut names: Vec<String> = KEYS.iter().map(doc_name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
