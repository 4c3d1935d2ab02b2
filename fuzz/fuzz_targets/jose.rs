//! The JOSE parsers: a compact JWS checked against a key set (any string is an
//! error or a verified token, never a panic), and a JWK Set read into keys.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use portcullis_core::jose::{self, aws_lc_rs, Algorithm, JwkSet, KeySet, Signer, Validation};

static KEYS: LazyLock<KeySet> = LazyLock::new(|| {
    let provider = aws_lc_rs::provider();
    let mut keys = KeySet::new();
    for algorithm in [Algorithm::Es256, Algorithm::EdDsa] {
        let signer = Signer::generate(&provider, algorithm).unwrap();
        keys.insert_signer(&provider, &signer).unwrap();
    }
    keys
});

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = jose::verify(
            token,
            &KEYS,
            &Validation::new(1_900_000_000).skip_audience(),
        );
    }
    if let Ok(set) = serde_json::from_slice::<JwkSet>(data) {
        let _ = KeySet::from_jwk_set(&aws_lc_rs::provider(), &set, &Algorithm::ALL);
    }
});
