//! placeholder
pub mod after;
pub mod data;
pub mod filter;
pub mod folder;
pub mod listing;
pub mod scan;
pub mod store;
pub mod watch;
