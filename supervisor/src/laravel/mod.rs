//! The Laravel integration: which sessions serve the application's sales and coordination
//! numbers, and the atomic rewrite of its `.env`.

pub mod assignments;
pub mod env_file;
