//! Signing keys (issue 11): created on first start, sealed with the key-encryption key,
//! rotated with a publication delay, retired, served as a JWK Set, shared by every
//! instance on one database, and managed by `portcullis keys`.

use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use portcullis_core::jose::{self, Algorithm, JwkSet, KeySet, Validation};
use portcullis_core::{ManualClock, OsRandom};
use portcullis_server::config::KeysConfig;
use portcullis_server::keys::{KeyManager, KeyState};
use portcullis_sql::SqlStore;
use serde_json::{json, Value};

use crate::support::*;

const T0: i64 = 1_900_000_000;

fn kek(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

fn keys_config(tweak: impl FnOnce(&mut KeysConfig)) -> KeysConfig {
    let mut config = KeysConfig::default();
    tweak(&mut config);
    config
}

fn manager(store: &SqlStore, config: &KeysConfig, clock: &Arc<ManualClock>) -> KeyManager {
    KeyManager::new(
        store.clone(),
        config,
        clock.clone(),
        Arc::new(OsRandom::default()),
    )
    .unwrap()
}

fn jwk_set(manager_ring: &portcullis_server::keys::KeyRing) -> JwkSet {
    serde_json::from_slice(&manager_ring.published().body).unwrap()
}

fn kids(set: &JwkSet) -> Vec<String> {
    set.keys.iter().map(|k| k.kid.clone().unwrap()).collect()
}

#[tokio::test]
async fn the_jwk_set_is_served_cached_and_named_in_the_metadata() {
    let db = TestDb::sqlite();
    let server = TestServer::start_frozen(&db, |_| {}).await;
    let http = reqwest::Client::new();
    let response = http.get(server.url("/jwks")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/jwk-set+json");
    // max-age is the configured cache lifetime (jwks_max_age, 600 s by default).
    assert_eq!(headers["cache-control"], "public, max-age=600");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let set: Value = response.json().await.unwrap();
    let keys = set["keys"].as_array().unwrap();
    // One key per default algorithm (ES256, RS256), public halves only.
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "RS256"]);
    for key in keys {
        assert_eq!(key["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "{key}");
        }
    }
    let again = http
        .get(server.url("/jwks"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let metadata: Value = http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["jwks_uri"], server.url("/jwks"));
    db.drop_db().await;
}

/// A rotation publishes the next key at once and signs with it only after the
/// publication delay; the retired key stays published until what it signed expired.
#[tokio::test]
async fn a_rotation_publishes_the_next_key_before_it_signs() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let clock = Arc::new(ManualClock::new(T0));
    let config = keys_config(|c| c.signing_algorithms = vec!["ES256".into()]);
    let keys = manager(&store, &config, &clock);
    let delay = config.publication_delay();
    assert_eq!(delay, 600 + 30 + 5);

    let before = keys.sync().await.unwrap();
    let first = before.signer(Algorithm::Es256, T0).unwrap();
    let old_token = first
        .sign(None, &json!({"iss": "i", "exp": T0 + 3600}))
        .unwrap();
    let cached_before_rotation = jwk_set(&before);

    let next = keys.rotate(None).await.unwrap();
    assert_eq!(next.state, KeyState::Next);
    assert_eq!(next.activates, T0 + delay);
    let ring = keys.sync().await.unwrap();
    let published = jwk_set(&ring);
    assert_eq!(kids(&published), [first.kid().to_owned(), next.kid.clone()]);
    // Still the old key until the delay has passed; the new one from then on, with
    // no reload needed.
    assert_eq!(
        ring.signer(Algorithm::Es256, T0 + delay - 1).unwrap().kid(),
        first.kid()
    );
    let second = ring.signer(Algorithm::Es256, T0 + delay).unwrap();
    assert_eq!(second.kid(), next.kid);
    assert_eq!(ring.default_signer(T0 + delay).unwrap().kid(), next.kid);

    // A relying party that fetched the set before the rotation can verify what the
    // new key signs only if the set it fetches after its cache expired has it; one
    // that fetched the set after the rotation was published already knows it.
    let provider = jose::aws_lc_rs::provider();
    let new_token = second
        .sign(None, &json!({"iss": "i", "exp": T0 + delay + 3600}))
        .unwrap();
    let after = KeySet::from_jwk_set(&provider, &published, &Algorithm::ALL);
    let validation = Validation::new(T0 + delay).with_issuer("i");
    jose::verify(&new_token, &after, &validation).unwrap();
    jose::verify(&old_token, &after, &validation).unwrap();
    let stale = KeySet::from_jwk_set(&provider, &cached_before_rotation, &Algorithm::ALL);
    assert!(jose::verify(&new_token, &stale, &validation).is_err());

    // The old key is retired when the new one activates, published for the
    // retention, then gone and purged.
    clock.set(T0 + delay);
    let listed = keys.list().await.unwrap();
    assert_eq!(listed[0].state, KeyState::Retired);
    assert_eq!(
        listed[0].expires,
        Some(T0 + delay + config.signing_key_retention)
    );
    assert_eq!(listed[1].state, KeyState::Current);
    clock.set(T0 + delay + config.signing_key_retention);
    let ring = keys.sync().await.unwrap();
    assert_eq!(kids(&jwk_set(&ring)), std::slice::from_ref(&next.kid));
    store.purge_expired(clock.now()).await.unwrap();
    assert_eq!(store.list_signing_keys().await.unwrap().len(), 1);
    db.drop_db().await;
}

use portcullis_core::Clock as _;

/// Automatic rotation: when the current key is due, the next key is created one
/// publication delay ahead; two instances doing it at once create one key.
async fn automatic_rotation_creates_one_next_key(db: TestDb) {
    let store = seed(&db).await;
    let clock = Arc::new(ManualClock::new(T0));
    let rotation = 10_000;
    let config = keys_config(|c| {
        c.signing_algorithms = vec!["EdDSA".into()];
        c.signing_algorithm = "EdDSA".into();
        c.signing_key_rotation = rotation;
    });
    let a = manager(&store, &config, &clock);
    let other_store = SqlStore::connect(&db.url()).await.unwrap();
    let b = manager(&other_store, &config, &clock);
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    assert_eq!(store.list_signing_keys().await.unwrap().len(), 1);

    let delay = config.publication_delay();
    clock.set(T0 + i64::try_from(rotation).unwrap() - delay - 1);
    a.sync().await.unwrap();
    assert_eq!(
        store.list_signing_keys().await.unwrap().len(),
        1,
        "not due yet"
    );

    clock.set(T0 + i64::try_from(rotation).unwrap() - delay);
    let (ra, rb) = tokio::join!(a.sync(), b.sync());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let stored = store.list_signing_keys().await.unwrap();
    assert_eq!(stored.len(), 2, "one next key, whoever won: {stored:?}");
    assert_eq!(stored[1].generation, 2);
    assert_eq!(
        stored[1].activates_at,
        T0 + i64::try_from(rotation).unwrap()
    );
    assert_eq!(stored[0].retires_at, Some(stored[1].activates_at));
    // Both instances publish the same set and will sign with the same key.
    let (a_ring, b_ring) = (a.sync().await.unwrap(), b.sync().await.unwrap());
    assert_eq!(a_ring.published(), b_ring.published());
    drop((ra, rb));
    let later = T0 + i64::try_from(rotation).unwrap();
    assert_eq!(
        a_ring.signer(Algorithm::EdDsa, later).unwrap().kid(),
        b_ring.signer(Algorithm::EdDsa, later).unwrap().kid()
    );
    db.drop_db().await;
}

#[tokio::test]
async fn automatic_rotation_creates_one_next_key_sqlite() {
    automatic_rotation_creates_one_next_key(TestDb::sqlite()).await;
}

#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn automatic_rotation_creates_one_next_key_postgres() {
    automatic_rotation_creates_one_next_key(TestDb::postgres().await).await;
}

/// Retiring the current key (compromised, say) hands over at once; retiring a next key
/// removes it and keeps the current one.
#[tokio::test]
async fn retiring_a_key_hands_over_at_once() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let clock = Arc::new(ManualClock::new(T0));
    let config = keys_config(|c| c.signing_algorithms = vec!["ES256".into()]);
    let keys = manager(&store, &config, &clock);
    let first = keys.sync().await.unwrap().default_signer(T0).unwrap();

    // A next key that never signed: removed; the current key stays, unretired.
    let waiting = keys.rotate(Some(Algorithm::Es256)).await.unwrap();
    let listed = keys.retire(&waiting.kid).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].kid, first.kid());
    assert_eq!(
        (listed[0].state, listed[0].retires),
        (KeyState::Current, None)
    );

    // The current key: retired now, still published; a new key signs at once.
    let listed = keys.retire(first.kid()).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].state, KeyState::Retired);
    // Published for the retention, and for the reload grace of the instances that
    // may sign with it until they reload.
    assert_eq!(
        listed[0].expires,
        Some(T0 + config.reload_grace() + config.signing_key_retention)
    );
    assert_eq!(listed[1].state, KeyState::Current);
    // The old key retires exactly when its successor starts signing: no gap.
    assert_eq!(listed[0].retires, Some(T0));
    assert_eq!(listed[1].activates, T0);
    // Another instance reloading now finds a current key and creates none.
    let other = manager(&store, &config, &clock);
    assert_eq!(
        other
            .sync()
            .await
            .unwrap()
            .default_signer(T0)
            .unwrap()
            .kid(),
        listed[1].kid
    );
    assert_eq!(other.list().await.unwrap().len(), 2);
    let ring = keys.sync().await.unwrap();
    assert_eq!(ring.default_signer(T0).unwrap().kid(), listed[1].kid);
    assert_eq!(kids(&jwk_set(&ring)).len(), 2);

    // Refusals name what is wrong.
    let again = keys.retire(first.kid()).await.unwrap_err().to_string();
    assert!(again.contains("already retired"), "{again}");
    let unknown = keys.retire("no-such-kid").await.unwrap_err().to_string();
    assert!(unknown.contains("no signing key no-such-kid"), "{unknown}");
    keys.rotate(None).await.unwrap();
    let twice = keys.rotate(None).await.unwrap_err().to_string();
    assert!(twice.contains("already waits"), "{twice}");
    let other = keys
        .rotate(Some(Algorithm::Ps256))
        .await
        .unwrap_err()
        .to_string();
    assert!(other.contains("not one of signing_algorithms"), "{other}");
    db.drop_db().await;
}

/// Private keys are sealed with the key-encryption key, bound to it: without it, or
/// with another one, they do not load, and the error says what to set. Keys stored
/// before a key-encryption key was configured are sealed when one is.
#[tokio::test]
async fn private_keys_are_sealed_with_the_key_encryption_key() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let clock = Arc::new(ManualClock::new(T0));
    let plain = manager(&store, &KeysConfig::default(), &clock);
    assert!(!plain.encrypts());
    let published = plain.sync().await.unwrap().published().clone();
    for key in store.list_signing_keys().await.unwrap() {
        assert!(key.private_key.starts_with("plain:"), "{key:?}");
    }

    let sealing = keys_config(|c| c.key_encryption_key = Some(kek(1)));
    let sealed = manager(&store, &sealing, &clock);
    assert!(sealed.encrypts());
    // The same keys, now sealed.
    assert_eq!(sealed.sync().await.unwrap().published(), &published);
    for key in store.list_signing_keys().await.unwrap() {
        assert!(key.private_key.starts_with("aes256gcm:"), "{key:?}");
    }
    assert!(sealed.list().await.unwrap().iter().all(|k| k.encrypted));

    let wrong = manager(
        &store,
        &keys_config(|c| c.key_encryption_key = Some(kek(2))),
        &clock,
    );
    let error = wrong.sync().await.unwrap_err().to_string();
    assert!(
        error.contains("does not open with the key-encryption key"),
        "{error}"
    );
    let none = manager(&store, &KeysConfig::default(), &clock);
    let error = none.sync().await.unwrap_err().to_string();
    assert!(error.contains("PORTCULLIS_KEY_ENCRYPTION_KEY"), "{error}");

    // From a file, too.
    let file = std::env::temp_dir().join(format!("portcullis-kek-{}", std::process::id()));
    std::fs::write(&file, format!("{}\n", kek(1))).unwrap();
    let from_file = manager(
        &store,
        &keys_config(|c| c.key_encryption_key_file = Some(file.clone())),
        &clock,
    );
    assert_eq!(from_file.sync().await.unwrap().published(), &published);
    let _ = std::fs::remove_file(&file);
    db.drop_db().await;
}

/// A next key retired so close to its activation that another instance, not yet
/// reloaded, may start signing with it, stays published as a retired key (until
/// what such an instance signed has expired); the current key stays current.
#[tokio::test]
async fn a_next_key_retired_just_before_it_signs_stays_published() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let clock = Arc::new(ManualClock::new(T0));
    let config = keys_config(|c| c.signing_algorithms = vec!["ES256".into()]);
    let keys = manager(&store, &config, &clock);
    let first = keys.sync().await.unwrap().default_signer(T0).unwrap();
    let waiting = keys.rotate(Some(Algorithm::Es256)).await.unwrap();
    let activates = waiting.activates;
    clock.set(activates - 10);
    let listed = keys.retire(&waiting.kid).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let retired = listed.iter().find(|k| k.kid == waiting.kid).unwrap();
    assert_eq!(retired.state, KeyState::Retired);
    assert_eq!(
        retired.expires,
        Some(activates + config.reload_grace() + config.signing_key_retention)
    );
    let ring = keys.sync().await.unwrap();
    assert!(kids(&jwk_set(&ring)).contains(&waiting.kid));
    assert_eq!(ring.default_signer(activates).unwrap().kid(), first.kid());

    // Retired exactly the grace before its activation, every instance reloads in
    // time: it is removed at once.
    let again = keys.rotate(Some(Algorithm::Es256)).await.unwrap();
    clock.set(again.activates - config.reload_grace());
    let listed = keys.retire(&again.kid).await.unwrap();
    assert!(listed.iter().all(|k| k.kid != again.kid), "{listed:?}");
    db.drop_db().await;
}

/// An algorithm newly made the default has no signing key for one publication delay
/// (its first key is published first): meanwhile the key of another configured
/// algorithm signs, then the new one takes over.
#[tokio::test]
async fn a_new_default_algorithm_signs_after_its_delay_and_another_key_signs_meanwhile() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let clock = Arc::new(ManualClock::new(T0));
    let before = keys_config(|c| c.signing_algorithms = vec!["ES256".into()]);
    let es256 = manager(&store, &before, &clock)
        .sync()
        .await
        .unwrap()
        .default_signer(T0)
        .unwrap();
    let after = keys_config(|c| {
        c.signing_algorithms = vec!["ES256".into(), "EdDSA".into()];
        c.signing_algorithm = "EdDSA".into();
    });
    let delay = after.publication_delay();
    let keys = manager(&store, &after, &clock);
    let ring = keys.sync().await.unwrap();
    assert!(
        ring.signer(Algorithm::EdDsa, T0).is_none(),
        "not yet signing"
    );
    let meanwhile = ring
        .default_signer(T0)
        .expect("another key signs meanwhile");
    assert_eq!(meanwhile.kid(), es256.kid());
    assert_eq!(meanwhile.algorithm(), Algorithm::Es256);
    // The EdDSA key is published now, and signs once its delay is over.
    let eddsa = keys
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.alg == "EdDSA")
        .unwrap();
    assert!(kids(&jwk_set(&ring)).contains(&eddsa.kid));
    assert_eq!(eddsa.activates, T0 + delay);
    let later = ring.default_signer(T0 + delay).unwrap();
    assert_eq!(later.kid(), eddsa.kid);
    assert_eq!(later.algorithm(), Algorithm::EdDsa);

    // ES256 replaced by PS256 outright: the ES256 key, no longer configured, still
    // signs until the PS256 key's delay is over.
    let replaced = keys_config(|c| {
        c.signing_algorithms = vec!["PS256".into()];
        c.signing_algorithm = "PS256".into();
    });
    let ring = manager(&store, &replaced, &clock).sync().await.unwrap();
    assert!(
        ring.signer(Algorithm::Ps256, T0).is_none(),
        "not yet signing"
    );
    assert_eq!(ring.default_signer(T0).unwrap().kid(), es256.kid());
    assert_eq!(
        ring.default_signer(T0 + delay).unwrap().algorithm(),
        Algorithm::Ps256
    );
    db.drop_db().await;
}

/// Keys sealed with a key-encryption key are left alone by a manager without one, or
/// with another: it neither creates nor rotates nor retires (which would store a new
/// key unencrypted, or sealed under a key the other instances lack, beside them), and
/// says what to set.
#[tokio::test]
async fn without_the_right_key_encryption_key_sealed_keys_are_left_alone() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let clock = Arc::new(ManualClock::new(T0));
    let sealing = keys_config(|c| {
        c.signing_algorithms = vec!["ES256".into()];
        c.key_encryption_key = Some(kek(4));
    });
    let sealed = manager(&store, &sealing, &clock);
    let first = sealed.sync().await.unwrap().default_signer(T0).unwrap();
    let before = store.list_signing_keys().await.unwrap();
    assert_eq!(before.len(), 1);

    // Without the key-encryption key, and with an algorithm that has no key yet:
    // a plain sync would create one.
    let none = manager(
        &store,
        &keys_config(|c| c.signing_algorithms = vec!["ES256".into(), "EdDSA".into()]),
        &clock,
    );
    let mut errors = vec![none.sync().await.unwrap_err().to_string()];
    errors.push(none.rotate(None).await.unwrap_err().to_string());
    errors.push(
        none.rotate(Some(Algorithm::EdDsa))
            .await
            .unwrap_err()
            .to_string(),
    );
    errors.push(none.retire(first.kid()).await.unwrap_err().to_string());
    for error in &errors {
        assert!(
            error.contains("PORTCULLIS_KEY_ENCRYPTION_KEY")
                && error.contains("key_encryption_key_file"),
            "{error}"
        );
    }
    // Nothing was written.
    assert_eq!(store.list_signing_keys().await.unwrap(), before);

    // With a wrong key-encryption key, the same: refused before any write.
    let wrong = manager(
        &store,
        &keys_config(|c| {
            c.signing_algorithms = vec!["ES256".into(), "EdDSA".into()];
            c.key_encryption_key = Some(kek(5));
        }),
        &clock,
    );
    let mut errors = vec![wrong.sync().await.unwrap_err().to_string()];
    errors.push(wrong.rotate(None).await.unwrap_err().to_string());
    errors.push(wrong.retire(first.kid()).await.unwrap_err().to_string());
    for error in &errors {
        assert!(error.contains("does not open"), "{error}");
    }
    assert_eq!(store.list_signing_keys().await.unwrap(), before);
    // The control: the right key still opens them, and syncs.
    assert!(sealed.sync().await.is_ok());
    db.drop_db().await;
}

/// Bad key settings are start-up errors that say what to fix.
#[test]
fn bad_key_settings_are_refused_with_their_reason() {
    use portcullis_server::Config;
    let cases: [(&str, &str, &str); 10] = [
        ("PORTCULLIS_SIGNING_ALGORITHMS", "ES256 HS256", "HS256"),
        // OpenID Connect's default ID token algorithm cannot be left out.
        (
            "PORTCULLIS_SIGNING_ALGORITHMS",
            "ES256",
            "must include RS256",
        ),
        // "Forever" as a huge number would overflow the key times.
        (
            "PORTCULLIS_SIGNING_KEY_RETENTION",
            "9223372036854775807",
            "signing_key_retention (9223372036854775807 s) must be at most",
        ),
        (
            "PORTCULLIS_SIGNING_KEY_ROTATION",
            "9223372036854775807",
            "signing_key_rotation (9223372036854775807 s) must be at most",
        ),
        (
            "PORTCULLIS_JWKS_MAX_AGE",
            "9223372036854775807",
            "jwks_max_age (9223372036854775807 s) must be at most",
        ),
        (
            "PORTCULLIS_SIGNING_ALGORITHM",
            "PS256",
            "must be one of signing_algorithms",
        ),
        (
            "PORTCULLIS_SIGNING_KEY_ROTATION",
            "600",
            "more than twice the publication delay",
        ),
        (
            "PORTCULLIS_SIGNING_KEY_RETENTION",
            "60",
            "at least access_token_lifetime",
        ),
        ("PORTCULLIS_SIGNING_KEY_REFRESH", "0", "at least 1 second"),
        (
            "PORTCULLIS_SIGNING_ALGORITHMS",
            "",
            "at least one algorithm",
        ),
    ];
    for (var, value, expected) in cases {
        let config = Config::load(None, vec![(var.to_owned(), value.to_owned())]).unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains(expected), "{var}={value}: {error}");
    }
    let config = Config::load(
        None,
        vec![(
            "PORTCULLIS_SIGNING_ALGORITHMS".to_owned(),
            "EdDSA, RS256".to_owned(),
        )],
    )
    .unwrap();
    assert_eq!(config.keys.signing_algorithms, ["EdDSA", "RS256"]);
    // The key-encryption key never appears in the configuration's Debug output.
    let mut config = Config::default();
    config.keys.key_encryption_key = Some(kek(9));
    assert!(!format!("{config:?}").contains(&kek(9)));
}

fn portcullis(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS_") {
            command.env_remove(key);
        }
    }
    command
        .arg("--database-url")
        .arg(db.url())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn ok_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn failed(output: &Output) -> String {
    assert!(!output.status.success(), "command succeeded unexpectedly");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn the_keys_command_lists_rotates_and_retires() {
    let db = TestDb::sqlite();
    let _store = seed(&db).await;
    let kek = kek(5);
    let env = [("PORTCULLIS_KEY_ENCRYPTION_KEY", kek.as_str())];
    assert_eq!(
        ok_json(&portcullis(&db, &["keys", "list"], &env)),
        json!([])
    );
    // The first key of an empty database signs at once.
    let first = ok_json(&portcullis(&db, &["keys", "rotate"], &env));
    assert_eq!(
        (first["alg"].as_str(), first["state"].as_str()),
        (Some("ES256"), Some("current"))
    );
    assert_eq!(first["encrypted"], true);
    let next = ok_json(&portcullis(
        &db,
        &["keys", "rotate", "--alg", "ES256"],
        &env,
    ));
    assert_eq!(next["state"], "next");
    assert!(next["activates"].as_i64().unwrap() >= first["activates"].as_i64().unwrap() + 635);
    let listed = ok_json(&portcullis(&db, &["keys", "list"], &env));
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    for member in [
        "kid",
        "alg",
        "state",
        "created",
        "activates",
        "retires",
        "expires",
    ] {
        assert!(listed[0].get(member).is_some(), "{member}: {}", listed[0]);
    }
    assert_eq!(listed[0]["retires"], next["activates"]);

    let twice = failed(&portcullis(&db, &["keys", "rotate"], &env));
    assert!(twice.contains("already waits"), "{twice}");
    let bad_alg = failed(&portcullis(
        &db,
        &["keys", "rotate", "--alg", "HS256"],
        &env,
    ));
    assert!(
        bad_alg.contains("--alg") && bad_alg.contains("HS256"),
        "{bad_alg}"
    );
    let unknown = failed(&portcullis(&db, &["keys", "retire", "nope"], &env));
    assert!(unknown.contains("no signing key nope"), "{unknown}");
    // Key ids are base64url thumbprints, which may start with a hyphen.
    let hyphen = failed(&portcullis(&db, &["keys", "retire", "-eAbc"], &env));
    assert!(hyphen.contains("no signing key -eAbc"), "{hyphen}");
    let retired = ok_json(&portcullis(
        &db,
        &["keys", "retire", first["kid"].as_str().unwrap()],
        &env,
    ));
    assert_eq!(retired[0]["state"], "retired");
    assert_eq!(retired[1]["state"], "current");
    // Keys sealed with one key-encryption key do not open without it.
    let without = failed(&portcullis(&db, &["serve", "--bind", "127.0.0.1:0"], &[]));
    assert!(
        without.contains("PORTCULLIS_KEY_ENCRYPTION_KEY"),
        "{without}"
    );
    let short = failed(&portcullis(
        &db,
        &["keys", "list"],
        &[("PORTCULLIS_KEY_ENCRYPTION_KEY", "c2hvcnQ=")],
    ));
    assert!(short.contains("must be 32 bytes"), "{short}");
    db.drop_db().await;
}

/// Two instances on one database serve the same JWK Set, and both pick up a
/// rotation made elsewhere within their reload interval.
async fn instances_share_keys_and_pick_up_a_rotation(db: TestDb) {
    let _store = seed(&db).await;
    let kek = kek(3);
    let env = [
        ("PORTCULLIS_KEY_ENCRYPTION_KEY", kek.as_str()),
        ("PORTCULLIS_SIGNING_KEY_REFRESH", "1"),
    ];
    let a = spawn_instance_with(&db, &env).await;
    let b = spawn_instance_with(&db, &env).await;
    let http = reqwest::Client::new();
    let fetch = |base: String| {
        let http = http.clone();
        async move {
            let response = http.get(format!("{base}/jwks")).send().await.unwrap();
            let etag = response.headers()["etag"].to_str().unwrap().to_owned();
            let set: JwkSet = response.json().await.unwrap();
            (etag, kids(&set))
        }
    };
    let (etag_a, kids_a) = fetch(a.base.clone()).await;
    let (etag_b, kids_b) = fetch(b.base.clone()).await;
    assert_eq!((&etag_a, &kids_a), (&etag_b, &kids_b));
    assert_eq!(kids_a.len(), 2, "one ES256 and one RS256 key, created once");

    let rotated = ok_json(&portcullis(&db, &["keys", "rotate"], &env));
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    for instance in [&a, &b] {
        let mut seen = false;
        for _ in 0..50 {
            let (_, kids) = fetch(instance.base.clone()).await;
            if kids.contains(&new_kid) {
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(
            seen,
            "{} did not publish {new_kid} within 5 s",
            instance.base
        );
    }
    let (etag_a, kids_a) = fetch(a.base.clone()).await;
    let (etag_b, kids_b) = fetch(b.base.clone()).await;
    assert_eq!((&etag_a, &kids_a), (&etag_b, &kids_b));
    assert_eq!(kids_a.len(), 3);
    drop((a, b));
    db.drop_db().await;
}

#[tokio::test]
async fn instances_share_keys_and_pick_up_a_rotation_sqlite() {
    instances_share_keys_and_pick_up_a_rotation(TestDb::sqlite()).await;
}

#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn instances_share_keys_and_pick_up_a_rotation_postgres() {
    instances_share_keys_and_pick_up_a_rotation(TestDb::postgres().await).await;
}

const CC_ID: &str = "reporting";
const CC_SECRET: &str = "reporting-secret-0123456789abcdef";

async fn add_cc_client(db: &TestDb, format: Option<&str>) {
    let store = SqlStore::connect(&db.url()).await.unwrap();
    let mut client = portcullis_core::ClientRecord::new(CC_ID)
        .with_secret_hash(portcullis_core::hash_secret(CC_SECRET))
        .with_name("Reporting")
        .with_scope(portcullis_core::Scope::parse("reports:read").unwrap())
        .with_grant_types(vec!["client_credentials"])
        .with_auth_method("client_secret_basic");
    if let Some(format) = format {
        client
            .metadata
            .extras
            .insert::<portcullis_core::jose::AccessTokenFormat>(format.into());
    }
    store.insert_client(&client).await.unwrap();
}

async fn cc_token(http: &reqwest::Client, server: &TestServer) -> String {
    let response: Value = http
        .post(server.url("/token"))
        .basic_auth(CC_ID, Some(CC_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "reports:read"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["access_token"].as_str().unwrap().to_owned()
}

async fn introspect(server: &TestServer, token: &str) -> Value {
    introspect_as(server, CC_ID, CC_SECRET, token).await
}

/// RFC 9068 through `portcullis serve`: a client registered for JWTs gets one signed by
/// the current key of `/jwks`, and it is introspected and revoked as any token.
#[tokio::test]
async fn a_jwt_client_gets_access_tokens_that_verify_with_the_jwk_set() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    add_cc_client(&db, Some("jwt")).await;
    let server = TestServer::start_on(&db, store, |_| {}).await;
    let http = reqwest::Client::new();
    let token = cc_token(&http, &server).await;
    let set: JwkSet = http
        .get(server.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let provider = jose::aws_lc_rs::provider();
    let keys = KeySet::from_jwk_set(&provider, &set, &[Algorithm::Es256]);
    let now = portcullis_core::SystemClock.now();
    let validation = Validation::new(now)
        .with_typ("at+jwt")
        .with_issuer(server.url(""))
        .with_audience([server.url("")]);
    let verified = jose::verify(&token, &keys, &validation).unwrap();
    assert_eq!(verified.algorithm, Algorithm::Es256, "ES256 is the default");
    assert_eq!(verified.claims["client_id"], CC_ID);
    assert_eq!(verified.claims["sub"], CC_ID);
    assert_eq!(verified.claims["scope"], "reports:read");

    assert_eq!(introspect(&server, &token).await["active"], true);
    // RFC 9701: the same answer, signed, for a caller that accepts it.
    let signed = http
        .post(server.url("/introspect"))
        .basic_auth(CC_ID, Some(CC_SECRET))
        .header("accept", "application/token-introspection+jwt")
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        signed.headers()["content-type"],
        "application/token-introspection+jwt"
    );
    let signed = signed.text().await.unwrap();
    let introspection = jose::verify(
        &signed,
        &keys,
        &Validation::new(now)
            .with_typ("token-introspection+jwt")
            .with_issuer(server.url(""))
            .with_audience([CC_ID])
            .allow_missing_exp(),
    )
    .unwrap();
    assert_eq!(introspection.claims["token_introspection"]["active"], true);
    assert_eq!(
        introspection.claims["token_introspection"]["client_id"],
        CC_ID
    );
    let metadata: Value = http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["introspection_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let revoked = http
        .post(server.url("/revoke"))
        .basic_auth(CC_ID, Some(CC_SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(introspect(&server, &token).await["active"], false);
    db.drop_db().await;
}

/// `access_token_format = "jwt"` makes JWTs the default; a client can still ask for
/// opaque ones, and the default stays opaque without the setting.
#[tokio::test]
async fn the_server_default_format_and_the_clients_choice() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    add_cc_client(&db, None).await;
    let http = reqwest::Client::new();
    let opaque_server = TestServer::start_on(&db, store.clone(), |_| {}).await;
    let opaque = cc_token(&http, &opaque_server).await;
    assert_eq!(opaque.matches('.').count(), 1, "{opaque}");
    let jwt_server = TestServer::start_on(&db, store, |c| {
        c.tokens.access_token_format = "jwt".into();
    })
    .await;
    let jwt = cc_token(&http, &jwt_server).await;
    assert_eq!(jwt.matches('.').count(), 2, "{jwt}");
    assert!(jwt.starts_with("eyJ"), "{jwt}");
    // Both recorded in the one database: either instance introspects either token.
    assert_eq!(introspect(&opaque_server, &jwt).await["active"], true);
    assert_eq!(introspect(&jwt_server, &opaque).await["active"], true);
    let bad = portcullis_server::Config::load(
        None,
        vec![("PORTCULLIS_ACCESS_TOKEN_FORMAT".into(), "paseto".into())],
    )
    .unwrap()
    .validate()
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("access_token_format must be 'opaque' or 'jwt'"),
        "{bad}"
    );
    db.drop_db().await;
}

/// A JWT signed before a rotation stays valid after the new key signs, and one signed
/// by the new key verifies with the set a relying party fetched before it became
/// current (the strategy and the key manager of `portcullis serve`, over SQLite).
#[tokio::test]
async fn jwt_access_tokens_survive_a_rotation() {
    use portcullis_core::jose::JwtAccessTokens;
    use portcullis_core::{AuthorizationServer, BearerTokenGenerator, ClientCredentialsGrant};
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    add_cc_client(&db, Some("jwt")).await;
    let clock = Arc::new(ManualClock::new(T0));
    let config = keys_config(|c| c.signing_algorithms = vec!["ES256".into()]);
    let keys = Arc::new(manager(&store, &config, &clock));
    keys.sync().await.unwrap();
    let mut server = AuthorizationServer::new(store.clone())
        .with_issuer("https://as.example")
        .with_clock(clock.clone())
        .with_bearer_tokens(
            BearerTokenGenerator::default().with_strategy(JwtAccessTokens::new(keys.clone())),
        );
    server.register_grant(ClientCredentialsGrant::new());
    let issue = || async {
        let request = http::Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{CC_ID}:{CC_SECRET}"))
                ),
            )
            .body(bytes::Bytes::from_static(b"grant_type=client_credentials"))
            .unwrap();
        let response = server.create_token_response(&request).await;
        assert_eq!(response.status(), 200);
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    let protector = server.resource_protector();
    let scope = portcullis_core::Scope::empty();

    let before = issue().await;
    let next = keys.rotate(None).await.unwrap();
    let published_early = jwk_set(&keys.sync().await.unwrap());
    clock.set(next.activates);
    keys.sync().await.unwrap();
    let after = issue().await;
    let kid_of = |token: &str| {
        let header = token.split('.').next().unwrap();
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .unwrap(),
        )
        .unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };
    assert_ne!(kid_of(&before), kid_of(&after));
    assert_eq!(kid_of(&after), next.kid);
    // The server still recognises both; a relying party holding the set fetched while
    // the new key was still "next" verifies the new token.
    protector.validate_token(&before, &scope).await.unwrap();
    protector.validate_token(&after, &scope).await.unwrap();
    let early = KeySet::from_jwk_set(
        &jose::aws_lc_rs::provider(),
        &published_early,
        &Algorithm::ALL,
    );
    let validation = Validation::new(clock.now())
        .with_typ("at+jwt")
        .with_audience(["https://as.example"]);
    jose::verify(&after, &early, &validation).unwrap();
    db.drop_db().await;
}

#[test]
fn client_create_takes_an_access_token_format() {
    let db = TestDb::sqlite();
    // The management commands open only an existing database: create it first.
    ok_json(&portcullis(&db, &["migrate"], &[]));
    let created = ok_json(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Reports",
            "--grant-type",
            "client_credentials",
            "--access-token-format",
            "jwt",
        ],
        &[],
    ));
    assert_eq!(created["access_token_format"], "jwt");
    let shown = ok_json(&portcullis(
        &db,
        &["client", "show", created["client_id"].as_str().unwrap()],
        &[],
    ));
    assert_eq!(shown["access_token_format"], "jwt");
    let default = ok_json(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Other",
            "--grant-type",
            "client_credentials",
        ],
        &[],
    ));
    assert_eq!(default["access_token_format"], Value::Null);
    let bad = failed(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Bad",
            "--grant-type",
            "client_credentials",
            "--access-token-format",
            "paseto",
        ],
        &[],
    ));
    assert!(
        bad.contains("invalid access token format 'paseto'"),
        "{bad}"
    );
}

/// Without a key-encryption key the server still starts, and says at start how to set
/// one; with one, it says nothing of the kind.
#[tokio::test]
async fn serve_warns_without_a_key_encryption_key() {
    async fn start_and_log(db: &TestDb, env: &[(&str, &str)]) -> String {
        let log = std::env::temp_dir().join(format!(
            "portcullis-kek-log-{}-{}",
            std::process::id(),
            env.len()
        ));
        // At debug level, so that "never logged" means something.
        let mut env = env.to_vec();
        env.push(("RUST_LOG", "debug"));
        // Healthy, then stopped: everything it logged at start is in the file.
        drop(spawn_instance_logging(db, &env, std::fs::File::create(&log).unwrap()).await);
        let text = std::fs::read_to_string(&log).unwrap();
        let _ = std::fs::remove_file(&log);
        text
    }
    let db = TestDb::sqlite();
    let _store = seed(&db).await;
    let without = start_and_log(&db, &[]).await;
    assert!(
        without.contains("signing keys are stored unencrypted")
            && without.contains("PORTCULLIS_KEY_ENCRYPTION_KEY"),
        "{without}"
    );
    let key = kek(7);
    let with = start_and_log(&db, &[("PORTCULLIS_KEY_ENCRYPTION_KEY", key.as_str())]).await;
    assert!(!with.contains("unencrypted"), "{with}");
    // The key itself never reaches the log.
    assert!(!with.contains(&key) && !without.contains(&key));
    db.drop_db().await;
}

/// Keys are held in memory: once loaded, signing and verifying read no database —
/// they go on working with the table emptied behind the manager's back, until its
/// next reload.
#[tokio::test]
async fn signing_reads_no_database() {
    use portcullis_core::jose::SigningKeys as _;
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let clock = Arc::new(ManualClock::new(T0));
    let keys = manager(&store, &KeysConfig::default(), &clock);
    keys.sync().await.unwrap();
    let path = db.url().strip_prefix("sqlite://").unwrap().to_owned();
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn.execute("DELETE FROM signing_keys", []).unwrap();
    assert_eq!(count_rows(&db, "signing_keys").await, 0);
    let signer = keys.signer(T0).expect("the loaded key still signs");
    let token = signer
        .sign(Some("at+jwt"), &json!({"iss": "i", "exp": T0 + 60}))
        .unwrap();
    let verified = jose::verify(
        &token,
        &keys.verification_keys().unwrap(),
        &Validation::new(T0).with_typ("at+jwt"),
    )
    .unwrap();
    assert_eq!(verified.kid.as_deref(), Some(signer.kid()));
    db.drop_db().await;
}

/// The pairwise subject salt is made once per database and read back by every later
/// start: sealed with the key-encryption key when one is set (and then unreadable
/// without it, or with another), stored plain (marked so) when none is.
#[tokio::test]
async fn the_pairwise_salt_is_made_once_and_sealed_with_the_key_encryption_key() {
    use portcullis_server::keys::{pairwise_salt, PAIRWISE_SALT};
    let db = TestDb::sqlite();
    let random = OsRandom::default();
    let store = seed(&db).await;
    let sealing = keys_config(|c| c.key_encryption_key = Some(kek(7)));
    let salt = pairwise_salt(&store, &sealing, &random, T0).await.unwrap();
    assert_eq!(salt.len(), 32);
    assert_eq!(
        pairwise_salt(&store, &sealing, &random, T0 + 1)
            .await
            .unwrap(),
        salt,
        "read back, not made again"
    );
    assert_eq!(count_rows(&db, "server_secrets").await, 1);
    let TestDb::Sqlite(path) = &db else {
        unreachable!()
    };
    let stored: Vec<String> = vec![rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT value FROM server_secrets WHERE name = ?1",
            [PAIRWISE_SALT],
            |row| row.get(0),
        )
        .unwrap()];
    assert!(stored[0].starts_with("aes256gcm:"), "{stored:?}");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    assert!(
        !stored[0].contains(&b64.encode(&salt)),
        "the salt is not readable in the database"
    );
    let error = pairwise_salt(&store, &KeysConfig::default(), &random, T0)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("PORTCULLIS_KEY_ENCRYPTION_KEY"), "{error}");
    let wrong = keys_config(|c| c.key_encryption_key = Some(kek(8)));
    let error = pairwise_salt(&store, &wrong, &random, T0)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not open"), "{error}");

    // Without a key-encryption key, on another database: plain, and stable.
    let other = TestDb::sqlite();
    let plain_store = seed(&other).await;
    let plain = pairwise_salt(&plain_store, &KeysConfig::default(), &random, T0)
        .await
        .unwrap();
    assert_ne!(plain, salt, "each installation its own");
    assert_eq!(
        pairwise_salt(&plain_store, &KeysConfig::default(), &random, T0)
            .await
            .unwrap(),
        plain
    );
}
