//! The records a ZooKeeper client and server exchange, as declared in Apache ZooKeeper 3.9's
//! `zookeeper-jute/src/main/resources/zookeeper.jute` (module `org.apache.zookeeper.proto`,
//! plus `ClientInfo` from `org.apache.zookeeper.data`).
//!
//! Field order is the wire order, so every struct below lists its fields exactly as the jute
//! file does. On top of the plain records sit the two things a server needs:
//! [`decode_request`] turns a request header and its body into a [`Request`], and
//! [`encode_reply`] builds a whole reply frame from a [`Response`]. The client-side mirror
//! images ([`encode_request`], [`decode_response`]) exist for tests and load generators.
//! `docs/wire-protocol.md` describes every layout byte by byte.

mod connect;
mod field;
#[doc(hidden)]
pub mod fuzzing;
mod headers;
mod multi;
mod request;
mod requests;
mod response;
mod responses;

#[cfg(test)]
mod tests;

pub use connect::{
    encode_connect_request, encode_connect_response, ConnectRequest, ConnectResponse,
};
pub use headers::{MultiHeader, ReplyHeader, RequestHeader};
pub use multi::{failed_multi_results, MultiOp, MultiResult};
pub use request::{decode_request, decode_request_frame, encode_request, FrameError, Request};
pub use requests::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest,
    CreateTtlRequest, DeleteContainerRequest, DeleteRequest, ExistsRequest, GetAclRequest,
    GetAllChildrenNumberRequest, GetChildren2Request, GetChildrenRequest, GetDataRequest,
    GetEphemeralsRequest, GetSaslRequest, ReconfigRequest, RemoveWatchesRequest, SetAclRequest,
    SetDataRequest, SetSaslRequest, SetWatches, SetWatches2, SyncRequest,
};
pub use response::{
    decode_response, encode_notification, encode_reply, encode_reply_with_body, Response,
};
pub use responses::{
    ClientInfo, Create2Response, CreateResponse, ErrorResponse, ExistsResponse, GetAclResponse,
    GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse, GetDataResponse,
    GetEphemeralsResponse, SetAclResponse, SetDataResponse, SetSaslResponse, SyncResponse,
    WatcherEvent, WhoAmIResponse,
};

/// Declares a jute record: a struct with public fields in wire order, plus its `Encode` and
/// `Decode` impls. Each field names its jute kind (a module of [`field`]) so the codec for
/// that field cannot drift from the declared Rust type without a compile error.
macro_rules! record {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $kind:ident ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::jute::Encode for $name {
            fn encode(&self, w: &mut $crate::jute::Writer) {
                $( $crate::jute::records::field::$kind::put(w, &self.$field); )*
            }
        }

        impl $crate::jute::Decode for $name {
            fn decode(
                r: &mut $crate::jute::Reader<'_>,
            ) -> Result<Self, $crate::jute::DecodeError> {
                Ok(Self { $( $field: $crate::jute::records::field::$kind::get(r)?, )* })
            }
        }
    };
}

pub(crate) use record;
