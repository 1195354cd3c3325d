//! FUNCTION's libraries: Lua code loaded once (`#!lua name=<lib>`) that registers named
//! functions with `redis.register_function`, called by FCALL. They live in a VM of their
//! own (SCRIPT FLUSH does not touch them; FUNCTION FLUSH makes a new one), as in Redis 7.0.

use super::sandbox::{self, Vm};
use super::shebang::Flags;
use bytes::Bytes;
use mlua::{MultiValue, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// A function a library registered.
pub struct LibFunction {
    pub name: String,
    pub description: Option<String>,
    pub flags: Flags,
    /// The flags as registered, for FUNCTION LIST.
    pub flag_names: Vec<String>,
    /// The callback's key in the VM's `store`.
    key: i64,
}

pub struct Library {
    pub name: String,
    pub code: Bytes,
    /// By lower-cased name (function names are case-insensitive).
    pub functions: BTreeMap<String, LibFunction>,
}

pub struct Libraries {
    vm: Vm,
    libs: BTreeMap<String, Library>,
    /// Lower-cased function name -> its library.
    owner: HashMap<String, String>,
    memory_limit: usize,
    busy: std::sync::Arc<super::busy::Busy>,
    /// The `store` key the next registered callback gets.
    next_key: std::cell::Cell<i64>,
}

/// Letters, digits and underscores, at least one (library and function names).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// `#!lua name=<lib>`: the library's name and where its code starts (Redis's
/// `functionExtractLibMetaData`).
fn metadata(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let line = String::from_utf8_lossy(&code[..end]);
    // Words as Redis's sdssplitargs makes them (`name="foo"` is `name=foo`).
    let Some(words) = super::shebang::split_args(&line).filter(|w| !w.is_empty()) else {
        return Err("ERR Invalid library metadata".into());
    };
    let mut parts = words.iter().map(String::as_str);
    let engine = parts
        .next()
        .unwrap_or("#!")
        .trim_start_matches("#!")
        .to_string();
    let mut name = None;
    for part in parts {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(part[5..].to_string());
            continue;
        }
        return Err(format!("ERR Invalid metadata value given: {part}"));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    if !valid_name(&name) {
        return Err(format!("ERR {BAD_NAME}"));
    }
    Ok((name, end))
}

impl Libraries {
    pub fn new(memory_limit: usize, busy: std::sync::Arc<super::busy::Busy>) -> Self {
        Libraries {
            vm: sandbox::new_vm(memory_limit, busy.clone()).expect("the Lua sandbox builds"),
            libs: BTreeMap::new(),
            owner: HashMap::new(),
            memory_limit,
            busy,
            next_key: std::cell::Cell::new(1),
        }
    }

    /// `lua-memory-limit` for this VM (and the next one FUNCTION FLUSH makes).
    pub fn set_memory_limit(&mut self, limit: usize) {
        self.memory_limit = limit;
        sandbox::set_memory_limit(&self.vm.lua, limit);
    }

    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// A function by name (case-insensitive, as Redis's function dictionary).
    pub fn function(&self, name: &str) -> Option<&LibFunction> {
        let key = name.to_ascii_lowercase();
        let lib = self.owner.get(&key)?;
        self.libs.get(lib)?.functions.get(&key)
    }

    /// The key of a function's callback in the VM's `store`.
    pub fn callback(&self, name: &str) -> Option<i64> {
        self.function(name).map(|f| f.key)
    }

    /// Drops the callbacks of functions no library keeps.
    fn forget<'a>(&self, functions: impl IntoIterator<Item = &'a LibFunction>) {
        for f in functions {
            self.vm.store.raw_set(f.key, Value::Nil).ok();
        }
    }

    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libs.values()
    }

    /// (libraries, functions), for FUNCTION STATS and INFO.
    pub fn counts(&self) -> (usize, usize) {
        (self.libs.len(), self.owner.len())
    }

    /// FUNCTION FLUSH: no library, and a fresh VM.
    pub fn flush(&mut self) {
        self.libs.clear();
        self.owner.clear();
        if let Ok(vm) = sandbox::new_vm(self.memory_limit, self.busy.clone()) {
            self.vm = vm;
        }
    }

    /// FUNCTION DELETE.
    pub fn delete(&mut self, name: &str) -> bool {
        match self.libs.remove(name) {
            Some(lib) => {
                for f in lib.functions.keys() {
                    self.owner.remove(f);
                }
                self.forget(lib.functions.values());
                true
            }
            None => false,
        }
    }

    /// FUNCTION LOAD [REPLACE]: the library's name, or the error reply.
    pub fn load(&mut self, code: &Bytes, replace: bool) -> Result<String, String> {
        let (name, at) = metadata(code)?;
        if self.libs.contains_key(&name) && !replace {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let lua = &self.vm.lua;
        sandbox::relieve(lua, self.memory_limit);
        let chunk = lua
            .load(&code[at..])
            .set_name("@user_function")
            .set_mode(mlua::chunk::ChunkMode::Text)
            .set_environment(self.vm.globals.clone())
            .into_function()
            .map_err(|e| format!("ERR Error compiling function: {}", message(&e)))?;
        let registered = self.register(&chunk)?;
        if registered.is_empty() {
            return Err("ERR No functions registered".into());
        }
        for (key, f) in &registered {
            if self.owner.get(key).is_some_and(|other| *other != name) {
                self.forget(registered.values());
                return Err(format!("ERR Function {} already exists", f.name));
            }
        }
        self.delete(&name);
        for f in registered.keys() {
            self.owner.insert(f.clone(), name.clone());
        }
        self.libs.insert(
            name.clone(),
            Library {
                name: name.clone(),
                code: code.clone(),
                functions: registered,
            },
        );
        Ok(name)
    }

    /// FUNCTION RESTORE with a policy (`append`, `replace`, `flush`): all libraries load, or
    /// nothing changes.
    pub fn restore(&mut self, codes: &[Bytes], policy: &str) -> Result<(), String> {
        let saved_libs = std::mem::take(&mut self.libs);
        let saved_owner = std::mem::take(&mut self.owner);
        for code in codes {
            if let Err(e) = self.load(code, false) {
                let loaded = std::mem::take(&mut self.libs);
                self.forget(loaded.values().flat_map(|l| l.functions.values()));
                self.libs = saved_libs;
                self.owner = saved_owner;
                return Err(e);
            }
        }
        if policy == "flush" {
            self.forget(saved_libs.values().flat_map(|l| l.functions.values()));
            return Ok(());
        }
        let restored = std::mem::replace(&mut self.libs, saved_libs);
        let restored_owner = std::mem::replace(&mut self.owner, saved_owner);
        // Check every collision before changing anything.
        for (name, lib) in &restored {
            let clash = if self.libs.contains_key(name) && policy != "replace" {
                Some(format!("ERR Library {name} already exists"))
            } else {
                lib.functions
                    .iter()
                    .find(|(key, _)| self.owner.get(*key).is_some_and(|other| other != name))
                    .map(|(_, f)| format!("ERR Function {} already exists", f.name))
            };
            if let Some(e) = clash {
                self.forget(restored.values().flat_map(|l| l.functions.values()));
                return Err(e);
            }
        }
        for (name, lib) in restored {
            self.delete(&name);
            self.libs.insert(name, lib);
        }
        self.owner.extend(restored_owner);
        Ok(())
    }

    /// Runs a library's code with the loading API, collecting what it registers.
    fn register(&self, chunk: &mlua::Function) -> Result<BTreeMap<String, LibFunction>, String> {
        let vm = &self.vm;
        let found: RefCell<BTreeMap<String, LibFunction>> = RefCell::new(BTreeMap::new());
        let ran = vm.lua.scope(|scope| {
            let register = scope.create_function(|_, argv: MultiValue| {
                Ok(add(
                    &mut found.borrow_mut(),
                    argv,
                    &vm.store,
                    &self.next_key,
                ))
            })?;
            vm.prim.raw_set("register", register)?;
            vm.set_loading.call::<()>(true)?;
            self.busy.loading(true);
            let r = vm.run.call::<(bool, Value)>(chunk.clone());
            self.busy.loading(false);
            vm.set_loading.call::<()>(false)?;
            r
        });
        vm.prim
            .raw_set("register", sandbox::outside_register(&vm.lua).ok())
            .ok();
        let found = found.into_inner();
        if !matches!(ran, Ok((true, _))) {
            self.forget(found.values());
        }
        match ran {
            Ok((true, _)) => Ok(found),
            Ok((false, Value::Table(t))) => {
                let e: String = t
                    .raw_get::<mlua::LuaString>("err")
                    .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
                    .unwrap_or_default();
                Err(format!("ERR Error registering functions: {e}"))
            }
            Ok((false, v)) => Err(format!(
                "ERR Error registering functions: {}",
                match v {
                    Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                    _ => "unknown error".into(),
                }
            )),
            Err(e) => Err(format!("ERR Error registering functions: {}", message(&e))),
        }
    }
}

/// `redis.register_function`'s checks that the Lua side leaves to Rust: the name, the
/// flags, a second function of the same name. `None` when registered, else the error.
fn add(
    found: &mut BTreeMap<String, LibFunction>,
    argv: MultiValue,
    store: &mlua::Table,
    next_key: &std::cell::Cell<i64>,
) -> Option<String> {
    let mut it = argv.into_iter();
    let name = match it.next() {
        Some(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
        _ => return Some("ERR first argument to redis.register_function must be a string".into()),
    };
    let Some(Value::Function(callback)) = it.next() else {
        return Some("ERR second argument to redis.register_function must be a function".into());
    };
    let mut flags = Flags::default();
    let mut flag_names = Vec::new();
    if let Some(Value::Table(t)) = it.next() {
        for v in t.sequence_values::<mlua::LuaString>().flatten() {
            let f = String::from_utf8_lossy(&v.as_bytes()).into_owned();
            if !flags.set(&f) {
                return Some("ERR unknown flag given".into());
            }
            flag_names.push(f);
        }
    }
    let description = match it.next() {
        Some(Value::String(s)) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        _ => None,
    };
    if !valid_name(&name) {
        return Some(format!("ERR {BAD_NAME}"));
    }
    let key = name.to_ascii_lowercase();
    if found.contains_key(&key) {
        return Some("ERR Function already exists in the library".into());
    }
    let at = next_key.get();
    if let Err(e) = store.raw_set(at, callback) {
        return Some(format!("ERR {}", message(&e)));
    }
    next_key.set(at + 1);
    found.insert(
        key,
        LibFunction {
            name,
            description,
            flags,
            flag_names,
            key: at,
        },
    );
    None
}

fn message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => message(cause),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_metadata_as_redis_reads_it() {
        assert_eq!(
            metadata(b"#!lua name=lib\ncode").unwrap(),
            ("lib".into(), 14)
        );
        assert_eq!(
            metadata(b"return 1").unwrap_err(),
            "ERR Missing library metadata"
        );
        assert_eq!(
            metadata(b"#! name=x\n").unwrap_err(),
            "ERR Engine '' not found"
        );
        assert_eq!(
            metadata(b"#!lua name=a foo=bar\n").unwrap_err(),
            "ERR Invalid metadata value given: foo=bar"
        );
        assert_eq!(
            metadata(b"#!lua\n").unwrap_err(),
            "ERR Library name was not given"
        );
        assert_eq!(
            metadata(b"#!lua name=a name=b\n").unwrap_err(),
            "ERR Invalid metadata value, name argument was given multiple times"
        );
        assert_eq!(
            metadata(b"#!lua name=\"foo\"\n").unwrap(),
            ("foo".into(), 16)
        );
        assert_eq!(
            metadata(b"#!lua name=\"foo\n").unwrap_err(),
            "ERR Invalid library metadata"
        );
        assert!(metadata(b"#!lua name=a-b\n")
            .unwrap_err()
            .contains("Library names"));
    }
}
