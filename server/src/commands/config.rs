//! TODO-free placeholder: this family's commands are added by its owner.

use super::table::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
