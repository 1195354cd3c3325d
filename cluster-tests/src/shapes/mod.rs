//! The reply-shape check: the same invocations against slotcache and redis-server, side by
//! side, in RESP2 and RESP3, comparing the type tree of every reply and, where the reply is
//! deterministic, its values (and, for `p` steps, the keyspace events they cause).
//!
//! The invocations live in a data file (`conformance/reply-shapes.txt`, its format described
//! at its top), the accepted differences in another (`conformance/reply-shape-diffs.txt`);
//! `tests/reply_shapes.rs` runs them. `script` reads the two files, `compare` compares
//! replies, `conn` talks to the servers and `run` puts them together.

mod compare;
mod conn;
mod run;
mod script;

pub use compare::compare;
pub use conn::{Conn, Outcome};
pub use run::{run, Difference, Report};
pub use script::{covered_names, split_args, Compare, DiffList, Group, Mode, Proto, Script, Step};
