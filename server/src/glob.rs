//! Glob-style patterns (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET, ...) with Redis's
//! `stringmatchlen` semantics, matched in bounded time.
//!
//! Redis matches by recursion on every `*`, which is exponential in the number of stars
//! without its `skipLongerMatches` guard (CVE-2022-36021) and deep on long patterns
//! (CVE-2024-31228). Here a pattern is compiled once per command into tokens (runs of `*`
//! collapsed, `[...]` classes turned into 256-bit sets) and matched iteratively with one
//! backtrack point, the last `*` seen: every other token consumes exactly one byte, so a
//! later star can always absorb what an earlier one would have. Matching one string costs at
//! most O(len(string) x tokens reached), and a token is reached only by consuming a byte, so
//! a 1 MB pattern costs no more per key than a short one; compiling is linear in the pattern.
//! No recursion, so no depth to bound.

/// One compiled pattern element.
#[derive(Clone, Debug)]
enum Tok {
    /// One or more `*`.
    Star,
    /// `?`: any one byte.
    Any,
    /// A literal byte (folded to lower case when the pattern is case-insensitive).
    Lit(u8),
    /// `[...]`: the bytes it accepts, after negation and case folding.
    Class(Box<ByteSet>),
}

/// A set of bytes as four 64-bit words.
#[derive(Clone, Debug, Default)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn insert(&mut self, b: u8) {
        self.0[(b >> 6) as usize] |= 1 << (b & 63);
    }
    fn insert_range(&mut self, lo: u8, hi: u8) {
        for b in lo..=hi {
            self.insert(b);
        }
    }
    fn contains(&self, b: u8) -> bool {
        self.0[(b >> 6) as usize] & (1 << (b & 63)) != 0
    }
}

/// A compiled glob pattern.
#[derive(Clone, Debug)]
pub struct Glob {
    toks: Vec<Tok>,
    nocase: bool,
    /// The pattern is `*` alone (or a run of stars): everything matches.
    all: bool,
}

impl Glob {
    /// Compiles `pattern`. Every byte sequence is a valid pattern, as in Redis (an
    /// unterminated `[` class ends with the pattern; a trailing `\` is a literal backslash).
    pub fn new(pattern: &[u8], nocase: bool) -> Glob {
        let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
        let mut toks = Vec::new();
        let p = pattern;
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                b'*' => {
                    if !matches!(toks.last(), Some(Tok::Star)) {
                        toks.push(Tok::Star);
                    }
                    i += 1;
                }
                b'?' => {
                    toks.push(Tok::Any);
                    i += 1;
                }
                b'[' => {
                    let (class, next) = compile_class(p, i + 1, nocase);
                    toks.push(Tok::Class(Box::new(class)));
                    i = next;
                }
                b'\\' if i + 1 < p.len() => {
                    toks.push(Tok::Lit(fold(p[i + 1])));
                    i += 2;
                }
                c => {
                    toks.push(Tok::Lit(fold(c)));
                    i += 1;
                }
            }
        }
        let all = matches!(toks.as_slice(), [Tok::Star]);
        Glob { toks, nocase, all }
    }

    /// True when the pattern matches every string (`*`): callers may skip matching.
    pub fn matches_all(&self) -> bool {
        self.all
    }

    /// Whether `s` matches the whole pattern.
    pub fn matches(&self, s: &[u8]) -> bool {
        if self.all {
            return true;
        }
        let toks = &self.toks;
        let (mut ti, mut si) = (0usize, 0usize);
        // The token after the last star seen, and the string position that star resumes at.
        let mut back: Option<(usize, usize)> = None;
        while si < s.len() {
            let ok = match toks.get(ti) {
                Some(Tok::Star) => {
                    if ti + 1 == toks.len() {
                        return true;
                    }
                    back = Some((ti + 1, si));
                    ti += 1;
                    continue;
                }
                Some(t) => self.accepts(t, s[si]),
                None => false,
            };
            if ok {
                ti += 1;
                si += 1;
            } else if let Some((bt, bs)) = back {
                // Let the last star absorb one more byte and retry from the token after it.
                ti = bt;
                si = bs + 1;
                back = Some((bt, bs + 1));
            } else {
                return false;
            }
        }
        // The string is consumed: only stars may remain (there is at most one, collapsed).
        toks[ti..].iter().all(|t| matches!(t, Tok::Star))
    }

    fn accepts(&self, t: &Tok, c: u8) -> bool {
        match t {
            Tok::Star | Tok::Any => true,
            Tok::Lit(l) => {
                if self.nocase {
                    *l == c.to_ascii_lowercase()
                } else {
                    *l == c
                }
            }
            Tok::Class(set) => set.contains(c),
        }
    }
}

/// Compiles the class starting after `[` at `start`; returns the set of accepted bytes and
/// the index after the class. Follows `stringmatchlen`: `^` negates, `\x` is `x` compared
/// exactly, `a-z` is a range (ends swapped when reversed, folded when case-insensitive), `]`
/// closes, and the pattern's end closes an unterminated class.
fn compile_class(p: &[u8], start: usize, nocase: bool) -> (ByteSet, usize) {
    let mut i = start;
    let not = p.get(i) == Some(&b'^');
    if not {
        i += 1;
    }
    // `exact` holds bytes compared as they are; `folded` bytes compared after lowering the
    // string's byte (a case-insensitive literal or range).
    let mut exact = ByteSet::default();
    let mut folded = ByteSet::default();
    while i < p.len() {
        let rest = p.len() - i;
        if p[i] == b'\\' && rest >= 2 {
            exact.insert(p[i + 1]);
            i += 2;
        } else if p[i] == b']' {
            i += 1;
            break;
        } else if rest >= 3 && p[i + 1] == b'-' {
            let (mut a, mut b) = (p[i], p[i + 2]);
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            if nocase {
                let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
                if a <= b {
                    folded.insert_range(a, b);
                }
            } else {
                exact.insert_range(a, b);
            }
            i += 3;
        } else {
            if nocase {
                folded.insert(p[i].to_ascii_lowercase());
            } else {
                exact.insert(p[i]);
            }
            i += 1;
        }
    }
    let mut set = ByteSet::default();
    for c in 0..=255u8 {
        let hit = exact.contains(c) || folded.contains(c.to_ascii_lowercase());
        if hit != not {
            set.insert(c);
        }
    }
    (set, i)
}

#[cfg(test)]
mod tests {
    use super::Glob;
    use std::time::{Duration, Instant};

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p.as_bytes(), false).matches(s.as_bytes())
    }

    #[test]
    fn redis_semantics() {
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("*", ""));
        assert!(m("a*", "a"));
        assert!(!m("?", ""));
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
        assert!(m("a\\", "a\\"));
        assert!(m("[\\]]", "]"));
        assert!(m("[abc", "b"));
        assert!(!m("a[", "a"));
        assert!(!m("a[", "a["));
        assert!(m("*a*b*c", "xxaxxbxxc"));
        assert!(!m("*a*b*c", "xxaxxcxxb"));
        assert!(m("*?*", "x"));
        assert!(!m("*?*?", "x"));
        assert!(m("foo*bar", "foobarbar"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(Glob::new(b"MAX*", true).matches(b"maxmemory"));
        assert!(Glob::new(b"[A-C]x", true).matches(b"bX"));
        assert!(Glob::new(b"*", false).matches_all());
        assert!(Glob::new(b"***", false).matches_all());
    }

    /// Brute-force reference: Redis's recursive definition, on short inputs.
    fn reference(p: &[u8], s: &[u8]) -> bool {
        fn rec(p: &[u8], s: &[u8]) -> bool {
            match p.first() {
                None => s.is_empty(),
                Some(b'*') => (0..=s.len()).any(|k| rec(&p[1..], &s[k..])),
                Some(b'?') => !s.is_empty() && rec(&p[1..], &s[1..]),
                Some(&c) => !s.is_empty() && s[0] == c && rec(&p[1..], &s[1..]),
            }
        }
        rec(p, s)
    }

    #[test]
    fn agrees_with_the_recursive_definition() {
        let alphabet = [b'a', b'b', b'*', b'?'];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let pl = (next() % 7) as usize;
            let sl = (next() % 7) as usize;
            let p: Vec<u8> = (0..pl).map(|_| alphabet[(next() % 4) as usize]).collect();
            let s: Vec<u8> = (0..sl).map(|_| alphabet[(next() % 2) as usize]).collect();
            assert_eq!(
                Glob::new(&p, false).matches(&s),
                reference(&p, &s),
                "pattern {:?} string {:?}",
                String::from_utf8_lossy(&p),
                String::from_utf8_lossy(&s)
            );
        }
    }

    #[test]
    fn hostile_patterns_take_bounded_time() {
        let key = vec![b'a'; 60];
        let start = Instant::now();
        // Exponential for a naive recursive matcher (Redis's "long nested loops" test).
        assert!(!Glob::new(b"*a*a*a*a*a*a*a*a*a*a*a*a*b", false).matches(&key));
        // A 1 MB pattern, of stars, of alternations and of one long class.
        let stars = vec![b'*'; 1 << 20];
        assert!(Glob::new(&stars, false).matches(&key));
        let alternating: Vec<u8> = b"*a".iter().copied().cycle().take(1 << 20).collect();
        let g = Glob::new(&alternating, false);
        for _ in 0..1000 {
            assert!(!g.matches(&key));
        }
        let mut class = vec![b'['];
        class.extend(vec![b'a'; 1 << 20]);
        class.push(b']');
        assert!(Glob::new(&class, false).matches(b"a"));
        // Long string, long pattern: quadratic at worst, never exponential.
        let s = vec![b'a'; 4000];
        let mut p = vec![b'*'];
        p.extend(vec![b'a'; 2000]);
        p.push(b'b');
        assert!(!Glob::new(&p, false).matches(&s));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
