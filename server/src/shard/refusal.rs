//! Requests a shard answers without running them, the way Apache ZooKeeper 3.8 answers
//! them: opcodes that only the server itself issues, opcodes it does not know, and bodies
//! that do not decode. The conformance tests `server_only_opcodes.rs` and
//! `malformed_requests.rs` check every rule here against Apache.

use ringkeeper_engine::jute::DecodeError;
use ringkeeper_engine::{ErrorCode, OpCode};

/// What the shard does instead of running a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Answers with this code in the request's turn and keeps the connection.
    Answer(ErrorCode),
    /// Answers with this code in the request's turn, then closes the connection, as
    /// Apache's `UnimplementedRequestProcessor` does.
    AnswerAndClose(ErrorCode),
    /// Closes the connection without an answer: Apache's `processPacket` reads auth and
    /// SASL packets itself and lets a parse failure end the connection.
    Close,
}

/// A refusal decided by the opcode alone, before the body is read.
pub(super) fn by_opcode(op: i32) -> Option<Refusal> {
    match OpCode::from_code(op) {
        // The container reaper's own request. Apache reads its body as the raw bytes of
        // the whole packet, request header included, so a client's "path" always holds
        // the header's zero bytes and fails validation: BadArguments, nothing deleted,
        // whatever the body and whatever the ACLs.
        Some(OpCode::DeleteContainer) => Some(Refusal::Answer(ErrorCode::BadArguments)),
        // Apache makes this request itself from a ConnectRequest. A client's has no
        // timeout to read where Apache looks for one: MarshallingError. (With four bytes
        // or more Apache sends the ConnectResponse again, which no client expects and
        // ringkeeper does not copy.)
        Some(OpCode::CreateSession) => Some(Refusal::Answer(ErrorCode::MarshallingError)),
        // Apache's `Request.isValid` knows neither these nor unknown numbers. A second
        // ConnectRequest on an open session lands here too: its first bytes read as
        // xid 0 and opcode 0.
        Some(OpCode::Notification | OpCode::Error) | None => {
            Some(Refusal::AnswerAndClose(ErrorCode::Unimplemented))
        }
        Some(_) => None,
    }
}

/// The refusal of a request of a known opcode whose body did not decode.
pub(super) fn undecodable(op: OpCode, error: &DecodeError) -> Refusal {
    match (op, error) {
        (OpCode::Auth | OpCode::Sasl, _) => Refusal::Close,
        // Apache validates these paths before it touches them, and a null path fails
        // validation.
        (OpCode::SetData | OpCode::SetAcl, DecodeError::NullString { .. }) => {
            Refusal::Answer(ErrorCode::BadArguments)
        }
        // Truncated bodies, lengths below -1 or beyond the frame, null strings where the
        // handler dereferences them, multis Apache's deserializer refuses: its
        // processors catch the exception and answer MarshallingError.
        _ => Refusal::Answer(ErrorCode::MarshallingError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_only_and_unknown_opcodes_are_refused_before_decoding() {
        assert_eq!(
            by_opcode(20),
            Some(Refusal::Answer(ErrorCode::BadArguments))
        );
        assert_eq!(
            by_opcode(-10),
            Some(Refusal::Answer(ErrorCode::MarshallingError))
        );
        for op in [0, -1, 10, 23, 108, i32::MIN] {
            assert_eq!(
                by_opcode(op),
                Some(Refusal::AnswerAndClose(ErrorCode::Unimplemented)),
                "opcode {op}"
            );
        }
        for op in [1, 4, 13, 14, -11, 100, 102, 107] {
            assert_eq!(by_opcode(op), None, "opcode {op}");
        }
    }

    #[test]
    fn undecodable_bodies_answer_marshalling_error_except_auth_and_sasl() {
        let truncated = DecodeError::Truncated {
            offset: 0,
            needed: 1,
        };
        let null = DecodeError::NullString { offset: 0 };
        assert_eq!(undecodable(OpCode::Auth, &truncated), Refusal::Close);
        assert_eq!(undecodable(OpCode::Sasl, &null), Refusal::Close);
        assert_eq!(
            undecodable(OpCode::SetData, &null),
            Refusal::Answer(ErrorCode::BadArguments)
        );
        assert_eq!(
            undecodable(OpCode::SetData, &truncated),
            Refusal::Answer(ErrorCode::MarshallingError)
        );
        assert_eq!(
            undecodable(OpCode::GetData, &null),
            Refusal::Answer(ErrorCode::MarshallingError)
        );
    }
}
