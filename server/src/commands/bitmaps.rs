//! Bitmap commands: strings seen as arrays of bits, most significant bit of byte 0 first.
//!
//! Writes grow the string with zero bytes up to the highest bit they touch; offsets are
//! checked against `proto-max-bulk-len` before any growth, so a huge offset is refused with
//! Redis's error instead of allocating. Reads past the end see zeros.

use super::keyspec::{self as ks, key_flags::*, KeyRef};
use super::strings::{clamp_range, edit_string, grow_exact, read_string};
use super::table::{flags::*, CommandSpec};
use super::{args, errors, Ctx};
use crate::keyspace::{SmallBytes, Ttl, Value};
use crate::keyspace_events::Events;
use bytes::Bytes;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("setbit", 4, WRITE | DENYOOM, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE)], setbit, "bitmap", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist."),
    CommandSpec::new("getbit", 3, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], getbit, "bitmap", "Returns a bit value by offset."),
    CommandSpec::new("bitcount", -2, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], bitcount, "bitmap", "Counts the number of set bits (population counting) in a string."),
    CommandSpec::new("bitpos", -3, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], bitpos, "bitmap", "Finds the first set (1) or clear (0) bit in a string."),
    CommandSpec::new("bitop", -4, WRITE | DENYOOM, &[ks::range(2, 0, 1, OW | UPDATE), ks::range(3, -1, 1, RO | ACCESS)], bitop, "bitmap", "Performs bitwise operations on multiple strings, and stores the result.").events(Events::Bitop),
    CommandSpec::new("bitfield", -2, WRITE | DENYOOM, &[ks::range(1, 0, 1, RW | ACCESS | UPDATE | VARIABLE_FLAGS).notes("This command allows both access and modification of the key")], bitfield, "bitmap", "Performs arbitrary bitfield integer operations on strings.").events(Events::Named("setbit")).getkeys(bitfield_keys),
    CommandSpec::new("bitfield_ro", -2, READONLY | FAST, &[ks::range(1, 0, 1, RO | ACCESS)], bitfield_ro, "bitmap", "Performs arbitrary read-only bitfield integer operations on strings."),
];

/// BITFIELD's key and its flags, as Redis's `bitfieldGetKeys`: read-only while every
/// subcommand is a complete GET or OVERFLOW; a SET, an INCRBY or anything else (a syntax
/// error is assumed to write) makes it `RW access update`.
fn bitfield_keys(a: &[Bytes]) -> Vec<KeyRef> {
    let mut readonly = true;
    let mut i = 2;
    while i < a.len() {
        let more = a.len() - i - 1;
        if args::is(&a[i], "get") && more >= 2 {
            i += 2;
        } else if args::is(&a[i], "overflow") && more >= 1 {
            i += 1;
        } else {
            readonly = false;
            break;
        }
        i += 1;
    }
    let flags = if readonly {
        RO | ACCESS
    } else {
        RW | ACCESS | UPDATE
    };
    vec![KeyRef { pos: 1, flags }]
}

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_BIT: &str = "ERR bit is not an integer or out of range";
const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// Redis's `getBitOffsetFromArgument`: a bit offset, optionally `#N` (N fields of `bits`
/// width) when `bits > 0`, whose byte must lie below `proto-max-bulk-len`.
fn bit_offset(ctx: &Ctx, arg: &[u8], bits: u64) -> Result<u64, &'static str> {
    let hash = bits > 0 && arg.first() == Some(&b'#');
    let digits = if hash { &arg[1..] } else { arg };
    let mut off = crate::util::parse_i64_strict(digits).ok_or(BAD_OFFSET)?;
    if hash {
        off = off.checked_mul(bits as i64).ok_or(BAD_OFFSET)?;
    }
    if off < 0 || (off as u64 >> 3) >= ctx.settings.proto_max_bulk_len {
        return Err(BAD_OFFSET);
    }
    Ok(off as u64)
}

/// Bit `off` of `s` (MSB-first), zero beyond the end.
#[inline]
fn bit_at(s: &[u8], off: u64) -> u8 {
    s.get((off >> 3) as usize)
        .map_or(0, |b| (b >> (7 - (off & 7))) & 1)
}

/// Redis's `lookupStringForBitCommand`: the string at `key`, created or zero-padded so that
/// bit `maxbit` exists, edited by `f`. `f` also learns whether the string was created or
/// grown (a change in itself). `Err` means WRONGTYPE.
fn with_bits<R>(
    ctx: &mut Ctx,
    key: &[u8],
    maxbit: u64,
    f: impl FnOnce(&mut Vec<u8>, bool) -> R,
) -> Result<R, ()> {
    let now = ctx.now;
    let need = (maxbit >> 3) as usize + 1;
    let db = ctx.db();
    match db.get_mut(key, now) {
        None => {
            let mut v = vec![0u8; need];
            let r = f(&mut v, true);
            db.set(key, Value::Str(SmallBytes::from_vec(v)), Ttl::Persist, now);
            Ok(r)
        }
        Some(e) => edit_string(e, |v| {
            let grown = v.len() < need;
            if grown {
                grow_exact(v, need);
                v.resize(need, 0);
            }
            f(v, grown)
        }),
    }
}

fn setbit(ctx: &mut Ctx, a: &[Bytes]) {
    let off = match bit_offset(ctx, &a[2], 0) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    let on = match args::int(&a[3]) {
        Some(v @ (0 | 1)) => v as u8,
        _ => return ctx.err(BAD_BIT),
    };
    let res = with_bits(ctx, &a[1], off, |v, grown| {
        let byte = &mut v[(off >> 3) as usize];
        let shift = 7 - (off & 7);
        let old = (*byte >> shift) & 1;
        *byte = (*byte & !(1 << shift)) | (on << shift);
        (old, grown || old != on)
    });
    match res {
        Ok((old, changed)) => {
            if changed {
                ctx.dirty(1);
            }
            ctx.out.int(old as i64)
        }
        Err(()) => ctx.err(errors::WRONGTYPE),
    }
}

fn getbit(ctx: &mut Ctx, a: &[Bytes]) {
    let off = match bit_offset(ctx, &a[2], 0) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    match read_string(ctx, &a[1]) {
        Ok(v) => {
            let bit = v.map_or(0, |s| bit_at(s, off));
            ctx.out.int(bit as i64)
        }
        Err(()) => ctx.err(errors::WRONGTYPE),
    }
}

/// Parses the BYTE|BIT unit argument; `Ok(true)` for BIT.
fn unit_is_bit(arg: Option<&Bytes>) -> Result<bool, ()> {
    match arg {
        None => Ok(false),
        Some(u) if args::is(u, "BIT") => Ok(true),
        Some(u) if args::is(u, "BYTE") => Ok(false),
        Some(_) => Err(()),
    }
}

/// Converts a resolved inclusive range in bytes or bits into an inclusive bit range.
fn to_bits((s, e): (i64, i64), isbit: bool) -> (u64, u64) {
    if isbit {
        (s as u64, e as u64)
    } else {
        (s as u64 * 8, e as u64 * 8 + 7)
    }
}

/// Number of set bits in the inclusive bit range `lo..=hi` of `s` (both within `s`).
fn count_bits(s: &[u8], lo: u64, hi: u64) -> u64 {
    let (lb, hb) = ((lo >> 3) as usize, (hi >> 3) as usize);
    let mut n: u64 = s[lb..=hb].iter().map(|b| b.count_ones() as u64).sum();
    let head = s[lb] & !(0xffu8 >> (lo & 7));
    let tail = s[hb] & ((1u16 << (7 - (hi & 7))) - 1) as u8;
    n -= head.count_ones() as u64 + tail.count_ones() as u64;
    n
}

/// BITCOUNT's optional `start end [BYTE|BIT]`.
fn parse_bitcount(a: &[Bytes]) -> Result<(i64, i64, bool), &'static str> {
    match a.len() {
        2 => Ok((0, -1, false)),
        4 | 5 => {
            let s = args::int(&a[2]).ok_or(errors::NOT_INT)?;
            let e = args::int(&a[3]).ok_or(errors::NOT_INT)?;
            let isbit = unit_is_bit(a.get(4)).map_err(|_| errors::SYNTAX)?;
            Ok((s, e, isbit))
        }
        _ => Err(errors::SYNTAX),
    }
}

fn bitcount(ctx: &mut Ctx, a: &[Bytes]) {
    // Redis 7.2 answers a missing key (0) or a wrong type before looking at the arguments.
    let reply = match read_string(ctx, &a[1]) {
        Err(()) => Err(errors::WRONGTYPE),
        Ok(None) => Ok(0),
        Ok(Some(v)) => parse_bitcount(a).map(|(s, e, isbit)| {
            let len = v.len() as i64 * if isbit { 8 } else { 1 };
            clamp_range(s, e, len).map_or(0, |r| {
                let (lo, hi) = to_bits(r, isbit);
                count_bits(v, lo, hi)
            })
        }),
    };
    match reply {
        Ok(n) => ctx.out.int(n as i64),
        Err(e) => ctx.err(e),
    }
}

/// BITPOS arguments after parsing: the bit sought and the optional range.
struct PosArgs {
    bit: u8,
    start: Option<i64>,
    end: Option<i64>,
    isbit: bool,
}

/// The bit BITPOS looks for (parsed before the key is looked up, as Redis does).
fn parse_bit_arg(arg: &[u8]) -> Result<u8, &'static str> {
    match args::int(arg) {
        Some(b @ (0 | 1)) => Ok(b as u8),
        Some(_) => Err("ERR The bit argument must be 1 or 0."),
        None => Err(errors::NOT_INT),
    }
}

/// BITPOS's range arguments, parsed in Redis's order (start, unit, end).
fn parse_bitpos(a: &[Bytes], bit: u8) -> Result<PosArgs, &'static str> {
    if a.len() > 6 {
        return Err(errors::SYNTAX);
    }
    let start = match a.get(3) {
        Some(s) => Some(args::int(s).ok_or(errors::NOT_INT)?),
        None => None,
    };
    let isbit = unit_is_bit(a.get(5)).map_err(|_| errors::SYNTAX)?;
    let end = match a.get(4) {
        Some(e) => Some(args::int(e).ok_or(errors::NOT_INT)?),
        None => None,
    };
    Ok(PosArgs {
        bit,
        start,
        end,
        isbit,
    })
}

/// First bit equal to `bit` in the inclusive bit range `lo..=hi` of `s`.
fn find_bit(s: &[u8], bit: u8, lo: u64, hi: u64) -> Option<u64> {
    let skip = if bit == 1 { 0u8 } else { 0xff };
    let mut off = lo;
    while off <= hi {
        if off & 7 == 0 && off + 7 <= hi {
            // Skip whole bytes that cannot contain the bit.
            let (from, to) = ((off >> 3) as usize, ((hi + 1) >> 3) as usize);
            match s[from..to].iter().position(|&b| b != skip) {
                Some(i) => off = (from + i) as u64 * 8,
                None => off = to as u64 * 8,
            }
            if off > hi {
                break;
            }
        }
        if bit_at(s, off) == bit {
            return Some(off);
        }
        off += 1;
    }
    None
}

fn bitpos(ctx: &mut Ctx, a: &[Bytes]) {
    let bit = match parse_bit_arg(&a[2]) {
        Ok(b) => b,
        Err(e) => return ctx.err(e),
    };
    // A missing key is an infinite run of zeros; the range is not even parsed (Redis 7.2).
    let reply = match read_string(ctx, &a[1]) {
        Err(()) => Err(errors::WRONGTYPE),
        Ok(None) => Ok(if bit == 1 { -1 } else { 0 }),
        Ok(Some(v)) => parse_bitpos(a, bit).map(|p| bitpos_in(v, &p)),
    };
    match reply {
        Ok(n) => ctx.out.int(n),
        Err(e) => ctx.err(e),
    }
}

fn bitpos_in(v: &[u8], p: &PosArgs) -> i64 {
    let len = v.len() as i64 * if p.isbit { 8 } else { 1 };
    let (s, e) = (p.start.unwrap_or(0), p.end.unwrap_or(len - 1));
    // Unlike BITCOUNT, BITPOS has no early exit for two negative indexes out of order.
    let s = if s < 0 { len.saturating_add(s) } else { s }.max(0);
    let mut e = if e < 0 { len.saturating_add(e) } else { e }.max(0);
    if e >= len {
        e = len - 1;
    }
    if s > e {
        return -1;
    }
    let (lo, hi) = to_bits((s, e), p.isbit);
    match find_bit(v, p.bit, lo, hi) {
        Some(pos) => pos as i64,
        // Looking for a clear bit with no explicit end: the string is as if zero-padded.
        None if p.bit == 0 && p.end.is_none() => hi as i64 + 1,
        None => -1,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn bitop(ctx: &mut Ctx, a: &[Bytes]) {
    let op = match crate::util::lower(&a[1]).as_str() {
        "and" => BitOp::And,
        "or" => BitOp::Or,
        "xor" => BitOp::Xor,
        "not" => BitOp::Not,
        _ => return ctx.err(errors::SYNTAX),
    };
    if op == BitOp::Not && a.len() != 4 {
        return ctx.err("ERR BITOP NOT must be called with a single source key.");
    }
    // Sources are folded into the result one at a time, never copied: a key named many
    // times (BITOP AND d k k k ...) costs its length in work, not in memory.
    let mut maxlen = 0;
    for k in &a[3..] {
        match read_string(ctx, k) {
            Ok(v) => maxlen = maxlen.max(v.map_or(0, <[u8]>::len)),
            Err(()) => return ctx.err(errors::WRONGTYPE),
        }
    }
    let mut res = vec![0u8; maxlen];
    for (j, k) in a[3..].iter().enumerate() {
        let src = read_string(ctx, k).ok().flatten().unwrap_or(&[]);
        bitop_fold(op, &mut res, src, j == 0);
    }
    if op == BitOp::Not {
        res.iter_mut().for_each(|r| *r = !*r);
    }
    let now = ctx.now;
    let n = res.len();
    let db = ctx.db();
    if n > 0 {
        db.set(
            &a[2],
            Value::Str(SmallBytes::from_vec(res)),
            Ttl::Persist,
            now,
        );
        ctx.dirty(1);
    } else if db.remove(&a[2], now).is_some() {
        ctx.dirty(1);
    }
    ctx.out.int(n as i64);
}

/// Folds one source into BITOP's result (as long as the longest source): the first source
/// is copied in, later ones combined; a shorter source (or a missing key) counts as zeros.
fn bitop_fold(op: BitOp, res: &mut [u8], src: &[u8], first: bool) {
    if first {
        res[..src.len()].copy_from_slice(src);
        return;
    }
    for (i, r) in res.iter_mut().enumerate() {
        let b = src.get(i).copied().unwrap_or(0);
        match op {
            BitOp::And => *r &= b,
            BitOp::Or => *r |= b,
            BitOp::Xor => *r ^= b,
            BitOp::Not => {}
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set,
    Incrby,
}

/// One BITFIELD operation, parsed.
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

/// `i1`..`i64` or `u1`..`u63` (lower-case prefix only, as Redis).
fn field_type(arg: &[u8]) -> Result<(bool, u32), &'static str> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BAD_TYPE),
    };
    let bits = crate::util::parse_i64_strict(&arg[1..]).ok_or(BAD_TYPE)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(BAD_TYPE);
    }
    Ok((signed, bits as u32))
}

fn parse_bitfield(ctx: &Ctx, a: &[Bytes]) -> Result<Vec<Field>, &'static str> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < a.len() {
        let rem = a.len() - j - 1;
        let op = if args::is(&a[j], "GET") && rem >= 2 {
            FieldOp::Get
        } else if args::is(&a[j], "SET") && rem >= 3 {
            FieldOp::Set
        } else if args::is(&a[j], "INCRBY") && rem >= 3 {
            FieldOp::Incrby
        } else if args::is(&a[j], "OVERFLOW") && rem >= 1 {
            overflow = match crate::util::lower(&a[j + 1]).as_str() {
                "wrap" => Overflow::Wrap,
                "sat" => Overflow::Sat,
                "fail" => Overflow::Fail,
                _ => return Err("ERR Invalid OVERFLOW type specified"),
            };
            j += 2;
            continue;
        } else {
            return Err(errors::SYNTAX);
        };
        let (signed, bits) = field_type(&a[j + 1])?;
        let offset = bit_offset(ctx, &a[j + 2], bits as u64)?;
        let value = if op == FieldOp::Get {
            0
        } else {
            args::int(&a[j + 3]).ok_or(errors::NOT_INT)?
        };
        ops.push(Field {
            op,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok(ops)
}

/// Reads `bits` bits at bit `off`, MSB first, zeros beyond the end.
fn get_unsigned(s: &[u8], off: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0u64, |v, j| (v << 1) | bit_at(s, off + j) as u64)
}

fn get_signed(s: &[u8], off: u64, bits: u32) -> i64 {
    let v = get_unsigned(s, off, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Writes the low `bits` bits of `v` at bit `off` (the string is long enough).
fn set_field(s: &mut [u8], off: u64, bits: u32, v: u64) {
    for j in 0..bits as u64 {
        let bit = ((v >> (bits as u64 - 1 - j)) & 1) as u8;
        let o = off + j;
        let shift = 7 - (o & 7);
        let byte = &mut s[(o >> 3) as usize];
        *byte = (*byte & !(1 << shift)) | (bit << shift);
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`, arithmetic included: `(overflowed, limit)`.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (bool, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > maxincr) {
        (true, if ow == Overflow::Sat { max } else { wrap() })
    } else if incr < 0 && incr < minincr {
        (true, if ow == Overflow::Sat { 0 } else { wrap() })
    } else {
        (false, 0)
    }
}

/// Redis's `checkSignedBitfieldOverflow`, with its exact (wrapping) comparisons.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (bool, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                (c | mask) as i64
            } else {
                (c & !mask) as i64
            }
        } else {
            c as i64
        }
    };
    let pos =
        value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr);
    let neg =
        value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr);
    if pos {
        (true, if ow == Overflow::Sat { max } else { wrap() })
    } else if neg {
        (true, if ow == Overflow::Sat { min } else { wrap() })
    } else {
        (false, 0)
    }
}

/// Applies one SET/INCRBY to `s`: `Some((reply, changed))`, or `None` when OVERFLOW FAIL
/// refused it.
fn apply_write(s: &mut [u8], f: &Field) -> Option<(i64, bool)> {
    if f.signed {
        let old = get_signed(s, f.offset, f.bits);
        let (new, ret, of) = if f.op == FieldOp::Incrby {
            let (of, lim) = signed_overflow(old, f.value, f.bits, f.overflow);
            let new = if of { lim } else { old.wrapping_add(f.value) };
            (new, new, of)
        } else {
            let (of, lim) = signed_overflow(f.value, 0, f.bits, f.overflow);
            (if of { lim } else { f.value }, old, of)
        };
        if of && f.overflow == Overflow::Fail {
            return None;
        }
        set_field(s, f.offset, f.bits, new as u64);
        Some((ret, old != new))
    } else {
        let old = get_unsigned(s, f.offset, f.bits);
        let (new, ret, of) = if f.op == FieldOp::Incrby {
            let (of, lim) = unsigned_overflow(old, f.value, f.bits, f.overflow);
            let new = if of {
                lim
            } else {
                old.wrapping_add(f.value as u64)
            };
            (new, new, of)
        } else {
            let v = f.value as u64;
            let (of, lim) = unsigned_overflow(v, 0, f.bits, f.overflow);
            (if of { lim } else { v }, old, of)
        };
        if of && f.overflow == Overflow::Fail {
            return None;
        }
        set_field(s, f.offset, f.bits, new);
        Some((ret as i64, old != new))
    }
}

/// One reply element of BITFIELD: an integer, or null for a refused write.
fn field_read(s: &[u8], f: &Field) -> i64 {
    if f.signed {
        get_signed(s, f.offset, f.bits)
    } else {
        get_unsigned(s, f.offset, f.bits) as i64
    }
}

fn bitfield(ctx: &mut Ctx, a: &[Bytes]) {
    bitfield_generic(ctx, a, false);
}

fn bitfield_ro(ctx: &mut Ctx, a: &[Bytes]) {
    bitfield_generic(ctx, a, true);
}

fn bitfield_generic(ctx: &mut Ctx, a: &[Bytes], ro: bool) {
    let ops = match parse_bitfield(ctx, a) {
        Ok(ops) => ops,
        Err(e) => return ctx.err(e),
    };
    let writes = ops.iter().filter(|f| f.op != FieldOp::Get);
    let Some(maxbit) = writes.map(|f| f.offset + f.bits as u64 - 1).max() else {
        return bitfield_read_only(ctx, &a[1], &ops);
    };
    if ro {
        return ctx.err("ERR BITFIELD_RO only supports the GET subcommand");
    }
    let res = with_bits(ctx, &a[1], maxbit, |s, grown| {
        let mut changes = 0u64;
        let replies: Vec<Option<i64>> = ops
            .iter()
            .map(|f| match f.op {
                FieldOp::Get => Some(field_read(s, f)),
                _ => apply_write(s, f).map(|(r, changed)| {
                    changes += (grown || changed) as u64;
                    r
                }),
            })
            .collect();
        (replies, changes)
    });
    match res {
        Ok((replies, changes)) => {
            ctx.dirty(changes);
            ctx.out.array(replies.len());
            for r in replies {
                match r {
                    Some(n) => ctx.out.int(n),
                    None => ctx.out.null(),
                }
            }
        }
        Err(()) => ctx.err(errors::WRONGTYPE),
    }
}

fn bitfield_read_only(ctx: &mut Ctx, key: &[u8], ops: &[Field]) {
    // Read in place: a bitmap can be hundreds of megabytes.
    let replies = read_string(ctx, key).map(|v| {
        let s = v.unwrap_or(b"");
        ops.iter().map(|f| field_read(s, f)).collect::<Vec<_>>()
    });
    let Ok(replies) = replies else {
        return ctx.err(errors::WRONGTYPE);
    };
    ctx.out.array(replies.len());
    for n in replies {
        ctx.out.int(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bits_in_partial_bytes() {
        let s = [0xffu8, 0xf0, 0x0f];
        assert_eq!(count_bits(&s, 0, 23), 16);
        assert_eq!(count_bits(&s, 1, 6), 6);
        assert_eq!(count_bits(&s, 4, 11), 8);
        assert_eq!(count_bits(&s, 12, 19), 0);
        assert_eq!(count_bits(&s, 20, 23), 4);
        assert_eq!(count_bits(&s, 8, 8), 1);
    }

    #[test]
    fn fields_round_trip_and_overflow_like_redis() {
        let mut s = [0u8; 9];
        set_field(&mut s, 3, 8, 0xab);
        assert_eq!(get_unsigned(&s, 3, 8), 0xab);
        assert_eq!(get_signed(&s, 3, 8), 0xab_u8 as i8 as i64);
        set_field(&mut s, 0, 64, u64::MAX);
        assert_eq!(get_signed(&s, 0, 64), -1);
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Wrap), (true, 4));
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Sat), (true, 255));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), (true, 0));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Wrap), (true, 251));
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Wrap), (true, -126));
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Sat), (true, 127));
        assert_eq!(signed_overflow(-120, -10, 8, Overflow::Sat), (true, -128));
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            (true, i64::MIN)
        );
        assert_eq!(signed_overflow(3, 4, 8, Overflow::Fail), (false, 0));
    }

    fn bitop_apply(op: BitOp, srcs: &[Vec<u8>]) -> Vec<u8> {
        let mut res = vec![0u8; srcs.iter().map(Vec::len).max().unwrap_or(0)];
        for (j, s) in srcs.iter().enumerate() {
            bitop_fold(op, &mut res, s, j == 0);
        }
        if op == BitOp::Not {
            res.iter_mut().for_each(|r| *r = !*r);
        }
        res
    }

    #[test]
    fn bitop_pads_shorter_inputs() {
        let srcs = vec![vec![0xff, 0x0f], vec![0xf0]];
        assert_eq!(bitop_apply(BitOp::And, &srcs), vec![0xf0, 0x00]);
        assert_eq!(bitop_apply(BitOp::Or, &srcs), vec![0xff, 0x0f]);
        assert_eq!(bitop_apply(BitOp::Xor, &srcs), vec![0x0f, 0x0f]);
        assert_eq!(bitop_apply(BitOp::Not, &srcs[..1]), vec![0x00, 0xf0]);
    }
}
