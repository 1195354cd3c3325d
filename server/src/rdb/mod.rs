//! Redis's RDB value format: what `DUMP` returns and `RESTORE` takes, what MIGRATE carries
//! between Redis-compatible servers, and what snapshots and full syncs are made of. Speaking
//! it lets data move between redis-server and slotcache in both directions.
//!
//! Values are written as Redis 7.0 writes them at RDB version 10 ([`encode`]); values of RDB
//! versions 9 to 11 (Redis 6.2 to 7.2), including the encodings only older servers write,
//! are read ([`decode`]). The pieces: [`listpack`], [`intset`] and [`ziplist`] (blob
//! layouts), [`lzf`] (string compression), [`payload`] (DUMP's version and CRC64 trailer).
//!
//! Decoding treats every byte as hostile: lengths are checked against the bytes that remain
//! before anything is allocated or looped over, so a payload can neither panic the server
//! nor make it allocate much beyond its own size.

pub mod decode;
pub mod encode;
pub mod file;
pub mod functions;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod payload;
pub mod stream;
pub mod ziplist;

#[cfg(test)]
mod tests;

/// The RDB version written (Redis 7.0's).
pub const VERSION: u16 = 10;
/// The newest RDB version read (Redis 7.2's).
pub const MAX_READ_VERSION: u16 = 11;

/// RDB object type bytes (`rdb.h`). Never renumbered: they are Redis's format.
pub mod kind {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
    /// Hashes with field TTLs as Redis 7.4's release candidates wrote them (absolute TTLs,
    /// no minimum-expiry prefix): read only.
    pub const HASH_METADATA_PRE_GA: u8 = 22;
    pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
    /// Hashes with field TTLs (Redis 7.4 GA and 8.0): written for hashes that have them.
    /// redis-server 7.0 cannot read these, so such a hash cannot be moved to Redis 7.0.
    pub const HASH_METADATA: u8 = 24;
    pub const HASH_LISTPACK_EX: u8 = 25;
}

/// Quicklist node containers (RDB_TYPE_LIST_QUICKLIST_2).
pub mod container {
    pub const PLAIN: u64 = 1;
    pub const PACKED: u64 = 2;
}

/// The content does not describe a value this server can hold (truncated, inconsistent,
/// an unknown or unsupported type, or an empty collection).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct BadFormat;

/// The reply Redis gives for a payload whose checksum matched but whose content did not load.
pub const BAD_FORMAT: &str = "ERR Bad data format";
