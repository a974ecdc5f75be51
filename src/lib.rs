//! redline: reviews code while it is being written.
//!
//! The crate is a pipeline. Front ends (`cli`, `lsp`) call `review`; `review`
//! calls `diff`, `git`, `syntax` and `llm`; nothing below calls back up. Protocol types
//! never travel below `lsp/`: a [`review::Finding`] is converted at the edge.

pub mod cli;
pub mod config;
pub mod diff;
pub mod git;
pub mod llm;
pub mod lsp;
pub mod review;
pub mod syntax;
