//! The node's Lua VM and its script cache: compiles scripts once (by SHA1), runs one for a
//! command, forgets them all on SCRIPT FLUSH (with a fresh VM, as Redis does).

use super::call::Run;
use super::convert;
use super::sandbox::{self, Vm};
use super::shebang::{self, Flags};
use crate::protocol::Out;
use bytes::Bytes;
use mlua::{Function, MultiValue, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// A compiled script.
pub struct Script {
    pub body: Bytes,
    pub flags: Flags,
    func: Function,
}

/// Figures INFO reads without the engine's lock (a script may be running under it).
#[derive(Default)]
pub struct Stats {
    pub cached_scripts: AtomicU64,
    /// Bytes of the cached scripts' bodies (`used_memory_scripts_eval`).
    pub scripts_bytes: AtomicU64,
    /// Bytes the Lua VM holds (`used_memory_lua`).
    pub vm_bytes: AtomicU64,
}

pub struct Engine {
    vm: Vm,
    scripts: HashMap<String, Script>,
    /// FUNCTION's libraries, in a VM of their own.
    pub functions: super::functions::Libraries,
    memory_limit: usize,
    busy: std::sync::Arc<super::busy::Busy>,
    pub stats: std::sync::Arc<Stats>,
}

/// What a command runs: a cached script (by SHA1) or a library function (by name).
pub enum Target {
    Script(String),
    Function(String),
}

/// What a script run ended with, besides its reply.
pub struct Outcome {
    /// The reply is an error.
    pub failed: bool,
}

impl Engine {
    /// A fresh VM. `memory_limit`: bytes the VM may hold (0: no limit).
    pub fn new(memory_limit: usize, busy: std::sync::Arc<super::busy::Busy>) -> Self {
        let vm = sandbox::new_vm(memory_limit, busy.clone()).expect("the Lua sandbox builds");
        let e = Engine {
            vm,
            scripts: HashMap::new(),
            functions: super::functions::Libraries::new(memory_limit, busy.clone()),
            memory_limit,
            busy,
            stats: Default::default(),
        };
        e.publish();
        e
    }

    fn publish(&self) {
        let s = &self.stats;
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
        let func = self
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
        self.scripts.insert(
            sha.clone(),
            Script {
                body: body.clone(),
                flags,
                func,
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
            return Outcome { failed: true };
        };
        let func = script.func.clone();
        let result = exec(&self.vm, run, &func, keys, args, false);
        let outcome = reply(result, sha, run.resp3, out);
        reset_prims(&self.vm);
        self.publish();
        outcome
    }

    fn run_function(
        &mut self,
        name: &str,
        run: &mut Run,
        keys: &[Bytes],
        args: &[Bytes],
        out: &mut Out,
    ) -> Outcome {
        let Some(func) = self.functions.callback(name) else {
            out.error("ERR Function not found");
            return Outcome { failed: true };
        };
        let vm = self.functions.vm();
        let result = exec(vm, run, &func, keys, args, true);
        let outcome = reply(result, name, run.resp3, out);
        reset_prims(vm);
        outcome
    }
}

/// After a run: `redis.call` and friends answer that no script runs.
fn reset_prims(vm: &Vm) {
    let lua = &vm.lua;
    vm.prim
        .raw_set("call", sandbox::outside_call(lua).ok())
        .ok();
    vm.prim.raw_set("ctl", sandbox::outside_ctl(lua).ok()).ok();
}

/// Runs `func` with `redis.call` bound to `run`: KEYS and ARGV as globals (EVAL) or as its
/// two arguments (a library function).
fn exec(
    vm: &Vm,
    run: &mut Run,
    func: &Function,
    keys: &[Bytes],
    args: &[Bytes],
    as_args: bool,
) -> mlua::Result<(bool, Value)> {
    let lua = &vm.lua;
    let (k, a) = (array(lua, keys)?, array(lua, args)?);
    if !as_args {
        vm.real_globals.raw_set("KEYS", k.clone())?;
        vm.real_globals.raw_set("ARGV", a.clone())?;
    }
    let cell = RefCell::new(run);
    let prim = &vm.prim;
    lua.scope(|scope| {
        let call = scope.create_function(|lua, argv: MultiValue| {
            let mut run = cell.borrow_mut();
            redis_call(lua, &mut run, argv)
        })?;
        let ctl = scope.create_function(|lua, argv: MultiValue| {
            let mut run = cell.borrow_mut();
            control(lua, &mut run, argv)
        })?;
        prim.raw_set("call", call)?;
        prim.raw_set("ctl", ctl)?;
        if as_args {
            vm.run_with.call::<(bool, Value)>((func.clone(), k, a))
        } else {
            vm.run.call::<(bool, Value)>(func.clone())
        }
    })
}

/// The reply for what a run returned (Redis's `luaCallFunction` end).
fn reply(result: mlua::Result<(bool, Value)>, name: &str, resp3: bool, out: &mut Out) -> Outcome {
    match result {
        Ok((true, v)) => {
            let mark = out.mark();
            convert::lua_to_reply(out, &v, resp3);
            Outcome {
                failed: out.buf.get(mark) == Some(&b'-'),
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
            Outcome { failed: true }
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
            Outcome { failed: true }
        }
        Err(e) => {
            out.error(&format!(
                "ERR Error running script {name}, {}",
                truncate(&lua_message(&e), 100)
            ));
            Outcome { failed: true }
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

fn array(lua: &mlua::Lua, items: &[Bytes]) -> mlua::Result<mlua::Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, k) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(k)?)?;
    }
    Ok(t)
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
fn number_arg(n: f64) -> Bytes {
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
            Ok((convert::reply_to_lua(lua, &reply)?, failed))
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

/// The figures INFO memory reports: (VM bytes, cached scripts, their bodies' bytes).
pub fn figures(stats: &Stats) -> (u64, u64, u64) {
    (
        stats.vm_bytes.load(Ordering::Relaxed),
        stats.cached_scripts.load(Ordering::Relaxed),
        stats.scripts_bytes.load(Ordering::Relaxed),
    )
}
