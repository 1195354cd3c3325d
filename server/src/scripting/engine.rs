//! The node's Lua VM and its script cache: compiles scripts once (by SHA1), runs one for a
//! command, forgets them all on SCRIPT FLUSH (with a fresh VM, as Redis does).

use super::call::Run;
use super::convert;
use super::sandbox::{self, Vm};
use super::shebang::{self, Flags};
use crate::protocol::Out;
use bytes::Bytes;
use mlua::{ffi, MultiValue, Value};
use std::cell::Cell;
use std::collections::HashMap;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU64, Ordering};

/// A compiled script.
pub struct Script {
    pub body: Bytes,
    pub flags: Flags,
    /// Its function's key in the VM's `store`.
    key: i64,
}

/// Figures INFO reads without the engine's lock (a script may be running under it).
#[derive(Default)]
pub struct Stats {
    pub cached_scripts: AtomicU64,
    /// Bytes of the cached scripts' bodies (`used_memory_scripts_eval`).
    pub scripts_bytes: AtomicU64,
    /// Bytes the Lua VM holds (`used_memory_lua`).
    pub vm_bytes: AtomicU64,
    /// Bytes FUNCTION's VM holds (`used_memory_vm_functions`).
    pub functions_vm_bytes: AtomicU64,
    /// Registered functions (`number_of_functions`).
    pub functions: AtomicU64,
    /// Bytes of the libraries' code (`used_memory_functions`).
    pub functions_bytes: AtomicU64,
}

pub struct Engine {
    vm: Vm,
    scripts: HashMap<String, Script>,
    /// The `store` key the next compiled script gets.
    next_key: i64,
    /// FUNCTION's libraries, in a VM of their own.
    pub functions: super::functions::Libraries,
    memory_limit: usize,
    busy: std::sync::Arc<super::busy::Busy>,
    pub stats: std::sync::Arc<Stats>,
    /// Runs since the last garbage-collection step.
    runs_since_gc: u32,
}

/// Every this many runs the VM takes a garbage-collection step of this size, as Redis's
/// `LUA_GC_CYCLE_PERIOD` (instead of a full cycle, which Lua would take later, at once).
const GC_PERIOD: u32 = 50;

/// What a command runs: a cached script (by SHA1) or a library function (by name).
pub enum Target {
    Script(String),
    Function(String),
}

/// What a script run ended with, besides its reply.
pub struct Outcome {
    /// The reply is an error.
    pub failed: bool,
    /// The error was counted in the error statistics when the command the script called
    /// failed (its error table says `ignore_error_stats_update`), so EVAL's reply is not
    /// counted again.
    pub error_counted: bool,
}

impl Outcome {
    fn failed() -> Self {
        Outcome {
            failed: true,
            error_counted: false,
        }
    }
}

/// Whether an error table is marked as counted already.
fn counted(t: &mlua::Table) -> bool {
    t.raw_get::<bool>("ignore_error_stats_update")
        .unwrap_or(false)
}

impl Engine {
    /// A fresh VM. `memory_limit`: bytes the VM may hold (0: no limit).
    pub fn new(memory_limit: usize, busy: std::sync::Arc<super::busy::Busy>) -> Self {
        let vm = sandbox::new_vm(memory_limit, busy.clone()).expect("the Lua sandbox builds");
        let e = Engine {
            vm,
            scripts: HashMap::new(),
            next_key: 1,
            functions: super::functions::Libraries::new(memory_limit, busy.clone()),
            memory_limit,
            busy,
            stats: Default::default(),
            runs_since_gc: 0,
        };
        e.publish();
        e
    }

    /// Updates the figures INFO reads.
    pub fn publish(&self) {
        let s = &self.stats;
        let f = &self.functions;
        let (_, count) = f.counts();
        s.functions.store(count as u64, Ordering::Relaxed);
        s.functions_bytes.store(
            f.libraries().map(|l| l.code.len() as u64).sum(),
            Ordering::Relaxed,
        );
        s.functions_vm_bytes
            .store(f.vm().lua.used_memory() as u64, Ordering::Relaxed);
        s.cached_scripts
            .store(self.scripts.len() as u64, Ordering::Relaxed);
        s.scripts_bytes.store(
            self.scripts.values().map(|s| s.body.len() as u64).sum(),
            Ordering::Relaxed,
        );
        s.vm_bytes
            .store(self.vm.lua.used_memory() as u64, Ordering::Relaxed);
    }

    /// SCRIPT FLUSH: every script forgotten, and a new VM (globals a script left, its
    /// generator state, all gone).
    pub fn flush(&mut self) {
        self.scripts.clear();
        if let Ok(vm) = sandbox::new_vm(self.memory_limit, self.busy.clone()) {
            self.vm = vm;
        }
        self.publish();
    }

    /// Follows `lua-memory-limit`: the bytes each VM may hold (0: no limit).
    pub fn configure(&mut self, settings: &crate::config::Settings) {
        let limit = settings.lua_memory_limit;
        if limit == self.memory_limit {
            return;
        }
        self.memory_limit = limit;
        self.functions.set_memory_limit(limit);
        sandbox::set_memory_limit(&self.vm.lua, limit);
    }

    pub fn exists(&self, sha: &str) -> bool {
        self.scripts.contains_key(sha)
    }

    pub fn get(&self, sha: &str) -> Option<&Script> {
        self.scripts.get(sha)
    }

    /// Compiles and caches a script (SCRIPT LOAD, EVAL): its SHA1, or the error reply.
    pub fn create(&mut self, body: &Bytes) -> Result<String, String> {
        let sha = super::sha1hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, at) = shebang::parse(body)?;
        sandbox::relieve(&self.vm.lua, self.memory_limit);
        let func: mlua::Function = self
            .vm
            .lua
            .load(&body[at..])
            .set_name("@user_script")
            .set_mode(mlua::chunk::ChunkMode::Text)
            .set_environment(self.vm.globals.clone())
            .into_function()
            .map_err(|e| {
                format!(
                    "ERR Error compiling script (new function): {}",
                    lua_message(&e)
                )
            })?;
        let key = self.next_key;
        self.vm
            .store
            .raw_set(key, func)
            .map_err(|e| format!("ERR Error compiling script: {}", lua_message(&e)))?;
        self.next_key += 1;
        self.scripts.insert(
            sha.clone(),
            Script {
                body: body.clone(),
                flags,
                key,
            },
        );
        self.publish();
        Ok(sha)
    }

    /// Runs a cached script or a library function with `keys` and `args`, writing its
    /// reply to `out`.
    pub fn run(
        &mut self,
        target: &Target,
        run: &mut Run,
        keys: &[Bytes],
        args: &[Bytes],
        out: &mut Out,
    ) -> Outcome {
        self.busy.begin(
            matches!(target, Target::Function(_)),
            run.settings.busy_reply_threshold_ms,
        );
        let outcome = match target {
            Target::Script(sha) => self.run_script(sha, run, keys, args, out),
            Target::Function(name) => self.run_function(name, run, keys, args, out),
        };
        if self.busy.killed() {
            sandbox::install_hook(&self.vm.lua, self.busy.clone()).ok();
            sandbox::install_hook(&self.functions.vm().lua, self.busy.clone()).ok();
        }
        self.busy.end();
        let (lua, vm_bytes) = match target {
            Target::Script(_) => (&self.vm.lua, &self.stats.vm_bytes),
            Target::Function(_) => (&self.functions.vm().lua, &self.stats.functions_vm_bytes),
        };
        sandbox::relieve(lua, self.memory_limit);
        self.runs_since_gc += 1;
        if self.runs_since_gc >= GC_PERIOD {
            self.runs_since_gc = 0;
            sandbox::gc_step(lua, GC_PERIOD);
        }
        // A run changes only its VM's size; the rest of the figures change with the
        // caches (`publish`).
        vm_bytes.store(lua.used_memory() as u64, Ordering::Relaxed);
        outcome
    }

    fn run_script(
        &mut self,
        sha: &str,
        run: &mut Run,
        keys: &[Bytes],
        args: &[Bytes],
        out: &mut Out,
    ) -> Outcome {
        let Some(script) = self.scripts.get(sha) else {
            out.error("NOSCRIPT No matching script. Please use EVAL.");
            return Outcome::failed();
        };
        let result = exec(&self.vm, run, script.key, keys, args, false);
        reply(result, sha, run.resp3, out)
    }

    fn run_function(
        &mut self,
        name: &str,
        run: &mut Run,
        keys: &[Bytes],
        args: &[Bytes],
        out: &mut Out,
    ) -> Outcome {
        let Some(key) = self.functions.callback(name) else {
            out.error("ERR Function not found");
            return Outcome::failed();
        };
        let vm = self.functions.vm();
        let result = exec(vm, run, key, keys, args, true);
        reply(result, name, run.resp3, out)
    }
}

thread_local! {
    /// The run whose script executes on this thread (null: none), for the `call` and `ctl`
    /// primitives. A script runs synchronously on the thread that started it, so this
    /// passes the run to the primitives without making closures for each run.
    static CURRENT: Cell<*mut ()> = const { Cell::new(std::ptr::null_mut()) };
}

/// Makes `run` the current run until dropped.
struct Current(*mut ());

impl Current {
    fn set(run: &mut Run) -> Current {
        let p = run as *mut Run as *mut ();
        Current(CURRENT.with(|c| c.replace(p)))
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Calls `f` with the current run, if a script is running. The run is taken out while `f`
/// has it, so no second `&mut` to it can be made.
pub(super) fn with_current<R>(f: impl FnOnce(Option<&mut Run>) -> R) -> R {
    let p = CURRENT.with(|c| c.replace(std::ptr::null_mut()));
    // SAFETY: `p` is null or was set by `Current::set` from a `&mut Run` that outlives the
    // script's execution (the guard is dropped before `exec` returns), and nothing else
    // uses that run while the script executes; it is taken out of CURRENT meanwhile.
    let run = unsafe { (p as *mut Run).as_mut() };
    let r = f(run);
    CURRENT.with(|c| c.set(p));
    r
}

/// The `call` and `ctl` primitives behind `redis.call`/`redis.pcall` and `redis.setresp`
/// and friends, made once per VM; they act on the current run, or answer that no script
/// runs (a library's top-level code calling them). `call` is [`super::fastcall::call`];
/// `slow_call`, its fallback, takes any arguments.
pub fn install_primitives(lua: &mlua::Lua, prim: &mlua::Table) -> mlua::Result<()> {
    // SAFETY: `fastcall::call` keeps to the Lua C API's rules (see its module).
    prim.raw_set("call", unsafe {
        lua.create_c_function(super::fastcall::call)?
    })?;
    prim.raw_set(
        "slow_call",
        lua.create_function(|lua, argv: MultiValue| {
            with_current(|run| match run {
                Some(run) => redis_call(lua, run, argv),
                None => Ok((
                    error_table(
                        lua,
                        "ERR redis.call/pcall can only be called inside a script invocation",
                    )?,
                    true,
                )),
            })
        })?,
    )?;
    prim.raw_set(
        "ctl",
        lua.create_function(|lua, argv: MultiValue| {
            with_current(|run| match run {
                Some(run) => control(lua, run, argv),
                None => Ok((
                    Value::Boolean(false),
                    Value::String(lua.create_string(
                        "ERR this function can only be called inside a script invocation",
                    )?),
                )),
            })
        })?,
    )
}

/// Runs the script or library function stored at `key` with `redis.call` bound to `run`:
/// KEYS and ARGV as globals (EVAL) or as its two arguments (a library function).
///
/// Done on the Lua stack in one protected call, as Redis's `luaCallFunction` does: the
/// error handler, the function, KEYS and ARGV pushed, then `lua_pcall` with the handler.
/// Through mlua handles each table, string and call would take and give back a slot of
/// its auxiliary stack, which cost more than a short script's own work.
fn exec(
    vm: &Vm,
    run: &mut Run,
    key: i64,
    keys: &[Bytes],
    args: &[Bytes],
    as_args: bool,
) -> mlua::Result<(bool, Value)> {
    let (handler, store) = (vm.handler_ref, vm.store_ref);
    let Ok(key) = c_int::try_from(key) else {
        return Err(mlua::Error::RuntimeError("script key out of range".into()));
    };
    let _current = Current::set(run);
    // SAFETY: the closure keeps to the Lua C API's rules: it runs in a C function's frame
    // with LUA_MINSTACK slots (it pushes at most five values), and holds only borrowed
    // values, so a Lua error (out of memory) that jumps out of it leaks nothing; it leaves
    // exactly `(ok, value)` on the stack.
    unsafe {
        vm.lua.exec_raw::<(bool, Value)>((), |l| {
            ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, handler as ffi::lua_Integer);
            let h = ffi::lua_gettop(l);
            ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, store as ffi::lua_Integer);
            ffi::lua_rawgeti(l, -1, key as ffi::lua_Integer);
            ffi::lua_remove(l, -2);
            push_array(l, keys);
            push_array(l, args);
            let nargs = if as_args {
                2
            } else {
                // The real globals, not the read-only view scripts see.
                ffi::lua_pushlstring_(l, c"ARGV".as_ptr(), 4);
                ffi::lua_insert(l, -2);
                ffi::lua_rawset(l, ffi::LUA_GLOBALSINDEX);
                ffi::lua_pushlstring_(l, c"KEYS".as_ptr(), 4);
                ffi::lua_insert(l, -2);
                ffi::lua_rawset(l, ffi::LUA_GLOBALSINDEX);
                0
            };
            let status = ffi::lua_pcall(l, nargs, 1, h);
            ffi::lua_pushboolean(l, (status == 0) as c_int);
            ffi::lua_replace(l, h);
        })
    }
}

/// Pushes `items` as a Lua array of strings.
///
/// # Safety
/// On a Lua stack with two free slots; may raise a Lua error (out of memory).
unsafe fn push_array(l: *mut ffi::lua_State, items: &[Bytes]) {
    ffi::lua_createtable(l, c_int::try_from(items.len()).unwrap_or(0), 0);
    for (i, item) in items.iter().enumerate() {
        ffi::lua_pushlstring_(l, item.as_ptr() as *const _, item.len());
        ffi::lua_rawseti_(l, -2, (i + 1) as c_int);
    }
}

/// The reply for what a run returned (Redis's `luaCallFunction` end).
fn reply(result: mlua::Result<(bool, Value)>, name: &str, resp3: bool, out: &mut Out) -> Outcome {
    match result {
        Ok((true, v)) => {
            let mark = out.mark();
            convert::lua_to_reply(out, &v, resp3);
            let failed = out.buf.get(mark) == Some(&b'-');
            let error_counted = match &v {
                Value::Table(t) if failed => counted(t),
                _ => false,
            };
            Outcome {
                failed,
                error_counted,
            }
        }
        Ok((false, Value::Table(t))) => {
            let msg: String = t
                .raw_get::<mlua::LuaString>("err")
                .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
                .unwrap_or_else(|_| "ERR unknown error".into());
            let source: Option<String> = t.raw_get("source").ok();
            let line: Option<i64> = t.raw_get("line").ok();
            let text = match (source, line) {
                (Some(s), Some(l)) => format!("{msg} script: {name}, on {s}:{l}."),
                _ => msg,
            };
            out.error(&text);
            Outcome {
                failed: true,
                error_counted: counted(&t),
            }
        }
        Ok((false, v)) => {
            let msg = match &v {
                Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                _ => "execution failure".into(),
            };
            out.error(&format!(
                "ERR Error running script {name}, {}",
                truncate(&msg, 100)
            ));
            Outcome::failed()
        }
        Err(e) => {
            out.error(&format!(
                "ERR Error running script {name}, {}",
                truncate(&lua_message(&e), 100)
            ));
            Outcome::failed()
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The message Lua gave, without mlua's decoration.
fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        other => other.to_string(),
    }
}

/// A Lua error table `{err=...}` for a refusal, marked as already counted in the error
/// statistics.
fn error_table(lua: &mlua::Lua, msg: &str) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("err", super::error_text(msg))?;
    t.raw_set("ignore_error_stats_update", true)?;
    Ok(Value::Table(t))
}

/// Formats a Lua number as Redis passes it to a command (`%.17g`).
pub(super) fn number_arg(n: f64) -> Bytes {
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is 64 bytes and the format takes one double.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%.17g".as_ptr(),
            n,
        )
    };
    let len = (len.max(0) as usize).min(buf.len() - 1);
    Bytes::copy_from_slice(&buf[..len])
}

/// `redis.call` / `redis.pcall`'s primitive: the reply as a Lua value, and whether it is an
/// error that `redis.call` raises.
fn redis_call(lua: &mlua::Lua, run: &mut Run, argv: MultiValue) -> mlua::Result<(Value, bool)> {
    if argv.is_empty() {
        return Ok((
            error_table(
                lua,
                "Please specify at least one argument for this redis lib call",
            )?,
            true,
        ));
    }
    let mut args = Vec::with_capacity(argv.len());
    for v in argv.iter() {
        match v {
            Value::String(s) => args.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(i) => args.push(number_arg(*i as f64)),
            Value::Number(n) => args.push(number_arg(*n)),
            _ => {
                return Ok((
                    error_table(
                        lua,
                        "Lua redis lib command arguments must be strings or integers",
                    )?,
                    true,
                ))
            }
        }
    }
    match run.call(&args) {
        Ok(reply) => {
            let failed = reply.first() == Some(&b'-');
            Ok((convert::reply_to_lua(lua, reply)?, failed))
        }
        Err(msg) => Ok((error_table(lua, &msg)?, true)),
    }
}

/// `redis.setresp`, `redis.set_repl`, `redis.acl_check_cmd`: `(result, error)`.
fn control(lua: &mlua::Lua, run: &mut Run, argv: MultiValue) -> mlua::Result<(Value, Value)> {
    let op = match argv.front() {
        Some(Value::String(s)) => s.to_str().map(|s| s.to_string()).unwrap_or_default(),
        _ => String::new(),
    };
    let arg = |i: usize| match argv.get(i) {
        Some(Value::Integer(n)) => *n,
        Some(Value::Number(n)) => *n as i64,
        _ => 0,
    };
    match op.as_str() {
        "setresp" => run.resp3 = arg(1) == 3,
        "set_repl" => run.repl = arg(1) as u8,
        "acl_check_cmd" => return acl_check_cmd(lua, run, &argv),
        _ => {}
    }
    Ok((Value::Boolean(true), Value::Nil))
}

/// The figures INFO memory reports.
pub struct Figures {
    /// Bytes EVAL's VM holds.
    pub vm: u64,
    pub cached: u64,
    /// Bytes of the cached scripts' bodies.
    pub bodies: u64,
    pub functions: u64,
    /// Bytes FUNCTION's VM holds.
    pub functions_vm: u64,
    /// Bytes of the libraries' code.
    pub functions_bytes: u64,
}

pub fn figures(stats: &Stats) -> Figures {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Figures {
        vm: get(&stats.vm_bytes),
        cached: get(&stats.cached_scripts),
        bodies: get(&stats.scripts_bytes),
        functions: get(&stats.functions),
        functions_vm: get(&stats.functions_vm_bytes),
        functions_bytes: get(&stats.functions_bytes),
    }
}

/// `redis.acl_check_cmd(cmd, args...)`: whether the script's user may run the command line
/// (Redis's `luaRedisAclCheckCmdPermissionsCommand`); an unknown command (or subcommand)
/// is an error.
fn acl_check_cmd(lua: &mlua::Lua, run: &Run, argv: &MultiValue) -> mlua::Result<(Value, Value)> {
    let mut args = Vec::with_capacity(argv.len().saturating_sub(1));
    for v in argv.iter().skip(1) {
        match v {
            Value::String(s) => args.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(i) => args.push(number_arg(*i as f64)),
            Value::Number(n) => args.push(number_arg(*n)),
            _ => {
                let e = lua.create_string(
                    "ERR Lua redis lib command arguments must be strings or integers",
                )?;
                return Ok((Value::Boolean(false), Value::String(e)));
            }
        }
    }
    // As Redis's lookupCommand: a container's unknown subcommand is no command.
    let spec = args.first().and_then(|name| {
        let cmd = crate::commands::table::lookup(name)?;
        match args.get(1) {
            Some(sub) if !cmd.subcommands.is_empty() => cmd.subcommand(sub),
            _ => Some(cmd),
        }
    });
    let Some(spec) = spec else {
        let e = lua.create_string("ERR Invalid command passed to redis.acl_check_cmd()")?;
        return Ok((Value::Boolean(false), Value::String(e)));
    };
    let allowed = run.conn.user.check(spec, &args).is_ok();
    Ok((Value::Boolean(allowed), Value::Nil))
}
