//! Test helpers shared by incant's crates.
//!
//! Provider tests talk to real HTTP servers on 127.0.0.1 that speak the provider's
//! protocol, including its error answers; [`http`] is one such server driven by a script,
//! so each test says exactly what the remote end answers and checks what it was sent.

pub mod http;
