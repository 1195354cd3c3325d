//! The collection types a key can hold besides strings, one module each.

pub mod dense;
pub mod hash;
pub mod list;
pub mod packed;
pub mod set;
pub mod zpack;
pub mod zset;

pub use hash::HashValue;
pub use list::ListValue;
pub use set::SetValue;
pub use zset::ZSetValue;
