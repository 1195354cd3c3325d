//! Lua scripting (EVAL and friends) as Redis 7.0 has it: one Lua 5.1 VM per node, a cache
//! of compiled scripts by SHA1, the `redis.*` API, and the sandbox scripts run in.
//!
//! - [`engine`] the VM and the script cache; runs one script for one command.
//! - [`functions`] FUNCTION's libraries and the functions they register.
//! - [`sandbox`] how the VM is made: libraries, read-only globals, the error handler (the
//!   Lua side is `prelude.lua`); [`strip`] drops the prelude's debug information.
//! - [`busy`] a long script as other clients see it (BUSY) and SCRIPT KILL.
//! - [`call`] `redis.call` / `redis.pcall`: the checks Redis's `scriptCall` makes before a
//!   script's command runs, then the command through the command table.
//! - [`convert`] replies to Lua values and Lua values to replies, in RESP2 and RESP3.
//! - [`shebang`] `#!lua flags=...` and what the flags allow.
//! - [`rand48`] the generator behind `math.random`; [`bit`], [`cjson`], [`cmsgpack`] and
//!   [`lua_struct`] the libraries Redis bundles ([`libargs`]: what the last three share).
//!
//! A script runs under the keyspace lock as one command: nothing else runs until it returns.
//! The engine sits behind its own lock, always taken after the keyspace's.

pub mod bit;
pub mod busy;
pub mod call;
pub mod cjson;
pub mod cmsgpack;
pub mod convert;
pub mod engine;
pub mod fastcall;
pub mod functions;
pub mod libargs;
pub mod lua_struct;
pub mod rand48;
pub mod sandbox;
pub mod shebang;
pub mod strip;

pub use engine::Engine;

/// SHA1 of a script body as 40 lower-case hex digits, the name EVALSHA finds it by.
pub fn sha1hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// An error as Redis's `luaPushErrorBuff` words it for a Lua error table: `-CODE msg`
/// keeps its code, a bare message gets `ERR`; line breaks at either end are dropped.
pub fn error_text(e: &str) -> String {
    let (code, msg) = match e.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => (code, msg),
            None => ("ERR", rest),
        },
        None => ("ERR", e),
    };
    let msg = msg.trim_matches(|c| c == '\r' || c == '\n');
    format!("{code} {msg}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_keep_or_add_their_code() {
        assert_eq!(error_text("-OOM no room\r\n"), "OOM no room");
        assert_eq!(error_text("plain words"), "ERR plain words");
        assert_eq!(error_text("-NOSPACE"), "ERR NOSPACE");
        assert_eq!(
            sha1hex(b"return 1+1"),
            "a27e7e8a43702b7046d4f6a7ccf5b60cef6b9bd9"
        );
    }
}
