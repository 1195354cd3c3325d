//! Conversions between replies and Lua values, as Redis documents them.
//!
//! A command's reply (the RESP it wrote) becomes a Lua value for `redis.call`: integers are
//! numbers, bulk strings strings, a null bulk or null array `false`, a status `{ok=...}`, an
//! error `{err=...}`, arrays tables; in RESP3 also `nil`, booleans, `{map=...}`,
//! `{set=...}`, `{double=...}`, `{big_number=...}`, `{verbatim_string=...}`.
//!
//! A script's result becomes the reply: numbers truncated to integers, strings bulk
//! strings, `true` 1 (RESP3: a boolean), `false` a null (RESP3: a boolean), tables arrays
//! that stop at the first nil, unless they are `{err=...}`, `{ok=...}` or one of the RESP3
//! shapes above.

use crate::protocol::Out;
use mlua::{Lua, Table, Value};

/// How deep a reply may nest, both ways (Redis runs out of Lua stack about there).
const MAX_DEPTH: usize = 1000;

/// Parses the reply a command wrote into the Lua value scripts get. `None` when the bytes
/// are not one whole reply (cannot happen for replies our own commands write).
pub fn reply_to_lua(lua: &Lua, reply: &[u8]) -> mlua::Result<Value> {
    let mut p = Parser { b: reply, at: 0 };
    p.value(lua, 0)
}

struct Parser<'a> {
    b: &'a [u8],
    at: usize,
}

fn bad() -> mlua::Error {
    mlua::Error::RuntimeError("malformed reply".into())
}

impl<'a> Parser<'a> {
    fn line(&mut self) -> mlua::Result<&'a [u8]> {
        let rest = self.b.get(self.at..).ok_or_else(bad)?;
        let end = rest.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        self.at += end + 2;
        Ok(&rest[..end])
    }

    fn int(line: &[u8]) -> mlua::Result<i64> {
        crate::util::parse_i64_strict(line).ok_or_else(bad)
    }

    fn bytes(&mut self, n: usize) -> mlua::Result<&'a [u8]> {
        let s = self.b.get(self.at..self.at + n).ok_or_else(bad)?;
        self.at += n + 2;
        Ok(s)
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Value> {
        if depth > MAX_DEPTH {
            return Err(bad());
        }
        let kind = *self.b.get(self.at).ok_or_else(bad)?;
        self.at += 1;
        let line = self.line()?;
        Ok(match kind {
            b':' => Value::Number(Self::int(line)? as f64),
            b'$' => {
                let n = Self::int(line)?;
                if n < 0 {
                    Value::Boolean(false)
                } else {
                    Value::String(lua.create_string(self.bytes(n as usize)?)?)
                }
            }
            b'+' => single(lua, "ok", Value::String(lua.create_string(line)?))?,
            b'-' => {
                let msg = super::error_text(&format!("-{}", String::from_utf8_lossy(line)));
                let t = lua.create_table()?;
                t.raw_set("err", msg)?;
                t.raw_set("ignore_error_stats_update", true)?;
                Value::Table(t)
            }
            b'*' | b'>' => {
                let n = Self::int(line)?;
                if n < 0 {
                    return Ok(Value::Boolean(false));
                }
                let t = lua.create_table_with_capacity(n.min(1024) as usize, 0)?;
                for i in 0..n {
                    t.raw_set(i + 1, self.value(lua, depth + 1)?)?;
                }
                Value::Table(t)
            }
            b'%' => {
                let n = Self::int(line)?;
                let m = lua.create_table()?;
                for _ in 0..n {
                    let k = self.value(lua, depth + 1)?;
                    let v = self.value(lua, depth + 1)?;
                    m.raw_set(k, v)?;
                }
                single(lua, "map", Value::Table(m))?
            }
            b'~' => {
                let n = Self::int(line)?;
                let s = lua.create_table()?;
                for _ in 0..n {
                    let k = self.value(lua, depth + 1)?;
                    s.raw_set(k, true)?;
                }
                single(lua, "set", Value::Table(s))?
            }
            b'|' => {
                // Attributes are not shown to scripts: skip them, then the reply itself.
                let n = Self::int(line)?;
                for _ in 0..2 * n {
                    self.value(lua, depth + 1)?;
                }
                self.value(lua, depth)?
            }
            b'_' => Value::Nil,
            b'#' => Value::Boolean(line == b"t"),
            b',' => {
                let d = crate::util::parse_f64(line).unwrap_or(match line {
                    b"inf" => f64::INFINITY,
                    b"-inf" => f64::NEG_INFINITY,
                    _ => f64::NAN,
                });
                single(lua, "double", Value::Number(d))?
            }
            b'(' => single(lua, "big_number", Value::String(lua.create_string(line)?))?,
            b'=' => {
                let n = Self::int(line)?.max(4) as usize;
                let body = self.bytes(n)?;
                let v = lua.create_table()?;
                v.raw_set("format", lua.create_string(&body[..3])?)?;
                v.raw_set("string", lua.create_string(&body[4..])?)?;
                single(lua, "verbatim_string", Value::Table(v))?
            }
            _ => return Err(bad()),
        })
    }
}

/// `{name=value}`.
fn single(lua: &Lua, name: &str, value: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(name, value)?;
    Ok(Value::Table(t))
}

/// Writes a script's result as the reply (`luaReplyToRedisReply`). `resp3` is the protocol
/// the script chose with `redis.setresp` (it decides how booleans come back).
pub fn lua_to_reply(out: &mut Out, v: &Value, resp3: bool) {
    write(out, v, resp3, 0);
}

fn string_field(t: &Table, name: &str) -> Option<mlua::LuaString> {
    match t.raw_get::<Value>(name) {
        Ok(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn write(out: &mut Out, v: &Value, resp3: bool, depth: usize) {
    if depth > MAX_DEPTH {
        return out.error("ERR reached lua stack limit");
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if resp3 {
                out.boolean(*b)
            } else if *b {
                out.int(1)
            } else {
                out.null()
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(c_truncate(*n)),
        Value::Table(t) => write_table(out, t, resp3, depth),
        _ => out.null(),
    }
}

fn write_table(out: &mut Out, t: &Table, resp3: bool, depth: usize) {
    if let Some(e) = string_field(t, "err") {
        return out.error(&String::from_utf8_lossy(&e.as_bytes()));
    }
    if let Some(ok) = string_field(t, "ok") {
        let s = String::from_utf8_lossy(&ok.as_bytes()).replace(['\r', '\n'], " ");
        return out.simple(&s);
    }
    if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
        return out.double(d);
    }
    if let Ok(Value::Integer(d)) = t.raw_get::<Value>("double") {
        return out.double(d as f64);
    }
    if let Some(b) = string_field(t, "big_number") {
        let s = String::from_utf8_lossy(&b.as_bytes()).replace(['\r', '\n'], " ");
        return out.big_number(&s);
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Some(f), Some(s)) = (string_field(&v, "format"), string_field(&v, "string")) {
            let f = String::from_utf8_lossy(&f.as_bytes()).into_owned();
            return out.verbatim(&f, &s.as_bytes());
        }
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().flatten().collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            write(out, k, resp3, depth + 1);
            write(out, v, resp3, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        out.set(keys.len());
        for k in &keys {
            write(out, k, resp3, depth + 1);
        }
        return;
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    for v in &items {
        write(out, v, resp3, depth + 1);
    }
}

/// A Lua number as Redis replies it: C's `(long long)` cast, which on x86-64 (cvttsd2si)
/// gives `i64::MIN` for NaN and for anything outside the range, where Rust's `as` saturates.
/// `tonumber("9223372036854775807")` is 2^63 as a double, so a script returning it answers
/// -9223372036854775808 in Redis.
fn c_truncate(n: f64) -> i64 {
    // 2^63: the first double past i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(reply: &[u8], resp3: bool) -> Vec<u8> {
        let lua = Lua::new();
        let v = reply_to_lua(&lua, reply).unwrap();
        let mut out = Out::new(resp3);
        lua_to_reply(&mut out, &v, resp3);
        out.buf.to_vec()
    }

    #[test]
    fn replies_survive_the_trip_through_lua() {
        assert_eq!(round(b":5\r\n", false), b":5\r\n");
        assert_eq!(round(b"$3\r\nabc\r\n", false), b"$3\r\nabc\r\n");
        assert_eq!(round(b"$-1\r\n", false), b"$-1\r\n");
        assert_eq!(round(b"+OK\r\n", false), b"+OK\r\n");
        assert_eq!(round(b"-ERR bad\r\n", false), b"-ERR bad\r\n");
        assert_eq!(
            round(b"*2\r\n:1\r\n$1\r\nx\r\n", false),
            b"*2\r\n:1\r\n$1\r\nx\r\n"
        );
        assert_eq!(round(b"#t\r\n", true), b"#t\r\n");
        assert_eq!(round(b",1.5\r\n", true), b",1.5\r\n");
        assert_eq!(round(b"(123\r\n", true), b"(123\r\n");
        assert_eq!(
            round(b"%1\r\n$1\r\nk\r\n$1\r\nv\r\n", true),
            b"%1\r\n$1\r\nk\r\n$1\r\nv\r\n"
        );
        assert_eq!(round(b"=7\r\ntxt:abc\r\n", true), b"=7\r\ntxt:abc\r\n");
        // An array stops at its first nil.
        assert_eq!(round(b"*3\r\n:1\r\n_\r\n:3\r\n", true), b"*1\r\n:1\r\n");
    }
}
