//! Redirect URI registration rules and matching: any two strings are checked and
//! compared without a panic; a URI that passes registration matches itself exactly,
//! and a URI unsafe to send a browser to never passes registration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::redirect_uri::{
    is_safe_redirect_target, redirect_uri_matches, redirect_uri_matches_with,
    validate_redirect_uri, RedirectUriMatching,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (registered, requested) = text.split_once('\n').unwrap_or((text, text));
    let valid = validate_redirect_uri(registered).is_ok();
    if valid {
        assert!(
            redirect_uri_matches(registered, registered),
            "{registered:?}"
        );
        assert!(is_safe_redirect_target(registered), "{registered:?}");
    }
    let exact = redirect_uri_matches(registered, requested);
    let leeway = redirect_uri_matches_with(
        registered,
        requested,
        RedirectUriMatching::new().with_localhost_port_leeway(true),
    );
    // Leeway only ever adds matches.
    assert!(!exact || leeway, "{registered:?} {requested:?}");
});
