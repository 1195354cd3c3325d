//! Removes the debug information from a Lua 5.1 binary chunk, as `luac -s` does.
//!
//! Why: the sandbox prelude stays in each VM (scripts', functions') for its whole life, and
//! its debug information (a line number per instruction, local and upvalue names) was 7 KB
//! of the 70 KB a fresh VM holds (`used_memory_vm_eval`; Redis's is about 30 KB). It buys
//! memory, not CPU: a collection's work goes by objects, and these are arrays inside the
//! prototypes (measured with Lua 5.1.5 alone: 9.5 µs per full collection either way).
//! Lua 5.1's `lua_dump` has no strip flag (`luaU_dump`'s is internal; mlua's
//! `Function::dump(strip)` ignores it for 5.1), so the dump is rewritten here.
//!
//! Only the trusted setup path uses this: the prelude compiled from our own source, dumped
//! and loaded back. Scripts from clients are never loaded as bytecode (`loadstring` refuses
//! binary chunks, CVE-2015-4335).
//!
//! The main function keeps its source name (nested functions inherit it when loaded), so
//! `debug.getinfo(...).source` still tells the prelude's frames apart.

/// Header of a Lua 5.1 chunk as this build writes it: signature, version 5.1, official
/// format, little endian, int 4, size_t 8, Instruction 4, lua_Number 8, floating point.
const HEADER: [u8; 12] = [0x1b, b'L', b'u', b'a', 0x51, 0, 1, 4, 8, 4, 8, 0];

/// The chunk `dump` without line numbers, local names and upvalue names; `None` if it is
/// not a chunk of the layout above (a different build of Lua) or is cut short.
pub fn strip(dump: &[u8]) -> Option<Vec<u8>> {
    let body = dump.strip_prefix(&HEADER[..])?;
    let mut r = Reader { buf: body };
    let mut out = HEADER.to_vec();
    function(&mut r, &mut out, true)?;
    r.buf.is_empty().then_some(out)
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }
    fn int(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    /// A string: size_t length (0 for none), then that many bytes; returns the whole
    /// encoding.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.buf;
        let len = u64::from_le_bytes(self.take(8)?.try_into().ok()?);
        let len = usize::try_from(len).ok()?;
        self.take(len)?;
        Some(&start[..8 + len])
    }
    /// A count followed by `count` items, each read by `item`; the count is checked against
    /// what is left before any loop runs.
    fn count(&mut self, min_item: usize) -> Option<usize> {
        let n = self.int()? as usize;
        (n.checked_mul(min_item)? <= self.buf.len()).then_some(n)
    }
}

/// Copies one function (and, recursively, its nested ones) with empty debug sections.
fn function(r: &mut Reader, out: &mut Vec<u8>, main: bool) -> Option<()> {
    let source = r.string()?;
    if main {
        out.extend_from_slice(source);
    } else {
        // Loaded as "the parent's source", which is what the full dump meant too.
        out.extend_from_slice(&0u64.to_le_bytes());
    }
    // linedefined, lastlinedefined, then nups, numparams, is_vararg, maxstacksize.
    out.extend_from_slice(r.take(4 + 4 + 4)?);
    let code = r.count(4)?;
    out.extend_from_slice(&(code as u32).to_le_bytes());
    out.extend_from_slice(r.take(code * 4)?);
    let constants = r.count(1)?;
    out.extend_from_slice(&(constants as u32).to_le_bytes());
    for _ in 0..constants {
        let tag = r.take(1)?[0];
        out.push(tag);
        match tag {
            0 => {}
            1 => out.extend_from_slice(r.take(1)?),
            3 => out.extend_from_slice(r.take(8)?),
            4 => out.extend_from_slice(r.string()?),
            _ => return None,
        }
    }
    let protos = r.count(1)?;
    out.extend_from_slice(&(protos as u32).to_le_bytes());
    for _ in 0..protos {
        function(r, out, false)?;
    }
    // Debug: line info, local variables, upvalue names, all dropped (written as empty).
    let lines = r.count(4)?;
    r.take(lines * 4)?;
    let locals = r.count(8 + 8)?;
    for _ in 0..locals {
        r.string()?;
        r.take(8)?;
    }
    let upvalues = r.count(8)?;
    for _ in 0..upvalues {
        r.string()?;
    }
    out.extend_from_slice(&[0; 12]);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::{chunk::ChunkMode, Function, Lua};

    const SRC: &str = "local a, b = ...\n\
        local function add(x, y) return x + y + a end\n\
        local t = {n = 1.5, s = 'str', f = false}\n\
        return add(b, t.n), debug.getinfo(add, 'S').source, t.s, t.f";

    /// A VM with every library (the test reads `debug`) that loads binary chunks, as the
    /// sandbox's does (mlua's safe mode refuses them).
    fn vm() -> Lua {
        // SAFETY: a test VM running this module's own chunk.
        unsafe { Lua::unsafe_new() }
    }

    #[test]
    fn a_stripped_chunk_runs_as_the_original_and_is_smaller() {
        let lua = vm();
        let f: Function = lua.load(SRC).set_name("=named").into_function().unwrap();
        let dump = f.dump(false);
        let stripped = strip(&dump).unwrap();
        assert!(
            stripped.len() < dump.len(),
            "{} >= {}",
            stripped.len(),
            dump.len()
        );
        let g: Function = lua
            .load(&stripped[..])
            .set_mode(ChunkMode::Binary)
            .into_function()
            .unwrap();
        let (sum, source, s, b): (f64, String, String, bool) = g.call((1, 2)).unwrap();
        assert_eq!(sum, 4.5);
        assert_eq!(source, "=named", "nested functions keep the chunk's name");
        assert_eq!(s, "str");
        assert!(!b);
    }

    #[test]
    fn anything_but_a_whole_chunk_is_refused() {
        let lua = vm();
        let f: Function = lua.load(SRC).into_function().unwrap();
        let dump = f.dump(false);
        for cut in [0, 5, 12, 20, dump.len() / 2, dump.len() - 1] {
            assert!(strip(&dump[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = dump.clone();
        longer.push(0);
        assert!(strip(&longer).is_none());
        let mut huge = dump;
        // The main function's code count made enormous: refused before any loop or copy.
        let name = u64::from_le_bytes(huge[12..20].try_into().unwrap()) as usize;
        let at = HEADER.len() + 8 + name + 12;
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(strip(&huge).is_none());
    }
}
