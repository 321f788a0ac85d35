//! What a failed command prints and which exit code a script sees. The messages follow
//! zkCli's (`CliWrapperException`) where it has one, so that operators' habits and greps
//! keep working; every other ZooKeeper code gets a sentence of its own.

use ringkeeper_engine::ErrorCode;

use crate::client::ClientError;

/// The exit code classes of one-shot mode. Each class is one thing a script may want to
/// react to differently; `docs/cli.md` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    Ok = 0,
    /// The command line was wrong: unknown command, missing or malformed argument.
    Usage = 1,
    /// No server could be reached, the connection dropped, or no reply came in time.
    Connection = 2,
    NoNode = 3,
    NodeExists = 4,
    BadVersion = 5,
    NotEmpty = 6,
    /// NoAuth, AuthFailed, SessionClosedRequireSaslAuth.
    Auth = 7,
    /// SessionExpired, SessionMoved, UnknownSession.
    Session = 8,
    /// The server refused the request as invalid or unsupported: BadArguments,
    /// InvalidACL, Unimplemented, NoChildrenForEphemerals, QuotaExceeded, ...
    Refused = 9,
    /// A server-side failure or a reply this client could not read.
    Server = 10,
}

impl ExitClass {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// A failed command: the message for the operator and the exit class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub class: ExitClass,
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            class: ExitClass::Usage,
            message: message.into(),
        }
    }

    /// A client error while working on `path` (empty when the command names none).
    pub fn from_client(err: &ClientError, path: &str) -> Self {
        match err {
            ClientError::Server(code) => CliError {
                class: class_of(*code),
                message: message_for(*code, path),
            },
            ClientError::UnknownCode(code) => CliError {
                class: ExitClass::Server,
                message: format!("Unknown error code {code} from the server: {path}"),
            },
            ClientError::Connection(why) => CliError {
                class: ExitClass::Connection,
                message: format!("Connection lost or refused: {why}"),
            },
            ClientError::SessionExpired => CliError {
                class: ExitClass::Session,
                message: "Session expired: run `connect` to open a new session".to_string(),
            },
            ClientError::Timeout => CliError {
                class: ExitClass::Connection,
                message: format!("No reply from the server within the session timeout: {path}"),
            },
            ClientError::Protocol(why) => CliError {
                class: ExitClass::Server,
                message: format!("Could not read the server's reply: {why}"),
            },
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit class of a ZooKeeper error code.
pub fn class_of(code: ErrorCode) -> ExitClass {
    use ErrorCode::*;
    match code {
        Ok => ExitClass::Ok,
        NoNode => ExitClass::NoNode,
        NodeExists => ExitClass::NodeExists,
        BadVersion => ExitClass::BadVersion,
        NotEmpty => ExitClass::NotEmpty,
        NoAuth | AuthFailed | SessionClosedRequireSaslAuth => ExitClass::Auth,
        SessionExpired | SessionMoved | UnknownSession => ExitClass::Session,
        ConnectionLoss | OperationTimeout | RequestTimeout => ExitClass::Connection,
        BadArguments
        | InvalidAcl
        | Unimplemented
        | NoChildrenForEphemerals
        | NotReadOnly
        | EphemeralOnLocalSession
        | NoWatcher
        | QuotaExceeded
        | ThrottledOp
        | ReconfigDisabled
        | ReconfigInProgress
        | NewConfigNoQuorum
        | InvalidCallback => ExitClass::Refused,
        SystemError | RuntimeInconsistency | DataInconsistency | MarshallingError | ApiError => {
            ExitClass::Server
        }
    }
}

/// The operator's message for `code` about `path`.
pub fn message_for(code: ErrorCode, path: &str) -> String {
    use ErrorCode::*;
    let what = match code {
        Ok => "OK",
        SystemError => "The server failed with a system error",
        RuntimeInconsistency => "The server found a runtime inconsistency",
        DataInconsistency => "The server found its data inconsistent",
        ConnectionLoss => "Connection to the server lost",
        MarshallingError => "The server could not read the request (marshalling error)",
        Unimplemented => "The server does not implement this operation",
        OperationTimeout => "The operation timed out",
        BadArguments => "Arguments are not valid :",
        UnknownSession => "The session is unknown to the server",
        NewConfigNoQuorum => {
            "No quorum of the new configuration is connected and up to date with the leader"
        }
        ReconfigInProgress => "Another reconfiguration is in progress",
        ApiError => "API error",
        NoNode => "Node does not exist:",
        NoAuth => "Insufficient permission :",
        BadVersion => "version No is not valid :",
        NoChildrenForEphemerals => "Ephemerals cannot have children:",
        NodeExists => "Node already exists:",
        NotEmpty => "Node not empty:",
        SessionExpired => "Session expired",
        InvalidCallback => "Invalid callback",
        InvalidAcl => "Acl is not valid :",
        AuthFailed => "Authentication failed",
        SessionMoved => "The session moved to another server",
        NotReadOnly => "Not a read-only call:",
        EphemeralOnLocalSession => "Ephemeral nodes cannot be created on a local session",
        NoWatcher => "No such watcher:",
        RequestTimeout => "The request timed out",
        ReconfigDisabled => "Reconfiguration is disabled on the server",
        SessionClosedRequireSaslAuth => "The server requires SASL authentication; session closed",
        QuotaExceeded => "Quota has exceeded :",
        ThrottledOp => "The server is throttling requests; retry later",
    };
    if path.is_empty() {
        what.trim_end_matches([' ', ':']).to_string()
    } else if what.ends_with(':') {
        format!("{what} {path}")
    } else {
        format!("{what}: {path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the server may send, taken from the engine's table.
    fn all_codes() -> Vec<ErrorCode> {
        (-130..=0).filter_map(ErrorCode::from_code).collect()
    }

    #[test]
    fn every_error_code_has_a_message_and_a_non_zero_class() {
        for code in all_codes() {
            let msg = message_for(code, "/p");
            assert!(msg.ends_with("/p"), "{code:?}: {msg}");
            if code != ErrorCode::Ok {
                assert!(msg.len() > 10, "{code:?}: {msg}");
                assert_ne!(class_of(code), ExitClass::Ok, "{code:?}");
            }
        }
    }

    #[test]
    fn zkcli_wording_is_kept_for_common_errors() {
        assert_eq!(
            message_for(ErrorCode::NoNode, "/a"),
            "Node does not exist: /a"
        );
        assert_eq!(
            message_for(ErrorCode::BadVersion, "/a"),
            "version No is not valid : /a"
        );
        assert_eq!(
            message_for(ErrorCode::SessionExpired, ""),
            "Session expired"
        );
    }
}
