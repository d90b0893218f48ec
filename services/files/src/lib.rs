//! placeholder
pub mod filter;
pub mod folder;
pub mod listing;
pub mod scan;
