//! Shared test support: real third-party services started on 127.0.0.1, and clients for
//! them.

pub mod daemon;
pub mod fs;
pub mod moto;
