//! # Portcullis
//!
//! An OAuth 2.0 authorization server for Rust, as a library: this umbrella crate
//! re-exports the framework-agnostic engine ([`portcullis_core`], at the root) and its
//! axum integration ([`axum`]). Depend on `portcullis-core` alone if you bring your own
//! web framework.
//!
//! Start with `examples/custom_models.rs`, which implements the [`Client`], [`Token`]
//! and [`AuthorizationCode`] traits on an application's own models.

pub use portcullis_axum as axum;
pub use portcullis_core::*;
