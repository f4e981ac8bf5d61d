//! The one integration-test binary (one link step for CI). Each area is a module.

mod api;
mod common;
mod service;
