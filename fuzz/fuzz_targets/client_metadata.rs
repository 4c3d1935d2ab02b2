//! The client metadata JSON of dynamic registration (RFC 7591) and client ID
//! metadata documents: any bytes are refused with an RFC 7591 error code or make a
//! client whose redirect URIs pass the registration rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_server::registration::{client_from_metadata, Policy};

fuzz_target!(|data: &[u8]| {
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let policy = Policy {
        scopes: vec!["openid".into(), "profile".into(), "mcp:tools".into()],
        signing_algorithms: vec!["RS256".into(), "ES256".into()],
        auth_methods: vec![
            "client_secret_basic".into(),
            "client_secret_post".into(),
            "none".into(),
        ],
    };
    match client_from_metadata(&document, &policy) {
        Ok(client) => {
            for uri in &client.redirect_uris {
                assert!(portcullis_core::redirect_uri::validate_redirect_uri(uri).is_ok());
            }
        }
        Err(refusal) => assert!(
            refusal.error == "invalid_client_metadata" || refusal.error == "invalid_redirect_uri"
        ),
    }
});
