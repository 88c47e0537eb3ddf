//! The `.sir` frontend's first stage: the pest grammar and the parser that turns source text into
//! an [`ast::Module`] with byte spans.

pub mod ast;
mod parse;

pub use parse::parse_module;
