//! The `cjson` library scripts use, as Redis 7.0 bundles it (Lua CJSON 2.1.0 with Redis's
//! patches): `encode`, `decode`, their settings (`encode_sparse_array`,
//! `encode_max_depth`, `decode_max_depth`, `encode_number_precision`,
//! `encode_keep_buffer`, `encode_invalid_numbers`, `decode_invalid_numbers`), `new` and
//! `null`, with the same output and error texts.
//!
//! Both directions walk nested tables with an explicit stack, not recursion, so a deep
//! document cannot exhaust the thread's stack (CVE-2022-24834's concern); nesting stops at
//! the configured depth, or where the C version would run out of Lua stack.

use super::libargs::{self as la, fail, LibResult, MAX_C_STACK};
use mlua::{IntoLuaMulti, Lua, LuaString, MultiValue, Table, Value};
use parking_lot::Mutex;
use std::sync::Arc;

/// The largest text `encode` makes (a sparse array could otherwise ask for gigabytes of
/// `null`s); Redis's bulk strings stop at 512 MB too.
const MAX_OUTPUT: usize = 512 << 20;

/// One `cjson` table's settings (each `cjson.new()` has its own).
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    decode_max_depth: i64,
    /// 0 refuse, 1 allow (`nan`, `inf`), 2 as `null`.
    encode_invalid_numbers: i64,
    encode_number_precision: i64,
    encode_keep_buffer: bool,
    decode_invalid_numbers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            encode_number_precision: 14,
            encode_keep_buffer: true,
            decode_invalid_numbers: true,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

/// Builds a `cjson` table with default settings.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let cfg: Shared = Arc::default();
    let t = lua.create_table()?;
    let c = cfg.clone();
    t.raw_set(
        "encode",
        la::function(lua, move |lua, a| {
            let cfg = *c.lock();
            encode(lua, &a, &cfg)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "decode",
        la::function(lua, move |lua, a| {
            let cfg = *c.lock();
            decode(lua, &a, &cfg)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_sparse_array",
        la::function(lua, move |lua, a| {
            let f = "encode_sparse_array";
            arg_count(&a, 3, f)?;
            let mut cfg = c.lock();
            let mut convert = cfg.sparse_convert as i64;
            let r1 = enum_option(lua, &a, 1, f, &mut convert, &["off", "on"], 1)?;
            cfg.sparse_convert = convert != 0;
            let r2 = integer_option(&a, 2, f, &mut cfg.sparse_ratio, 0, i32::MAX as i64)?;
            let r3 = integer_option(&a, 3, f, &mut cfg.sparse_safe, 0, i32::MAX as i64)?;
            Ok((r1, r2, r3).into_lua_multi(lua)?)
        })?,
    )?;
    type Field = fn(&mut Config) -> &mut i64;
    let ints: [(&'static str, Field, i64, i64); 3] = [
        (
            "encode_max_depth",
            |c| &mut c.encode_max_depth,
            1,
            i32::MAX as i64,
        ),
        (
            "decode_max_depth",
            |c| &mut c.decode_max_depth,
            1,
            i32::MAX as i64,
        ),
        (
            "encode_number_precision",
            |c| &mut c.encode_number_precision,
            1,
            14,
        ),
    ];
    for (name, field, min, max) in ints {
        let c = cfg.clone();
        t.raw_set(
            name,
            la::function(lua, move |lua, a| {
                arg_count(&a, 1, name)?;
                let mut cfg = c.lock();
                let r = integer_option(&a, 1, name, field(&mut cfg), min, max)?;
                Ok(r.into_lua_multi(lua)?)
            })?,
        )?;
    }
    type Flag = fn(&mut Config) -> &mut bool;
    let flags: [(&'static str, Flag); 2] = [
        ("encode_keep_buffer", |c| &mut c.encode_keep_buffer),
        ("decode_invalid_numbers", |c| &mut c.decode_invalid_numbers),
    ];
    for (name, field) in flags {
        let c = cfg.clone();
        t.raw_set(
            name,
            la::function(lua, move |lua, a| {
                arg_count(&a, 1, name)?;
                let mut cfg = c.lock();
                let flag = field(&mut cfg);
                let mut v = *flag as i64;
                let r = enum_option(lua, &a, 1, name, &mut v, &["off", "on"], 1)?;
                *flag = v != 0;
                Ok(r.into_lua_multi(lua)?)
            })?,
        )?;
    }
    let c = cfg;
    t.raw_set(
        "encode_invalid_numbers",
        la::function(lua, move |lua, a| {
            let f = "encode_invalid_numbers";
            arg_count(&a, 1, f)?;
            let mut cfg = c.lock();
            let r = enum_option(
                lua,
                &a,
                1,
                f,
                &mut cfg.encode_invalid_numbers,
                &["off", "on", "null"],
                1,
            )?;
            Ok(r.into_lua_multi(lua)?)
        })?,
    )?;
    t.raw_set(
        "new",
        la::function(lua, |lua, _| Ok(open(lua)?.into_lua_multi(lua)?))?,
    )?;
    t.raw_set("null", Value::NULL)?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

/// `json_arg_init`'s check.
fn arg_count(a: &MultiValue, max: usize, func: &str) -> LibResult<()> {
    if a.len() > max {
        return la::bad_arg(max + 1, func, "found too many arguments");
    }
    Ok(())
}

fn arg(a: &MultiValue, n: usize) -> &Value {
    a.get(n - 1).unwrap_or(&Value::Nil)
}

/// `json_integer_option`: sets the setting when the argument is given; its value.
fn integer_option(
    a: &MultiValue,
    n: usize,
    func: &str,
    setting: &mut i64,
    min: i64,
    max: i64,
) -> LibResult<i64> {
    if !matches!(arg(a, n), Value::Nil) {
        let v = la::check_integer(a, n, func)?;
        if !(min..=max).contains(&v) {
            return la::bad_arg(
                1,
                func,
                &format!("expected integer between {min} and {max}"),
            );
        }
        *setting = v;
    }
    Ok(*setting)
}

/// `json_enum_option`: a boolean or one of `options` by name; the setting as a boolean
/// when it is off or `bool_true`, else its name.
fn enum_option(
    lua: &Lua,
    a: &MultiValue,
    n: usize,
    func: &str,
    setting: &mut i64,
    options: &[&str],
    bool_true: i64,
) -> LibResult<Value> {
    match arg(a, n) {
        Value::Nil => {}
        Value::Boolean(b) => *setting = *b as i64 * bool_true,
        _ => {
            let name = la::check_bytes(a, n, func)?;
            match options.iter().position(|o| o.as_bytes() == name) {
                Some(i) => *setting = i as i64,
                None => {
                    let name = String::from_utf8_lossy(&name).into_owned();
                    return la::bad_arg(n, func, &format!("invalid option '{name}'"));
                }
            }
        }
    }
    if *setting == 0 || *setting == bool_true {
        Ok(Value::Boolean(*setting != 0))
    } else {
        let name = options.get(*setting as usize).copied().unwrap_or("off");
        Ok(Value::String(lua.create_string(name)?))
    }
}

// ===== Encoding =====

/// A table being written: the array's next index, or the object's last key written (each
/// value held from Rust takes a Lua stack slot, so an object is walked key by key).
enum Open {
    Array { t: Table, next: i64, len: i64 },
    Object { t: Table, last: Value, first: bool },
}

struct Encoder<'c> {
    cfg: &'c Config,
    out: Vec<u8>,
    open: Vec<Open>,
}

fn encode(lua: &Lua, a: &MultiValue, cfg: &Config) -> LibResult<MultiValue> {
    if a.len() != 1 {
        return la::bad_arg(1, "encode", "expected 1 argument");
    }
    let mut e = Encoder {
        cfg,
        out: Vec::new(),
        open: Vec::new(),
    };
    e.value(arg(a, 1))?;
    while let Some(top) = e.open.last_mut() {
        if e.out.len() > MAX_OUTPUT {
            return fail("Cannot serialise table: result too large");
        }
        let next = match top {
            Open::Array { t, next, len } => {
                if *next > *len {
                    e.out.push(b']');
                    e.open.pop();
                    continue;
                }
                if *next > 1 {
                    e.out.push(b',');
                }
                let v: Value = t.raw_get(*next)?;
                *next += 1;
                v
            }
            Open::Object { t, last, first } => {
                let Some((k, v)) = la::next(lua, t, last.clone())? else {
                    e.out.push(b'}');
                    e.open.pop();
                    continue;
                };
                if !*first {
                    e.out.push(b',');
                }
                *first = false;
                *last = k.clone();
                match &k {
                    Value::String(s) => {
                        append_string(&mut e.out, &s.as_bytes());
                        e.out.push(b':');
                    }
                    k => match la::number(k) {
                        Some(n) => {
                            e.out.push(b'"');
                            append_number(&mut e.out, cfg, n)?;
                            e.out.extend_from_slice(b"\":");
                        }
                        None => {
                            return fail(format!(
                                "Cannot serialise {}: table key must be a number or string",
                                la::typename(k)
                            ))
                        }
                    },
                }
                v
            }
        };
        e.value(&next)?;
    }
    Ok(lua.create_string(&e.out)?.into_lua_multi(lua)?)
}

impl Encoder<'_> {
    /// Writes a scalar, or opens a table (its elements are written by the caller's loop).
    fn value(&mut self, v: &Value) -> LibResult<()> {
        match v {
            Value::String(s) => append_string(&mut self.out, &s.as_bytes()),
            Value::Integer(_) | Value::Number(_) => {
                append_number(&mut self.out, self.cfg, la::number(v).unwrap_or_default())?
            }
            Value::Boolean(true) => self.out.extend_from_slice(b"true"),
            Value::Boolean(false) => self.out.extend_from_slice(b"false"),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Table(t) => {
                let depth = self.open.len() + 1;
                // Redis's C version holds about two Lua stack slots per level.
                if depth as i64 > self.cfg.encode_max_depth || 2 * depth + 4 > MAX_C_STACK {
                    return fail(format!("Cannot serialise, excessive nesting ({depth})"));
                }
                let len = array_length(t, self.cfg)?;
                if len > 0 {
                    self.out.push(b'[');
                    self.open.push(Open::Array {
                        t: t.clone(),
                        next: 1,
                        len,
                    });
                } else {
                    self.out.push(b'{');
                    self.open.push(Open::Object {
                        t: t.clone(),
                        last: Value::Nil,
                        first: true,
                    });
                }
            }
            other => {
                return fail(format!(
                    "Cannot serialise {}: type not supported",
                    la::typename(other)
                ))
            }
        }
        Ok(())
    }
}

/// `lua_array_length`: the array's length when every key is a positive integer (and it
/// is not too sparse), else -1 (an object).
fn array_length(t: &Table, cfg: &Config) -> LibResult<i64> {
    let mut max = 0i64;
    let mut items = 0i64;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        match la::number(&k) {
            // C keeps the maximum in an int: larger indexes are not an array there.
            Some(n) if n != 0.0 && n.floor() == n && n >= 1.0 && n <= i32::MAX as f64 => {
                max = max.max(n as i64);
                items += 1;
            }
            _ => return Ok(-1),
        }
    }
    if cfg.sparse_ratio > 0 && max > items * cfg.sparse_ratio && max > cfg.sparse_safe {
        if !cfg.sparse_convert {
            return fail("Cannot serialise table: excessively sparse array");
        }
        return Ok(-1);
    }
    Ok(max)
}

/// Characters written escaped (`char2escape`).
fn escape(c: u8) -> Option<&'static [u8]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    static TABLE: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0u8..=255)
            .map(|c| match c {
                b'\x08' => b"\\b".to_vec(),
                b'\t' => b"\\t".to_vec(),
                b'\n' => b"\\n".to_vec(),
                b'\x0c' => b"\\f".to_vec(),
                b'\r' => b"\\r".to_vec(),
                b'"' => b"\\\"".to_vec(),
                b'\\' => b"\\\\".to_vec(),
                b'/' => b"\\/".to_vec(),
                0..=0x1f | 0x7f => {
                    vec![
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[(c >> 4) as usize],
                        HEX[(c & 15) as usize],
                    ]
                }
                _ => Vec::new(),
            })
            .collect()
    });
    let e = &table[c as usize];
    (!e.is_empty()).then_some(e.as_slice())
}

fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &c in s {
        match escape(c) {
            Some(e) => out.extend_from_slice(e),
            None => out.push(c),
        }
    }
    out.push(b'"');
}

fn append_number(out: &mut Vec<u8>, cfg: &Config, n: f64) -> LibResult<()> {
    match cfg.encode_invalid_numbers {
        0 if !n.is_finite() => return fail("Cannot serialise number: must not be NaN or Inf"),
        1 if n.is_nan() => {
            out.extend_from_slice(b"nan");
            return Ok(());
        }
        2 if !n.is_finite() => {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        _ => {}
    }
    let fmt = format!("%.{}g\0", cfg.encode_number_precision);
    let fmt = std::ffi::CStr::from_bytes_with_nul(fmt.as_bytes()).unwrap_or(c"%.14g");
    out.extend_from_slice(&la::printf_number(fmt, n));
    Ok(())
}

// ===== Decoding =====

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    String,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::String => "T_STRING",
            Kind::Number => "T_NUMBER",
            Kind::Boolean => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error => "T_ERROR",
        }
    }
}

struct Token {
    kind: Kind,
    /// Where it starts (0-based).
    index: usize,
    number: f64,
    boolean: bool,
    /// The decoded string, or the error's reason.
    text: Vec<u8>,
    error: &'static str,
}

/// A table being read: an array's next index, or an object and the key its value is for.
enum Level {
    Array(Table, i64),
    Object(Table, Option<LuaString>),
}

struct Parser<'c> {
    /// The document with a NUL after it (the C parser stops at the first NUL).
    data: Vec<u8>,
    ptr: usize,
    cfg: &'c Config,
}

fn decode(lua: &Lua, a: &MultiValue, cfg: &Config) -> LibResult<MultiValue> {
    if a.len() != 1 {
        return la::bad_arg(1, "decode", "expected 1 argument");
    }
    let mut data = la::check_bytes(a, 1, "decode")?;
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return fail("JSON parser does not support UTF-16 or UTF-32");
    }
    data.push(0);
    let mut p = Parser { data, ptr: 0, cfg };
    let mut levels: Vec<Level> = Vec::new();
    let mut tok = p.next_token();
    let result = 'doc: loop {
        // A value starts at `tok`.
        let mut value = match tok.kind {
            Kind::String => Value::String(lua.create_string(&tok.text)?),
            Kind::Number => Value::Number(tok.number),
            Kind::Boolean => Value::Boolean(tok.boolean),
            Kind::Null => Value::NULL,
            Kind::ObjBegin | Kind::ArrBegin => {
                let object = tok.kind == Kind::ObjBegin;
                p.descend(&levels, if object { 3 } else { 2 })?;
                let t = lua.create_table()?;
                tok = p.next_token();
                let end = if object { Kind::ObjEnd } else { Kind::ArrEnd };
                if tok.kind == end {
                    Value::Table(t)
                } else if object {
                    let key = p.object_key(lua, &tok)?;
                    levels.push(Level::Object(t, Some(key)));
                    tok = p.next_token();
                    continue 'doc;
                } else {
                    levels.push(Level::Array(t, 1));
                    continue 'doc;
                }
            }
            _ => return p.error("value", &tok),
        };
        // Store it in the table it belongs to; close the tables that end after it.
        loop {
            match levels.last_mut() {
                None => break 'doc value,
                Some(Level::Array(t, i)) => {
                    t.raw_set(*i, value)?;
                    *i += 1;
                    tok = p.next_token();
                    match tok.kind {
                        Kind::ArrEnd => {}
                        Kind::Comma => {
                            tok = p.next_token();
                            continue 'doc;
                        }
                        _ => return p.error("comma or array end", &tok),
                    }
                }
                Some(Level::Object(t, key)) => {
                    if let Some(k) = key.take() {
                        t.raw_set(k, value)?;
                    }
                    tok = p.next_token();
                    match tok.kind {
                        Kind::ObjEnd => {}
                        Kind::Comma => {
                            tok = p.next_token();
                            *key = Some(p.object_key(lua, &tok)?);
                            tok = p.next_token();
                            continue 'doc;
                        }
                        _ => return p.error("comma or object end", &tok),
                    }
                }
            }
            value = match levels.pop() {
                Some(Level::Array(t, _) | Level::Object(t, _)) => Value::Table(t),
                None => Value::Nil,
            };
        }
    };
    let tok = p.next_token();
    if tok.kind != Kind::End {
        return p.error("the end", &tok);
    }
    Ok(result.into_lua_multi(lua)?)
}

fn hexdigit(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

impl Parser<'_> {
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    /// `json_decode_descend`: one more level, within the depth setting and the Lua stack
    /// the C version would use (the levels open below hold a table, and a key in objects).
    fn descend(&self, levels: &[Level], slots: usize) -> LibResult<()> {
        let depth = levels.len() + 1;
        let held: usize = 1 + levels
            .iter()
            .map(|l| match l {
                Level::Array(..) => 1,
                Level::Object(..) => 2,
            })
            .sum::<usize>();
        if depth as i64 <= self.cfg.decode_max_depth && held + slots <= MAX_C_STACK {
            return Ok(());
        }
        fail(format!(
            "Found too many nested data structures ({depth}) at character {}",
            self.ptr
        ))
    }

    /// An object's key (`tok`) and the colon after it.
    fn object_key(&mut self, lua: &Lua, tok: &Token) -> LibResult<LuaString> {
        if tok.kind != Kind::String {
            return self.error("object key string", tok);
        }
        let key = lua.create_string(&tok.text)?;
        let colon = self.next_token();
        if colon.kind != Kind::Colon {
            return self.error("colon", &colon);
        }
        Ok(key)
    }

    fn error<T>(&self, expected: &str, tok: &Token) -> LibResult<T> {
        let found = if tok.kind == Kind::Error {
            tok.error
        } else {
            tok.kind.name()
        };
        fail(format!(
            "Expected {expected} but found {found} at character {}",
            tok.index + 1
        ))
    }

    fn token(&self, kind: Kind, index: usize) -> Token {
        Token {
            kind,
            index,
            number: 0.0,
            boolean: false,
            text: Vec::new(),
            error: "",
        }
    }

    fn error_token(&self, why: &'static str) -> Token {
        let mut t = self.token(Kind::Error, self.ptr);
        t.error = why;
        t
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.ptr), b' ' | b'\t' | b'\n' | b'\r') {
            self.ptr += 1;
        }
        let index = self.ptr;
        let c = self.at(index);
        let single = match c {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b',' => Some(Kind::Comma),
            b':' => Some(Kind::Colon),
            _ => None,
        };
        if let Some(kind) = single {
            self.ptr += 1;
            return self.token(kind, index);
        }
        if c == 0 {
            return self.token(Kind::End, index);
        }
        let rest = &self.data[index..];
        match c {
            b'"' => self.string_token(),
            b'-' | b'0'..=b'9' => {
                if !self.cfg.decode_invalid_numbers && self.invalid_number() {
                    return self.error_token("invalid number");
                }
                self.number_token()
            }
            _ if rest.starts_with(b"true") => {
                self.ptr += 4;
                let mut t = self.token(Kind::Boolean, index);
                t.boolean = true;
                t
            }
            _ if rest.starts_with(b"false") => {
                self.ptr += 5;
                self.token(Kind::Boolean, index)
            }
            _ if rest.starts_with(b"null") => {
                self.ptr += 4;
                self.token(Kind::Null, index)
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+'
                if self.cfg.decode_invalid_numbers && self.invalid_number() =>
            {
                self.number_token()
            }
            _ => self.error_token("invalid token"),
        }
    }

    /// `json_is_invalid_number`: forms `strtod` reads that strict JSON does not have.
    fn invalid_number(&self) -> bool {
        let mut p = self.ptr;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        } else if c <= b'9' {
            return false;
        }
        let word = |w: &[u8]| (0..3).all(|i| self.at(p + i).eq_ignore_ascii_case(&w[i]));
        word(b"inf") || word(b"nan")
    }

    fn number_token(&mut self) -> Token {
        let index = self.ptr;
        let start = self.data[index..].as_ptr() as *const libc::c_char;
        let mut end: *mut libc::c_char = std::ptr::null_mut();
        // SAFETY: `data` ends with a NUL, so strtod stops inside it.
        let n = unsafe { libc::strtod(start, &mut end) };
        let used = end as usize - start as usize;
        if used == 0 {
            return self.error_token("invalid number");
        }
        self.ptr += used;
        let mut t = self.token(Kind::Number, index);
        t.number = n;
        t
    }

    fn string_token(&mut self) -> Token {
        let index = self.ptr;
        self.ptr += 1;
        let mut text = Vec::new();
        loop {
            let c = self.at(self.ptr);
            match c {
                b'"' => break,
                0 => return self.error_token("unexpected end of string"),
                b'\\' => {
                    let e = self.at(self.ptr + 1);
                    let plain = match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => 12,
                        b'r' => b'\r',
                        b'u' => {
                            if self.unicode_escape(&mut text) {
                                continue;
                            }
                            return self.error_token("invalid unicode escape code");
                        }
                        _ => return self.error_token("invalid escape code"),
                    };
                    text.push(plain);
                    self.ptr += 2;
                }
                c => {
                    text.push(c);
                    self.ptr += 1;
                }
            }
        }
        self.ptr += 1;
        let mut t = self.token(Kind::String, index);
        t.text = text;
        t
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0;
        for i in 0..4 {
            v = (v << 4) | hexdigit(self.at(at + i))?;
        }
        Some(v)
    }

    /// `json_append_unicode_escape`: `\uXXXX` (or a surrogate pair) as UTF-8.
    fn unicode_escape(&mut self, text: &mut Vec<u8>) -> bool {
        let Some(mut cp) = self.hex4(self.ptr + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if self.at(self.ptr + 6) != b'\\' || self.at(self.ptr + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.ptr + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        match cp {
            0..=0x7F => text.push(cp as u8),
            0x80..=0x7FF => {
                text.extend_from_slice(&[(cp >> 6) as u8 | 0xC0, (cp & 0x3F) as u8 | 0x80])
            }
            0x800..=0xFFFF => text.extend_from_slice(&[
                (cp >> 12) as u8 | 0xE0,
                ((cp >> 6) & 0x3F) as u8 | 0x80,
                (cp & 0x3F) as u8 | 0x80,
            ]),
            _ => text.extend_from_slice(&[
                (cp >> 18) as u8 | 0xF0,
                ((cp >> 12) & 0x3F) as u8 | 0x80,
                ((cp >> 6) & 0x3F) as u8 | 0x80,
                (cp & 0x3F) as u8 | 0x80,
            ]),
        }
        self.ptr += len;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lua: &Lua, code: &str) -> String {
        lua.load(code)
            .eval::<String>()
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    fn lua() -> Lua {
        let lua = Lua::new();
        let t = open(&lua).unwrap();
        lua.globals().set("cj", t).unwrap();
        lua.load("cjson = cj").exec().unwrap();
        lua
    }

    #[test]
    fn encodes_as_lua_cjson() {
        let lua = lua();
        assert_eq!(
            run(&lua, "return cjson.encode({1,2,'a\\n/'})"),
            r#"[1,2,"a\n\/"]"#
        );
        assert_eq!(run(&lua, "return cjson.encode({})"), "{}");
        assert_eq!(run(&lua, "return cjson.encode(0.1)"), "0.1");
        assert_eq!(run(&lua, "return cjson.encode(cjson.null)"), "null");
        assert_eq!(
            run(&lua, "return cjson.encode({a={b=true}})"),
            r#"{"a":{"b":true}}"#
        );
        assert!(run(&lua, "return cjson.encode({[1]=1,[20]=2})").contains("sparse"));
        assert_eq!(run(&lua, "return cjson.encode('\\1')"), r#""\u0001""#);
        let e = run(&lua, "local t = {} t[t] = 1 return cjson.encode(t)");
        assert!(
            e.contains("Cannot serialise table: table key must be a number or string"),
            "{e}"
        );
        let e = run(&lua, "local t = {} t[1] = t return cjson.encode(t)");
        assert!(e.contains("excessive nesting (1001)"), "{e}");
    }

    #[test]
    fn decodes_as_lua_cjson() {
        let lua = lua();
        assert_eq!(
            run(
                &lua,
                "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')"
            ),
            "0 -5000 -1 0.0003 1023.2 0"
        );
        assert_eq!(
            run(
                &lua,
                r#"return cjson.decode('{"a": ["x\\u00e9", {"b": null}]}').a[1]"#
            ),
            "x\u{e9}"
        );
        assert_eq!(
            run(
                &lua,
                r#"return tostring(cjson.decode('{"a":{"b":null}}').a.b == cjson.null)"#
            ),
            "true"
        );
        let e = run(&lua, "return cjson.decode('[1,2')");
        assert!(
            e.contains("Expected comma or array end but found T_END at character 5"),
            "{e}"
        );
        let e = run(&lua, "return cjson.decode(string.rep('[', 100000))");
        assert!(
            e.contains("Found too many nested data structures (1001) at character 1001"),
            "{e}"
        );
        let e = run(
            &lua,
            "cjson.decode_max_depth(100000) return cjson.decode(string.rep('[', 100000))",
        );
        assert!(e.contains("Found too many nested data structures"), "{e}");
        assert_eq!(run(&lua, "return tostring(cjson.decode('0x10'))"), "16");
    }
}
