//! A user: whether it may log in, with which passwords, and its selectors. The rules change
//! in place (ACL SETUSER on a user others are logged in as changes what they may do at
//! once, as in Redis), behind a lock that only restricted users' commands ever take.

use super::selector::{has_spaces, Denied, Reason, RuleError, Selector};
use crate::commands::table::CommandSpec;
use bytes::Bytes;
use parking_lot::{RwLock, RwLockReadGuard};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};

/// A user's flags, passwords and selectors (the root selector first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    pub enabled: bool,
    pub nopass: bool,
    /// `skip-sanitize-payload` / `sanitize-payload`, kept to be reported back.
    pub sanitize: Option<bool>,
    /// SHA-256 hex digests.
    pub passwords: Vec<String>,
    pub selectors: Vec<Selector>,
}

/// The hex SHA-256 of a password, as Redis stores and shows it.
pub fn hash_password(pass: &[u8]) -> String {
    let digest = Sha256::digest(pass);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in digest.iter() {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64 && h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// Compares in time that does not depend on where the strings differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Rules {
    /// A new user: off, no passwords, no permissions (channels per `acl-pubsub-default`).
    pub fn new(pubsub_all: bool) -> Self {
        Rules {
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true, pubsub_all)],
        }
    }

    /// Applies one rule (Redis's `ACLSetUser`).
    pub fn apply(&mut self, op: &[u8], pubsub_all: bool) -> Result<(), RuleError> {
        let is = |s: &str| op.eq_ignore_ascii_case(s.as_bytes());
        if op.is_empty() {
            return Ok(());
        }
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Some(false);
        } else if is("sanitize-payload") {
            self.sanitize = Some(true);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else {
                if !valid_hash(&op[1..]) {
                    return Err(RuleError::BadHash);
                }
                String::from_utf8_lossy(&op[1..]).into_owned()
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else {
                if !valid_hash(&op[1..]) {
                    return Err(RuleError::BadHash);
                }
                String::from_utf8_lossy(&op[1..]).into_owned()
            };
            let Some(i) = self.passwords.iter().position(|p| *p == hash) else {
                return Err(RuleError::NoSuchPassword);
            };
            self.passwords.remove(i);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let inner = &op[1..op.len() - 1];
            let words = crate::protocol::parser::split_inline(inner).ok_or(RuleError::Syntax)?;
            let mut s = Selector::new(false, pubsub_all);
            for w in &words {
                s.apply(w)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for r in ["resetpass", "resetkeys", "resetchannels"] {
                self.apply(r.as_bytes(), pubsub_all)?;
            }
            if pubsub_all {
                self.apply(b"allchannels", pubsub_all)?;
            }
            for r in ["off", "sanitize-payload", "clearselectors", "-@all"] {
                self.apply(r.as_bytes(), pubsub_all)?;
            }
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// Everything this user may do, in rule form (Redis's `ACLDescribeUser`).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        s.push_str(if self.enabled { "on " } else { "off " });
        if self.nopass {
            s.push_str("nopass ");
        }
        match self.sanitize {
            Some(false) => s.push_str("skip-sanitize-payload "),
            Some(true) => s.push_str("sanitize-payload "),
            None => {}
        }
        for p in &self.passwords {
            s.push('#');
            s.push_str(p);
            s.push(' ');
        }
        for sel in &self.selectors {
            if sel.root {
                s.push_str(&sel.describe());
            } else {
                s.push_str(&format!(" ({})", sel.describe()));
            }
        }
        s
    }

    /// The flags ACL GETUSER lists.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut v = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            v.push("nopass");
        }
        match self.sanitize {
            Some(false) => v.push("skip-sanitize-payload"),
            Some(true) => v.push("sanitize-payload"),
            None => {}
        }
        v
    }

    /// Whether this password logs in (any password with `nopass`).
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = hash_password(pass);
        self.passwords
            .iter()
            .fold(false, |ok, p| same(p.as_bytes(), h.as_bytes()) | ok)
    }

    /// Whether some selector allows everything.
    pub fn is_open(&self) -> bool {
        self.selectors.iter().any(|s| s.is_open())
    }

    /// Whether the command line may run (Redis's `ACLCheckAllUserCommandPerm`): one selector
    /// must allow all of it; otherwise the most telling denial (a channel over a key over
    /// the command, the last argument at fault).
    pub fn check(&self, spec: &CommandSpec, args: &[Bytes]) -> Result<(), Denied> {
        let cat = super::catalog::get();
        let Some(id) = cat.id_of(spec) else {
            return Err(Denied {
                reason: Reason::Command,
                pos: 0,
            });
        };
        let subcommand = cat.entries[id].parent.is_some();
        let keys = std::cell::OnceCell::new();
        let mut worst = Denied {
            reason: Reason::Command,
            pos: 0,
        };
        for s in &self.selectors {
            match s.check(id, spec, args, subcommand, &keys) {
                Ok(()) => return Ok(()),
                Err(d) => {
                    if d.reason > worst.reason || (d.reason == worst.reason && d.pos > worst.pos) {
                        worst = d;
                    }
                }
            }
        }
        Err(worst)
    }

    /// Whether a channel may be reached by some selector (literal: as a pattern).
    pub fn channel_allowed(&self, channel: &[u8], literal: bool) -> bool {
        self.selectors
            .iter()
            .any(|s| s.allchannels || super::selector::channel_in(&s.channels, channel, literal))
    }
}

/// A user of the registry, shared by the connections logged in as it.
#[derive(Debug)]
pub struct User {
    pub name: Vec<u8>,
    rules: RwLock<Rules>,
    /// Some selector allows everything: the one check on the hot path.
    open: AtomicBool,
}

impl User {
    pub fn new(name: &[u8], rules: Rules) -> Self {
        let open = AtomicBool::new(rules.is_open());
        User {
            name: name.to_vec(),
            rules: RwLock::new(rules),
            open,
        }
    }

    pub fn rules(&self) -> RwLockReadGuard<'_, Rules> {
        self.rules.read()
    }

    /// Replaces the rules (ACL SETUSER, ACL LOAD, requirepass).
    pub fn set_rules(&self, rules: Rules) {
        let mut g = self.rules.write();
        self.open.store(rules.is_open(), Ordering::Release);
        *g = rules;
    }

    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// Whether the command line may run as this user.
    #[inline]
    pub fn check(&self, spec: &CommandSpec, args: &[Bytes]) -> Result<(), Denied> {
        if self.open.load(Ordering::Acquire) {
            return Ok(());
        }
        self.rules.read().check(spec, args)
    }

    /// Whether a selector that allows the command line may also read every key (Redis's
    /// `ACLUserCheckCmdWithUnrestrictedKeyAccess`): SORT's BY and GET read keys that no key
    /// spec names.
    pub fn reads_every_key(&self, spec: &CommandSpec, args: &[Bytes]) -> bool {
        if self.open.load(Ordering::Acquire) {
            return true;
        }
        let r = self.rules.read();
        let cat = super::catalog::get();
        let Some(id) = cat.id_of(spec) else {
            return false;
        };
        let subcommand = cat.entries[id].parent.is_some();
        let keys = std::cell::OnceCell::new();
        r.selectors.iter().any(|s| {
            s.check(id, spec, args, subcommand, &keys).is_ok()
                && (s.allkeys
                    || s.keys
                        .iter()
                        .any(|p| p.flags & super::selector::READ != 0 && p.pattern == b"*"))
        })
    }

    /// A connection that has not authenticated must, unless this (default) user is on and
    /// needs no password (Redis's `authRequired`).
    pub fn requires_auth(&self) -> bool {
        let r = self.rules.read();
        !r.nopass || !r.enabled
    }
}

/// A name a user may have.
pub fn valid_name(name: &[u8]) -> bool {
    !has_spaces(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::table;

    fn rules(ops: &[&str]) -> Rules {
        let mut r = Rules::new(false);
        for op in ops {
            r.apply(op.as_bytes(), false).unwrap();
        }
        r
    }

    fn line(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn check(r: &Rules, cmd: &str) -> Result<(), Denied> {
        let args = line(cmd);
        let spec = crate::admission::spec_of(&args).unwrap();
        r.check(spec, &args)
    }

    #[test]
    fn descriptions_are_redis_own() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "off resetchannels -@all"),
            (
                &["on", "nopass", "~*", "&*", "+@all"],
                "on nopass ~* &* +@all",
            ),
            (
                &["+@all", "-client", "+client|id"],
                "off resetchannels +@all -client +client|id",
            ),
            (
                &["-@all", "+memory|doctor"],
                "off resetchannels -@all +memory|doctor",
            ),
            (
                &["-@all", "+memory|doctor", "+memory"],
                "off resetchannels -@all +memory",
            ),
            (
                &["+@all", "-memory|doctor", "-memory"],
                "off resetchannels +@all -memory",
            ),
            (&["-@all", "+select|0"], "off resetchannels -@all +select|0"),
            (
                &["%R~r*", "%W~w*", "%RW~b*", "~b*"],
                "off %R~r* %W~w* ~b* resetchannels -@all",
            ),
            (&["reset"], "off sanitize-payload resetchannels -@all"),
            (
                &["(~x +get)"],
                "off resetchannels -@all (~x resetchannels -@all +get)",
            ),
        ];
        for (ops, want) in cases {
            assert_eq!(rules(ops).describe(), *want, "{ops:?}");
        }
    }

    #[test]
    fn categories_round_trip_through_their_description() {
        for cat in super::super::catalog::CATEGORIES {
            let plus = rules(&["+@all", &format!("-@{cat}")]);
            assert_eq!(
                plus.selectors[0].describe_commands(),
                format!("+@all -@{cat}")
            );
            let minus = rules(&["-@all", &format!("+@{cat}")]);
            assert_eq!(
                minus.selectors[0].describe_commands(),
                format!("-@all +@{cat}")
            );
        }
    }

    #[test]
    fn rule_errors_are_redis_own() {
        let mut r = Rules::new(false);
        let cases: &[(&str, RuleError)] = &[
            ("+nosuch", RuleError::UnknownName),
            ("-@nosuch", RuleError::UnknownName),
            ("+client|nosuch", RuleError::UnknownName),
            ("+client|id|x", RuleError::SubcommandFirstArg),
            ("+select|", RuleError::Syntax),
            ("bogus", RuleError::Syntax),
            ("~a b", RuleError::Syntax),
            ("%X~k", RuleError::Syntax),
            ("#abc", RuleError::BadHash),
            ("<nopw", RuleError::NoSuchPassword),
        ];
        for (op, want) in cases {
            assert_eq!(r.apply(op.as_bytes(), false), Err(*want), "{op}");
        }
        r.apply(b"allkeys", false).unwrap();
        assert_eq!(r.apply(b"~k", false), Err(RuleError::KeyAfterAll));
        r.apply(b"allchannels", false).unwrap();
        assert_eq!(r.apply(b"&c", false), Err(RuleError::ChannelAfterAll));
    }

    #[test]
    fn checks_commands_first_args_keys_and_channels() {
        let r = rules(&[
            "-@all",
            "+get",
            "+select|0",
            "+config|get",
            "%R~r*",
            "&c*",
            "+publish",
        ]);
        assert_eq!(check(&r, "get r1"), Ok(()));
        assert_eq!(check(&r, "select 0"), Ok(()));
        assert_eq!(check(&r, "config get maxmemory"), Ok(()));
        let cmd = Err(Denied {
            reason: Reason::Command,
            pos: 0,
        });
        assert_eq!(check(&r, "select 1"), cmd);
        assert_eq!(check(&r, "config set maxmemory 1"), cmd);
        assert_eq!(
            check(&r, "get w1"),
            Err(Denied {
                reason: Reason::Key,
                pos: 1
            })
        );
        assert_eq!(check(&r, "publish c1 m"), Ok(()));
        assert_eq!(
            check(&r, "publish d1 m"),
            Err(Denied {
                reason: Reason::Channel,
                pos: 1
            })
        );
        // NO_AUTH commands always run.
        assert_eq!(check(&r, "auth a b"), Ok(()));
        assert!(table::lookup(b"get").is_some());
    }

    /// The cost of one check, in-process (no network noise): the default user's (one
    /// atomic load and a branch) and a restricted user's with ten key patterns.
    /// `cargo test --release -p slotcache-server check_cost -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn check_cost() {
        let open = User::new(b"default", rules(&["on", "nopass", "~*", "&*", "+@all"]));
        let restricted = User::new(
            b"bench",
            rules(&[
                "on",
                "%R~a*",
                "%W~b*",
                "~c*",
                "~d*",
                "~e*",
                "~f*",
                "~g*",
                "~h*",
                "~i*",
                "~key:*",
                "+@read",
                "+@write",
                "-@dangerous",
            ]),
        );
        let n = 2_000_000u32;
        for (cmd, key) in [("set", "key:000012345"), ("get", "key:000012345")] {
            let mut args = vec![
                Bytes::from_static(cmd.as_bytes()),
                Bytes::from_static(key.as_bytes()),
            ];
            if cmd == "set" {
                args.push(Bytes::from_static(b"xxx"));
            }
            let spec = crate::admission::spec_of(&args).unwrap();
            for (name, u) in [("default", &open), ("restricted", &restricted)] {
                let t = std::time::Instant::now();
                for _ in 0..n {
                    assert!(std::hint::black_box(u).check(spec, &args).is_ok());
                }
                let ns = t.elapsed().as_nanos() as f64 / f64::from(n);
                println!("{cmd} as {name}: {ns:.1} ns per check");
            }
        }
    }

    #[test]
    fn passwords_are_kept_hashed_and_compared_whole() {
        let mut r = rules(&["on", ">one", ">two"]);
        assert!(r.password_ok(b"one") && r.password_ok(b"two"));
        assert!(!r.password_ok(b"on") && !r.password_ok(b""));
        assert_eq!(
            r.passwords[0],
            "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
        );
        r.apply(b"<one", false).unwrap();
        assert!(!r.password_ok(b"one"));
        r.apply(b"off", false).unwrap();
        assert!(!r.password_ok(b"two"), "a disabled user cannot log in");
        r.apply(b"on", false).unwrap();
        r.apply(b"nopass", false).unwrap();
        assert!(r.password_ok(b"anything"));
    }
}
