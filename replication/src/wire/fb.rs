//! Table accessors, verifiers and builders for `replication/schema/peer.fbs`, written by hand in
//! the shape `flatc --rust` generates (the flatc the project can install is too old for the
//! flatbuffers 25 crate). Each table is a `Table` wrapper with one accessor per field, a
//! `Verifiable` implementation that checks every field's offset, alignment and bounds, and a
//! `create_*` function for the builder. Voffsets are `4 + 2 * field index`, as the schema
//! comments say; changing one here without the schema (or the reverse) breaks compatibility,
//! which the test in `schema_check.rs` catches by parsing peer.fbs.
//!
//! The accessors are only sound on a buffer that passed the verifier: `Table::get` trusts the
//! offsets it follows. The only way this module hands out a table is through
//! [`super::view_frame`], which verifies first.

use flatbuffers::{
    FlatBufferBuilder, Follow, ForwardsUOffset, InvalidFlatbuffer, Table, Vector, Verifiable,
    Verifier, WIPOffset,
};

/// A `[ubyte]` field once built.
pub type BytesOffset<'b> = WIPOffset<Vector<'b, u8>>;
/// An `[Entry]` field once built.
pub type EntriesOffset<'b> = WIPOffset<Vector<'b, ForwardsUOffset<Entry<'b>>>>;
/// The verified vector of entries, read in place.
pub type EntryVector<'a> = Vector<'a, ForwardsUOffset<Entry<'a>>>;

/// Voffset of the Frame's union discriminant (`body_type`).
pub const FRAME_BODY_TYPE: u16 = 4;
/// Voffset of the Frame's union value (`body`).
pub const FRAME_BODY: u16 = 6;

macro_rules! fb_table {
    (
        $(#[$meta:meta])*
        $name:ident, $create:ident {
            scalars { $($s:ident : $sty:ty = $sslot:literal),* $(,)? }
            optional { $($o:ident : $oty:ty = $oslot:literal),* $(,)? }
            bytes { $($b:ident = $bslot:literal),* $(,)? }
            entries { $($e:ident = $eslot:literal),* $(,)? }
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub struct $name<'a> {
            tab: Table<'a>,
        }

        impl<'a> Follow<'a> for $name<'a> {
            type Inner = $name<'a>;
            #[inline]
            unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
                // SAFETY: the caller guarantees a verified table at `loc` (Follow's contract).
                $name { tab: unsafe { Table::new(buf, loc) } }
            }
        }

        impl Verifiable for $name<'_> {
            #[inline]
            fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
                v.visit_table(pos)?
                    $(.visit_field::<$sty>(stringify!($s), $sslot, false)?)*
                    $(.visit_field::<$oty>(stringify!($o), $oslot, false)?)*
                    $(.visit_field::<ForwardsUOffset<Vector<'_, u8>>>(stringify!($b), $bslot, false)?)*
                    $(.visit_field::<ForwardsUOffset<Vector<'_, ForwardsUOffset<Entry<'_>>>>>(
                        stringify!($e), $eslot, false)?)*
                    .finish();
                Ok(())
            }
        }

        impl<'a> $name<'a> {
            $(
                #[inline]
                pub fn $s(&self) -> $sty {
                    // SAFETY: verified buffer (module contract); the slot holds a `$sty`.
                    unsafe { self.tab.get::<$sty>($sslot, Some(<$sty>::default())) }
                        .unwrap_or_default()
                }
            )*
            $(
                #[inline]
                pub fn $o(&self) -> Option<$oty> {
                    // SAFETY: verified buffer (module contract); the slot holds a `$oty`.
                    unsafe { self.tab.get::<$oty>($oslot, None) }
                }
            )*
            $(
                /// The bytes in place in the receive buffer; empty when the field is absent.
                #[inline]
                pub fn $b(&self) -> &'a [u8] {
                    // SAFETY: verified buffer (module contract); the slot holds a `[ubyte]`.
                    unsafe { self.tab.get::<ForwardsUOffset<Vector<'a, u8>>>($bslot, None) }
                        .map(|v| v.bytes())
                        .unwrap_or(&[])
                }
            )*
            $(
                #[inline]
                pub fn $e(&self) -> Option<EntryVector<'a>> {
                    // SAFETY: verified buffer (module contract); the slot holds an `[Entry]`.
                    unsafe { self.tab.get::<ForwardsUOffset<EntryVector<'a>>>($eslot, None) }
                }
            )*
        }

        #[cfg(test)]
        impl $name<'_> {
            /// Every field as (name, voffset, type), for the check against peer.fbs.
            pub const FIELDS: &'static [(&'static str, u16, &'static str)] = &[
                $((stringify!($s), $sslot, stringify!($sty)),)*
                $((stringify!($o), $oslot, concat!("Option<", stringify!($oty), ">")),)*
                $((stringify!($b), $bslot, "[u8]"),)*
                $((stringify!($e), $eslot, "[Entry]"),)*
            ];
        }

        // Generated builders take one argument per field; a struct would only add noise here.
        #[allow(clippy::too_many_arguments)]
        pub fn $create<'b>(
            fbb: &mut FlatBufferBuilder<'b>,
            $($s: $sty,)*
            $($o: Option<$oty>,)*
            $($b: Option<BytesOffset<'b>>,)*
            $($e: Option<EntriesOffset<'b>>,)*
        ) -> WIPOffset<$name<'b>> {
            let start = fbb.start_table();
            $(fbb.push_slot::<$sty>($sslot, $s, <$sty>::default());)*
            $(if let Some(x) = $o { fbb.push_slot_always::<$oty>($oslot, x); })*
            $(if let Some(x) = $b { fbb.push_slot_always::<BytesOffset<'b>>($bslot, x); })*
            $(if let Some(x) = $e { fbb.push_slot_always::<EntriesOffset<'b>>($eslot, x); })*
            let end = fbb.end_table(start);
            WIPOffset::new(end.value())
        }
    };
}

fb_table! {
    /// `table Entry`.
    Entry, create_entry {
        scalars { zxid: i64 = 4 }
        optional {}
        bytes { payload = 6 }
        entries {}
    }
}

fb_table! {
    /// `table Hello`.
    Hello, create_hello {
        scalars { server_id: u64 = 4, protocol_version: u32 = 6 }
        optional {}
        bytes { addresses = 8 }
        entries {}
    }
}

fb_table! {
    /// `table Vote`.
    Vote, create_vote {
        scalars { round: u64 = 4, epoch: u32 = 6, zxid: i64 = 8, leader: u64 = 10, state: u8 = 12 }
        optional {}
        bytes {}
        entries {}
    }
}

fb_table! {
    /// `table FollowerInfo`; `accepted_leader` is an optional scalar (`= null`).
    FollowerInfo, create_follower_info {
        scalars { attempt: u64 = 4, accepted_epoch: u32 = 6, last_zxid: i64 = 10 }
        optional { accepted_leader: u64 = 8 }
        bytes {}
        entries {}
    }
}

fb_table! {
    /// `table NewEpoch`.
    NewEpoch, create_new_epoch {
        scalars { epoch: u32 = 4, attempt: u64 = 6 }
        optional {}
        bytes {}
        entries {}
    }
}

fb_table! {
    /// `table AckEpoch`.
    AckEpoch, create_ack_epoch {
        scalars { epoch: u32 = 4, attempt: u64 = 6, current_epoch: u32 = 8, last_zxid: i64 = 10 }
        optional {}
        bytes {}
        entries {}
    }
}

fb_table! {
    /// `table SnapshotChunk`.
    SnapshotChunk, create_snapshot_chunk {
        scalars {
            epoch: u32 = 4, attempt: u64 = 6, zxid: i64 = 8, offset: u64 = 10, total: u64 = 12,
            last: bool = 16,
        }
        optional {}
        bytes { data = 14 }
        entries {}
    }
}

fb_table! {
    /// `table SnapshotAck`.
    SnapshotAck, create_snapshot_ack {
        scalars { epoch: u32 = 4, attempt: u64 = 6, zxid: i64 = 8, received: u64 = 10 }
        optional {}
        bytes {}
        entries {}
    }
}

fb_table! {
    /// `table Sync`.
    Sync, create_sync {
        scalars { epoch: u32 = 4, attempt: u64 = 6, mode: u8 = 8, prev: i64 = 10, committed: i64 = 14 }
        optional {}
        bytes { members = 16 }
        entries { entries = 12 }
    }
}

fb_table! {
    /// `table UpToDate`.
    UpToDate, create_up_to_date {
        scalars { epoch: u32 = 4, committed: i64 = 6 }
        optional {}
        bytes {}
        entries {}
    }
}

fb_table! {
    /// `table Proposal`.
    Proposal, create_proposal {
        scalars { epoch: u32 = 4 }
        optional {}
        bytes {}
        entries { entries = 6 }
    }
}

fb_table! {
    /// `table Ack`.
    Ack, create_ack {
        scalars { epoch: u32 = 4, zxid: i64 = 6 }
        optional {}
        bytes {}
        entries {}
    }
}

fb_table! {
    /// `table Commit`.
    Commit, create_commit {
        scalars { epoch: u32 = 4, zxid: i64 = 6 }
        optional {}
        bytes {}
        entries {}
    }
}

fb_table! {
    /// `table Ping`.
    Ping, create_ping {
        scalars { epoch: u32 = 4, committed: i64 = 6, last_zxid: i64 = 8 }
        optional {}
        bytes {}
        entries {}
    }
}

fb_table! {
    /// `table Resync`.
    Resync, create_resync {
        scalars { epoch: u32 = 4 }
        optional {}
        bytes {}
        entries {}
    }
}

fb_table! {
    /// `table App`.
    App, create_app {
        scalars {}
        optional {}
        bytes { data = 4 }
        entries {}
    }
}

/// `union Body` discriminants.
pub mod body {
    pub const HELLO: u8 = 1;
    pub const VOTE: u8 = 2;
    pub const FOLLOWER_INFO: u8 = 3;
    pub const NEW_EPOCH: u8 = 4;
    pub const ACK_EPOCH: u8 = 5;
    pub const SNAPSHOT_CHUNK: u8 = 6;
    pub const SYNC: u8 = 7;
    pub const UP_TO_DATE: u8 = 8;
    pub const PROPOSAL: u8 = 9;
    pub const ACK: u8 = 10;
    pub const COMMIT: u8 = 11;
    pub const PING: u8 = 12;
    pub const RESYNC: u8 = 13;
    pub const APP: u8 = 14;
    pub const SNAPSHOT_ACK: u8 = 15;
}

/// `table Frame`, the root: a union of every frame body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame<'a> {
    tab: Table<'a>,
}

impl<'a> Follow<'a> for Frame<'a> {
    type Inner = Frame<'a>;
    #[inline]
    unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
        // SAFETY: the caller guarantees a verified table at `loc` (Follow's contract).
        Frame {
            tab: unsafe { Table::new(buf, loc) },
        }
    }
}

impl Verifiable for Frame<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_union::<u8, _>(
                "body_type",
                FRAME_BODY_TYPE,
                "body",
                FRAME_BODY,
                true,
                |kind, v, pos| match kind {
                    body::HELLO => v.verify_union_variant::<ForwardsUOffset<Hello>>("Hello", pos),
                    body::VOTE => v.verify_union_variant::<ForwardsUOffset<Vote>>("Vote", pos),
                    body::FOLLOWER_INFO => {
                        v.verify_union_variant::<ForwardsUOffset<FollowerInfo>>("FollowerInfo", pos)
                    }
                    body::NEW_EPOCH => {
                        v.verify_union_variant::<ForwardsUOffset<NewEpoch>>("NewEpoch", pos)
                    }
                    body::ACK_EPOCH => {
                        v.verify_union_variant::<ForwardsUOffset<AckEpoch>>("AckEpoch", pos)
                    }
                    body::SNAPSHOT_CHUNK => v
                        .verify_union_variant::<ForwardsUOffset<SnapshotChunk>>(
                            "SnapshotChunk",
                            pos,
                        ),
                    body::SYNC => v.verify_union_variant::<ForwardsUOffset<Sync>>("Sync", pos),
                    body::UP_TO_DATE => {
                        v.verify_union_variant::<ForwardsUOffset<UpToDate>>("UpToDate", pos)
                    }
                    body::PROPOSAL => {
                        v.verify_union_variant::<ForwardsUOffset<Proposal>>("Proposal", pos)
                    }
                    body::ACK => v.verify_union_variant::<ForwardsUOffset<Ack>>("Ack", pos),
                    body::COMMIT => {
                        v.verify_union_variant::<ForwardsUOffset<Commit>>("Commit", pos)
                    }
                    body::PING => v.verify_union_variant::<ForwardsUOffset<Ping>>("Ping", pos),
                    body::RESYNC => {
                        v.verify_union_variant::<ForwardsUOffset<Resync>>("Resync", pos)
                    }
                    body::APP => v.verify_union_variant::<ForwardsUOffset<App>>("App", pos),
                    body::SNAPSHOT_ACK => {
                        v.verify_union_variant::<ForwardsUOffset<SnapshotAck>>("SnapshotAck", pos)
                    }
                    // As generated code does, an unknown member passes the verifier (it cannot
                    // be read, so nothing is trusted); the caller rejects it as UnknownKind.
                    _ => Ok(()),
                },
            )?
            .finish();
        Ok(())
    }
}

impl<'a> Frame<'a> {
    #[inline]
    pub fn body_type(&self) -> u8 {
        // SAFETY: verified buffer (module contract); the slot holds a ubyte.
        unsafe { self.tab.get::<u8>(FRAME_BODY_TYPE, Some(0)) }.unwrap_or(0)
    }

    /// The union member as a table of type `T`.
    ///
    /// # Safety
    /// `T` must be the table type that `body_type()` names, and the buffer verified.
    #[inline]
    pub unsafe fn body_as<T: Follow<'a, Inner = T> + 'a>(&self) -> Option<T> {
        // SAFETY: forwarded to the caller.
        unsafe { self.tab.get::<ForwardsUOffset<T>>(FRAME_BODY, None) }
    }
}

/// Builds the root table around a finished body.
pub fn create_frame<'b, T>(
    fbb: &mut FlatBufferBuilder<'b>,
    kind: u8,
    body: WIPOffset<T>,
) -> WIPOffset<Frame<'b>> {
    let start = fbb.start_table();
    fbb.push_slot_always::<WIPOffset<_>>(FRAME_BODY, body.as_union_value());
    fbb.push_slot_always::<u8>(FRAME_BODY_TYPE, kind);
    let end = fbb.end_table(start);
    WIPOffset::new(end.value())
}
