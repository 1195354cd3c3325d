//! The `cmsgpack` library scripts use, as Redis 7.0 bundles it (lua-cmsgpack 0.4.0 with
//! Redis's patches): `pack(...)`, `unpack(s)`, `unpack_one(s [, offset])` and
//! `unpack_limit(s, limit [, offset])`, byte for byte and error for error.
//!
//! Packing follows tables 16 levels deep, then writes nil (so circular tables end); reading
//! keeps an explicit stack and counts the Lua stack slots the C version would hold, failing
//! where it would (CVE-2022-24834: a deep or long input cannot overflow anything).

use super::libargs::{self as la, fail, LibResult, MAX_C_STACK};
use mlua::{IntoLuaMulti, Lua, MultiValue, Table, Value};

/// How deep `pack` follows nested tables (`LUACMSGPACK_MAX_NESTING`).
const MAX_NESTING: usize = 16;

const TOO_MANY: &str =
    "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)";

/// Builds the `cmsgpack` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", la::function(lua, pack)?)?;
    t.raw_set(
        "unpack",
        la::function(lua, |lua, a| {
            let s = la::check_bytes(&a, 1, "unpack")?;
            unpack_full(lua, &s, 0, 0)
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        la::function(lua, |lua, a| {
            let offset = la::opt_integer(&a, 2, "unpack_one", 0)?;
            let s = la::check_bytes(&a, 1, "unpack_one")?;
            unpack_full(lua, &s, 1, offset)
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        la::function(lua, |lua, a| {
            let limit = la::check_integer(&a, 2, "unpack_limit")?;
            let offset = la::opt_integer(&a, 3, "unpack_limit", 0)?;
            let s = la::check_bytes(&a, 1, "unpack_limit")?;
            unpack_full(lua, &s, limit, offset)
        })?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

// ===== Packing =====

fn pack(lua: &Lua, a: MultiValue) -> LibResult<MultiValue> {
    if a.is_empty() {
        return la::bad_arg(0, "pack", "MessagePack pack needs input.");
    }
    if a.len() > MAX_C_STACK {
        return la::bad_arg(0, "pack", "Too many arguments for MessagePack pack.");
    }
    let mut out = Vec::new();
    for v in a.iter() {
        encode(&mut out, v, 0)?;
    }
    Ok(lua.create_string(&out)?.into_lua_multi(lua)?)
}

/// `mp_encode_lua_type`: recursion is bounded by [`MAX_NESTING`].
fn encode(out: &mut Vec<u8>, v: &Value, level: usize) -> LibResult<()> {
    match v {
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => {
            let n = la::number(v).unwrap_or_default();
            // IS_INT64_EQUIVALENT: finite, and the same after a round trip through int64.
            if n.is_finite()
                && n.trunc() == n
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&n)
            {
                encode_int(out, n as i64);
            } else {
                encode_double(out, n);
            }
        }
        Value::Table(t) if level < MAX_NESTING => {
            // Walked twice (is it an array? then the items), holding no more than one pair:
            // every value held from Rust takes a Lua stack slot.
            let mut count = 0usize;
            let mut max = 0f64;
            let mut array = true;
            for pair in t.pairs::<Value, Value>() {
                let (k, _) = pair?;
                match la::number(&k) {
                    Some(n) if array && n > 0.0 && n.trunc() == n => max = max.max(n),
                    _ => array = false,
                }
                count += 1;
            }
            if array && max == count as f64 {
                header(out, count as u64, 0x90, 0xdc, 0xdd);
                for j in 1..=count {
                    let item: Value = t.raw_get(j)?;
                    encode(out, &item, level + 1)?;
                }
            } else {
                header(out, count as u64, 0x80, 0xde, 0xdf);
                for pair in t.pairs::<Value, Value>() {
                    let (k, val) = pair?;
                    encode(out, &k, level + 1)?;
                    encode(out, &val, level + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

/// An array's or map's header: its fix form (up to 15), 16-bit or 32-bit count.
fn header(out: &mut Vec<u8>, n: u64, fix: u8, b16: u8, b32: u8) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_double(out: &mut Vec<u8>, d: f64) {
    let f = d as f32;
    if f as f64 == d {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&d.to_be_bytes());
    }
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

// ===== Unpacking =====

/// Why reading stopped (`MP_CUR_ERROR_*`).
enum Stop {
    Eof,
    BadFormat,
    Lua(la::Fail),
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Self {
        Stop::Lua(la::Fail::Lua(e))
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn left(&self) -> usize {
        self.b.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        if self.left() < n {
            return Err(Stop::Eof);
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Stop> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }
}

/// A table being filled: its remaining items; a map's key waiting for its value.
struct Open {
    t: Table,
    left: u64,
    map: bool,
    next_index: i64,
    key: Option<Value>,
}

/// `mp_unpack_full`: up to `limit` values from `offset` (0 and 0: all of them, without the
/// offset in front).
fn unpack_full(lua: &Lua, s: &[u8], limit: i64, offset: i64) -> LibResult<MultiValue> {
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return fail(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32,
            s.len() as i32
        ));
    }
    if offset as u64 > s.len() as u64 {
        return fail(format!(
            "Start offset {} greater than input length {}.",
            offset as i32,
            s.len() as i32
        ));
    }
    let limit = if decode_all { i32::MAX as i64 } else { limit };
    let mut c = Cursor {
        b: s,
        at: offset as usize,
    };
    let mut values = MultiValue::new();
    while c.left() > 0 && (values.len() as i64) < limit {
        match decode_one(lua, &mut c, values.len()) {
            Ok(v) => values.push_back(v),
            Err(Stop::Eof) => return fail("Missing bytes in input."),
            Err(Stop::BadFormat) => return fail("Bad data format in input."),
            Err(Stop::Lua(e)) => return Err(e),
        }
    }
    if !decode_all {
        let next = if c.left() == 0 { -1 } else { c.at as i64 };
        values.push_front(Value::Number(next as f64));
    }
    Ok(values)
}

/// One whole value, nested tables included. `held`: values already on the Lua stack.
fn decode_one(lua: &Lua, c: &mut Cursor, held: usize) -> Result<Value, Stop> {
    let mut open: Vec<Open> = Vec::new();
    loop {
        // The C version holds a table and an index or key per open level.
        if held + 2 * open.len() + 2 > MAX_C_STACK {
            // Which luaL_checkstack of the C version gives out first.
            let msg = match open.last() {
                Some(o) if !o.map => "stack overflow (in function mp_decode_to_lua_array)",
                _ => TOO_MANY,
            };
            return Err(Stop::Lua(la::Fail::Msg(msg.into())));
        }
        let mut value = match scalar_or_table(lua, c)? {
            Item::Value(v) => v,
            Item::Table { len, map } => {
                // Every item needs at least a byte: never size a table past the input.
                let cap = (len as usize).min(c.left());
                let t = if map {
                    lua.create_table_with_capacity(0, cap)?
                } else {
                    lua.create_table_with_capacity(cap, 0)?
                };
                if len > 0 {
                    open.push(Open {
                        t,
                        left: len,
                        map,
                        next_index: 1,
                        key: None,
                    });
                    continue;
                }
                Value::Table(t)
            }
        };
        // Put the value where it belongs; close the tables it completes.
        loop {
            let Some(top) = open.last_mut() else {
                return Ok(value);
            };
            if top.map {
                match top.key.take() {
                    None => {
                        top.key = Some(value);
                        break;
                    }
                    Some(k) => {
                        match &k {
                            Value::Nil => {
                                return Err(Stop::Lua(la::Fail::Msg("table index is nil".into())))
                            }
                            Value::Number(n) if n.is_nan() => {
                                return Err(Stop::Lua(la::Fail::Msg("table index is NaN".into())))
                            }
                            _ => {}
                        }
                        top.t.raw_set(k, value)?;
                    }
                }
            } else {
                top.t.raw_set(top.next_index, value)?;
                top.next_index += 1;
            }
            top.left -= 1;
            if top.left > 0 {
                break;
            }
            value = match open.pop() {
                Some(o) => Value::Table(o.t),
                None => Value::Nil,
            };
        }
    }
}

enum Item {
    Value(Value),
    Table { len: u64, map: bool },
}

fn scalar_or_table(lua: &Lua, c: &mut Cursor) -> Result<Item, Stop> {
    let first = c.take(1)?[0];
    let num = |n: f64| Ok(Item::Value(Value::Number(n)));
    let string = |lua: &Lua, s: &[u8]| -> Result<Item, Stop> {
        Ok(Item::Value(Value::String(lua.create_string(s)?)))
    };
    match first {
        0xcc => num(c.be(1)? as f64),
        0xd0 => num(c.be(1)? as u8 as i8 as f64),
        0xcd => num(c.be(2)? as f64),
        0xd1 => num(c.be(2)? as u16 as i16 as f64),
        0xce => num(c.be(4)? as f64),
        0xd2 => num(c.be(4)? as u32 as i32 as f64),
        0xcf => num(c.be(8)? as f64),
        0xd3 => num(c.be(8)? as i64 as f64),
        0xc0 => Ok(Item::Value(Value::Nil)),
        0xc3 => Ok(Item::Value(Value::Boolean(true))),
        0xc2 => Ok(Item::Value(Value::Boolean(false))),
        0xca => num(f32::from_bits(c.be(4)? as u32) as f64),
        0xcb => num(f64::from_bits(c.be(8)?)),
        0xd9..=0xdb => {
            let n = c.be(match first {
                0xd9 => 1,
                0xda => 2,
                _ => 4,
            })? as usize;
            let s = c.take(n)?;
            string(lua, s)
        }
        0xdc => Ok(Item::Table {
            len: c.be(2)?,
            map: false,
        }),
        0xdd => Ok(Item::Table {
            len: c.be(4)?,
            map: false,
        }),
        0xde => Ok(Item::Table {
            len: c.be(2)?,
            map: true,
        }),
        0xdf => Ok(Item::Table {
            len: c.be(4)?,
            map: true,
        }),
        b if b & 0x80 == 0 => num(b as f64),
        b if b & 0xe0 == 0xe0 => num(b as i8 as f64),
        b if b & 0xe0 == 0xa0 => {
            let s = c.take((b & 0x1f) as usize)?;
            string(lua, s)
        }
        b if b & 0xf0 == 0x90 => Ok(Item::Table {
            len: (b & 0xf) as u64,
            map: false,
        }),
        b if b & 0xf0 == 0x80 => Ok(Item::Table {
            len: (b & 0xf) as u64,
            map: true,
        }),
        _ => Err(Stop::BadFormat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn packs_as_lua_cmsgpack() {
        let mut out = Vec::new();
        encode(&mut out, &Value::Number(0.1), 0).ok();
        assert_eq!(hex(&out), "cb3fb999999999999a");
        out.clear();
        encode(&mut out, &Value::Number(-1099511627776.0), 0).ok();
        assert_eq!(hex(&out), "d3ffffff0000000000");
        out.clear();
        encode(&mut out, &Value::Number(1.5), 0).ok();
        assert_eq!(hex(&out), "ca3fc00000");
    }

    #[test]
    fn unpacks_and_refuses_bad_input() {
        let lua = Lua::new();
        let r = unpack_full(&lua, &[0x93, 1, 2, 0xa1, b'x'], 0, 0)
            .ok()
            .unwrap();
        let Some(Value::Table(t)) = r.front() else {
            panic!("a table")
        };
        assert_eq!(t.raw_len(), 3);
        assert!(
            matches!(unpack_full(&lua, &[0xdd, 0xff, 0xff, 0xff, 0xff], 0, 0), Err(la::Fail::Msg(m)) if m == "Missing bytes in input.")
        );
        assert!(
            matches!(unpack_full(&lua, &[0xc1], 0, 0), Err(la::Fail::Msg(m)) if m == "Bad data format in input.")
        );
        let deep = vec![0x91u8; 100_000];
        assert!(
            matches!(unpack_full(&lua, &deep, 0, 0), Err(la::Fail::Msg(m)) if m.starts_with("stack overflow"))
        );
        let r = unpack_full(&lua, &[1, 2, 3], 1, 1).ok().unwrap();
        assert_eq!(r.len(), 2);
        assert!(matches!(r.front(), Some(Value::Number(n)) if *n == 2.0));
    }
}
