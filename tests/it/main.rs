//! The one integration-test binary (one link step for CI). Each area is a module.

mod common;
mod rules;
mod golden;
mod props;
