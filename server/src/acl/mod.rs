//! Users and permissions (ACL), as Redis 7.0 has them: the registry of users, the rules
//! that make them ([`user`], [`selector`]), the commands and categories rules name
//! ([`catalog`]) and the log of denials ([`log`]). Nothing here touches the network: the
//! admission path asks [`user::User::check`], the ACL commands change the [`Registry`].

pub mod catalog;
pub mod file;
pub mod log;
pub mod selector;
pub mod user;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
pub use selector::{Denied, Reason, RuleError};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
pub use user::{Rules, User};

/// The user of the server's own clients (a replica's link to its primary, re-run blocked
/// commands): everything allowed, as Redis's clients without a user.
pub fn internal_user() -> Arc<User> {
    static U: std::sync::OnceLock<Arc<User>> = std::sync::OnceLock::new();
    U.get_or_init(|| Arc::new(User::new(b"default", default_rules())))
        .clone()
}

/// A rule that did not apply (as written), and why.
pub type BadRule = (Vec<u8>, RuleError);

/// Every user, by name; `default` always exists (its `Arc` never changes, so connections
/// that hold it see ACL LOAD and requirepass changes).
pub struct Registry {
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    default: Arc<User>,
    pub log: Mutex<log::Log>,
    /// `acl-pubsub-default allchannels`.
    pubsub_all: AtomicBool,
    /// `acllog-max-len`.
    log_max: AtomicUsize,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// The default user's rules as a fresh server has them.
fn default_rules() -> Rules {
    let mut r = Rules::new(false);
    for op in ["+@all", "~*", "&*", "on", "nopass"] {
        let _ = r.apply(op.as_bytes(), false);
    }
    r
}

/// Merges a selector spread over several words (`(~x`, `+get)`) into one (Redis's
/// `ACLMergeSelectorArguments`); `Err(index)` of an unmatched `(`.
pub fn merge_selectors(args: &[Bytes]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, a) in args.iter().enumerate() {
        if open.is_none() && a.first() == Some(&b'(') && a.last() != Some(&b')') {
            open = Some((j, a.to_vec()));
            continue;
        }
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(a);
            if a.last() == Some(&b')') {
                out.push(open.take().map(|o| o.1).unwrap_or_default());
            }
            continue;
        }
        out.push(a.to_vec());
    }
    match open {
        Some((j, _)) => Err(j),
        None => Ok(out),
    }
}

impl Registry {
    pub fn new() -> Self {
        let default = Arc::new(User::new(b"default", default_rules()));
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), default.clone());
        Registry {
            users: RwLock::new(users),
            default,
            log: Mutex::new(log::Log::default()),
            pubsub_all: AtomicBool::new(false),
            log_max: AtomicUsize::new(128),
        }
    }

    /// Takes `acl-pubsub-default`, `acllog-max-len` and `requirepass` from the settings.
    pub fn apply_settings(&self, s: &crate::config::Settings) {
        self.pubsub_all.store(s.acl_pubsub_all, Ordering::Relaxed);
        self.log_max.store(s.acllog_max_len, Ordering::Relaxed);
    }

    pub fn pubsub_all(&self) -> bool {
        self.pubsub_all.load(Ordering::Relaxed)
    }

    pub fn default_user(&self) -> Arc<User> {
        self.default.clone()
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    /// Every user, by name.
    pub fn all(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// The user these credentials log in as, if they do.
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Option<Arc<User>> {
        let u = self.get(name)?;
        let ok = u.rules().password_ok(pass);
        ok.then_some(u)
    }

    /// The default user's password follows `requirepass` (Redis's
    /// `ACLUpdateDefaultUserPassword`).
    pub fn set_default_password(&self, pass: Option<&str>) {
        let mut r = self.default.rules().clone();
        let pubsub = self.pubsub_all();
        let _ = r.apply(b"resetpass", pubsub);
        match pass {
            Some(p) => {
                let mut op = b">".to_vec();
                op.extend_from_slice(p.as_bytes());
                let _ = r.apply(&op, pubsub);
            }
            None => {
                let _ = r.apply(b"nopass", pubsub);
            }
        }
        self.default.set_rules(r);
    }

    /// Applies rules to a copy of the user (a new one if it does not exist) and, when all
    /// of them apply, makes it the user: `(old rules, the user)` (ACL SETUSER). The error is
    /// the one rule that failed and why.
    pub fn set_user(
        &self,
        name: &[u8],
        ops: &[Vec<u8>],
    ) -> Result<(Option<Rules>, Arc<User>), BadRule> {
        let pubsub = self.pubsub_all();
        let existing = self.get(name);
        let old = existing.as_ref().map(|u| u.rules().clone());
        let mut rules = old.clone().unwrap_or_else(|| Rules::new(pubsub));
        for op in ops {
            rules.apply(op, pubsub).map_err(|e| (op.clone(), e))?;
        }
        let user = match existing {
            Some(u) => {
                u.set_rules(rules);
                u
            }
            None => {
                let u = Arc::new(User::new(name, rules));
                self.users.write().insert(name.to_vec(), u.clone());
                u
            }
        };
        Ok((old, user))
    }

    /// Removes users (never `default`); the ones that existed.
    pub fn delete(&self, names: &[Bytes]) -> Vec<Arc<User>> {
        let mut users = self.users.write();
        names
            .iter()
            .filter(|n| n.as_ref() != b"default")
            .filter_map(|n| users.remove(n.as_ref()))
            .collect()
    }

    /// Replaces every user at once (ACL LOAD, the config file's `user` lines): the default
    /// user keeps its identity and takes the new default rules (a fresh default if none).
    /// Returns the users that went away.
    pub fn replace_all(&self, new: Vec<(Vec<u8>, Rules)>) -> Vec<Arc<User>> {
        let mut users = self.users.write();
        let mut next = BTreeMap::new();
        let mut default_rules_new = None;
        for (name, rules) in new {
            if name == b"default" {
                default_rules_new = Some(rules);
            } else {
                next.insert(name.clone(), Arc::new(User::new(&name, rules)));
            }
        }
        self.default
            .set_rules(default_rules_new.unwrap_or_else(default_rules));
        next.insert(b"default".to_vec(), self.default.clone());
        let old = std::mem::replace(&mut *users, next);
        old.into_iter()
            .filter(|(n, _)| n != b"default")
            .map(|(_, u)| u)
            .collect()
    }

    /// Records a denial (or failed login) in the ACL log.
    pub fn log_denial(&self, e: log::Entry) {
        let max = self.log_max.load(Ordering::Relaxed);
        self.log.lock().add(e, max);
    }
}
