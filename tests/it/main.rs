//! Integration tests: the `custom_models` example's router on a real socket, driven by
//! the `oauth2` crate as an independent client and by raw HTTP for the negative cases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../examples/custom_models.rs"]
mod custom_models;

mod support;

mod authorization_code;
mod client_credentials;
mod models;
mod negative;
mod password;
mod refresh;
mod remote_guard;
