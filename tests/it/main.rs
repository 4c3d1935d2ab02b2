//! Integration tests: the `custom_models` example's router on a real socket, driven by
//! the `oauth2` crate as an independent client and by raw HTTP for the negative cases;
//! and each other example, run for real by its `example_*` module.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../examples/custom_models.rs"]
mod custom_models;

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../examples/custom_extension.rs"]
mod custom_extension;
#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../examples/custom_grant.rs"]
mod custom_grant;
#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../examples/mcp_server.rs"]
mod mcp_server;
#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../examples/protect_api.rs"]
mod protect_api;
#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../examples/protect_api_jwt.rs"]
mod protect_api_jwt;
#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../examples/sql_storage.rs"]
mod sql_storage;

mod support;

mod authorization_code;
mod client_credentials;
mod example_custom_extension;
mod example_custom_grant;
mod example_mcp_server;
mod example_protect_api;
mod example_protect_api_jwt;
mod example_sql_storage;
mod models;
mod negative;
mod password;
mod refresh;
mod remote_guard;
mod seams;
