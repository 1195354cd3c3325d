//! Bytes in, replies out: the request [`parser`] and the reply writer [`resp`].
//! Neither knows anything about commands.

pub mod parser;
pub mod resp;

pub use parser::{Limits, ProtocolError, RequestParser};
pub use resp::Out;
