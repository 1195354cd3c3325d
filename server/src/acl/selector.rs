//! A selector: one set of permissions (commands, key patterns, channel patterns) as Redis's
//! `aclSelector` holds it. A user has a root selector and any number of `(...)` ones; a
//! command runs when one of them allows all of it.

use super::catalog::{self, Catalog, FUTURE, WORDS};
use crate::commands::keyspec::{key_flags, KeyRef};
use crate::commands::table::{facts, flags, CommandSpec};
use bytes::Bytes;
use std::cell::OnceCell;
use std::collections::BTreeMap;

/// A key pattern's permissions.
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
pub const ALL: u8 = READ | WRITE;

#[derive(Clone, Debug)]
pub struct KeyPattern {
    pub flags: u8,
    pub pattern: Vec<u8>,
    /// The pattern compiled once, when the rule is applied: every command of a user with
    /// key patterns matches its keys against it.
    glob: crate::glob::Glob,
}

impl PartialEq for KeyPattern {
    fn eq(&self, o: &Self) -> bool {
        self.flags == o.flags && self.pattern == o.pattern
    }
}

impl Eq for KeyPattern {}

impl KeyPattern {
    /// `~pat`, `%R~pat`, `%W~pat`, as rules write it.
    fn describe(&self, s: &mut String) {
        s.push_str(match self.flags {
            READ => "%R~",
            WRITE => "%W~",
            _ => "~",
        });
        s.push_str(&String::from_utf8_lossy(&self.pattern));
    }
}

/// Why a rule was not applied (Redis's errno values in `ACLSetUser`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    UnknownName,
    KeyAfterAll,
    ChannelAfterAll,
    NoSuchPassword,
    BadHash,
    SubcommandFirstArg,
    Duplicate,
}

impl RuleError {
    /// The text Redis's `ACLSetUserStringError` gives.
    pub fn message(self) -> &'static str {
        match self {
            RuleError::Syntax => "Syntax error",
            RuleError::UnknownName => "Unknown command or category name in ACL",
            RuleError::KeyAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::SubcommandFirstArg => "Allowing first-arg of a subcommand is not supported",
            RuleError::Duplicate => {
                "Duplicate user found. A user can only be defined once in config files"
            }
        }
    }
}

/// Why a command was denied, ordered as Redis ranks them when it picks one error among
/// selectors (`ACL_DENIED_CMD` < `ACL_DENIED_KEY` < `ACL_DENIED_CHANNEL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Command,
    Key,
    Auth,
    Channel,
}

impl Reason {
    /// As ACL LOG names it.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Auth => "auth",
            Reason::Channel => "channel",
        }
    }
}

/// A denial: why, and the position of the key or channel argument at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Denied {
    pub reason: Reason,
    pub pos: usize,
}

/// A spaces- or NUL-containing name or pattern is refused (Redis's `ACLStringHasSpaces`).
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| b == 0 || b.is_ascii_whitespace() || b == 0x0b)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub root: bool,
    pub allkeys: bool,
    pub allchannels: bool,
    pub allcommands: bool,
    allowed: [u64; WORDS],
    /// Per command id, the first arguments allowed of an otherwise denied command
    /// (`+select|0`).
    firstargs: BTreeMap<usize, Vec<Vec<u8>>>,
    pub keys: Vec<KeyPattern>,
    pub channels: Vec<Vec<u8>>,
}

impl Selector {
    /// An empty selector: no commands, keys or channels, unless `acl-pubsub-default` is
    /// `allchannels` (`pubsub_all`).
    pub fn new(root: bool, pubsub_all: bool) -> Self {
        Selector {
            root,
            allkeys: false,
            allchannels: pubsub_all,
            allcommands: false,
            allowed: [0; WORDS],
            firstargs: BTreeMap::new(),
            keys: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// Everything allowed: one check at the head of every command skips the rest.
    pub fn is_open(&self) -> bool {
        self.allcommands && self.allkeys && self.allchannels
    }

    fn bit(&self, id: usize) -> bool {
        id < catalog::BITS && self.allowed[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if id >= catalog::BITS {
            return;
        }
        if on {
            self.allowed[id / 64] |= 1 << (id % 64);
        } else {
            self.allowed[id / 64] &= !(1 << (id % 64));
            self.allcommands = false;
        }
    }

    /// Allows or denies a command and, for a container, all its subcommands.
    fn change_perm(&mut self, cat: &Catalog, id: usize, allow: bool) {
        self.set_bit(id, allow);
        self.firstargs.remove(&id);
        for &s in &cat.entries[id].subs {
            self.set_bit(s, allow);
        }
    }

    fn set_category_logic(&mut self, cat: &Catalog, ids: &[usize], bit: usize, allow: bool) {
        for &id in ids {
            if cat.entries[id].cats & (1 << bit) != 0 {
                self.change_perm(cat, id, allow);
            }
            let subs = cat.entries[id].subs.clone();
            if !subs.is_empty() {
                self.set_category_logic(cat, &subs, bit, allow);
            }
        }
    }

    fn set_category(&mut self, bit: usize, allow: bool) {
        let cat = catalog::get();
        self.set_category_logic(cat, &cat.top, bit, allow);
    }

    fn count_category(&self, cat: &Catalog, bit: usize) -> (usize, usize) {
        let (mut on, mut off) = (0, 0);
        for e in cat.entries.iter().enumerate() {
            if e.1.cats & (1 << bit) != 0 {
                if self.bit(e.0) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    /// Applies one rule (Redis's `ACLSetSelector`).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |s: &str| op.eq_ignore_ascii_case(s.as_bytes());
        let cat = catalog::get();
        if is("allkeys") || is("~*") {
            self.allkeys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.allkeys = false;
            self.keys.clear();
        } else if is("allchannels") || is("&*") {
            self.allchannels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.allchannels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.allowed = [u64::MAX; WORDS];
            self.allcommands = true;
            self.firstargs.clear();
        } else if is("nocommands") || is("-@all") {
            self.allowed = [0; WORDS];
            self.allcommands = false;
            self.firstargs.clear();
        } else if op.first() == Some(&b'~') || op.first() == Some(&b'%') {
            if self.allkeys {
                return Err(RuleError::KeyAfterAll);
            }
            let (flags, offset) = key_pattern_flags(op)?;
            let pattern = &op[offset..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            match self.keys.iter_mut().find(|p| p.pattern == pattern) {
                Some(p) => p.flags |= flags,
                None => self.keys.push(KeyPattern {
                    flags,
                    pattern: pattern.to_vec(),
                    glob: crate::glob::Glob::new(pattern, false),
                }),
            }
            self.allkeys = false;
        } else if op.first() == Some(&b'&') {
            if self.allchannels {
                return Err(RuleError::ChannelAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.allchannels = false;
        } else if op.first() == Some(&b'+') && op.get(1) != Some(&b'@') {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    let id = cat.lookup(name).ok_or(RuleError::UnknownName)?;
                    self.change_perm(cat, id, true);
                }
                Some(bar) => {
                    let id = cat.lookup(&name[..bar]).ok_or(RuleError::UnknownName)?;
                    if cat.entries[id].parent.is_some() {
                        return Err(RuleError::SubcommandFirstArg);
                    }
                    let sub = &name[bar + 1..];
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if !cat.entries[id].subs.is_empty() {
                        let sid = cat.lookup(name).ok_or(RuleError::UnknownName)?;
                        self.change_perm(cat, sid, true);
                    } else {
                        tracing::warn!(
                            "Deprecation warning: Allowing a first arg of an otherwise blocked command is a misuse of ACL and may get disabled in the future (offender: +{})",
                            String::from_utf8_lossy(name)
                        );
                        let list = self.firstargs.entry(id).or_default();
                        if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                            list.push(sub.to_vec());
                        }
                    }
                }
            }
        } else if op.first() == Some(&b'-') && op.get(1) != Some(&b'@') {
            let id = cat.lookup(&op[1..]).ok_or(RuleError::UnknownName)?;
            self.change_perm(cat, id, false);
        } else if (op.first() == Some(&b'+') || op.first() == Some(&b'-'))
            && op.get(1) == Some(&b'@')
        {
            let bit = catalog::category(&op[2..]).ok_or(RuleError::UnknownName)?;
            self.set_category(bit, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// The command rules that rebuild this selector's bitmap (Redis's
    /// `ACLDescribeSelectorCommandRules`): `+@all` or `-@all`, the categories that fit best,
    /// then single commands.
    pub fn describe_commands(&self) -> String {
        let cat = catalog::get();
        let mut rules = String::new();
        let additive = !self.bit(FUTURE);
        let mut fake = Selector::new(false, false);
        if additive {
            rules.push_str("-@all ");
            let _ = fake.apply(b"-@all");
        } else {
            rules.push_str("+@all ");
            let _ = fake.apply(b"+@all");
        }
        let mut temp = Selector::new(false, false);
        temp.allowed = self.allowed;
        let mut applied = [false; catalog::CATEGORIES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, done) in applied.iter().enumerate() {
                if *done {
                    continue;
                }
                let (on, off) = temp.count_category(cat, j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(best) = best else {
                break;
            };
            fake.set_category(best, additive);
            temp.set_category(best, !additive);
            rules.push_str(if additive { "+@" } else { "-@" });
            rules.push_str(catalog::CATEGORIES[best]);
            rules.push(' ');
            applied[best] = true;
        }
        self.describe_single(cat, &mut fake, &mut rules, &cat.top);
        rules.pop();
        rules
    }

    fn describe_single(
        &self,
        cat: &Catalog,
        fake: &mut Selector,
        rules: &mut String,
        ids: &[usize],
    ) {
        for &id in ids {
            let userbit = self.bit(id);
            if userbit != fake.bit(id) {
                rules.push(if userbit { '+' } else { '-' });
                rules.push_str(&cat.entries[id].full);
                rules.push(' ');
                fake.change_perm(cat, id, userbit);
            }
            if !cat.entries[id].subs.is_empty() {
                self.describe_single(cat, fake, rules, &cat.entries[id].subs);
            }
            if !userbit {
                for arg in self.firstargs.get(&id).into_iter().flatten() {
                    rules.push('+');
                    rules.push_str(&cat.entries[id].full);
                    rules.push('|');
                    rules.push_str(&String::from_utf8_lossy(arg));
                    rules.push(' ');
                }
            }
        }
    }

    /// Key patterns as ACL GETUSER shows them.
    pub fn describe_keys(&self) -> String {
        if self.allkeys {
            return "~*".into();
        }
        let mut s = String::new();
        for (i, p) in self.keys.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            p.describe(&mut s);
        }
        s
    }

    /// Channel patterns as ACL GETUSER shows them.
    pub fn describe_channels(&self) -> String {
        if self.allchannels {
            return "&*".into();
        }
        let parts: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        parts.join(" ")
    }

    /// The whole selector in rule form (ACL LIST, the ACL file).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if self.allkeys {
            s.push_str("~* ");
        } else {
            for p in &self.keys {
                p.describe(&mut s);
                s.push(' ');
            }
        }
        if self.allchannels {
            s.push_str("&* ");
        } else {
            s.push_str("resetchannels ");
            for c in &self.channels {
                s.push('&');
                s.push_str(&String::from_utf8_lossy(c));
                s.push(' ');
            }
        }
        s.push_str(&self.describe_commands());
        s
    }

    /// Whether this selector allows the command line (Redis's `ACLSelectorCheckCmd`).
    /// `keys` holds the command's keys, found once for all selectors.
    pub fn check(
        &self,
        id: usize,
        spec: &CommandSpec,
        args: &[Bytes],
        subcommand: bool,
        keys: &OnceCell<Vec<KeyRef>>,
    ) -> Result<(), Denied> {
        let denied = |reason, pos| Err(Denied { reason, pos });
        if !self.allcommands && !spec.has(flags::NO_AUTH) && !self.bit(id) {
            let idx = if subcommand { 2 } else { 1 };
            let ok = match (self.firstargs.get(&id), args.get(idx)) {
                (Some(list), Some(arg)) if args.len() >= 2 => {
                    list.iter().any(|a| a.eq_ignore_ascii_case(arg))
                }
                _ => false,
            };
            if !ok {
                return denied(Reason::Command, 0);
            }
        }
        if !self.allkeys && spec.has_keys() {
            for k in keys.get_or_init(|| spec.keys(args)) {
                let Some(key) = args.get(k.pos) else {
                    continue;
                };
                if !self.key_allowed(key, k.flags) {
                    return denied(Reason::Key, k.pos);
                }
            }
        }
        if !self.allchannels {
            let (first, last, literal) = if spec.is(facts::PUBLISHES) {
                (1, 2, false)
            } else if spec.is(facts::SUBSCRIBES) {
                (1, args.len(), false)
            } else if spec.is(facts::PSUBSCRIBES) {
                (1, args.len(), true)
            } else {
                return Ok(());
            };
            for (pos, ch) in args.iter().enumerate().take(last).skip(first) {
                if !channel_in(&self.channels, ch, literal) {
                    return denied(Reason::Channel, pos);
                }
            }
        }
        Ok(())
    }

    /// Whether a key may be touched with these key-spec flags (Redis's
    /// `ACLSelectorCheckKey`).
    pub fn key_allowed(&self, key: &[u8], spec_flags: u32) -> bool {
        if self.allkeys {
            return true;
        }
        let mut need = 0;
        if spec_flags & key_flags::ACCESS != 0 {
            need |= READ;
        }
        if spec_flags & (key_flags::INSERT | key_flags::DELETE | key_flags::UPDATE) != 0 {
            need |= WRITE;
        }
        self.keys
            .iter()
            .any(|p| p.flags & need == need && p.glob.matches(key))
    }
}

/// Whether a channel (or, `literal`, a pattern subscribed to as such) is in a list of
/// channel patterns (Redis's `ACLCheckChannelAgainstList`).
pub fn channel_in(list: &[Vec<u8>], channel: &[u8], literal: bool) -> bool {
    list.iter().any(|p| {
        if literal {
            p == channel
        } else {
            crate::util::glob_match(p, channel, false)
        }
    })
}

/// `%RW~`: the permissions and where the pattern starts.
fn key_pattern_flags(op: &[u8]) -> Result<(u8, usize), RuleError> {
    if op[0] != b'%' {
        return Ok((ALL, 1));
    }
    let mut flags = 0;
    let mut offset = 1;
    while offset < op.len() {
        let c = op[offset].to_ascii_uppercase();
        if c == b'R' && flags & READ == 0 {
            flags |= READ;
        } else if c == b'W' && flags & WRITE == 0 {
            flags |= WRITE;
        } else if op[offset] == b'~' {
            offset += 1;
            break;
        } else {
            return Err(RuleError::Syntax);
        }
        offset += 1;
    }
    if flags == 0 {
        return Err(RuleError::Syntax);
    }
    Ok((flags, offset))
}
