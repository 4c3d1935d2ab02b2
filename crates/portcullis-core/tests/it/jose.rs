//! JOSE (`portcullis_core::jose`): every algorithm round-trips, published test vectors
//! match, and each trick a verifier must refuse has a test named after it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use portcullis_core::jose::{
    self, aws_lc_rs, Algorithm, CryptoProvider, JoseError, Jwk, JwkSet, KeySet, Signer, SigningKey,
    Validation,
};
use serde_json::{json, Value};

const NOW: i64 = 1_800_000_000;

fn provider() -> CryptoProvider {
    aws_lc_rs::provider()
}

fn claims() -> Value {
    json!({"iss": "https://as.example", "sub": "alice", "exp": NOW + 300, "iat": NOW})
}

fn trusting(signer: &Signer) -> KeySet {
    let set = JwkSet::new(vec![signer.public_jwk()]);
    KeySet::from_jwk_set(&provider(), &set, &Algorithm::ALL)
}

fn validation() -> Validation {
    Validation::new(NOW).with_issuer("https://as.example")
}

/// A token with exactly this header and these claims, signed by `key` (or with an
/// empty signature).
fn forge(header: &Value, claims: &Value, key: Option<&dyn SigningKey>) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(header).unwrap()),
        B64.encode(serde_json::to_vec(claims).unwrap())
    );
    let signature = key
        .map(|k| k.sign(input.as_bytes()).unwrap())
        .unwrap_or_default();
    format!("{input}.{}", B64.encode(signature))
}

fn es256() -> Signer {
    Signer::generate(&provider(), Algorithm::Es256).unwrap()
}

#[test]
fn every_algorithm_signs_and_verifies_and_survives_a_pkcs8_round_trip() {
    let provider = provider();
    for alg in Algorithm::ALL {
        let signer = Signer::generate(&provider, alg).unwrap();
        assert_eq!(signer.kid(), signer.public_jwk().thumbprint().unwrap());
        let token = signer.sign(Some("JWT"), &claims()).unwrap();
        let verified = jose::verify(&token, &trusting(&signer), &validation()).unwrap();
        assert_eq!(verified.algorithm, alg);
        assert_eq!(verified.kid.as_deref(), Some(signer.kid()));
        assert_eq!(verified.claims["sub"], "alice");
        assert_eq!(verified.header["alg"], alg.name());

        // Stored and loaded again, the key is the same key.
        let der = signer.key().to_pkcs8_der().unwrap();
        let loaded = provider.require(alg).unwrap().load(&der).unwrap();
        assert_eq!(loaded.public_jwk(), signer.key().public_jwk(), "{alg}");
        let reloaded = Signer::with_thumbprint_kid(loaded).unwrap();
        let token = reloaded.sign(None, &claims()).unwrap();
        jose::verify(&token, &trusting(&signer), &validation()).unwrap();
    }
}

#[test]
fn a_key_of_one_type_does_not_load_as_another() {
    let provider = provider();
    let ec = es256().key().to_pkcs8_der().unwrap();
    for alg in [Algorithm::Rs256, Algorithm::EdDsa] {
        let err = provider.require(alg).unwrap().load(&ec).unwrap_err();
        assert!(matches!(err, JoseError::Key(_)), "{alg}: {err}");
    }
    let err = provider
        .require(Algorithm::Es256)
        .unwrap()
        .load(b"garbage")
        .unwrap_err();
    assert!(matches!(err, JoseError::Key(_)));
}

/// RFC 8037 Appendix A: the Ed25519 key, its thumbprint, and the (deterministic)
/// signature of the example.
#[test]
fn ed25519_matches_the_rfc_8037_example() {
    let seed = B64
        .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
        .unwrap();
    // PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410 §7).
    let mut pkcs8 = hex_bytes("302e020100300506032b657004220420");
    pkcs8.extend_from_slice(&seed);
    let key = provider()
        .require(Algorithm::EdDsa)
        .unwrap()
        .load(&pkcs8)
        .unwrap();
    let jwk = key.public_jwk();
    assert_eq!(
        jwk.x.as_deref(),
        Some("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
    );
    assert_eq!(
        jwk.thumbprint().unwrap(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    assert_eq!(
        B64.encode(key.sign(input.as_bytes()).unwrap()),
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    );
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn ecdsa_signatures_are_the_fixed_width_jws_form() {
    let signer = es256();
    let token = signer.sign(None, &claims()).unwrap();
    let signature = B64.decode(token.rsplit('.').next().unwrap()).unwrap();
    assert_eq!(signature.len(), 64);
}

#[test]
fn refuses_alg_none() {
    let keys = trusting(&es256());
    for alg in ["none", "None", "NONE"] {
        let token = forge(&json!({"alg": alg}), &claims(), None);
        assert_eq!(
            jose::verify(&token, &keys, &validation()).unwrap_err(),
            JoseError::AlgNone
        );
    }
}

/// Authlib CVE-2024-37568 class: an attacker "signs" with HS256 using the public key
/// as the HMAC secret. There is no HMAC here, and the key is bound to RS256.
#[test]
fn refuses_hmac_signed_with_the_public_key() {
    let signer = Signer::generate(&provider(), Algorithm::Rs256).unwrap();
    let keys = trusting(&signer);
    let jwk_json = serde_json::to_vec(&signer.public_jwk()).unwrap();
    for secret in [jwk_json, signer.public_jwk().n.unwrap().into_bytes()] {
        let header = json!({"alg": "HS256", "kid": signer.kid()});
        let input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header).unwrap()),
            B64.encode(serde_json::to_vec(&claims()).unwrap())
        );
        let mac = aws_lc_rs_hmac(&secret, input.as_bytes());
        let token = format!("{input}.{}", B64.encode(mac));
        assert_eq!(
            jose::verify(&token, &keys, &validation()).unwrap_err(),
            JoseError::AlgorithmNotAllowed("HS256".into())
        );
    }
}

fn aws_lc_rs_hmac(secret: &[u8], message: &[u8]) -> Vec<u8> {
    let key = ::aws_lc_rs::hmac::Key::new(::aws_lc_rs::hmac::HMAC_SHA256, secret);
    ::aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
}

/// The key decides the algorithm: a key published for RS256 does not verify a PS256
/// token, even one its own private key signed.
#[test]
fn refuses_an_algorithm_the_key_is_not_for() {
    let rs256 = Signer::generate(&provider(), Algorithm::Rs256).unwrap();
    let keys = trusting(&rs256);
    let pss = provider()
        .require(Algorithm::Ps256)
        .unwrap()
        .load(&rs256.key().to_pkcs8_der().unwrap())
        .unwrap();
    let token = forge(
        &json!({"alg": "PS256", "kid": rs256.kid()}),
        &claims(),
        Some(pss.as_ref()),
    );
    assert_eq!(
        jose::verify(&token, &keys, &validation()).unwrap_err(),
        JoseError::UnknownKey
    );
}

#[test]
fn refuses_an_algorithm_the_caller_does_not_allow() {
    let signer = es256();
    let token = signer.sign(None, &claims()).unwrap();
    let only_eddsa = validation().with_algorithms([Algorithm::EdDsa]);
    assert_eq!(
        jose::verify(&token, &trusting(&signer), &only_eddsa).unwrap_err(),
        JoseError::AlgorithmNotAllowed("ES256".into())
    );
    // A key set built for EdDSA only has no place for the ES256 key at all.
    let set = JwkSet::new(vec![signer.public_jwk()]);
    assert!(KeySet::from_jwk_set(&provider(), &set, &[Algorithm::EdDsa]).is_empty());
}

/// CVE-2025-59420 class: a `crit` extension the verifier does not implement must make
/// the token invalid, not be ignored.
#[test]
fn refuses_unknown_crit() {
    let signer = es256();
    let mut header = serde_json::Map::new();
    header.insert("crit".into(), json!(["exp-in-header"]));
    header.insert("exp-in-header".into(), json!(NOW - 1000));
    let token = signer.sign_with_header(header, &claims()).unwrap();
    let keys = trusting(&signer);
    assert_eq!(
        jose::verify(&token, &keys, &validation()).unwrap_err(),
        JoseError::UnsupportedCritical("exp-in-header".into())
    );
    // Declared understood by the caller, the same token passes.
    let understood = validation().with_understood_crit(["exp-in-header"]);
    jose::verify(&token, &keys, &understood).unwrap();
}

#[test]
fn refuses_empty_malformed_or_registered_crit() {
    let signer = es256();
    let keys = trusting(&signer);
    let understood = validation().with_understood_crit(["b64", "alg"]);
    for crit in [
        json!([]),
        json!("b64"),
        json!([1]),
        json!(["alg"]),
        json!(["b64"]), // listed but absent from the header
    ] {
        let mut header = serde_json::Map::new();
        header.insert("crit".into(), crit.clone());
        let token = signer.sign_with_header(header, &claims()).unwrap();
        let err = jose::verify(&token, &keys, &understood).unwrap_err();
        assert!(
            matches!(err, JoseError::UnsupportedCritical(_)),
            "{crit}: {err}"
        );
    }
}

/// CVE-2026-27962 class: a token that brings its own key (`jwk` header) must not be
/// verified with it.
#[test]
fn never_trusts_an_embedded_jwk() {
    let trusted = es256();
    let keys = trusting(&trusted);
    let attacker = es256();
    for kid in [attacker.kid(), trusted.kid()] {
        let header = json!({"alg": "ES256", "kid": kid, "jwk": attacker.public_jwk()});
        let token = forge(&header, &claims(), Some(attacker.key()));
        let err = jose::verify(&token, &keys, &validation()).unwrap_err();
        assert!(
            matches!(err, JoseError::UnknownKey | JoseError::BadSignature),
            "{err}"
        );
    }
}

/// `jku`, `x5u` and `x5c` point at or carry keys; none is fetched or used. A genuine
/// token that carries them still verifies with the trusted key (and nothing is
/// fetched: the URLs do not resolve).
#[test]
fn never_trusts_jku_x5u_or_x5c() {
    let trusted = es256();
    let keys = trusting(&trusted);
    let attacker = es256();
    let hostile = json!({
        "alg": "ES256",
        "kid": attacker.kid(),
        "jku": "https://attacker.invalid/jwks.json",
        "x5u": "https://attacker.invalid/cert.pem",
        "x5c": ["MIIBfake"],
    });
    let token = forge(&hostile, &claims(), Some(attacker.key()));
    assert_eq!(
        jose::verify(&token, &keys, &validation()).unwrap_err(),
        JoseError::UnknownKey
    );
    let mut genuine = hostile.as_object().unwrap().clone();
    genuine.insert("kid".into(), json!(trusted.kid()));
    let token = forge(&Value::Object(genuine), &claims(), Some(trusted.key()));
    jose::verify(&token, &keys, &validation()).unwrap();
}

/// CVE-2025-61920 class: sizes are bounded before any base64 or JSON decoding, so an
/// enormous token costs nothing.
#[test]
fn refuses_an_oversized_token_before_decoding() {
    let keys = trusting(&es256());
    // Not even base64: a decoder would call it malformed; the size check answers first.
    let huge = "!".repeat(Validation::DEFAULT_MAX_TOKEN_BYTES + 1);
    assert!(matches!(
        jose::verify(&huge, &keys, &validation()).unwrap_err(),
        JoseError::TooLarge(_)
    ));
    let small_limit = validation().with_max_token_bytes(100);
    let token = es256().sign(None, &claims()).unwrap();
    assert!(matches!(
        jose::verify(&token, &keys, &small_limit).unwrap_err(),
        JoseError::TooLarge(_)
    ));
}

#[test]
fn refuses_an_oversized_header_before_decoding() {
    let keys = trusting(&es256());
    let header = "!".repeat(Validation::DEFAULT_MAX_HEADER_BYTES + 1);
    let token = format!("{header}.e30.AA");
    assert!(matches!(
        jose::verify(&token, &keys, &validation()).unwrap_err(),
        JoseError::TooLarge(_)
    ));
}

#[test]
fn refuses_a_wrong_or_missing_typ() {
    let signer = es256();
    let keys = trusting(&signer);
    let at_jwt = validation().with_typ("at+jwt");
    for typ in [
        Some("JWT"),
        Some("application/jwt"),
        Some("at+jwt+x"),
        Some(" at+jwt "),
        None,
    ] {
        let token = signer.sign(typ, &claims()).unwrap();
        let err = jose::verify(&token, &keys, &at_jwt).unwrap_err();
        assert!(matches!(err, JoseError::WrongType { .. }), "{typ:?}: {err}");
    }
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+JWT",
    ] {
        let token = signer.sign(Some(typ), &claims()).unwrap();
        jose::verify(&token, &keys, &at_jwt).unwrap();
    }
}

#[test]
fn refuses_an_expired_token_beyond_the_skew() {
    let signer = es256();
    let keys = trusting(&signer);
    let mut c = claims();
    c["exp"] = json!(NOW - 10);
    let token = signer.sign(None, &c).unwrap();
    jose::verify(&token, &keys, &validation()).unwrap();
    let strict = validation().with_leeway(5);
    assert_eq!(
        jose::verify(&token, &keys, &strict).unwrap_err(),
        JoseError::Expired
    );
    c["exp"] = json!(NOW - 31);
    let token = signer.sign(None, &c).unwrap();
    assert_eq!(
        jose::verify(&token, &keys, &validation()).unwrap_err(),
        JoseError::Expired
    );
}

#[test]
fn refuses_a_token_not_valid_yet() {
    let signer = es256();
    let mut c = claims();
    c["nbf"] = json!(NOW + 31);
    let token = signer.sign(None, &c).unwrap();
    assert_eq!(
        jose::verify(&token, &trusting(&signer), &validation()).unwrap_err(),
        JoseError::NotYetValid
    );
    c["nbf"] = json!(NOW + 29);
    let token = signer.sign(None, &c).unwrap();
    jose::verify(&token, &trusting(&signer), &validation()).unwrap();
}

#[test]
fn refuses_a_token_issued_in_the_future() {
    let signer = es256();
    let mut c = claims();
    c["iat"] = json!(NOW + 31);
    let token = signer.sign(None, &c).unwrap();
    assert_eq!(
        jose::verify(&token, &trusting(&signer), &validation()).unwrap_err(),
        JoseError::IssuedInFuture
    );
}

#[test]
fn refuses_a_token_without_exp_unless_allowed() {
    let signer = es256();
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    let token = signer.sign(None, &c).unwrap();
    let keys = trusting(&signer);
    assert!(matches!(
        jose::verify(&token, &keys, &validation()).unwrap_err(),
        JoseError::InvalidClaim { claim: "exp", .. }
    ));
    jose::verify(&token, &keys, &validation().allow_missing_exp()).unwrap();
}

#[test]
fn refuses_dates_that_are_not_numbers() {
    let signer = es256();
    let keys = trusting(&signer);
    for (claim, value) in [
        ("exp", json!("tomorrow")),
        ("nbf", json!(null)),
        ("iat", json!([1])),
    ] {
        let mut c = claims();
        c[claim] = value;
        let token = signer.sign(None, &c).unwrap();
        let err = jose::verify(&token, &keys, &validation()).unwrap_err();
        assert!(
            matches!(err, JoseError::InvalidClaim { .. }),
            "{claim}: {err}"
        );
    }
}

#[test]
fn refuses_duplicate_header_or_claim_members() {
    let signer = es256();
    let keys = trusting(&signer);
    let header = format!(r#"{{"alg":"ES256","kid":"{}","alg":"none"}}"#, signer.kid());
    let payload = format!(
        r#"{{"iss":"https://as.example","exp":{},"sub":"a","sub":"b"}}"#,
        NOW + 60
    );
    for (h, p) in [
        (
            header,
            format!(r#"{{"iss":"https://as.example","exp":{}}}"#, NOW + 60),
        ),
        (
            format!(r#"{{"alg":"ES256","kid":"{}"}}"#, signer.kid()),
            payload,
        ),
    ] {
        let input = format!("{}.{}", B64.encode(&h), B64.encode(&p));
        let signature = signer.key().sign(input.as_bytes()).unwrap();
        let token = format!("{input}.{}", B64.encode(signature));
        let err = jose::verify(&token, &keys, &validation()).unwrap_err();
        match err {
            JoseError::Malformed(m) => assert!(m.contains("duplicate"), "{m}"),
            other => panic!("{other}"),
        }
    }
}

#[test]
fn refuses_padded_or_non_url_safe_base64() {
    let signer = es256();
    let keys = trusting(&signer);
    let token = signer.sign(None, &claims()).unwrap();
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    // The same bytes in standard base64 with padding.
    let signature = B64.decode(&parts[2]).unwrap();
    parts[2] = base64::engine::general_purpose::STANDARD.encode(&signature);
    let err = jose::verify(&parts.join("."), &keys, &validation()).unwrap_err();
    assert!(matches!(err, JoseError::Malformed(_)), "{err}");
    let padded = format!("{token}==");
    assert!(matches!(
        jose::verify(&padded, &keys, &validation()).unwrap_err(),
        JoseError::Malformed(_)
    ));
}

#[test]
fn refuses_anything_but_three_segments() {
    let signer = es256();
    let keys = trusting(&signer);
    let token = signer.sign(None, &claims()).unwrap();
    for bad in [
        String::new(),
        "abc".to_owned(),
        token.rsplit_once('.').unwrap().0.to_owned(),
        format!("{token}."),
        format!("{token}.extra.segments"),
    ] {
        let err = jose::verify(&bad, &keys, &validation()).unwrap_err();
        assert!(matches!(err, JoseError::Malformed(_)), "{bad}: {err}");
    }
}

#[test]
fn refuses_a_tampered_payload_or_signature() {
    let signer = es256();
    let keys = trusting(&signer);
    let token = signer.sign(None, &claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims();
    forged["sub"] = json!("mallory");
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(serde_json::to_vec(&forged).unwrap()),
        parts[2]
    );
    assert_eq!(
        jose::verify(&swapped, &keys, &validation()).unwrap_err(),
        JoseError::BadSignature
    );
    let mut signature = B64.decode(parts[2]).unwrap();
    signature[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], B64.encode(signature));
    assert_eq!(
        jose::verify(&flipped, &keys, &validation()).unwrap_err(),
        JoseError::BadSignature
    );
}

#[test]
fn refuses_an_unknown_kid() {
    let signer = es256();
    let other = es256();
    let token = signer.sign(None, &claims()).unwrap();
    assert_eq!(
        jose::verify(&token, &trusting(&other), &validation()).unwrap_err(),
        JoseError::UnknownKey
    );
    assert_eq!(
        jose::verify(&token, &KeySet::new(), &validation()).unwrap_err(),
        JoseError::UnknownKey
    );
}

#[test]
fn refuses_the_wrong_issuer_or_audience() {
    let signer = es256();
    let keys = trusting(&signer);
    let mut c = claims();
    c["aud"] = json!(["https://api.example", "https://other.example"]);
    let token = signer.sign(None, &c).unwrap();
    let for_api = validation().with_audience(["https://api.example"]);
    jose::verify(&token, &keys, &for_api).unwrap();
    let for_elsewhere = validation().with_audience(["https://elsewhere.example"]);
    assert!(matches!(
        jose::verify(&token, &keys, &for_elsewhere).unwrap_err(),
        JoseError::InvalidClaim { claim: "aud", .. }
    ));
    let other_issuer = Validation::new(NOW)
        .with_issuer("https://evil.example")
        .skip_audience();
    assert!(matches!(
        jose::verify(&token, &keys, &other_issuer).unwrap_err(),
        JoseError::InvalidClaim { claim: "iss", .. }
    ));
    // A token without `aud` fails a verifier that requires one.
    let token = signer.sign(None, &claims()).unwrap();
    assert!(matches!(
        jose::verify(&token, &keys, &for_api).unwrap_err(),
        JoseError::InvalidClaim { claim: "aud", .. }
    ));
}

/// Forgetting to say which audience is accepted fails closed.
#[test]
fn refuses_an_audience_nobody_asked_about() {
    let signer = es256();
    let keys = trusting(&signer);
    let mut c = claims();
    c["aud"] = json!("https://api.example");
    let token = signer.sign(None, &c).unwrap();
    assert!(matches!(
        jose::verify(&token, &keys, &validation()).unwrap_err(),
        JoseError::InvalidClaim { claim: "aud", .. }
    ));
    jose::verify(&token, &keys, &validation().skip_audience()).unwrap();
}

/// The provider is a value: one without RS256 cannot generate, trust or verify it.
#[test]
fn a_provider_without_an_algorithm_cannot_use_it() {
    let only_es256 = CryptoProvider {
        algorithms: vec![&aws_lc_rs::ES256],
    };
    assert_eq!(only_es256.supported(), vec![Algorithm::Es256]);
    assert_eq!(
        Signer::generate(&only_es256, Algorithm::Rs256).unwrap_err(),
        JoseError::AlgorithmNotAllowed("RS256".into())
    );
    let rsa = Signer::generate(&provider(), Algorithm::Rs256).unwrap();
    let set = JwkSet::new(vec![rsa.public_jwk()]);
    let keys = KeySet::from_jwk_set(&only_es256, &set, &Algorithm::ALL);
    assert!(keys.is_empty());
    let token = rsa.sign(None, &claims()).unwrap();
    assert_eq!(
        jose::verify(&token, &keys, &validation()).unwrap_err(),
        JoseError::UnknownKey
    );
}

#[test]
fn refuses_short_rsa_keys_and_keys_not_for_signatures() {
    let provider = provider();
    let short = Jwk::rsa(&[0xc5; 128], &[1, 0, 1]);
    let err = provider
        .require(Algorithm::Rs256)
        .unwrap()
        .verifying_key(&short)
        .unwrap_err();
    assert!(matches!(err, JoseError::Key(_)), "{err}");

    let mut encryption = es256().public_jwk();
    encryption.use_ = Some("enc".into());
    let mut keys = KeySet::new();
    assert!(keys
        .add_jwk(&provider, &encryption, &Algorithm::ALL)
        .is_err());
    assert!(keys.is_empty());
}

/// `n` and `e` are minimal integers (RFC 7518 §2): a leading zero octet is refused,
/// whether it pads a 1024-bit modulus to 1032 bits or sits before a good key's (which
/// would give the key a second thumbprint).
#[test]
fn refuses_rsa_integers_with_leading_zero_octets() {
    let provider = provider();
    let rs256 = provider.require(Algorithm::Rs256).unwrap();
    let mut padded_short = Jwk::rsa(&[0xc5; 128], &[1, 0, 1]);
    padded_short.n = Some(B64.encode([&[0u8; 129][..], &[0xc5; 128][..]].concat()));
    let good = Signer::generate(&provider, Algorithm::Rs256)
        .unwrap()
        .public_jwk();
    assert!(rs256.verifying_key(&good).is_ok(), "the control loads");
    let n = B64.decode(good.n.as_deref().unwrap()).unwrap();
    let mut padded_n = good.clone();
    padded_n.n = Some(B64.encode([&[0u8][..], &n[..]].concat()));
    let mut padded_e = good;
    padded_e.e = Some(B64.encode([0, 1, 0, 1]));
    for jwk in [padded_short, padded_n, padded_e] {
        let err = rs256.verifying_key(&jwk).unwrap_err();
        assert!(err.to_string().contains("leading zero"), "{err}");
    }
}

/// An RSA key without `alg` is trusted for the RSA algorithms the provider has, not
/// refused for the one it lacks.
#[test]
fn a_jwk_is_trusted_for_the_algorithms_the_provider_has() {
    let full = provider();
    let mut jwk = Signer::generate(&full, Algorithm::Rs256)
        .unwrap()
        .public_jwk();
    jwk.alg = None;
    // A provider that has RS256 but not PS256.
    let partial = CryptoProvider {
        algorithms: vec![&jose::aws_lc_rs::RS256],
    };
    let mut keys = KeySet::new();
    assert_eq!(keys.add_jwk(&partial, &jwk, &Algorithm::ALL).unwrap(), 1);
    assert_eq!(keys.entries()[0].algorithm(), Algorithm::Rs256);
}

/// Ed25519 public keys of small order (with which one signature verifies for any
/// message) and non-canonical encodings are refused, whatever their sign bit; a
/// generated key (the control) loads.
#[test]
fn refuses_small_order_and_non_canonical_ed25519_keys() {
    let provider = provider();
    let eddsa = provider.require(Algorithm::EdDsa).unwrap();
    let good = Signer::generate(&provider, Algorithm::EdDsa)
        .unwrap()
        .public_jwk();
    assert!(eddsa.verifying_key(&good).is_ok(), "the control loads");
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let weak = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        // p and p + 1: 0 and 1 written non-canonically
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];
    for encoded in weak {
        for sign in [0u8, 0x80] {
            let mut x = hex(encoded);
            x[31] |= sign;
            let mut jwk = good.clone();
            jwk.x = Some(B64.encode(&x));
            let err = eddsa.verifying_key(&jwk).unwrap_err();
            assert!(err.to_string().contains("small order"), "{encoded}: {err}");
        }
    }
}

#[test]
fn an_rsa_key_without_alg_is_trusted_for_each_allowed_rsa_algorithm() {
    let provider = provider();
    let mut jwk = Signer::generate(&provider, Algorithm::Rs256)
        .unwrap()
        .public_jwk();
    jwk.alg = None;
    let mut keys = KeySet::new();
    assert_eq!(keys.add_jwk(&provider, &jwk, &Algorithm::ALL).unwrap(), 2);
    let mut only_pss = KeySet::new();
    assert_eq!(
        only_pss
            .add_jwk(&provider, &jwk, &[Algorithm::Ps256])
            .unwrap(),
        1
    );
    assert_eq!(only_pss.entries()[0].algorithm(), Algorithm::Ps256);
}

#[test]
fn debug_output_never_shows_private_keys() {
    let provider = provider();
    for alg in Algorithm::ALL {
        let signer = Signer::generate(&provider, alg).unwrap();
        let der = signer.key().to_pkcs8_der().unwrap();
        let shown = format!("{signer:?} {:?}", signer.key());
        assert!(!shown.contains(&B64.encode(&der)), "{shown}");
        assert!(shown.len() < 300, "{shown}");
    }
}
