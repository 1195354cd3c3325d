//! The `bit` library scripts use (Lua BitOp 1.0.2, as Redis bundles it): 32-bit operations
//! on Lua numbers, which are first wrapped to a signed 32-bit integer as BitOp does.

use mlua::{Lua, Table, Variadic};

/// BitOp's `barg`: the low 32 bits of the number after adding 2^52 + 2^51 (so any number,
/// negative or too large, wraps as in C).
pub fn tobit(n: f64) -> i32 {
    let b = n + 6_755_399_441_055_744.0;
    b.to_bits() as u32 as i32
}

fn hex(x: i32, n: Option<f64>) -> String {
    let mut n = n.map(tobit).unwrap_or(8);
    let upper = n < 0;
    if upper {
        n = n.wrapping_neg();
    }
    let n = n.clamp(0, 8) as usize;
    let mut v = x as u32;
    let digits: &[u8] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = vec![b'0'; n];
    for i in (0..n).rev() {
        out[i] = digits[(v & 15) as usize];
        v >>= 4;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Builds the `bit` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("tobit", lua.create_function(|_, x: f64| Ok(tobit(x)))?)?;
    t.raw_set("bnot", lua.create_function(|_, x: f64| Ok(!tobit(x)))?)?;
    let fold = |f: fn(i32, i32) -> i32| {
        move |_: &Lua, (x, rest): (f64, Variadic<f64>)| {
            Ok(rest.iter().fold(tobit(x), |acc, &y| f(acc, tobit(y))))
        }
    };
    t.raw_set("band", lua.create_function(fold(|a, b| a & b))?)?;
    t.raw_set("bor", lua.create_function(fold(|a, b| a | b))?)?;
    t.raw_set("bxor", lua.create_function(fold(|a, b| a ^ b))?)?;
    let shift = |f: fn(i32, u32) -> i32| {
        move |_: &Lua, (x, n): (f64, f64)| Ok(f(tobit(x), (tobit(n) & 31) as u32))
    };
    t.raw_set(
        "lshift",
        lua.create_function(shift(|x, n| ((x as u32) << n) as i32))?,
    )?;
    t.raw_set(
        "rshift",
        lua.create_function(shift(|x, n| ((x as u32) >> n) as i32))?,
    )?;
    t.raw_set("arshift", lua.create_function(shift(|x, n| x >> n))?)?;
    t.raw_set(
        "rol",
        lua.create_function(shift(|x, n| (x as u32).rotate_left(n) as i32))?,
    )?;
    t.raw_set(
        "ror",
        lua.create_function(shift(|x, n| (x as u32).rotate_right(n) as i32))?,
    )?;
    t.raw_set(
        "bswap",
        lua.create_function(|_, x: f64| Ok((tobit(x) as u32).swap_bytes() as i32))?,
    )?;
    t.raw_set(
        "tohex",
        lua.create_function(|_, (x, n): (f64, Option<f64>)| Ok(hex(tobit(x), n)))?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_wrap_to_32_bits_as_bitop_does() {
        assert_eq!(tobit(1.0), 1);
        assert_eq!(tobit(4294967295.0), -1);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(2147483648.0), i32::MIN);
        assert_eq!(hex(255, None), "000000ff");
        assert_eq!(hex(-1, Some(-4.0)), "FFFF");
    }
}
