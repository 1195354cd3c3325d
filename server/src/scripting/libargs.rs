//! What the Rust-written Lua libraries (`cjson`, `cmsgpack`, `struct`) share: Lua 5.1's
//! argument coercions (`luaL_checknumber`, `luaL_checklstring`...) and their error texts,
//! and the way a library function reports an error.
//!
//! A Lua error raised from Rust reaches scripts as a userdata, not the string a C library's
//! `luaL_error` gives; so each function's Rust side returns `(true, results...)` or
//! `(false, message)`, and a small C closure ([`function`]) raises the message as
//! `luaL_error` would.

use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Table, Value};

/// How many Lua values a library may hold from Rust at once. The C versions stop where a C
/// function's Lua stack ends (`LUAI_MAXCSTACK`, 8000 slots); here every value held from
/// Rust takes a slot of mlua's auxiliary stack, which has that same limit and is shared by
/// the whole VM, so the libraries count the slots Redis's versions would hold and stop
/// 1000 short of it, leaving room for the rest of the VM (running out of that stack is an
/// mlua panic).
pub const MAX_C_STACK: usize = 7000;

/// Why a library function failed.
pub enum Fail {
    /// A Lua error with this message, as the C library raises it.
    Msg(String),
    /// A VM error (out of memory, the script killed): passed on untouched.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Self {
        Fail::Lua(e)
    }
}

pub type LibResult<T> = Result<T, Fail>;

pub fn fail<T>(msg: impl Into<String>) -> LibResult<T> {
    Err(Fail::Msg(msg.into()))
}

/// `luaL_argerror`'s text.
pub fn bad_arg<T>(n: usize, func: &str, msg: &str) -> LibResult<T> {
    fail(format!("bad argument #{n} to '{func}' ({msg})"))
}

/// A library function: a C closure around `f` that returns `f`'s results, or raises its
/// error's message with the caller's position in front (`luaL_error`'s `luaL_where(L, 1)`).
/// A C function, as in Redis, so that `return cjson.decode(s)` keeps the script's frame
/// (Lua 5.1 drops the caller's frame only when tail-calling a Lua function).
pub fn function<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> LibResult<MultiValue> + Send + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| match f(lua, args) {
        Ok(mut results) => {
            results.push_front(Value::Boolean(true));
            Ok(results)
        }
        Err(Fail::Msg(m)) => (false, m).into_lua_multi(lua),
        Err(Fail::Lua(e)) => Err(e),
    })?;
    // SAFETY: the closure takes `inner`, the one value pushed, as its upvalue.
    unsafe {
        lua.exec_raw::<Function>(inner, |l| {
            mlua::ffi::lua_pushcclosure(l, raising, 1);
        })
    }
}

/// Calls upvalue 1 with the arguments; `(true, results...)` returns the results,
/// `(false, message)` raises the message. No Rust value with a destructor lives in this
/// frame: lua_error may jump out of it.
unsafe extern "C-unwind" fn raising(l: *mut mlua::ffi::lua_State) -> std::os::raw::c_int {
    use mlua::ffi;
    let n = ffi::lua_gettop(l);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, n, ffi::LUA_MULTRET);
    if ffi::lua_toboolean(l, 1) == 0 {
        ffi::luaL_where(l, 1);
        ffi::lua_pushvalue(l, 2);
        ffi::lua_concat(l, 2);
        ffi::lua_error(l);
    }
    ffi::lua_remove(l, 1);
    ffi::lua_gettop(l)
}

/// `lua_next`: the pair after `key` (nil: the first), so a walk over a table can stop and
/// go on later holding only its last key.
pub fn next(lua: &Lua, t: &Table, key: Value) -> mlua::Result<Option<(Value, Value)>> {
    // SAFETY: the stack holds the table and the key; lua_next replaces the key with the
    // next pair (or nothing at the end, when two nils are pushed); the table is removed so
    // only the pair is returned.
    let (k, v): (Value, Value) = unsafe {
        lua.exec_raw((t, key), |l| {
            if mlua::ffi::lua_next(l, -2) == 0 {
                mlua::ffi::lua_pushnil(l);
                mlua::ffi::lua_pushnil(l);
            }
            mlua::ffi::lua_remove(l, -3);
        })?
    };
    Ok((!k.is_nil()).then_some((k, v)))
}

/// `lua_typename(lua_type(v))` as Lua 5.1 names types (light userdata is "userdata").
pub fn typename(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// A number value (no string coercion): `lua_type(v) == LUA_TNUMBER`.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// `lua_tonumber`: numbers, and strings that read as one (`luaO_str2d`).
pub fn to_number(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => str_to_number(&s.as_bytes()),
        v => number(v),
    }
}

/// Lua 5.1's `luaO_str2d`: `strtod` (or a hex integer), then only white space.
pub fn str_to_number(s: &[u8]) -> Option<f64> {
    let mut buf = Vec::with_capacity(s.len() + 1);
    buf.extend_from_slice(s);
    buf.push(0);
    let start = buf.as_ptr() as *const libc::c_char;
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `buf` ends with a NUL, so strtod/strtoul stop inside it.
    let mut n = unsafe { libc::strtod(start, &mut end) };
    let mut used = end as usize - start as usize;
    if used == 0 {
        return None;
    }
    if matches!(buf.get(used), Some(b'x' | b'X')) {
        // SAFETY: as above.
        n = unsafe { libc::strtoul(start, &mut end, 16) } as f64;
        used = end as usize - start as usize;
    }
    let rest = buf.get(used..buf.len() - 1).unwrap_or_default();
    if rest.iter().all(|c| c.is_ascii_whitespace()) {
        Some(n)
    } else {
        None
    }
}

/// Formats a number as `printf` does with `fmt` (one double argument).
pub fn printf_number(fmt: &std::ffi::CStr, n: f64) -> Vec<u8> {
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is 64 bytes and the format takes one double.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            fmt.as_ptr(),
            n,
        )
    };
    let len = (len.max(0) as usize).min(buf.len() - 1);
    buf[..len].to_vec()
}

/// A number as Lua 5.1 turns it into a string (`LUAI_NUMFMT`, `%.14g`).
pub fn number_string(n: f64) -> Vec<u8> {
    printf_number(c"%.14g", n)
}

/// `luaL_checknumber` of argument `n` (1-based).
pub fn check_number(args: &MultiValue, n: usize, func: &str) -> LibResult<f64> {
    let v = args.get(n - 1).unwrap_or(&Value::Nil);
    match to_number(v) {
        Some(x) => Ok(x),
        None => type_error(args, n, func, "number"),
    }
}

/// `luaL_checkinteger`: a number, truncated.
pub fn check_integer(args: &MultiValue, n: usize, func: &str) -> LibResult<i64> {
    check_number(args, n, func).map(truncate)
}

/// `luaL_optinteger`: nil or absent gives `default`.
pub fn opt_integer(args: &MultiValue, n: usize, func: &str, default: i64) -> LibResult<i64> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => Ok(default),
        Some(_) => check_integer(args, n, func),
    }
}

/// A double to `lua_Integer` as C casts it (toward zero; out of range saturates here
/// where C is undefined).
pub fn truncate(x: f64) -> i64 {
    x as i64
}

/// `luaL_checklstring`: a string, or a number turned into one.
pub fn check_bytes(args: &MultiValue, n: usize, func: &str) -> LibResult<Vec<u8>> {
    match args.get(n - 1) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            Ok(number_string(number(v).unwrap_or_default()))
        }
        _ => type_error(args, n, func, "string"),
    }
}

/// `luaL_typerror`'s text.
pub fn type_error<T>(args: &MultiValue, n: usize, func: &str, expected: &str) -> LibResult<T> {
    let got = match args.get(n - 1) {
        None => "no value",
        Some(v) => typename(v),
    };
    bad_arg(n, func, &format!("{expected} expected, got {got}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_read_as_lua_reads_numbers() {
        assert_eq!(str_to_number(b" 10 "), Some(10.0));
        assert_eq!(str_to_number(b"0x10"), Some(16.0));
        assert_eq!(str_to_number(b"1e3"), Some(1000.0));
        assert_eq!(str_to_number(b"10a"), None);
        assert_eq!(str_to_number(b""), None);
        assert_eq!(number_string(0.1), b"0.1");
        assert_eq!(number_string(1e20), b"1e+20");
    }
}
