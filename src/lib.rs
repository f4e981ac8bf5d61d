//! lmtally: the Realtime Users Count of FlexLM / FlexNet license servers, computed exactly from
//! their debug logs.
//!
//! `core` is pure (bytes → lines → events → day aggregates → rows); `export` turns rows into
//! bodies; `batch` and `cli` are the edges of a one-shot run.

pub mod batch;
pub mod check;
pub mod cli;
pub mod config;
pub mod core;
pub mod engine;
pub mod export;
pub mod follow;
pub mod gen;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod query;
pub mod server;
pub mod state;
pub mod store;
