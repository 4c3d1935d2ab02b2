//! The form and query parser (`Params`): any bytes give parameters or an
//! `invalid_request`, never a panic; a parameter the parser accepted with a value
//! is found again by name (an empty value counts as absent, RFC 6749 §3.1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::http::Params;

fuzz_target!(|data: &[u8]| {
    if let Ok(params) = Params::parse(data) {
        for (name, value) in params.iter().filter(|(_, value)| !value.is_empty()) {
            assert!(params.contains(name));
            assert!(params.all(name).any(|v| v == value));
        }
    }
    let _ = Params::parse_allowing(data, &["resource", "scope"]);
});
