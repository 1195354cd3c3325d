//! The `struct` library scripts use, as Redis 7.0 bundles it (Roberto Ierusalimschy's
//! struct 0.2 with Redis's fixes): `pack(fmt, ...)`, `unpack(fmt, s [, pos])` and
//! `size(fmt)`.
//!
//! Formats: `>` `<` endianness, `![n]` alignment, `x` padding, `b/B h/H l/L T` integers,
//! `i/I[n]` integers of n bytes (at most 32), `c[n]` n chars (`c0`: the whole string when
//! packing, the previous number's length when unpacking), `s` a zero-terminated string,
//! `f` `d` floats. Sizes in the format are checked against overflow and the data's length
//! before anything is read or reserved (CVE-2022-24834's struct cases).

use super::libargs::{self as la, fail, LibResult, MAX_C_STACK};
use mlua::{IntoLuaMulti, Lua, MultiValue, Table, Value};

/// The largest `i`/`I` size (`MAXINTSIZE`).
const MAX_INT_SIZE: usize = 32;
/// `MAXALIGN` on x86-64: the alignment of a double inside a struct.
const MAX_ALIGN: usize = 8;

/// Builds the `struct` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", la::function(lua, pack)?)?;
    t.raw_set("unpack", la::function(lua, unpack)?)?;
    t.raw_set("size", la::function(lua, size)?)?;
    Ok(t)
}

#[derive(Clone, Copy)]
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            little: cfg!(target_endian = "little"),
            align: 1,
        }
    }
}

struct Format<'a> {
    f: &'a [u8],
    at: usize,
    func: &'static str,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.f.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    /// `getnum`: a decimal number at this point of the format, else `default`.
    fn num(&mut self, default: usize) -> LibResult<usize> {
        if !self.f.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i64 = 0;
        while let Some(d) = self.f.get(self.at).filter(|c| c.is_ascii_digit()) {
            let d = (d - b'0') as i64;
            if a > i32::MAX as i64 / 10 || a * 10 > i32::MAX as i64 - d {
                return fail("integral size overflow");
            }
            a = a * 10 + d;
            self.at += 1;
        }
        Ok(a as usize)
    }

    /// `optsize`: how many bytes option `opt` takes.
    fn size(&mut self, opt: u8) -> LibResult<usize> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' => 8,
            b'f' => 4,
            b'd' => 8,
            b'x' => 1,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let sz = self.num(4)?;
                if sz > MAX_INT_SIZE {
                    return fail(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    ));
                }
                sz
            }
            _ => 0,
        })
    }

    /// `controloptions`: endianness, alignment, spaces; anything else is refused.
    fn control(&mut self, opt: u8, h: &mut Header) -> LibResult<()> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.num(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return fail(format!("alignment {a} is not a power of 2"));
                }
                h.align = a;
            }
            _ => {
                return la::bad_arg(
                    1,
                    self.func,
                    &format!("invalid format option '{}'", opt as char),
                )
            }
        }
        Ok(())
    }
}

/// `gettoalign`: padding before an item of `size` bytes at `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn pack(lua: &Lua, a: MultiValue) -> LibResult<MultiValue> {
    let fmt = la::check_bytes(&a, 1, "pack")?;
    let mut f = Format {
        f: &fmt,
        at: 0,
        func: "pack",
    };
    let mut h = Header::default();
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = la::check_number(&a, arg, "pack")?;
                arg += 1;
                let mut value: u64 = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut buf = [0u8; MAX_INT_SIZE];
                for i in 0..size {
                    let at = if h.little { i } else { size - 1 - i };
                    buf[at] = (value & 0xff) as u8;
                    value >>= 8;
                }
                out.extend_from_slice(&buf[..size]);
            }
            b'x' => out.push(0),
            b'f' => {
                let x = la::check_number(&a, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    x.to_le_bytes()
                } else {
                    x.to_be_bytes()
                });
            }
            b'd' => {
                let x = la::check_number(&a, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    x.to_le_bytes()
                } else {
                    x.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let s = la::check_bytes(&a, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return la::bad_arg(arg, "pack", "string too short");
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h)?,
        }
    }
    Ok(lua.create_string(&out)?.into_lua_multi(lua)?)
}

fn integer(b: &[u8], little: bool, signed: bool) -> f64 {
    let size = b.len();
    let mut l: u64 = 0;
    for i in 0..size {
        let byte = if little { b[size - 1 - i] } else { b[i] };
        l = (l << 8) | byte as u64;
    }
    if !signed {
        return l as f64;
    }
    let shift = (size * 8).saturating_sub(1).min(63);
    let mask = u64::MAX << shift;
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(lua: &Lua, a: MultiValue) -> LibResult<MultiValue> {
    let fmt = la::check_bytes(&a, 1, "unpack")?;
    let data = la::check_bytes(&a, 2, "unpack")?;
    let ld = data.len();
    let pos = la::opt_integer(&a, 3, "unpack", 1)?;
    // `size_t pos = offset - 1`: 0 or less wraps around and is refused.
    let mut pos = match usize::try_from(pos - 1) {
        Ok(p) if p <= ld => p,
        _ => return la::bad_arg(3, "unpack", "offset must be 1 or greater"),
    };
    let mut f = Format {
        f: &fmt,
        at: 0,
        func: "unpack",
    };
    let mut h = Header::default();
    let mut results: Vec<Value> = Vec::new();
    let short = || la::bad_arg(2, "unpack", "data string too short");
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if size > ld || pos > ld - size {
            return short();
        }
        if results.len() + 2 + 2 > MAX_C_STACK {
            return fail("stack overflow (too many results)");
        }
        let item = &data[pos..pos + size];
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                results.push(Value::Number(integer(item, h.little, signed)));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(item);
                let x = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                results.push(Value::Number(x as f64));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(item);
                let x = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                results.push(Value::Number(x));
            }
            b'c' => {
                if size == 0 {
                    let prev = match results.last() {
                        Some(v @ (Value::Number(_) | Value::Integer(_))) => {
                            la::number(v).unwrap_or_default()
                        }
                        _ => return fail("format 'c0' needs a previous size"),
                    };
                    results.pop();
                    // `size_t size = lua_tonumber(...)`: a negative size wraps to huge.
                    size = if prev < 0.0 {
                        usize::MAX
                    } else {
                        prev as usize
                    };
                    if size > ld || pos > ld - size {
                        return short();
                    }
                }
                results.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&c| c == 0) else {
                    return fail("unfinished string in data");
                };
                size = end + 1;
                results.push(Value::String(lua.create_string(&data[pos..pos + end])?));
            }
            _ => f.control(opt, &mut h)?,
        }
        pos += size;
    }
    results.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(results))
}

fn size(lua: &Lua, a: MultiValue) -> LibResult<MultiValue> {
    let fmt = la::check_bytes(&a, 1, "size")?;
    let mut f = Format {
        f: &fmt,
        at: 0,
        func: "size",
    };
    let mut h = Header::default();
    let mut pos: usize = 0;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos = pos.saturating_add(to_align(pos, &h, opt, size));
        if opt == b's' {
            return la::bad_arg(1, "size", "options 's' has no fixed size");
        } else if opt == b'c' && size == 0 {
            return la::bad_arg(1, "size", "options 'c0' has no fixed size");
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h)?;
        }
        pos = pos.saturating_add(size);
    }
    Ok((pos as f64).into_lua_multi(lua)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(lua: &Lua, v: Vec<Value>) -> MultiValue {
        let _ = lua;
        MultiValue::from_iter(v)
    }

    fn s(lua: &Lua, b: &[u8]) -> Value {
        Value::String(lua.create_string(b).unwrap())
    }

    #[test]
    fn packs_and_unpacks_as_struct_does() {
        let lua = Lua::new();
        let r = pack(
            &lua,
            args(
                &lua,
                vec![s(&lua, b">I2i4"), Value::Number(258.0), Value::Number(-2.0)],
            ),
        )
        .ok()
        .unwrap();
        let Some(Value::String(p)) = r.front() else {
            panic!()
        };
        assert_eq!(&p.as_bytes()[..], &[1, 2, 0xff, 0xff, 0xff, 0xfe]);
        let r = unpack(
            &lua,
            args(&lua, vec![s(&lua, b">I2i4"), Value::String(p.clone())]),
        )
        .ok()
        .unwrap();
        let v: Vec<f64> = r.iter().filter_map(la::number).collect();
        assert_eq!(v, vec![258.0, -2.0, 7.0]);
        let e = |r: LibResult<MultiValue>| match r {
            Err(la::Fail::Msg(m)) => m,
            _ => String::new(),
        };
        assert_eq!(
            e(pack(&lua, args(&lua, vec![s(&lua, b"i99999999999")]))),
            "integral size overflow"
        );
        assert_eq!(
            e(pack(&lua, args(&lua, vec![s(&lua, b"i33")]))),
            "integral size 33 is larger than limit of 32"
        );
        assert_eq!(
            e(unpack(
                &lua,
                args(&lua, vec![s(&lua, b"c100"), s(&lua, b"abc")])
            )),
            "bad argument #2 to 'unpack' (data string too short)"
        );
        assert_eq!(
            e(unpack(
                &lua,
                args(&lua, vec![s(&lua, b"Bc0"), s(&lua, b"\xffabc")])
            )),
            "bad argument #2 to 'unpack' (data string too short)"
        );
        assert_eq!(
            e(unpack(
                &lua,
                args(&lua, vec![s(&lua, b"B"), s(&lua, b"a"), Value::Number(0.0)])
            )),
            "bad argument #3 to 'unpack' (offset must be 1 or greater)"
        );
        let r = size(&lua, args(&lua, vec![s(&lua, b"!4bi")])).ok().unwrap();
        assert!(matches!(r.front(), Some(Value::Number(n)) if *n == 8.0));
    }
}
