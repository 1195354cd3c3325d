//! The `call` primitive behind `redis.call` and `redis.pcall`, on the Lua C API as Redis's
//! `luaRedisGenericCommand`: it reads the arguments off the Lua stack, runs the command,
//! and pushes the reply as Lua values straight from its RESP, with no mlua handle made on
//! the way (each would be a slot taken and given back on mlua's auxiliary stack, which
//! costs more than the command itself). Arguments other than strings and numbers, and no
//! arguments at all, go to the mlua-written primitive (`slow_call`), which answers them
//! with their error tables.
//!
//! Lua errors (out of memory, mostly) unwind by `longjmp`, skipping Rust destructors: so
//! the frames that call the Lua API while a Lua error can happen hold no value that owns
//! memory; the arguments live in a frame that returns before anything is pushed.

use super::call::Run;
use bytes::Bytes;
use mlua::ffi;
use std::os::raw::c_int;

/// Where the primitives table is kept in the Lua registry.
pub const PRIM_KEY: &std::ffi::CStr = c"slotcache.prim";

/// How deep a reply may nest (as [`super::convert`]).
const MAX_DEPTH: usize = 1000;

/// `call(...)`: `(reply, failed)`, `failed` when the reply is an error `redis.call` raises.
///
/// # Safety
/// Called by Lua as a C function.
pub unsafe extern "C-unwind" fn call(l: *mut ffi::lua_State) -> c_int {
    let Some((reply, len)) = run_command(l) else {
        return slow_call(l);
    };
    // From here on only plain values live in this frame (see the module's comment). The
    // reply stays in the run's buffer until its next command.
    let bytes = std::slice::from_raw_parts(reply, len);
    ffi::lua_settop(l, 0);
    let mut at = 0;
    if !push_value(l, bytes, &mut at, 0) {
        ffi::lua_settop(l, 0);
        ffi::lua_pushstring(l, c"malformed reply".as_ptr());
        ffi::lua_error(l);
    }
    ffi::lua_pushboolean(l, (bytes.first() == Some(&b'-')) as c_int);
    2
}

/// The arguments as the command's argument vector, run: where its reply is, or `None` when
/// the arguments are not all strings and numbers, or no script runs.
unsafe fn run_command(l: *mut ffi::lua_State) -> Option<(*const u8, usize)> {
    let n = ffi::lua_gettop(l);
    if n == 0 {
        return None;
    }
    let mut argv = Vec::with_capacity(n as usize);
    for i in 1..=n {
        match ffi::lua_type(l, i) {
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                // A string's bytes, without conversion (cannot raise an error).
                let p = ffi::lua_tolstring(l, i, &mut len);
                argv.push(Bytes::copy_from_slice(std::slice::from_raw_parts(
                    p as *const u8,
                    len,
                )));
            }
            ffi::LUA_TNUMBER => argv.push(super::engine::number_arg(ffi::lua_tonumber(l, i))),
            _ => return None,
        }
    }
    super::engine::with_current(|run: Option<&mut Run>| {
        let reply = run?.call_reply(&argv);
        Some((reply.as_ptr(), reply.len()))
    })
}

/// Hands the call to the mlua-written primitive, with the same arguments.
unsafe fn slow_call(l: *mut ffi::lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, PRIM_KEY.as_ptr());
    ffi::lua_getfield(l, -1, c"slow_call".as_ptr());
    ffi::lua_remove(l, -2);
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, n, 2);
    2
}

/// One line of the reply from `at` (without its CRLF).
fn line<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let rest = b.get(*at..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    *at += end + 2;
    Some(&rest[..end])
}

fn int(line: &[u8]) -> Option<i64> {
    crate::util::parse_i64_strict(line)
}

/// `n` bytes of a bulk payload from `at`, and its CRLF.
fn payload<'a>(b: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
    let s = b.get(*at..at.checked_add(n)?)?;
    *at += n + 2;
    Some(s)
}

unsafe fn push_bytes(l: *mut ffi::lua_State, s: &[u8]) {
    ffi::lua_pushlstring_(l, s.as_ptr() as *const _, s.len());
}

/// `{name = <the value on top>}`, in place of that value.
unsafe fn wrap(l: *mut ffi::lua_State, name: &std::ffi::CStr) {
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_insert(l, -2);
    ffi::lua_setfield(l, -2, name.as_ptr());
}

/// Pushes the reply value at `at` as the Lua value Redis gives scripts (see
/// [`super::convert`]); false when the bytes are not a whole reply or nest too deep.
unsafe fn push_value(l: *mut ffi::lua_State, b: &[u8], at: &mut usize, depth: usize) -> bool {
    if depth > MAX_DEPTH || ffi::lua_checkstack(l, 4) == 0 {
        return false;
    }
    let Some(&kind) = b.get(*at) else {
        return false;
    };
    *at += 1;
    let Some(line) = line(b, at) else {
        return false;
    };
    match kind {
        b':' => match int(line) {
            Some(n) => ffi::lua_pushnumber(l, n as f64),
            None => return false,
        },
        b'$' => match int(line) {
            Some(n) if n < 0 => ffi::lua_pushboolean(l, 0),
            Some(n) => match payload(b, at, n as usize) {
                Some(s) => push_bytes(l, s),
                None => return false,
            },
            None => return false,
        },
        b'+' => {
            push_bytes(l, line);
            wrap(l, c"ok");
        }
        b'-' => {
            let msg = error_text(line);
            ffi::lua_createtable(l, 0, 2);
            push_bytes(l, msg.0);
            ffi::lua_pushstring(l, c" ".as_ptr());
            push_bytes(l, msg.1);
            ffi::lua_concat(l, 3);
            ffi::lua_setfield(l, -2, c"err".as_ptr());
            ffi::lua_pushboolean(l, 1);
            ffi::lua_setfield(l, -2, c"ignore_error_stats_update".as_ptr());
        }
        b'*' | b'>' => {
            let Some(n) = int(line) else {
                return false;
            };
            if n < 0 {
                ffi::lua_pushboolean(l, 0);
                return true;
            }
            ffi::lua_createtable(l, n.min(1024) as c_int, 0);
            for i in 0..n {
                if !push_value(l, b, at, depth + 1) {
                    return false;
                }
                ffi::lua_rawseti(l, -2, i + 1);
            }
        }
        b'%' | b'~' => {
            let Some(n) = int(line) else {
                return false;
            };
            ffi::lua_createtable(l, 0, n.clamp(0, 1024) as c_int);
            for _ in 0..n {
                if !push_value(l, b, at, depth + 1) {
                    return false;
                }
                if kind == b'%' {
                    if !push_value(l, b, at, depth + 1) {
                        return false;
                    }
                } else {
                    ffi::lua_pushboolean(l, 1);
                }
                ffi::lua_rawset(l, -3);
            }
            wrap(l, if kind == b'%' { c"map" } else { c"set" });
        }
        b'|' => {
            // Attributes are not shown to scripts: skip them, then the reply itself.
            let Some(n) = int(line) else {
                return false;
            };
            for _ in 0..n.max(0).saturating_mul(2) {
                if !push_value(l, b, at, depth + 1) {
                    return false;
                }
                ffi::lua_settop(l, -2);
            }
            return push_value(l, b, at, depth);
        }
        b'_' => ffi::lua_pushnil(l),
        b'#' => ffi::lua_pushboolean(l, (line == b"t") as c_int),
        b',' => {
            let d = crate::util::parse_f64(line).unwrap_or(match line {
                b"inf" => f64::INFINITY,
                b"-inf" => f64::NEG_INFINITY,
                _ => f64::NAN,
            });
            ffi::lua_pushnumber(l, d);
            wrap(l, c"double");
        }
        b'(' => {
            push_bytes(l, line);
            wrap(l, c"big_number");
        }
        b'=' => {
            let n = int(line).unwrap_or(0).max(4) as usize;
            let Some(body) = payload(b, at, n) else {
                return false;
            };
            ffi::lua_createtable(l, 0, 2);
            push_bytes(l, &body[..3]);
            ffi::lua_setfield(l, -2, c"format".as_ptr());
            push_bytes(l, &body[4..]);
            ffi::lua_setfield(l, -2, c"string".as_ptr());
            wrap(l, c"verbatim_string");
        }
        _ => return false,
    }
    true
}

/// An error line's code and message as [`super::error_text`] gives them ("ERR" when the
/// line has no code), without allocating.
fn error_text(line: &[u8]) -> (&[u8], &[u8]) {
    let (code, msg) = match line.iter().position(|&c| c == b' ') {
        Some(sp) => (&line[..sp], &line[sp + 1..]),
        None => (&b"ERR"[..], line),
    };
    let trim = |c: &u8| *c != b'\r' && *c != b'\n';
    let start = msg.iter().position(trim).unwrap_or(msg.len());
    let end = msg.iter().rposition(trim).map_or(start, |e| e + 1);
    (code, &msg[start..end.max(start)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_split_as_error_text_does() {
        for line in [
            "ERR no such key",
            "WRONGTYPE Operation",
            "NOSPACE",
            "OOM  x",
            "CODE ",
        ] {
            let (code, msg) = error_text(line.as_bytes());
            let joined = format!(
                "{} {}",
                String::from_utf8_lossy(code),
                String::from_utf8_lossy(msg)
            );
            assert_eq!(joined, super::super::error_text(&format!("-{line}")));
        }
    }
}
