//! The `weft` binary as a library: the service host (`weft dev`, `weft serve <service>`) and the
//! admin CLI (`weft apply`, `weft run`, `weft runs …`, `weft dead-letters …`), so tests can start the same host the
//! binary runs.

pub mod cli;
pub mod client;
mod dead_letters;
mod devkey;
pub mod executors;
pub mod host;
pub mod serve;
