//! The VM scripts run in, made as Redis 7.0 makes its own: the base, table, string and math
//! libraries (no `os`, `io`, `loadfile`, `dofile`, `print`), `loadstring` that refuses
//! bytecode, read-only globals and libraries, reading an undefined global as an error, and
//! `math.random` on Redis's generator. What is written in Lua is in `prelude.lua`.

use super::rand48::Rand48;
use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table};
use parking_lot::Mutex;
use std::sync::Arc;

const PRELUDE: &str = include_str!("prelude.lua");

/// A VM ready for scripts.
pub struct Vm {
    pub lua: Lua,
    /// The globals scripts see (a read-only view).
    pub globals: Table,
    /// The real globals, where KEYS and ARGV are set before each run.
    pub real_globals: Table,
    /// `xpcall(f, handler)`: runs a compiled script (a function, or its key in `store`),
    /// turning errors into Redis error tables.
    pub run: Function,
    /// `xpcall(function() return f(keys, args) end, handler)`: runs a library function (by
    /// its key in `store`).
    pub run_with: Function,
    /// Compiled scripts and library functions by integer key. Kept in Lua rather than as
    /// mlua handles: each handle held from Rust takes a slot of mlua's auxiliary stack,
    /// which ends at 8000 slots (and mlua panics past it).
    pub store: Table,
    /// Switches the globals scripts see to the library-loading API (FUNCTION LOAD) and back.
    pub set_loading: Function,
    /// The primitives the Lua side calls: `call` and `ctl` are replaced for each run.
    pub prim: Table,
    pub rng: Arc<Mutex<Rand48>>,
    /// Registry references to the error handler and to `store`, for the run path, which
    /// works on the Lua stack directly (see `engine::exec`).
    pub handler_ref: std::os::raw::c_int,
    pub store_ref: std::os::raw::c_int,
    /// Keep the two references above alive.
    _refs: [mlua::RegistryKey; 2],
}

/// `redis.register_function` outside FUNCTION LOAD.
pub fn outside_register(lua: &Lua) -> mlua::Result<Function> {
    lua.create_function(|_, _: MultiValue| {
        Ok("ERR redis.register_function can only be called on FUNCTION LOAD command")
    })
}

use super::fastcall::PRIM_KEY;

/// `redis.call`: the `call` primitive, whose error table it raises. A C function, as in
/// Redis, so that `return redis.call(...)` keeps the script's frame (Lua 5.1 drops the
/// caller's frame only when tail-calling a Lua function) and errors name the script's line.
unsafe extern "C-unwind" fn raising_call(l: *mut mlua::ffi::lua_State) -> std::os::raw::c_int {
    use mlua::ffi;
    // No Rust value with a destructor lives in this frame: lua_error may jump out of it.
    // The primitive runs in this C frame (a plain call, not through Lua): it leaves
    // `(reply, failed)` on the stack.
    super::fastcall::call(l);
    if ffi::lua_toboolean(l, -1) != 0 {
        ffi::lua_settop(l, -2);
        ffi::lua_error(l);
    }
    ffi::lua_settop(l, -2);
    1
}

/// `redis.pcall`: the `call` primitive's reply alone, an error table returned, not raised.
unsafe extern "C-unwind" fn protected_call(l: *mut mlua::ffi::lua_State) -> std::os::raw::c_int {
    super::fastcall::call(l);
    mlua::ffi::lua_settop(l, -2);
    1
}

/// Makes a VM. `memory_limit` bytes (0: none) bounds what scripts may allocate.
pub fn new_vm(memory_limit: usize, busy: Arc<super::busy::Busy>) -> mlua::Result<Vm> {
    let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
    // The debug library is handed to the error handler and then removed from the globals.
    let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) };
    let rng = Arc::new(Mutex::new(Rand48::default()));
    let prim = lua.create_table()?;
    super::engine::install_primitives(&lua, &prim)?;
    prim.raw_set(
        "sha1hex",
        lua.create_function(|_, s: mlua::LuaString| Ok(super::sha1hex(&s.as_bytes())))?,
    )?;
    prim.raw_set(
        "log",
        lua.create_function(|_, (level, msg): (i64, mlua::LuaString)| {
            let msg = String::from_utf8_lossy(&msg.as_bytes()).into_owned();
            match level {
                0 => tracing::debug!(target: "script", "{msg}"),
                1 => tracing::debug!(target: "script", "{msg}"),
                2 => tracing::info!(target: "script", "{msg}"),
                _ => tracing::warn!(target: "script", "{msg}"),
            }
            Ok(())
        })?,
    )?;
    let r = rng.clone();
    prim.raw_set(
        "random",
        lua.create_function(move |_, ()| Ok(r.lock().next_f64()))?,
    )?;
    let r = rng.clone();
    prim.raw_set(
        "randomseed",
        lua.create_function(move |_, seed: f64| {
            r.lock().seed(seed as i64 as i32);
            Ok(())
        })?,
    )?;
    let version = crate::util::REDIS_VERSION;
    prim.raw_set("version", version)?;
    prim.raw_set("version_num", version_num(version))?;
    lua.set_named_registry_value(PRIM_KEY.to_str().unwrap_or_default(), prim.clone())?;
    // SAFETY: `raising_call` keeps to the Lua C API's rules (see its comment).
    prim.raw_set("raising_call", unsafe {
        lua.create_c_function(raising_call)?
    })?;
    // SAFETY: as `raising_call`.
    prim.raw_set("protected_call", unsafe {
        lua.create_c_function(protected_call)?
    })?;
    let real_globals = lua.globals();
    real_globals.raw_set("bit", super::bit::open(&lua)?)?;
    real_globals.raw_set("cjson", super::cjson::open(&lua)?)?;
    real_globals.raw_set("cmsgpack", super::cmsgpack::open(&lua)?)?;
    real_globals.raw_set("struct", super::lua_struct::open(&lua)?)?;
    let debug: Table = real_globals.raw_get("debug")?;
    prim.raw_set("register", outside_register(&lua)?)?;
    let store = lua.create_table()?;
    let (globals, run, run_with, set_loading, handler): (
        Table,
        Function,
        Function,
        Function,
        Function,
    ) = prelude(&lua)?.call((prim.clone(), debug, store.clone()))?;
    let handler_key = lua.create_registry_value(handler)?;
    let store_key = lua.create_registry_value(store.clone())?;
    // What building the VM left behind is collected now, so that a fresh VM reports what
    // it keeps (`used_memory_lua`).
    lua.gc_collect()?;
    set_memory_limit(&lua, memory_limit);
    install_hook(&lua, busy)?;
    Ok(Vm {
        lua,
        globals,
        real_globals,
        run,
        run_with,
        store,
        set_loading,
        prim,
        rng,
        handler_ref: handler_key.id(),
        store_ref: store_key.id(),
        _refs: [handler_key, store_key],
    })
}

/// The prelude compiled without debug information (see [`super::strip`]): it stays in the
/// VM for good, 7 KB smaller. Its frames keep the source name "=sandbox", which the error
/// handler looks for; an error raised inside the prelude itself loses its line number.
fn prelude(lua: &Lua) -> mlua::Result<Function> {
    let full = lua.load(PRELUDE).set_name("=sandbox").into_function()?;
    let Some(stripped) = super::strip::strip(&full.dump(false)) else {
        tracing::warn!("the Lua prelude could not be stripped; loaded with debug information");
        return Ok(full);
    };
    lua.load(&stripped[..])
        .set_name("=sandbox")
        .set_mode(mlua::chunk::ChunkMode::Binary)
        .into_function()
}

/// `lua-memory-limit`: past this many bytes (0: no limit) an allocation fails and the
/// script with it ("not enough memory"); the node and the VM carry on.
pub fn set_memory_limit(lua: &Lua, limit: usize) {
    // Only fails where mlua has no allocator of its own (not with the vendored Lua).
    lua.set_memory_limit(limit).ok();
}

/// Under a memory limit, a VM holding more than half of it collects its garbage at once
/// (after a run, before compiling): what a script that hit the limit left behind must not
/// fail the next one.
pub fn relieve(lua: &Lua, limit: usize) {
    if limit > 0 && lua.used_memory() > limit / 2 {
        lua.gc_collect().ok();
    }
}

/// Redis's periodic `lua_gc(lua, LUA_GCSTEP, n)`.
pub fn gc_step(lua: &Lua, n: u32) {
    // SAFETY: one call to lua_gc on the state mlua hands over, with no value left pushed.
    unsafe {
        lua.exec_raw::<()>((), |l| {
            mlua::ffi::lua_gc(l, mlua::ffi::LUA_GCSTEP, n as std::os::raw::c_int);
        })
        .ok();
    }
}

/// SCRIPT KILL's way in: the hook polls the kill flag every 100,000 instructions; once
/// killed it fires on every line, so a script that catches the error with pcall cannot go
/// on. Installed again after a killed script, to poll sparsely again.
pub fn install_hook(lua: &Lua, busy: Arc<super::busy::Busy>) -> mlua::Result<()> {
    lua.set_hook(
        mlua::HookTriggers::new().every_nth_instruction(100_000),
        move |lua, _| {
            if busy.load_timed_out() {
                return Err(mlua::Error::RuntimeError(super::busy::LOAD_TIMEOUT.into()));
            }
            busy.poll();
            if busy.killed() {
                let again = busy.clone();
                lua.set_hook(mlua::HookTriggers::new().every_line(), move |_, _| {
                    if again.killed() {
                        Err(mlua::Error::RuntimeError(super::busy::KILLED.into()))
                    } else {
                        Ok(mlua::VmState::Continue)
                    }
                })
                .ok();
                return Err(mlua::Error::RuntimeError(super::busy::KILLED.into()));
            }
            Ok(mlua::VmState::Continue)
        },
    )
}

/// `REDIS_VERSION_NUM`: 0x00MMmmpp.
fn version_num(v: &str) -> i64 {
    let mut n = 0i64;
    for part in v.split('.').take(3) {
        n = n * 256 + part.parse::<i64>().unwrap_or(0);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_pack_three_parts() {
        assert_eq!(version_num("7.2.4"), 0x070204);
        assert_eq!(version_num("7.0.15"), 0x07000f);
    }
}
