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
    /// acted on; setting it produces a warning with the entry's reason.
    Ignored,
    /// Accepted only with this value (Apache's default, which is what ringkeeper
    /// does); any other value stops the server with the entry's reason, because
    /// running on while ignoring it would weaken what the operator asked for.
    OnlyValue(&'static str),
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
    /// Why ringkeeper does not act on the key; empty for used keys.
    pub reason: &'static str,
}

const fn used(name: &'static str) -> KeySpec {
    KeySpec {
        name,
        prefix: false,
        usage: KeyUse::Used,
        reason: "",
    }
}

const fn ignored(name: &'static str, reason: &'static str) -> KeySpec {
    KeySpec {
        name,
        prefix: false,
        usage: KeyUse::Ignored,
        reason,
    }
}

const fn used_family(name: &'static str) -> KeySpec {
    KeySpec {
        name,
        prefix: true,
        usage: KeyUse::Used,
        reason: "",
    }
}

const fn ignored_family(name: &'static str, reason: &'static str) -> KeySpec {
    KeySpec {
        name,
        prefix: true,
        usage: KeyUse::Ignored,
        reason,
    }
}

const fn only_value(name: &'static str, value: &'static str, reason: &'static str) -> KeySpec {
    KeySpec {
        name,
        prefix: false,
        usage: KeyUse::OnlyValue(value),
        reason,
    }
}

/// The reason every JVM entry shares.
const JVM_REASON: &str = "a Java or logging setting; ringkeeper is no JVM";

const fn jvm_family(name: &'static str) -> KeySpec {
    KeySpec {
        name,
        prefix: true,
        usage: KeyUse::Jvm,
        reason: JVM_REASON,
    }
}

const fn jvm(name: &'static str) -> KeySpec {
    KeySpec {
        name,
        prefix: false,
        usage: KeyUse::Jvm,
        reason: JVM_REASON,
    }
}

// Reasons shared by several entries.
const PEER_PROTOCOL: &str = "tunes Apache's peer protocol and election; ringkeeper's members speak their own (docs/replication.md)";
const QUORUM_TLS: &str = "a Java TLS setting with no counterpart in ringkeeper's quorum TLS (rustls): member certificates are always required and verified against ssl.quorum.trustStore";
const QUORUM_RELOAD: &str = "the quorum stores are read at start-up; restart a member to load new certificates (docs/operations.md)";
const QUORUM_AUTH: &str = "a quorum SASL setting ringkeeper does not use (DIGEST-MD5 only)";
const PORT_UNIFICATION_QUORUM: &str = "a quorum port that accepts TLS and plain text at once is not implemented; change an ensemble from plain to TLS links as docs/operations.md (Securing an ensemble) says";
const OBSERVER_MASTER: &str = "observers follow the leader itself; followers serving observers (Apache's observer masters) are not implemented";
const OBSERVER_SYNC: &str =
    "an observer always logs the committed stream it receives (Apache's default, syncEnabled=true)";
const OBSERVER_DELAY: &str = "an observer that loses its leader asks the voters for the new one at once and at every election retry, with no extra delay";
const JAVA_CLASS: &str = "names a Java class; ringkeeper has one built-in implementation";
const JAVA_TUNING: &str = "tunes Java threads or buffers ringkeeper does not have";
const THROTTLES: &str = "Apache's request and connection throttlers are not implemented; globalOutstandingLimit, maxClientCnxns and maxCnxns bound the load";
const KERBEROS: &str = "Kerberos (GSSAPI) is not implemented; SASL DIGEST-MD5 is";
const GROUP_COMMIT: &str =
    "log flushes are batched by ringkeeper.batchBytesMax and ringkeeper.batchTxnsMax";
const WATCH_MANAGER: &str =
    "tunes Apache's watch manager; ringkeeper's watches are removed with their session";
const PORT_UNIFICATION: &str =
    "TLS and plain text on one port is not implemented; TLS clients use secureClientPort";

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
pub const METRICS_CLASS_NAME: &str = "metricsProvider.className";
pub const METRICS_HTTP_HOST: &str = "metricsProvider.httpHost";
pub const METRICS_HTTP_PORT: &str = "metricsProvider.httpPort";
pub const CONTAINER_CHECK_INTERVAL: &str = "znode.container.checkIntervalMs";
pub const CONTAINER_MAX_PER_MINUTE: &str = "znode.container.maxPerMinute";
pub const CONTAINER_MAX_NEVER_USED_INTERVAL: &str = "znode.container.maxNeverUsedIntervalMs";

/// Apache names that set the same thing as one of ringkeeper's own keys:
/// `(alias, canonical key)`. The last setting of either name wins.
pub const ALIASES: &[(&str, &str)] = &[
    ("jute.maxbuffer", PACKET_LIMIT),
    ("DigestAuthenticationProvider.superDigest", SUPER_DIGEST),
    ("extendedTypesEnabled", EXTENDED_TYPES),
    ("nio.sessionlessCnxnTimeout", HANDSHAKE_TIMEOUT),
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
        reason: "",
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
    used(METRICS_CLASS_NAME),
    used(METRICS_HTTP_HOST),
    used(METRICS_HTTP_PORT),
    used(super::names::sasl::JAAS_CONFIG),
    used(super::names::sasl::SASL_SERVER_SECTION),
    used(super::names::sasl::SUPER_USER),
    used(super::names::tls::SECURE_CLIENT_PORT_ADDRESS),
    used(super::names::tls::KEY_STORE_LOCATION),
    used(super::names::tls::KEY_STORE_PASSWORD),
    used(super::names::tls::KEY_STORE_PASSWORD_PATH),
    used(super::names::tls::KEY_STORE_TYPE),
    used(super::names::tls::TRUST_STORE_LOCATION),
    used(super::names::tls::TRUST_STORE_PASSWORD),
    used(super::names::tls::TRUST_STORE_PASSWORD_PATH),
    used(super::names::tls::TRUST_STORE_TYPE),
    used(super::names::tls::QUORUM_KEY_STORE_LOCATION),
    used(super::names::tls::QUORUM_KEY_STORE_PASSWORD),
    used(super::names::tls::QUORUM_KEY_STORE_PASSWORD_PATH),
    used(super::names::tls::QUORUM_KEY_STORE_TYPE),
    used(super::names::tls::QUORUM_TRUST_STORE_LOCATION),
    used(super::names::tls::QUORUM_TRUST_STORE_PASSWORD),
    used(super::names::tls::QUORUM_TRUST_STORE_PASSWORD_PATH),
    used(super::names::tls::QUORUM_TRUST_STORE_TYPE),
    used(super::names::tls::CLIENT_AUTH),
    used(super::names::tls::PROTOCOL),
    used(super::names::tls::ENABLED_PROTOCOLS),
    used(super::names::tls::CIPHER_SUITES),
    used(super::names::tls::HOSTNAME_VERIFICATION),
    used(super::names::tls::X509_SUPER_USER),
    used("nio.sessionlessCnxnTimeout"),
    used(CONTAINER_CHECK_INTERVAL),
    used(CONTAINER_MAX_PER_MINUTE),
    used(CONTAINER_MAX_NEVER_USED_INTERVAL),
    // Accepted so Apache configurations load, but not acted on.
    ignored_family("ssl.", "a Java TLS setting with no counterpart in ringkeeper's TLS (rustls)"),
    ignored_family("ssl.quorum.", QUORUM_TLS),
    ignored("ssl.crl", "certificate revocation lists are not checked yet: a revoked client certificate that chains to the trust store is accepted"),
    ignored("ssl.ocsp", "OCSP is not checked yet: a revoked client certificate that chains to the trust store is accepted"),
    ignored("ssl.context.supplier.class", JAVA_CLASS),
    ignored("ssl.authProvider", "certificate clients always get the built-in x509 scheme"),
    ignored("ssl.handshakeDetectionTimeoutMillis", PORT_UNIFICATION),
    used(super::names::tls::SSL_QUORUM),
    used(super::names::tls::QUORUM_PROTOCOL),
    used(super::names::tls::QUORUM_ENABLED_PROTOCOLS),
    used(super::names::tls::QUORUM_CIPHER_SUITES),
    used(super::names::tls::QUORUM_HOSTNAME_VERIFICATION),
    ignored("sslQuorumReloadCertFiles", QUORUM_RELOAD),
    only_value("portUnification", "false", PORT_UNIFICATION_QUORUM),
    ignored_family("client.", "a client-side setting; client.portUnification: TLS and plain text on one port is not implemented"),
    // Read for the ACL schemes they register (`sasl`, `x509`); other classes do nothing.
    used_family("authProvider."),
    ignored_family("admin.", "tunes Jetty (idle timeout, HTTPS, port unification, HTTP version); ringkeeper's admin server is its own"),
    ignored("serverCnxnFactory", JAVA_CLASS),
    ignored_family("metricsProvider.", "tunes Apache's Java exporter (JVM info, worker threads, queue sizes); ringkeeper's metrics port has its own fixed limits (see metrics.md)"),
    ignored_family("quorum.", QUORUM_AUTH),
    used(super::names::sasl::QUORUM_ENABLE_SASL),
    used(super::names::sasl::QUORUM_LEARNER_REQUIRE_SASL),
    used(super::names::sasl::QUORUM_SERVER_REQUIRE_SASL),
    used(super::names::sasl::QUORUM_LEARNER_CONTEXT),
    used(super::names::sasl::QUORUM_SERVER_CONTEXT),
    used(super::names::sasl::QUORUM_KERBEROS_PRINCIPAL),
    ignored("quorum.cnxn.threads.size", JAVA_TUNING),
    ignored("quorumListenOnAllIPs", "members bind the quorum and election addresses of their server.N line"),
    ignored("syncEnabled", OBSERVER_SYNC),
    ignored("observer.syncEnabled", OBSERVER_SYNC),
    ignored_family("observer.", OBSERVER_DELAY),
    ignored_family("observerMaster.", OBSERVER_MASTER),
    ignored("connectToLearnerMasterLimit", OBSERVER_MASTER),
    ignored("observerMasterPort", OBSERVER_MASTER),
    ignored_family("multiAddress.", "a member dials the addresses of a server.N line in turn and moves to the next when a dial fails or a connection is lost (stall or silence deadline), instead of Apache's reachability check before dialing"),
    ignored("oraclePath", "the two-member oracle is not implemented"),
    ignored_family("group.", "hierarchical quorums are not implemented: every participant has one vote and a majority decides"),
    ignored_family("weight.", "hierarchical quorums are not implemented: every participant has one vote and a majority decides"),
    ignored_family("jvm.pause.", "monitors JVM pauses; ringkeeper has no garbage collector"),
    ignored("skipACL", "ACLs are always checked; turning them off is not offered"),
    ignored("requireClientAuthScheme", "not implemented (see enforce.auth.enabled)"),
    only_value("sessionRequireClientSASLAuth", "false", "requiring SASL of every session is not implemented; starting without it would let unauthenticated clients in"),
    only_value("enforce.auth.enabled", "false", "enforcing authentication schemes is not implemented; starting without it would let unauthenticated clients in"),
    ignored("enforce.auth.schemes", "read only with enforce.auth.enabled=true, which is refused"),
    ignored_family("audit.", "there is no audit log yet"),
    ignored_family("digest.", "Apache's tree digest is not kept; ringkeeper's snapshots and log records carry their own checksums"),
    ignored("snapshot.trust.empty", "not needed: a store without a snapshot is recovered from its log alone"),
    ignored("snapshot.compression.method", "ringkeeper's own snapshot format is written uncompressed"),
    ignored("snapshotSizeFactor", "snapshots are taken every snapCount transactions"),
    ignored("cnxTimeout", PEER_PROTOCOL),
    ignored("electionPortBindRetry", PEER_PROTOCOL),
    ignored("tcpKeepAlive", PEER_PROTOCOL),
    ignored("quorumCnxnTimeoutMs", PEER_PROTOCOL),
    ignored("leaderConnectDelayDuringRetryMs", PEER_PROTOCOL),
    ignored("forceSnapshotSync", PEER_PROTOCOL),
    ignored("forward_learner_requests_to_commit_processor_disabled", PEER_PROTOCOL),
    ignored_family("fastleader.", PEER_PROTOCOL),
    ignored_family("leader.", PEER_PROTOCOL),
    ignored_family("learner.", PEER_PROTOCOL),
    ignored_family("follower.", PEER_PROTOCOL),
    ignored("controllerPort", "Apache's test controller is not part of ringkeeper"),
    ignored("clientTcpKeepAlive", "not implemented; sessions are kept alive by client pings"),
    ignored_family("netty.", JAVA_TUNING),
    ignored_family("nio.", JAVA_TUNING),
    ignored_family("commitProcessor.", JAVA_TUNING),
    ignored("intBufferStartingSizeBytes", JAVA_TUNING),
    ignored_family("kerberos.", KERBEROS),
    ignored("kinit", KERBEROS),
    ignored("requireKerberosConfig", KERBEROS),
    ignored("security.auth_to_local", KERBEROS),
    ignored("allowSaslFailedClients", "a failed SASL login always closes the connection, as with Apache's default"),
    ignored("letAnySaslUserDoX", "not implemented: SASL users get only the ACLs that name them"),
    ignored("SASLAuthenticationProvider.superPassword", "not implemented; the super user is set by superUser or DigestAuthenticationProvider.superDigest"),
    only_value("DigestAuthenticationProvider.digestAlg", "SHA1", "digest ids are SHA-1 hashes; ACLs written with another algorithm would never match"),
    only_value("DigestAuthenticationProvider.enabled", "true", "the digest scheme is always on; clients relying on it being off would be surprised"),
    only_value("enforceQuota", "false", "quotas are recorded but not enforced yet"),
    ignored("emulate353TTLNodes", "the TTL encoding of 3.5.3 is not supported; TTL nodes use the 3.5.4+ encoding"),
    ignored("enableEagerACLCheck", "ACLs are checked when each operation runs, Apache's default"),
    ignored("ensembleAuthName", "the ensemble-name auth provider is not implemented"),
    ignored("jute.maxbuffer.extrasize", "the reply size allowance is ringkeeper.replyBytesMax"),
    ignored("largeRequestMaxBytes", "ringkeeper.packetLimit bounds each request; there is no separate budget for large ones"),
    ignored("largeRequestThreshold", "ringkeeper.packetLimit bounds each request; there is no separate budget for large ones"),
    ignored("datadir.autocreate", "dataDir is always created when missing"),
    ignored("db.autocreate", "an empty store is always created when missing"),
    ignored("testingonly.initialZxid", "a test-only Apache hook"),
    ignored("commitLogCount", "a leader keeps ringkeeper.replication.logWindow proposals to sync followers by diff"),
    ignored("snapSizeLimitInKb", "a follower further behind than ringkeeper.replication.logWindow gets a snapshot"),
    ignored("txnLogSizeLimitInKb", "log segments roll at 64 MiB"),
    ignored("fsync.warningthresholdms", "slow fsyncs are not reported yet; mntr shows the commit latency"),
    ignored("leaderServes", "the leader always serves clients"),
    ignored("maxResponseCacheSize", "there is no response cache: every reply is encoded for its request"),
    ignored("maxGetChildrenResponseCacheSize", "there is no response cache: every reply is encoded for its request"),
    ignored_family("request_throttle", THROTTLES),
    ignored_family("request_stale", THROTTLES),
    ignored_family("connection_throttle", THROTTLES),
    ignored("throttled_op_wait_time", THROTTLES),
    ignored("flushDelay", GROUP_COMMIT),
    ignored("maxWriteQueuePollTime", GROUP_COMMIT),
    ignored("maxBatchSize", GROUP_COMMIT),
    ignored("watchManagerName", WATCH_MANAGER),
    ignored_family("watcherClean", WATCH_MANAGER),
    ignored("maxInProcessingDeadWatchers", WATCH_MANAGER),
    ignored("bitHashCacheSize", WATCH_MANAGER),
    ignored("closeSessionTxn.enabled", "a closeSession is always logged so that replay deletes the session's ephemerals"),
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
