//! What only `SqlStore` does, on SQLite and PostgreSQL: administration of clients and
//! users, sessions, consent, login throttling, purging, connection errors, migrations,
//! and two stores (two processes) on one database.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use portcullis_core::{
    AuthorizationCodeStore, ClientStore, CodeRedemption, RandomSource, Scope, TokenStore, UserStore,
};
use portcullis_sql::{
    Backend, NewUser, SessionRecord, SigningKeyRecord, SqlError, SqlOptions, SqlStore,
    SqliteSynchronous, UserRecord,
};

use crate::support::{client, code, token, TempDir, TestDb};

fn new_user(username: &str, password: &str) -> NewUser {
    NewUser::new(username, password)
        .with_email(Some(format!("{username}@example.com")))
        .with_name(Some(username.to_uppercase()))
}

fn session(id_hash: &str, subject: Option<&str>, expires_at: i64) -> SessionRecord {
    let mut session = SessionRecord::new(id_hash, "csrf-secret", 1_700_000_000, expires_at);
    session.subject = subject.map(str::to_owned);
    session.auth_time = subject.map(|_| 1_700_000_000);
    session
}

async fn clients_crud(db: TestDb) {
    let store = db.store().await;
    let a = client("app-a");
    let mut b = client("app-b");
    b.client_secret_hash = None;
    b.token_endpoint_auth_method = "none".into();
    b.redirect_uris = vec![];
    b.scope = Scope::empty();
    store.insert_client(&a).await.unwrap();
    store.insert_client(&b).await.unwrap();

    assert_eq!(store.get_client("app-a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_client("app-b").await.unwrap(), Some(b.clone()));
    assert_eq!(store.get_client("nope").await.unwrap(), None);
    assert_eq!(
        store.list_clients().await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    let json = serde_json::to_value(store.list_clients().await.unwrap()).unwrap();
    assert_eq!(json[0]["client_id"], "app-a");

    let duplicate = store.insert_client(&a).await.unwrap_err();
    assert!(duplicate.is_conflict(), "{duplicate}");
    assert!(duplicate.to_string().contains("app-a"), "{duplicate}");

    let new_hash = portcullis_core::hash_secret("rotated");
    assert!(store
        .set_client_secret_hash("app-a", &new_hash)
        .await
        .unwrap());
    assert!(!store
        .set_client_secret_hash("nope", &new_hash)
        .await
        .unwrap());
    let found = store.get_client("app-a").await.unwrap().unwrap();
    assert_eq!(found.client_secret_hash.as_deref(), Some(new_hash.as_str()));

    // Deleting a client deletes what was issued to it, and nothing else.
    let alice = store.create_user(new_user("alice", "pw")).await.unwrap();
    let a_token = token("app-a", "g-a", Some(&alice.subject));
    let b_token = token("app-b", "g-b", Some(&alice.subject));
    let a_code = code("app-a", &alice.subject);
    store.save_token(a_token.clone()).await.unwrap();
    store.save_token(b_token.clone()).await.unwrap();
    store.save_authorization_code(a_code.clone()).await.unwrap();
    let read = Scope::parse("read").unwrap();
    store
        .save_consent(&alice.subject, "app-a", &read, 1)
        .await
        .unwrap();
    store
        .save_consent(&alice.subject, "app-b", &read, 1)
        .await
        .unwrap();

    assert!(store.delete_client("app-a").await.unwrap());
    assert!(!store.delete_client("app-a").await.unwrap());
    assert_eq!(store.get_client("app-a").await.unwrap(), None);
    assert_eq!(
        store
            .find_access_token(&a_token.access_token_hash)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .redeem_authorization_code(&a_code.code_hash, &a_code.client_id)
            .await
            .unwrap(),
        CodeRedemption::NotFound
    );
    assert_eq!(
        store.get_consent(&alice.subject, "app-a").await.unwrap(),
        None
    );
    assert!(store
        .find_access_token(&b_token.access_token_hash)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.get_consent(&alice.subject, "app-b").await.unwrap(),
        Some(read)
    );
    assert_eq!(store.list_clients().await.unwrap(), vec![b]);
}

async fn users_crud(db: TestDb) {
    let store = db.store().await;
    let alice = store
        .create_user(new_user("alice", "correct horse"))
        .await
        .unwrap();
    let bob = store
        .create_user(NewUser::new("bob", "hunter2"))
        .await
        .unwrap();
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert_eq!(
        alice.subject.len(),
        22,
        "128 bits in base64url: {}",
        alice.subject
    );
    assert!(alice
        .subject
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_ne!(alice.subject, bob.subject);

    let hash = db.raw_password_hash("alice").await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("correct horse"));

    assert_eq!(store.get_user("alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(store.get_user("carol").await.unwrap(), None);
    assert_eq!(
        store.find_user_by_subject(&bob.subject).await.unwrap(),
        Some(bob.clone())
    );
    assert_eq!(store.find_user_by_subject("nobody").await.unwrap(), None);
    assert_eq!(
        store.list_users().await.unwrap(),
        vec![alice.clone(), bob.clone()]
    );
    let json = serde_json::to_value(&alice).unwrap();
    assert_eq!(json["username"], "alice");
    assert!(json.get("password_hash").is_none());

    let duplicate = store
        .create_user(new_user("alice", "other"))
        .await
        .unwrap_err();
    assert!(duplicate.is_conflict(), "{duplicate}");

    assert_eq!(
        store
            .verify_user_password("alice", "correct horse")
            .await
            .unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.verify_user_password("alice", "wrong").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .verify_user_password("carol", "correct horse")
            .await
            .unwrap(),
        None
    );
    let via_trait: Option<UserRecord> = store.authenticate_user("bob", "hunter2").await.unwrap();
    assert_eq!(via_trait, Some(bob.clone()));

    assert!(store
        .set_user_password("alice", "new password")
        .await
        .unwrap());
    assert!(!store.set_user_password("carol", "x").await.unwrap());
    assert_eq!(
        store
            .verify_user_password("alice", "correct horse")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .verify_user_password("alice", "new password")
            .await
            .unwrap(),
        Some(alice.clone())
    );
    assert_ne!(db.raw_password_hash("alice").await, hash);

    // Deleting a user deletes their tokens, codes, sessions and consents only.
    store.insert_client(&client("app")).await.unwrap();
    let alice_token = token("app", "g1", Some(&alice.subject));
    let bob_token = token("app", "g2", Some(&bob.subject));
    let alice_code = code("app", &alice.subject);
    store.save_token(alice_token.clone()).await.unwrap();
    store.save_token(bob_token.clone()).await.unwrap();
    store
        .save_authorization_code(alice_code.clone())
        .await
        .unwrap();
    store
        .insert_session(&session("s-alice", Some(&alice.subject), i64::MAX))
        .await
        .unwrap();
    store
        .insert_session(&session("s-bob", Some(&bob.subject), i64::MAX))
        .await
        .unwrap();
    store
        .save_consent(&alice.subject, "app", &Scope::parse("read").unwrap(), 1)
        .await
        .unwrap();

    assert!(store.delete_user("alice").await.unwrap());
    assert!(!store.delete_user("alice").await.unwrap());
    assert_eq!(store.get_user("alice").await.unwrap(), None);
    assert_eq!(
        store
            .verify_user_password("alice", "new password")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_access_token(&alice_token.access_token_hash)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .redeem_authorization_code(&alice_code.code_hash, &alice_code.client_id)
            .await
            .unwrap(),
        CodeRedemption::NotFound
    );
    assert_eq!(store.get_session("s-alice").await.unwrap(), None);
    assert_eq!(
        store.get_consent(&alice.subject, "app").await.unwrap(),
        None
    );
    assert!(store
        .find_access_token(&bob_token.access_token_hash)
        .await
        .unwrap()
        .is_some());
    assert!(store.get_session("s-bob").await.unwrap().is_some());
    assert_eq!(store.list_users().await.unwrap(), vec![bob]);
}

async fn sessions(db: TestDb) {
    let store = db.store().await;
    let alice = store.create_user(new_user("alice", "pw")).await.unwrap();
    let anonymous = session("hash-1", None, 2_000_000_000);
    let signed_in = session("hash-2", Some(&alice.subject), 2_000_000_000);
    store.insert_session(&anonymous).await.unwrap();
    store.insert_session(&signed_in).await.unwrap();
    assert_eq!(
        store.get_session("hash-1").await.unwrap(),
        Some(anonymous.clone())
    );
    assert_eq!(store.get_session("hash-2").await.unwrap(), Some(signed_in));
    assert_eq!(store.get_session("hash-3").await.unwrap(), None);
    assert!(store
        .insert_session(&anonymous)
        .await
        .unwrap_err()
        .is_conflict());
    // A session of an unknown user is refused, and nothing is written.
    let ghost = session("hash-ghost", Some("no-such-subject"), 2_000_000_000);
    assert!(store.insert_session(&ghost).await.is_err());
    assert_eq!(store.get_session("hash-ghost").await.unwrap(), None);

    store.delete_session("hash-1").await.unwrap();
    store.delete_session("hash-1").await.unwrap();
    assert_eq!(store.get_session("hash-1").await.unwrap(), None);
    assert!(!format!("{anonymous:?}").contains("csrf-secret"));
}

async fn consent_union(db: TestDb) {
    let store = db.store().await;
    let alice = store.create_user(new_user("alice", "pw")).await.unwrap();
    store.insert_client(&client("app")).await.unwrap();
    store.insert_client(&client("other")).await.unwrap();
    assert_eq!(
        store.get_consent(&alice.subject, "app").await.unwrap(),
        None
    );

    store
        .save_consent(
            &alice.subject,
            "app",
            &Scope::parse("openid read").unwrap(),
            10,
        )
        .await
        .unwrap();
    store
        .save_consent(
            &alice.subject,
            "app",
            &Scope::parse("read write").unwrap(),
            20,
        )
        .await
        .unwrap();
    let remembered = store
        .get_consent(&alice.subject, "app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(remembered, Scope::parse("openid read write").unwrap());
    assert_eq!(remembered.to_string(), "openid read write", "order is kept");
    assert_eq!(
        store.get_consent(&alice.subject, "other").await.unwrap(),
        None
    );

    // Concurrent saves never lose a scope token.
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let subject = alice.subject.clone();
            tokio::spawn(async move {
                let scope = Scope::parse(&format!("s{i}")).unwrap();
                store
                    .save_consent(&subject, "other", &scope, 30)
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let all = store
        .get_consent(&alice.subject, "other")
        .await
        .unwrap()
        .unwrap();
    for i in 0..8 {
        assert!(all.contains(&format!("s{i}")), "{all}");
    }
}

async fn login_throttle(db: TestDb) {
    use portcullis_sql::{AttemptOutcome, ThrottleReset};
    let store = Arc::new(db.store().await);
    const WINDOW: i64 = 900;
    let first = store
        .begin_login_attempt("account:alice", 100, WINDOW, ThrottleReset::AfterQuiet)
        .await
        .unwrap();
    assert_eq!(
        (first.failures, first.pending, first.window_start),
        (0, 1, 100)
    );
    // Read back as stored: nothing under a key never counted, the same state under
    // one just counted.
    assert_eq!(store.login_attempts("account:nobody").await.unwrap(), None);
    assert_eq!(
        store.login_attempts("account:alice").await.unwrap(),
        Some(first)
    );
    store
        .end_login_attempt("account:alice", 100, WINDOW, AttemptOutcome::Failed)
        .await
        .unwrap();
    let ended = store
        .login_attempts("account:alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ended.failures, ended.pending), (1, 0));

    // Concurrent attempts are counted atomically, each seeing its own place.
    const N: u32 = 20;
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .begin_login_attempt(
                        "address:127.0.0.1",
                        200,
                        WINDOW,
                        ThrottleReset::FixedWindow,
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut pending = Vec::new();
    for task in tasks {
        pending.push(task.await.unwrap().pending);
    }
    pending.sort_unstable();
    assert_eq!(
        pending,
        (1..=N).collect::<Vec<_>>(),
        "each attempt saw its own count"
    );
    for i in 0..N {
        let outcome = if i < 5 {
            AttemptOutcome::Failed
        } else {
            AttemptOutcome::Succeeded { clear: false }
        };
        store
            .end_login_attempt("address:127.0.0.1", 201, WINDOW, outcome)
            .await
            .unwrap();
    }
    let state = store
        .begin_login_attempt("address:127.0.0.1", 300, WINDOW, ThrottleReset::FixedWindow)
        .await
        .unwrap();
    assert_eq!(
        (state.failures, state.pending, state.window_start),
        (5, 1, 200),
        "failures counted, successes only ended their attempt"
    );
    // A fixed window starts over `window` seconds after it began, failures or not.
    let next = store
        .begin_login_attempt(
            "address:127.0.0.1",
            200 + WINDOW,
            WINDOW,
            ThrottleReset::FixedWindow,
        )
        .await
        .unwrap();
    assert_eq!((next.failures, next.window_start), (0, 200 + WINDOW));

    // An account's failures are forgotten after `window` seconds without one, and a
    // success that clears forgets them at once.
    let alice = store
        .begin_login_attempt(
            "account:alice",
            100 + WINDOW - 1,
            WINDOW,
            ThrottleReset::AfterQuiet,
        )
        .await
        .unwrap();
    assert_eq!((alice.failures, alice.last_failure_at), (1, 100));
    store
        .end_login_attempt(
            "account:alice",
            100 + WINDOW - 1,
            WINDOW,
            AttemptOutcome::Refused,
        )
        .await
        .unwrap();
    let alice = store
        .begin_login_attempt(
            "account:alice",
            100 + WINDOW,
            WINDOW,
            ThrottleReset::AfterQuiet,
        )
        .await
        .unwrap();
    assert_eq!(
        (alice.failures, alice.pending),
        (0, 1),
        "quiet for a window: forgotten"
    );
    store
        .end_login_attempt(
            "account:alice",
            100 + WINDOW,
            WINDOW,
            AttemptOutcome::Failed,
        )
        .await
        .unwrap();
    store
        .begin_login_attempt("account:alice", 2000, WINDOW, ThrottleReset::AfterQuiet)
        .await
        .unwrap();
    store
        .end_login_attempt(
            "account:alice",
            2000,
            WINDOW,
            AttemptOutcome::Succeeded { clear: true },
        )
        .await
        .unwrap();
    let alice = store
        .begin_login_attempt("account:alice", 2001, WINDOW, ThrottleReset::AfterQuiet)
        .await
        .unwrap();
    assert_eq!((alice.failures, alice.pending), (0, 1));

    // Ending an attempt that was never begun changes nothing and is not an error.
    store
        .end_login_attempt("never-seen", 1, WINDOW, AttemptOutcome::Failed)
        .await
        .unwrap();
}

/// Issue 9, finding 8: throttle keys are stored hashed (a password typed into the
/// username field never reaches the database), and rows are purged once they count
/// for nothing.
async fn login_throttle_keys_are_hashed_and_purged(db: TestDb) {
    use portcullis_sql::{AttemptOutcome, ThrottleReset};
    let store = db.store().await;
    let typed = "account:correct horse battery staple";
    store
        .begin_login_attempt(typed, 1000, 900, ThrottleReset::AfterQuiet)
        .await
        .unwrap();
    store
        .end_login_attempt(typed, 1000, 900, AttemptOutcome::Failed)
        .await
        .unwrap();
    let keys = db
        .column_values("SELECT throttle_key AS value FROM login_throttle")
        .await;
    assert_eq!(keys.len(), 1);
    assert!(!keys[0].contains("horse"), "{keys:?}");
    assert_eq!(keys[0], portcullis_core::hash_secret(typed));
    store.purge_expired(1000 + 899).await.unwrap();
    assert_eq!(
        db.column_values("SELECT throttle_key AS value FROM login_throttle")
            .await
            .len(),
        1,
        "still counting"
    );
    store.purge_expired(1000 + 900).await.unwrap();
    assert!(db
        .column_values("SELECT throttle_key AS value FROM login_throttle")
        .await
        .is_empty());
}

async fn purge_expired(db: TestDb) {
    let store = db.store().await;
    store.insert_client(&client("app")).await.unwrap();
    let now = 1_800_000_000;

    let mut live_code = code("app", "alice");
    live_code.expires_at = now + 60;
    let mut expired_code = code("app", "alice");
    expired_code.expires_at = now - 1;
    let mut used_live_code = code("app", "alice");
    used_live_code.expires_at = now + 60;
    for c in [&live_code, &expired_code, &used_live_code] {
        store.save_authorization_code(c.clone()).await.unwrap();
    }
    store
        .redeem_authorization_code(&used_live_code.code_hash, &used_live_code.client_id)
        .await
        .unwrap();

    store
        .insert_session(&session("live", None, now + 10))
        .await
        .unwrap();
    store
        .insert_session(&session("dead", None, now))
        .await
        .unwrap();

    let at = |issued_at: i64, refresh: Option<Option<i64>>| {
        let mut t = token("app", "g", None);
        t.issued_at = issued_at;
        t.expires_in = 3600;
        match refresh {
            None => {
                t.refresh_token_hash = None;
                t.refresh_token_expires_at = None;
            }
            Some(expiry) => t.refresh_token_expires_at = expiry,
        }
        t
    };
    let live_access = at(now - 10, None);
    let dead_access = at(now - 4000, None);
    let dead_access_live_refresh = at(now - 4000, Some(Some(now + 100)));
    let dead_access_dead_refresh = at(now - 4000, Some(Some(now - 100)));
    let dead_access_eternal_refresh = at(now - 4000, Some(None));
    for t in [
        &live_access,
        &dead_access,
        &dead_access_live_refresh,
        &dead_access_dead_refresh,
        &dead_access_eternal_refresh,
    ] {
        store.save_token(t.clone()).await.unwrap();
    }

    assert_eq!(
        store.purge_expired(now).await.unwrap(),
        4,
        "1 code, 1 session, 2 tokens"
    );
    assert_eq!(store.purge_expired(now).await.unwrap(), 0);

    let exists = |t: &portcullis_core::TokenRecord| {
        let store = store.clone();
        let hash = t.access_token_hash.clone();
        async move { store.find_access_token(&hash).await.unwrap().is_some() }
    };
    assert!(exists(&live_access).await);
    assert!(!exists(&dead_access).await);
    assert!(exists(&dead_access_live_refresh).await);
    assert!(!exists(&dead_access_dead_refresh).await);
    assert!(exists(&dead_access_eternal_refresh).await);
    assert!(store.get_session("live").await.unwrap().is_some());
    assert!(store.get_session("dead").await.unwrap().is_none());
    assert!(matches!(
        store
            .redeem_authorization_code(&expired_code.code_hash, &expired_code.client_id)
            .await
            .unwrap(),
        CodeRedemption::NotFound
    ));
    assert!(matches!(
        store
            .redeem_authorization_code(&used_live_code.code_hash, &used_live_code.client_id)
            .await
            .unwrap(),
        CodeRedemption::AlreadyUsed(_)
    ));
    assert!(matches!(
        store
            .redeem_authorization_code(&live_code.code_hash, &live_code.client_id)
            .await
            .unwrap(),
        CodeRedemption::Redeemed(_)
    ));
}

/// Pending authorization requests (issue 10) go when they expire, and with their
/// client.
async fn pending_requests_are_purged_and_deleted_with_their_client(db: TestDb) {
    use portcullis_core::{token_key, AuthorizationRequestStore, PendingAuthorization};
    let store = db.store().await;
    store.insert_client(&client("app")).await.unwrap();
    store.insert_client(&client("other")).await.unwrap();
    let now = 1_800_000_000;
    let pending = |client_id: &str, id: &str, expires_at: i64| {
        PendingAuthorization::new(
            token_key(id),
            client_id,
            Vec::new(),
            token_key("b"),
            now - 600,
            expires_at,
        )
    };
    let live = pending("app", "live", now + 1);
    let dead = pending("app", "dead", now);
    let others = pending("other", "others", now + 1);
    for p in [&live, &dead, &others] {
        store.save_authorization_request(p.clone()).await.unwrap();
    }
    assert_eq!(
        store.purge_expired(now).await.unwrap(),
        1,
        "the expired one"
    );
    assert!(store
        .find_authorization_request(&live.id_hash)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .find_authorization_request(&dead.id_hash)
        .await
        .unwrap()
        .is_none());
    assert!(store.delete_client("other").await.unwrap());
    assert!(store
        .find_authorization_request(&others.id_hash)
        .await
        .unwrap()
        .is_none());
    // A pending request of a client deleted meanwhile is an unknown client, not a
    // database error.
    let error = store
        .save_authorization_request(pending("other", "late", now + 1))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), portcullis_core::StoreErrorKind::UnknownClient);
}

async fn migrate_twice(db: TestDb) {
    let store = db.store().await;
    store.insert_client(&client("app")).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    // A second store on the same database finds the schema in place and the data kept.
    let again = db.store().await;
    assert!(again.get_client("app").await.unwrap().is_some());
    let unmigrated = db
        .store_with(SqlOptions::default().with_run_migrations(false))
        .await;
    assert!(unmigrated.get_client("app").await.unwrap().is_some());
}

async fn concurrent_first_start(db: TestDb) {
    // Several processes starting at once on a new database all migrate it.
    let url = db.url().to_owned();
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { SqlStore::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.unwrap().unwrap());
    }
    stores[0].insert_client(&client("app")).await.unwrap();
    for store in &stores {
        assert!(store.find_client("app").await.unwrap().is_some());
    }
}

async fn two_stores_race_for_one_code(db: TestDb) {
    // Two stores, two pools: what two server processes on one database look like.
    let first = Arc::new(db.store().await);
    let second = Arc::new(db.store().await);
    first.insert_client(&client("app")).await.unwrap();
    for round in 0..3 {
        let saved = code("app", "alice");
        first.save_authorization_code(saved.clone()).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = if i % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let barrier = barrier.clone();
                let hash = saved.code_hash.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.redeem_authorization_code(&hash, "app").await.unwrap()
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            match task.await.unwrap() {
                CodeRedemption::Redeemed(_) => winners += 1,
                CodeRedemption::AlreadyUsed(_) => {}
                CodeRedemption::NotFound => panic!("the code exists"),
            }
        }
        assert_eq!(winners, 1, "round {round}: exactly one redemption wins");
    }

    // The same for a refresh token rotated through both stores.
    let old = token("app", "g", None);
    first.save_token(old.clone()).await.unwrap();
    let old_refresh = old.refresh_token_hash.clone().unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let old_refresh = old_refresh.clone();
            let new = token("app", "g", None);
            tokio::spawn(
                async move { store.rotate_refresh_token(&old_refresh, new).await.unwrap() },
            )
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1);
}

/// Every lookup sees what this process committed before it, however quickly it
/// follows: a new token, a revocation, a rotation, a deleted client. (On SQLite a
/// lookup may reuse the read transaction of the one before; a commit must end that.)
async fn lookups_see_every_earlier_commit(db: TestDb) {
    let store = db.store().await;
    store.insert_client(&client("app")).await.unwrap();
    for round in 0..50 {
        let saved = token("app", &format!("g{round}"), None);
        let access = saved.access_token_hash.clone();
        let refresh = saved.refresh_token_hash.clone().unwrap();
        // A miss first, so that a snapshot from before the save is open.
        assert_eq!(store.find_access_token(&access).await.unwrap(), None);
        store.save_token(saved.clone()).await.unwrap();
        let found = store.find_access_token(&access).await.unwrap();
        assert_eq!(found.as_ref(), Some(&saved), "round {round}: saved");
        store.revoke_token(&access).await.unwrap();
        let found = store.find_access_token(&access).await.unwrap().unwrap();
        assert!(found.revoked, "round {round}: revoked");
        let next = token("app", &format!("g{round}"), None);
        assert!(store.find_refresh_token(&refresh).await.unwrap().is_some());
        assert!(!store
            .rotate_refresh_token(&refresh, next.clone())
            .await
            .unwrap());
        let unrotated = token("app", &format!("h{round}"), None);
        store.save_token(unrotated.clone()).await.unwrap();
        let old = unrotated.refresh_token_hash.clone().unwrap();
        assert!(store.find_refresh_token(&old).await.unwrap().is_some());
        assert!(store
            .rotate_refresh_token(&old, next.clone())
            .await
            .unwrap());
        let rotated = store.find_refresh_token(&old).await.unwrap().unwrap();
        assert!(rotated.revoked, "round {round}: rotated away");
        let new = store
            .find_access_token(&next.access_token_hash)
            .await
            .unwrap();
        assert_eq!(new.as_ref(), Some(&next), "round {round}: rotated in");
    }
    // Deleting the client (outside the token writer) takes its tokens at once.
    let last = token("app", "last", None);
    store.save_token(last.clone()).await.unwrap();
    assert!(store
        .find_access_token(&last.access_token_hash)
        .await
        .unwrap()
        .is_some());
    assert!(store.delete_client("app").await.unwrap());
    assert_eq!(
        store
            .find_access_token(&last.access_token_hash)
            .await
            .unwrap(),
        None
    );
}

/// Many lookups at once — of access and refresh keys, the same key several times,
/// keys of the other kind and unknown keys — each get exactly their own answer, however
/// the store batches them (PostgreSQL answers a batch with one `IN (...)` query).
async fn concurrent_lookups_get_their_own_token(db: TestDb) {
    let store = Arc::new(db.store().await);
    store.insert_client(&client("app")).await.unwrap();
    let mut saved = Vec::new();
    for i in 0..20 {
        let token = token("app", &format!("g{i}"), None);
        store.save_token(token.clone()).await.unwrap();
        saved.push(token);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            let wanted = saved[i % saved.len()].clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let refresh = wanted.refresh_token_hash.clone().unwrap();
                match i % 4 {
                    0 => {
                        let found = store.find_access_token(&wanted.access_token_hash).await;
                        assert_eq!(found.unwrap().as_ref(), Some(&wanted), "lookup {i}");
                    }
                    1 => {
                        let found = store.find_refresh_token(&refresh).await;
                        assert_eq!(found.unwrap().as_ref(), Some(&wanted), "lookup {i}");
                    }
                    2 => {
                        // A key of the other kind finds nothing.
                        assert_eq!(store.find_access_token(&refresh).await.unwrap(), None);
                        let access = &wanted.access_token_hash;
                        assert_eq!(store.find_refresh_token(access).await.unwrap(), None);
                    }
                    _ => {
                        let unknown = format!("unknown-{i}");
                        assert_eq!(store.find_access_token(&unknown).await.unwrap(), None);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

async fn describe_and_backend(db: TestDb) {
    let store = db.store().await;
    let description = store.describe();
    match &db {
        TestDb::Sqlite { .. } => {
            assert_eq!(store.backend(), Backend::Sqlite);
            assert!(description.starts_with("SQLite at /"), "{description}");
            assert!(description.ends_with("portcullis.db"), "{description}");
        }
        TestDb::Postgres { .. } => {
            assert_eq!(store.backend(), Backend::Postgres);
            assert!(description.starts_with("PostgreSQL at "), "{description}");
            assert!(description.contains(':'), "{description}");
        }
    }
    assert_eq!(format!("{store:?}"), format!("SqlStore({description:?})"));
}

/// One test per function on SQLite and one on PostgreSQL.
/// Issue 9, finding 9: `Alice`, ` alice` and `ALICE` are one user; a Cyrillic
/// look-alike is refused; sign-in finds the user whatever the case typed.
async fn usernames_compare_normalized(db: TestDb) {
    let store = db.store().await;
    let alice = store
        .create_user(new_user("  Alice ", "pw-alice"))
        .await
        .unwrap();
    assert_eq!(alice.username, "Alice", "stored trimmed");
    for twin in ["alice", "ALICE", " alice", "\u{ff41}lice"] {
        let error = store.create_user(new_user(twin, "x")).await.unwrap_err();
        assert!(error.is_conflict(), "{twin:?}: {error}");
    }
    let error = store
        .create_user(new_user("\u{0430}lice", "x"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("mixes letters"), "{error}");
    for typed in ["alice", "ALICE", " Alice"] {
        assert_eq!(
            store.verify_user_password(typed, "pw-alice").await.unwrap(),
            Some(alice.clone()),
            "{typed:?}"
        );
        assert_eq!(store.get_user(typed).await.unwrap(), Some(alice.clone()));
    }
    assert_eq!(store.list_users().await.unwrap().len(), 1);
    assert!(store.delete_user("ALICE").await.unwrap());
    assert!(store.list_users().await.unwrap().is_empty());
}

/// Issue 9, finding 6: a new password, and disabling a user, end every grant the user
/// gave: access and refresh tokens are revoked and unredeemed codes are gone, and a
/// token saved afterwards for one of those grants (a redemption that raced the change)
/// is revoked too. A disabled user cannot sign in; enabled again, they can.
async fn password_change_and_disabling_end_the_users_grants(db: TestDb) {
    let store = db.store().await;
    store.insert_client(&client("app")).await.unwrap();
    let alice = store
        .create_user(new_user("alice", "old password"))
        .await
        .unwrap();
    let bob = store.create_user(new_user("bob", "bob's")).await.unwrap();
    let alices = token("app", "grant-a", Some(&alice.subject));
    let bobs = token("app", "grant-b", Some(&bob.subject));
    store.save_token(alices.clone()).await.unwrap();
    store.save_token(bobs.clone()).await.unwrap();
    let pending = code("app", &alice.subject);
    store
        .save_authorization_code(pending.clone())
        .await
        .unwrap();

    assert!(store
        .set_user_password("Alice", "new password")
        .await
        .unwrap());
    let found = store
        .find_access_token(&alices.access_token_hash)
        .await
        .unwrap()
        .unwrap();
    assert!(found.revoked, "the old grant's tokens are revoked");
    assert_eq!(
        store
            .redeem_authorization_code(&pending.code_hash, "app")
            .await
            .unwrap(),
        CodeRedemption::NotFound,
        "the unredeemed code is gone"
    );
    let mut late = token("app", "grant-a", Some(&alice.subject));
    late.grant_type = "refresh_token".into();
    store.save_token(late.clone()).await.unwrap();
    assert!(
        store
            .find_access_token(&late.access_token_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked,
        "a token saved later for the old grant is born revoked"
    );
    let bobs_now = store
        .find_access_token(&bobs.access_token_hash)
        .await
        .unwrap()
        .unwrap();
    assert!(!bobs_now.revoked, "other users are untouched");

    let fresh = token("app", "grant-c", Some(&bob.subject));
    store.save_token(fresh.clone()).await.unwrap();
    assert!(store.set_user_disabled("bob", true).await.unwrap());
    assert!(
        store
            .find_access_token(&fresh.access_token_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert_eq!(
        store.verify_user_password("bob", "bob's").await.unwrap(),
        None
    );
    assert!(store.get_user("bob").await.unwrap().unwrap().disabled);
    assert!(store.set_user_disabled("bob", false).await.unwrap());
    assert!(store
        .verify_user_password("bob", "bob's")
        .await
        .unwrap()
        .is_some());
    assert!(!store.set_user_disabled("nobody", true).await.unwrap());
}

/// Issue 9, finding 14: a token written for a client that another process deleted
/// (this store still has it cached) fails as an unknown client, never as a storage
/// failure, and the cache forgets the client at once.
async fn a_write_for_a_deleted_client_is_an_unknown_client(db: TestDb) {
    use portcullis_core::{StoreErrorKind, TokenStore};
    let server = db.store().await;
    let cli = db.store().await;
    server.insert_client(&client("gone")).await.unwrap();
    assert!(
        server.find_client("gone").await.unwrap().is_some(),
        "now cached"
    );
    assert!(cli.delete_client("gone").await.unwrap());
    for grant_type in ["client_credentials", "authorization_code"] {
        let mut orphan = token("gone", "g", None);
        orphan.grant_type = grant_type.into();
        let error = TokenStore::save_token(&server, orphan).await.unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::UnknownClient, "{error}");
    }
    let error = portcullis_core::AuthorizationCodeStore::save_authorization_code(
        &server,
        code("gone", "alice"),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::UnknownClient, "{error}");
    assert!(
        server.find_client("gone").await.unwrap().is_none(),
        "the cache forgot the deleted client"
    );
    // Writes of other clients batched with it are unaffected.
    server.insert_client(&client("kept")).await.unwrap();
    TokenStore::save_token(&server, token("kept", "k", None))
        .await
        .unwrap();
}

/// A predictable random source: bytes `start`, `start + 1`, … (wrapping).
#[derive(Debug)]
struct Counter(AtomicU8);

impl Counter {
    fn from(start: u8) -> Arc<Counter> {
        Arc::new(Counter(AtomicU8::new(start)))
    }
}

impl RandomSource for Counter {
    fn fill(&self, buf: &mut [u8]) {
        for b in buf {
            *b = self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The salt segment of a PHC string (`$argon2id$v=19$m=…,t=…,p=…$SALT$HASH`).
fn salt_of(phc: &str) -> &str {
    phc.split('$').nth(4).unwrap()
}

/// Issue 10, item 6: a user's subject and password salts come from the store's injected
/// random source, drawn in that order (subject, then salt), never from the OS.
async fn injected_randomness_decides_subjects_and_salts(db: TestDb) {
    let store = db.store().await.with_random(Counter::from(0));
    let alice = store.create_user(new_user("alice", "pw")).await.unwrap();
    // Bytes 0..16, base64url without padding.
    assert_eq!(alice.subject, "AAECAwQFBgcICQoLDA0ODw");
    // Bytes 16..32, in the PHC string's standard base64 without padding.
    let hash = db.raw_password_hash("alice").await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert_eq!(salt_of(&hash), "EBESExQVFhcYGRobHB0eHw");
    assert!(store
        .verify_user_password("alice", "pw")
        .await
        .unwrap()
        .is_some());

    // A new password draws the next salt (bytes 32..48) from the same source.
    assert!(store.set_user_password("alice", "new pw").await.unwrap());
    let hash = db.raw_password_hash("alice").await;
    assert_eq!(salt_of(&hash), "ICEiIyQlJicoKSorLC0uLw");
    assert!(store
        .verify_user_password("alice", "new pw")
        .await
        .unwrap()
        .is_some());

    // Another store on the same database with another source: its own bytes.
    let other = db.store().await.with_random(Counter::from(100));
    let bob = other.create_user(new_user("bob", "pw")).await.unwrap();
    assert_eq!(bob.subject, "ZGVmZ2hpamtsbW5vcHFycw");
    // Stores left with the OS source draw subjects no counter would.
    let carol = db
        .store()
        .await
        .create_user(new_user("carol", "pw"))
        .await
        .unwrap();
    assert_ne!(carol.subject, alice.subject);
    assert_ne!(carol.subject, bob.subject);
    assert_eq!(carol.subject.len(), 22);
}

fn signing_key(kid: &str, alg: &str, generation: i64, activates_at: i64) -> SigningKeyRecord {
    SigningKeyRecord::new(
        kid,
        alg,
        generation,
        format!(r#"{{"kty":"EC","kid":"{kid}"}}"#),
        format!("plain:{kid}-private"),
        1_700_000_000,
        activates_at,
    )
}

/// Signing keys: stored and listed whole; a second key of the same algorithm and
/// generation (another instance rotating at the same moment) is refused and writes
/// nothing, not even its retirement of the old key; times and sealed keys update;
/// expired keys are purged.
async fn signing_keys(db: TestDb) {
    let store = db.store().await;
    assert!(store.list_signing_keys().await.unwrap().is_empty());
    let first = signing_key("k1", "ES256", 1, 1_700_000_000);
    assert!(store.insert_signing_key(&first, &[]).await.unwrap());
    let rsa = signing_key("r1", "RS256", 1, 1_700_000_000);
    assert!(store.insert_signing_key(&rsa, &[]).await.unwrap());

    let next = signing_key("k2", "ES256", 2, 1_700_000_700);
    let retiring = [("k1".to_owned(), 1_700_000_700, 1_700_090_000)];
    assert!(store.insert_signing_key(&next, &retiring).await.unwrap());
    // The same generation again, from a racing instance: refused, nothing written.
    let racer = signing_key("k2-other", "ES256", 2, 1_700_000_800);
    let racer_retiring = [("k1".to_owned(), 1_700_000_100, 1_700_000_200)];
    assert!(!store
        .insert_signing_key(&racer, &racer_retiring)
        .await
        .unwrap());

    let keys = store.list_signing_keys().await.unwrap();
    let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["k1", "k2", "r1"]);
    let mut expected_first = first.clone();
    expected_first.retires_at = Some(1_700_000_700);
    expected_first.expires_at = Some(1_700_090_000);
    assert_eq!(keys[0], expected_first);
    assert_eq!(keys[1], next);
    // The sealed key never shows in Debug.
    assert!(
        !format!("{:?}", keys[0]).contains("private"),
        "{:?}",
        keys[0]
    );

    // A retirement never moves a key's retirement later.
    let later = signing_key("k3", "ES256", 3, 1_700_001_000);
    let too_late = [("k1".to_owned(), 1_700_009_999, 1_700_099_999)];
    assert!(store.insert_signing_key(&later, &too_late).await.unwrap());
    assert_eq!(
        store.list_signing_keys().await.unwrap()[0].retires_at,
        Some(1_700_000_700)
    );

    let changes = [(
        "k3".to_owned(),
        1_700_000_900,
        Some(1_700_005_000),
        Some(1_700_006_000),
    )];
    assert_eq!(store.set_signing_key_times(&changes).await.unwrap(), 1);
    let missing = [("nope".to_owned(), 0, None, None)];
    assert_eq!(store.set_signing_key_times(&missing).await.unwrap(), 0);
    assert!(store
        .set_signing_key_private("k3", "aes256gcm:sealed")
        .await
        .unwrap());
    assert!(!store.set_signing_key_private("nope", "x").await.unwrap());
    let k3 = store.list_signing_keys().await.unwrap().remove(2);
    assert_eq!(
        (k3.activates_at, k3.private_key.as_str()),
        (1_700_000_900, "aes256gcm:sealed")
    );

    // Purged once expired: k1 (1_700_090_000) and k3 (1_700_006_000), not k2 or r1.
    store.purge_expired(1_700_090_000).await.unwrap();
    let kids: Vec<String> = store
        .list_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k2", "r1"]);
}

/// A user's claims are kept with them and released to the UserInfo endpoint with the
/// column values; a disabled user has none.
async fn user_claims(db: TestDb) {
    use portcullis_core::claims::ClaimsSource;
    let store = db.store().await;
    let serde_json::Value::Object(claims) = serde_json::json!({
        "given_name": "Alice",
        "email_verified": true,
        "address": {"country": "NZ"},
    }) else {
        unreachable!()
    };
    let alice = store
        .create_user(new_user("alice", "pw-alice-0123456789").with_claims(claims.clone()))
        .await
        .unwrap();
    assert_eq!(alice.claims, claims);
    let found = store
        .find_user_by_subject(&alice.subject)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.claims, claims, "read back as written");
    let released = store.claims(&alice.subject).await.unwrap().unwrap();
    assert_eq!(
        serde_json::Value::Object(released),
        serde_json::json!({
            "given_name": "Alice",
            "email_verified": true,
            "address": {"country": "NZ"},
            "preferred_username": "alice",
            "email": "alice@example.com",
            "name": "ALICE",
        })
    );

    // The profile can change; the subject stays.
    let mut changed = found.clone();
    changed.email = Some("liddell@example.com".into());
    changed.claims.remove("address");
    assert!(store.set_user_profile(&changed).await.unwrap());
    let again = store
        .find_user_by_subject(&alice.subject)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.email.as_deref(), Some("liddell@example.com"));
    assert!(!again.claims.contains_key("address"));
    assert_eq!(again.subject, alice.subject);
    let mut nobody = changed.clone();
    nobody.username = "nobody".into();
    assert!(
        !store.set_user_profile(&nobody).await.unwrap(),
        "no such user"
    );
    let plain = store
        .create_user(new_user("bob", "pw-bob-0123456789"))
        .await
        .unwrap();
    assert!(plain.claims.is_empty());
    assert_eq!(store.claims("no-such-subject").await.unwrap(), None);
    store.set_user_disabled("alice", true).await.unwrap();
    assert_eq!(
        store.claims(&alice.subject).await.unwrap(),
        None,
        "a disabled user's tokens speak for nobody"
    );
}

/// Resource indicators (issue 13): the resources consented to are remembered per user
/// and client (again adds nothing), and forgotten when the consent is revoked or the
/// client deleted.
async fn consented_resources_are_remembered_and_forgotten_with_the_consent(db: TestDb) {
    let store = db.store().await;
    let alice = store.create_user(new_user("alice", "pw")).await.unwrap();
    for app in ["app-a", "app-b"] {
        store.insert_client(&client(app)).await.unwrap();
        store
            .save_consent(&alice.subject, app, &Scope::parse("read").unwrap(), 1)
            .await
            .unwrap();
    }
    let a = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    store
        .save_consent_resources(
            &alice.subject,
            "app-a",
            &a(&["https://b/", "https://a/"]),
            1,
        )
        .await
        .unwrap();
    store
        .save_consent_resources(&alice.subject, "app-a", &a(&["https://a/"]), 2)
        .await
        .unwrap();
    store
        .save_consent_resources(&alice.subject, "app-b", &a(&["https://c/"]), 2)
        .await
        .unwrap();
    store
        .save_consent_resources(&alice.subject, "app-b", &[], 3)
        .await
        .unwrap();
    assert_eq!(
        store
            .consented_resources(&alice.subject, "app-a")
            .await
            .unwrap(),
        a(&["https://a/", "https://b/"])
    );
    assert!(store.revoke_consent(&alice.subject, "app-a").await.unwrap());
    assert!(store
        .consented_resources(&alice.subject, "app-a")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .consented_resources(&alice.subject, "app-b")
            .await
            .unwrap(),
        a(&["https://c/"])
    );
    assert!(store.delete_client("app-b").await.unwrap());
    assert!(store
        .consented_resources(&alice.subject, "app-b")
        .await
        .unwrap()
        .is_empty());
}

/// OpenID Connect sessions (issue 12): a session keeps its `sid`; the clients a
/// session signed into are recorded once each (again moves the end), taken once, and
/// purged with expired sessions; deleting a client forgets its records.
async fn sessions_keep_their_sid_and_the_clients_they_signed_into(db: TestDb) {
    let store = db.store().await;
    let alice = store.create_user(new_user("alice", "pw")).await.unwrap();
    let mut session = portcullis_sql::SessionRecord::new("hash-1", "csrf", 10, 1_000);
    session.subject = Some(alice.subject.clone());
    session.sid = Some("sid-1".into());
    store.insert_session(&session).await.unwrap();
    assert_eq!(
        store
            .get_session("hash-1")
            .await
            .unwrap()
            .unwrap()
            .sid
            .as_deref(),
        Some("sid-1")
    );
    for app in ["app-a", "app-b", "app-c"] {
        store.insert_client(&client(app)).await.unwrap();
    }
    for (sid, app, expires) in [
        ("sid-1", "app-b", 1_000),
        ("sid-1", "app-a", 1_000),
        ("sid-1", "app-a", 1_500),
        ("sid-1", "app-c", 1_000),
        ("sid-2", "app-a", 50),
    ] {
        store
            .record_session_client(sid, app, &alice.subject, 10, expires)
            .await
            .unwrap();
    }
    assert!(store.delete_client("app-c").await.unwrap());
    // The session goes on (its user signed in again): its records with it.
    store.extend_session_clients("sid-1", 5_000).await.unwrap();
    assert!(store.purge_expired(100).await.unwrap() >= 1);
    assert!(store.purge_expired(2_000).await.is_ok());
    let taken = store.take_session_clients("sid-1").await.unwrap();
    assert_eq!(
        taken
            .iter()
            .map(|c| (c.client_id.as_str(), c.subject.as_str(), c.sid.as_str()))
            .collect::<Vec<_>>(),
        [
            ("app-a", alice.subject.as_str(), "sid-1"),
            ("app-b", alice.subject.as_str(), "sid-1")
        ]
    );
    assert!(
        store
            .take_session_clients("sid-1")
            .await
            .unwrap()
            .is_empty(),
        "taken once"
    );
    assert!(
        store
            .take_session_clients("sid-2")
            .await
            .unwrap()
            .is_empty(),
        "purged with the expired sessions"
    );
}

/// What `client update`, `consent` and `session` stand on (issue 15, item 5): a
/// client's registration rewritten in place; consents listed by user and client, and
/// revoked with what they granted; sessions listed and ended by user.
async fn clients_consents_and_sessions_are_managed(db: TestDb) {
    let store = db.store().await;
    store.insert_client(&client("app-a")).await.unwrap();
    store.insert_client(&client("app-b")).await.unwrap();
    let mut changed = store.get_client("app-a").await.unwrap().unwrap();
    changed.client_name = "Renamed".into();
    changed.redirect_uris = vec!["https://a.example/new".into()];
    changed.metadata.post_logout_redirect_uris = vec!["https://a.example/bye".into()];
    assert!(store.update_client(&changed).await.unwrap());
    assert_eq!(store.get_client("app-a").await.unwrap().unwrap(), changed);
    let mut missing = changed.clone();
    missing.client_id = "nope".into();
    assert!(!store.update_client(&missing).await.unwrap());

    let alice = store.create_user(new_user("alice", "pw")).await.unwrap();
    let bob = store.create_user(new_user("bob", "pw")).await.unwrap();
    let read = Scope::parse("read").unwrap();
    for (user, app) in [(&alice, "app-a"), (&alice, "app-b"), (&bob, "app-a")] {
        store
            .save_consent(&user.subject, app, &read, 1)
            .await
            .unwrap();
    }
    let pairs = |list: Vec<portcullis_sql::ConsentRecord>| {
        list.into_iter()
            .map(|c| (c.subject, c.client_id))
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(store.list_consents(None, None).await.unwrap().len(), 3);
    assert_eq!(
        pairs(
            store
                .list_consents(Some(&alice.subject), None)
                .await
                .unwrap()
        ),
        [
            (alice.subject.clone(), "app-a".to_owned()),
            (alice.subject.clone(), "app-b".to_owned())
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(
        pairs(store.list_consents(None, Some("app-a")).await.unwrap()),
        [
            (alice.subject.clone(), "app-a".to_owned()),
            (bob.subject.clone(), "app-a".to_owned())
        ]
        .into_iter()
        .collect()
    );

    let alices = token("app-a", "g-alice", Some(&alice.subject));
    let bobs = token("app-a", "g-bob", Some(&bob.subject));
    let alices_other = token("app-b", "g-alice-b", Some(&alice.subject));
    for t in [&alices, &bobs, &alices_other] {
        store.save_token(t.clone()).await.unwrap();
    }
    assert!(store.revoke_consent(&alice.subject, "app-a").await.unwrap());
    assert!(
        !store.revoke_consent(&alice.subject, "app-a").await.unwrap(),
        "gone"
    );
    let revoked = |t: &portcullis_core::TokenRecord| {
        let store = &store;
        let key = t.access_token_hash.clone();
        async move {
            portcullis_core::Token::is_revoked(
                &store.find_access_token(&key).await.unwrap().unwrap(),
            )
        }
    };
    assert!(
        revoked(&alices).await,
        "what the consent granted is revoked"
    );
    assert!(!revoked(&bobs).await, "another user's grant stays");
    assert!(
        !revoked(&alices_other).await,
        "another client's grant stays"
    );
    assert_eq!(store.list_consents(None, None).await.unwrap().len(), 2);

    store
        .insert_session(&session("s-a1", Some(&alice.subject), i64::MAX))
        .await
        .unwrap();
    store
        .insert_session(&session("s-a2", Some(&alice.subject), i64::MAX))
        .await
        .unwrap();
    store
        .insert_session(&session("s-b", Some(&bob.subject), i64::MAX))
        .await
        .unwrap();
    store
        .insert_session(&session("s-anon", None, i64::MAX))
        .await
        .unwrap();
    assert_eq!(
        store.list_sessions(None).await.unwrap().len(),
        3,
        "signed-in ones only"
    );
    assert_eq!(
        store
            .list_sessions(Some(&alice.subject))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.delete_sessions_of(&alice.subject).await.unwrap(), 2);
    let left = store.list_sessions(None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id_hash, "s-b");
}

/// JWT client assertions (RFC 7523): a (client_id, jti) is recorded once; a replay is
/// refused until the record expires, by any store on the database (another instance),
/// even racing; expired records are purged, and a pair whose record has expired may be
/// recorded again.
async fn client_assertions_are_recorded_once(db: TestDb) {
    use portcullis_core::AssertionReplayStore;
    let store = db.store().await;
    let other = db.store().await;
    let now = 1_800_000_000;
    assert!(store
        .record_assertion("app", "j1", now + 60, now)
        .await
        .unwrap());
    assert!(!store
        .record_assertion("app", "j1", now + 60, now)
        .await
        .unwrap());
    assert!(!other
        .record_assertion("app", "j1", now + 90, now + 30)
        .await
        .unwrap());
    // Another client's jti of the same value is another assertion.
    assert!(other
        .record_assertion("other", "j1", now + 60, now)
        .await
        .unwrap());
    // Racing stores: exactly one wins.
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move { store.record_assertion("app", "race", now + 60, now).await })
        })
        .collect();
    let mut won = 0;
    for attempt in attempts {
        if attempt.await.unwrap().unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    // Past its expiry the record no longer counts, and the purge removes it.
    assert!(store
        .record_assertion("app", "j1", now + 200, now + 61)
        .await
        .unwrap());
    assert!(!store
        .record_assertion("app", "j1", now + 200, now + 100)
        .await
        .unwrap());
    let purged = store.purge_expired(now + 201).await.unwrap();
    assert!(purged >= 3, "{purged}");
    assert!(store
        .record_assertion("app", "race", now + 300, now + 201)
        .await
        .unwrap());
}

macro_rules! on_both_databases {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test(crate::support::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
                async fn $test() {
                    super::$test(crate::support::TestDb::postgres().await).await;
                }
            )*
        }
    };
}

on_both_databases!(
    clients_crud,
    users_crud,
    sessions,
    consent_union,
    login_throttle,
    login_throttle_keys_are_hashed_and_purged,
    purge_expired,
    pending_requests_are_purged_and_deleted_with_their_client,
    migrate_twice,
    concurrent_first_start,
    two_stores_race_for_one_code,
    concurrent_lookups_get_their_own_token,
    lookups_see_every_earlier_commit,
    describe_and_backend,
    usernames_compare_normalized,
    password_change_and_disabling_end_the_users_grants,
    a_write_for_a_deleted_client_is_an_unknown_client,
    injected_randomness_decides_subjects_and_salts,
    signing_keys,
    user_claims,
    clients_consents_and_sessions_are_managed,
    sessions_keep_their_sid_and_the_clients_they_signed_into,
    server_secrets_are_written_once,
    consented_resources_are_remembered_and_forgotten_with_the_consent,
    client_assertions_are_recorded_once,
);

/// On PostgreSQL, codes leave room on their pages for the one update each gets (its
/// redemption), so that it is written in place (HOT) without new index entries, and
/// tokens room for a rotation or revocation: the PostgreSQL code-exchange and refresh
/// figures of docs/performance.md depend on it.
#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn postgres_codes_and_tokens_leave_room_for_in_place_updates() {
    let db = TestDb::postgres().await;
    let _store = db.store().await;
    let options = db
        .column_values(
            "SELECT c.relname || ' ' || array_to_string(c.reloptions, ',') AS value \
             FROM pg_class AS c \
             WHERE c.relnamespace = current_schema()::regnamespace \
             AND c.relname IN ('authorization_codes', 'tokens') ORDER BY 1",
        )
        .await;
    assert_eq!(
        options,
        ["authorization_codes fillfactor=50", "tokens fillfactor=80"]
    );
}

/// Issue 9, finding 7: a new SQLite database, its WAL and its shared-memory file are
/// readable by their owner only, whatever the umask.
#[cfg(unix)]
#[tokio::test]
async fn new_sqlite_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::sqlite();
    let store = db.store().await;
    store.insert_client(&client("app")).await.unwrap();
    let path = db.url().trim_start_matches("sqlite://").to_owned();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} has mode {mode:o}");
    }
}

// ---- SQLite only: snapshot reuse ----

/// After a quiet spell (lookups only), a SQLite token lookup keeps its read
/// transaction for the next one. A commit of this process must still show in the very
/// next lookup. One thread (a current-thread runtime), so every lookup uses the same
/// reader connection.
#[tokio::test]
#[allow(clippy::disallowed_methods)] // spends a few milliseconds on lookups alone
async fn sqlite_snapshot_reuse_never_hides_a_commit() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    store.insert_client(&client("app")).await.unwrap();
    let quiet = token("app", "quiet", None);
    store.save_token(quiet.clone()).await.unwrap();
    for round in 0..20 {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(8);
        while std::time::Instant::now() < until {
            let found = store.find_access_token(&quiet.access_token_hash).await;
            assert!(found.unwrap().is_some());
        }
        let fresh = token("app", &format!("g{round}"), None);
        store.save_token(fresh.clone()).await.unwrap();
        let found = store.find_access_token(&fresh.access_token_hash).await;
        assert_eq!(
            found.unwrap().as_ref(),
            Some(&fresh),
            "round {round}: saved"
        );
        for _ in 0..100 {
            assert!(store
                .find_access_token(&quiet.access_token_hash)
                .await
                .unwrap()
                .is_some());
        }
        store.revoke_token(&fresh.access_token_hash).await.unwrap();
        let found = store.find_access_token(&fresh.access_token_hash).await;
        assert!(found.unwrap().unwrap().revoked, "round {round}: revoked");
    }
}

// ---- SQLite only: opening ----

#[tokio::test]
async fn sqlite_missing_directory_is_a_clear_error() {
    let error = SqlStore::connect("sqlite:///nonexistent-dir/x.db")
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, SqlError::OpenSqlite { .. }), "{message}");
    assert!(message.contains("/nonexistent-dir/x.db"), "{message}");
    assert!(message.contains("does not exist"), "{message}");
    assert!(message.contains("--database-url"), "{message}");
    assert!(
        !std::path::Path::new("/nonexistent-dir").exists(),
        "the directory is not created"
    );
}

#[tokio::test]
async fn sqlite_path_that_is_a_directory_is_a_clear_error() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().display());
    let message = SqlStore::connect(&url).await.unwrap_err().to_string();
    assert!(
        message.starts_with("cannot open the SQLite database at "),
        "{message}"
    );
}

#[tokio::test]
async fn sqlite_file_is_created_with_wal_and_options() {
    let dir = TempDir::new();
    let path = dir.path().join("new.db");
    let store = SqlStore::connect_with(
        &format!("sqlite://{}", path.display()),
        SqlOptions::default()
            .with_max_connections(2)
            .with_sqlite_synchronous(SqliteSynchronous::Full)
            .with_run_migrations(true)
            .with_client_cache_ttl(5),
    )
    .await
    .unwrap();
    assert!(path.exists());
    store.insert_client(&client("app")).await.unwrap();
    assert!(dir.path().join("new.db-wal").exists(), "WAL journal mode");
    drop(store);

    // Data survives reopening the file.
    let reopened = SqlStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(reopened.get_client("app").await.unwrap().is_some());
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.describe(), "SQLite in memory");
    store.insert_client(&client("app")).await.unwrap();
    let user = store.create_user(new_user("alice", "pw")).await.unwrap();
    assert_eq!(
        store.verify_user_password("alice", "pw").await.unwrap(),
        Some(user)
    );
    assert!(store.find_client("app").await.unwrap().is_some());
    // In memory, the writer thread and the readers share the one connection.
    let saved = token("app", "g", None);
    store.save_token(saved.clone()).await.unwrap();
    let found = store.find_access_token(&saved.access_token_hash).await;
    assert_eq!(found.unwrap(), Some(saved.clone()));
    let refresh = saved.refresh_token_hash.clone().unwrap();
    assert_eq!(
        store.find_refresh_token(&refresh).await.unwrap(),
        Some(saved)
    );
    assert_eq!(store.find_access_token(&refresh).await.unwrap(), None);
}

#[tokio::test]
async fn unsupported_scheme_names_the_supported_ones() {
    let error = SqlStore::connect("mysql://root:hunter2@db.example/portcullis")
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, SqlError::UnsupportedScheme { .. }));
    assert!(message.contains("'mysql'"), "{message}");
    assert!(
        message.contains("sqlite://") && message.contains("postgres://"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let error = SqlStore::connect("mysql://x").await.unwrap_err();
    assert!(matches!(error, SqlError::UnsupportedScheme { .. }));
    let error = SqlStore::connect("portcullis.db").await.unwrap_err();
    assert!(matches!(error, SqlError::InvalidUrl { .. }), "{error}");
}

#[tokio::test]
async fn unreachable_postgres_is_a_clear_error_without_the_password() {
    let error = SqlStore::connect("postgres://portcullis:hunter2@127.0.0.1:1/portcullis")
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, SqlError::ConnectPostgres { .. }),
        "{message}"
    );
    assert!(message.contains("127.0.0.1:1/portcullis"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{error:?}").contains("hunter2"));
}

#[tokio::test]
async fn store_errors_reach_the_core_as_store_errors() {
    // A token for an unregistered client violates a foreign key: a StoreError, not a panic.
    let db = TestDb::sqlite();
    let store = db.store().await;
    let error = store
        .save_token(token("unregistered", "g", None))
        .await
        .unwrap_err();
    assert!(error.to_string().starts_with("storage error"), "{error}");
    assert!(std::error::Error::source(&error).is_some());
}

#[tokio::test]
async fn client_cache_sees_local_changes_at_once_and_can_be_disabled() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("cache.db").display());
    let cached = SqlStore::connect(&url).await.unwrap();
    let uncached = SqlStore::connect_with(&url, SqlOptions::default().with_client_cache_ttl(0))
        .await
        .unwrap();
    cached.insert_client(&client("c1")).await.unwrap();
    let first = cached.find_client("c1").await.unwrap().unwrap();
    // A change through the same store evicts the entry at once.
    cached
        .set_client_secret_hash("c1", "new-hash")
        .await
        .unwrap();
    let after = cached.find_client("c1").await.unwrap().unwrap();
    assert_ne!(first.client_secret_hash, after.client_secret_hash);
    assert_eq!(after.client_secret_hash.as_deref(), Some("new-hash"));
    // Another store (another process) with the cache off sees every change at once.
    assert!(uncached.find_client("c1").await.unwrap().is_some());
    cached.delete_client("c1").await.unwrap();
    assert!(cached.find_client("c1").await.unwrap().is_none());
    assert!(uncached.find_client("c1").await.unwrap().is_none());
}

#[tokio::test]
async fn a_new_password_ends_the_users_sessions() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("pw.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    let alice = store
        .create_user(new_user("alice", "old password"))
        .await
        .unwrap();
    let bob = store
        .create_user(new_user("bob", "bob password"))
        .await
        .unwrap();
    store
        .insert_session(&session("alice-session", Some(&alice.subject), i64::MAX))
        .await
        .unwrap();
    store
        .insert_session(&session("bob-session", Some(&bob.subject), i64::MAX))
        .await
        .unwrap();
    assert!(store
        .set_user_password("alice", "new password")
        .await
        .unwrap());
    assert!(store.get_session("alice-session").await.unwrap().is_none());
    assert!(
        store.get_session("bob-session").await.unwrap().is_some(),
        "only alice's"
    );
}

/// A server secret is written by the first store to ask and read by every other,
/// racing or later; another name is another secret.
async fn server_secrets_are_written_once(db: TestDb) {
    let store = db.store().await;
    let other = db.store().await;
    let (a, b) = tokio::join!(
        store.server_secret("salt", "from-a", 100),
        other.server_secret("salt", "from-b", 100),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b, "both instances see one value");
    assert!(a == "from-a" || a == "from-b", "{a}");
    assert_eq!(
        store.server_secret("salt", "later", 200).await.unwrap(),
        a,
        "never replaced"
    );
    assert_eq!(
        store
            .server_secret("another", "its-own", 200)
            .await
            .unwrap(),
        "its-own"
    );
}
