//! The one integration-test binary (one link step for CI). Each area is a module.

mod api;
mod common;
mod golden;
mod live;
mod props;
mod rules;
mod service;
