//! Encoding commands for the replication stream, and the key positions used to decide how a
//! write made during a full sync reaches a syncing replica.

use bytes::Bytes;

/// RESP-encodes one command (an array of bulk strings).
#[inline]
pub fn encode(args: &[Bytes], out: &mut Vec<u8>) {
    slotcache_proto::command::encode(args, out);
}

/// Builds a command from string-ish parts.
pub fn cmd<I, T>(parts: I) -> Vec<Bytes>
where
    I: IntoIterator<Item = T>,
    T: Into<Bytes>,
{
    parts.into_iter().map(Into::into).collect()
}

/// The key positions of a command, per the command table (empty for keyless commands).
pub fn key_positions(args: &[Bytes]) -> Vec<usize> {
    let Some(spec) = crate::commands::table::lookup(&args[0]) else {
        return Vec::new();
    };
    let spec = if spec.subcommands.is_empty() {
        spec
    } else {
        match args.get(1).and_then(|s| spec.subcommand(s)) {
            Some(sub) => sub,
            None => return Vec::new(),
        }
    };
    spec.key_positions(args)
}
