//! The storage conformance suite: what every implementation of the core's storage
//! traits must do, checked the same way on `MemoryStore`, SQLite and PostgreSQL.
//!
//! Each check is a function generic over [`ConformanceStore`]; the
//! `conformance_tests!` macro turns every check into one test per store.

use std::sync::Arc;

use async_trait::async_trait;
use portcullis_core::{
    token_key, AuthorizationCodeRecord, AuthorizationCodeStore, AuthorizationRequestStore,
    ClientRecord, ClientStore, CodeRedemption, MemoryStore, PendingAuthorization,
    ResourceServerStore, TokenRecord, TokenStore, User, UserStore,
};
use portcullis_sql::{NewUser, SqlStore};

use crate::support::{client, code, token, unique_name, TestDb};

/// The four core traits, plus the two things that differ per store: how a client and
/// a user are added.
#[async_trait]
pub trait ConformanceStore:
    ClientStore<Client = ClientRecord>
    + TokenStore<Token = TokenRecord>
    + AuthorizationCodeStore<Code = AuthorizationCodeRecord>
    + AuthorizationRequestStore
    + UserStore
    + ResourceServerStore
{
    async fn add_client(&self, client: ClientRecord);
    async fn add_user(&self, username: &str, password: &str);
}

#[async_trait]
impl ConformanceStore for MemoryStore {
    async fn add_client(&self, client: ClientRecord) {
        self.insert_client(client).unwrap();
    }

    async fn add_user(&self, username: &str, password: &str) {
        self.insert_user(username, password).unwrap();
    }
}

#[async_trait]
impl ConformanceStore for SqlStore {
    async fn add_client(&self, client: ClientRecord) {
        self.insert_client(&client).await.unwrap();
    }

    async fn add_user(&self, username: &str, password: &str) {
        self.create_user(NewUser::new(username, password))
            .await
            .unwrap();
    }
}

/// A store under test and whatever keeps its database alive.
pub struct Subject<S> {
    pub store: Arc<S>,
    _db: Option<TestDb>,
}

pub async fn memory() -> Option<Subject<MemoryStore>> {
    Some(Subject {
        store: Arc::new(MemoryStore::new()),
        _db: None,
    })
}

pub async fn sqlite() -> Option<Subject<SqlStore>> {
    let db = TestDb::sqlite();
    Some(Subject {
        store: Arc::new(db.store().await),
        _db: Some(db),
    })
}

pub async fn postgres() -> Option<Subject<SqlStore>> {
    let db = TestDb::postgres().await;
    Some(Subject {
        store: Arc::new(db.store().await),
        _db: Some(db),
    })
}

const CONCURRENCY: usize = 16;

/// The client every check issues for.
async fn registered_client<S: ConformanceStore>(store: &S) -> ClientRecord {
    let client = client(&unique_name("client-"));
    store.add_client(client.clone()).await;
    client
}

pub async fn client_find<S: ConformanceStore>(store: Arc<S>) {
    let registered = registered_client(&*store).await;
    let found = store.find_client(&registered.client_id).await.unwrap();
    assert_eq!(found, Some(registered));
    assert_eq!(store.find_client("no-such-client").await.unwrap(), None);
}

pub async fn token_save_and_find<S: ConformanceStore>(store: Arc<S>) {
    let client = registered_client(&*store).await;
    let saved = token(&client.client_id, "grant-1", Some("alice"));
    store.save_token(saved.clone()).await.unwrap();
    let mut without_refresh = token(&client.client_id, "grant-2", None);
    without_refresh.refresh_token_hash = None;
    without_refresh.refresh_token_expires_at = None;
    without_refresh
        .extras
        .remove::<portcullis_core::model::GrantExpiresAt>();
    store.save_token(without_refresh.clone()).await.unwrap();

    let by_access = store
        .find_access_token(&saved.access_token_hash)
        .await
        .unwrap();
    assert_eq!(by_access, Some(saved.clone()));
    let refresh = saved.refresh_token_hash.as_deref().unwrap();
    assert_eq!(
        store.find_refresh_token(refresh).await.unwrap(),
        Some(saved.clone())
    );
    assert_eq!(
        store
            .find_access_token(&without_refresh.access_token_hash)
            .await
            .unwrap(),
        Some(without_refresh)
    );
    // A hash is looked up only where it belongs.
    assert_eq!(
        store
            .find_refresh_token(&saved.access_token_hash)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.find_access_token(refresh).await.unwrap(), None);
    assert_eq!(store.find_access_token("unknown").await.unwrap(), None);
    assert_eq!(store.find_refresh_token("unknown").await.unwrap(), None);
}

pub async fn rotate_refresh_token<S: ConformanceStore>(store: Arc<S>) {
    let client = registered_client(&*store).await;
    let old = token(&client.client_id, "grant-r", Some("alice"));
    store.save_token(old.clone()).await.unwrap();
    let old_refresh = old.refresh_token_hash.clone().unwrap();
    let mut new = token(&client.client_id, "grant-r", Some("alice"));
    new.grant_type = "refresh_token".into();

    assert!(store
        .rotate_refresh_token(&old_refresh, new.clone())
        .await
        .unwrap());
    let old_now = store
        .find_refresh_token(&old_refresh)
        .await
        .unwrap()
        .unwrap();
    assert!(old_now.revoked, "the rotated token is revoked");
    let new_found = store
        .find_access_token(&new.access_token_hash)
        .await
        .unwrap();
    assert_eq!(new_found, Some(new.clone()));
    let new_refresh = new.refresh_token_hash.as_deref().unwrap();
    assert_eq!(
        store.find_refresh_token(new_refresh).await.unwrap(),
        Some(new)
    );

    // A second rotation of the same token is a reuse: refused, nothing saved.
    let again = token(&client.client_id, "grant-r", Some("alice"));
    assert!(!store
        .rotate_refresh_token(&old_refresh, again.clone())
        .await
        .unwrap());
    assert_eq!(
        store
            .find_access_token(&again.access_token_hash)
            .await
            .unwrap(),
        None
    );
    // An unknown refresh token rotates nothing either.
    let stray = token(&client.client_id, "grant-r", Some("alice"));
    assert!(!store
        .rotate_refresh_token("unknown", stray.clone())
        .await
        .unwrap());
    assert_eq!(
        store
            .find_access_token(&stray.access_token_hash)
            .await
            .unwrap(),
        None
    );
}

pub async fn revoke_grant<S: ConformanceStore>(store: Arc<S>) {
    let client = registered_client(&*store).await;
    let family: Vec<_> = (0..3)
        .map(|_| token(&client.client_id, "grant-x", Some("alice")))
        .collect();
    let other = token(&client.client_id, "grant-y", Some("alice"));
    for t in family.iter().chain([&other]) {
        store.save_token(t.clone()).await.unwrap();
    }
    store.revoke_grant("grant-x").await.unwrap();
    for t in &family {
        let found = store
            .find_access_token(&t.access_token_hash)
            .await
            .unwrap()
            .unwrap();
        assert!(found.revoked, "every token of the grant is revoked");
    }
    let found = store
        .find_access_token(&other.access_token_hash)
        .await
        .unwrap()
        .unwrap();
    assert!(!found.revoked, "tokens of other grants are not");
    // Revoking an unknown grant is no error.
    store.revoke_grant("grant-unknown").await.unwrap();

    // A token saved for the grant after it was revoked (a redemption that raced the
    // replay) is born revoked, and so is a rotation of it.
    let late = token(&client.client_id, "grant-x", Some("alice"));
    store.save_token(late.clone()).await.unwrap();
    let found = store
        .find_access_token(&late.access_token_hash)
        .await
        .unwrap()
        .unwrap();
    assert!(
        found.revoked,
        "a token saved after its grant was revoked is revoked"
    );
}

pub async fn revoke_token<S: ConformanceStore>(store: Arc<S>) {
    let client = registered_client(&*store).await;
    let one = token(&client.client_id, "grant-r", Some("alice"));
    let other = token(&client.client_id, "grant-r", Some("alice"));
    store.save_token(one.clone()).await.unwrap();
    store.save_token(other.clone()).await.unwrap();
    store.revoke_token(&one.access_token_hash).await.unwrap();
    let found = |hash: String| {
        let store = store.clone();
        async move { store.find_access_token(&hash).await.unwrap().unwrap() }
    };
    assert!(
        found(one.access_token_hash.clone()).await.revoked,
        "the revoked token"
    );
    assert!(
        !found(other.access_token_hash.clone()).await.revoked,
        "only that one"
    );
    // Its refresh token stops working with it (one record is one issuance).
    let by_refresh = store
        .find_refresh_token(one.refresh_token_hash.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(by_refresh.revoked);
    // Revoking an unknown token is no error.
    store.revoke_token("no-such-hash").await.unwrap();
}

pub async fn redeem_code<S: ConformanceStore>(store: Arc<S>) {
    let client = registered_client(&*store).await;
    let saved = code(&client.client_id, "alice");
    store.save_authorization_code(saved.clone()).await.unwrap();
    assert_eq!(
        store
            .redeem_authorization_code(&saved.code_hash, &saved.client_id)
            .await
            .unwrap(),
        CodeRedemption::Redeemed(saved.clone())
    );
    assert_eq!(
        store
            .redeem_authorization_code(&saved.code_hash, &saved.client_id)
            .await
            .unwrap(),
        CodeRedemption::AlreadyUsed(saved.clone())
    );
    assert_eq!(
        store
            .redeem_authorization_code("unknown", &client.client_id)
            .await
            .unwrap(),
        CodeRedemption::NotFound
    );
    // Minimal code: every optional field empty.
    let mut bare = code(&client.client_id, "bob");
    bare.redirect_uri = None;
    bare.nonce = None;
    bare.auth_time = None;
    bare.code_challenge = None;
    bare.code_challenge_method = None;
    store.save_authorization_code(bare.clone()).await.unwrap();
    assert_eq!(
        store
            .redeem_authorization_code(&bare.code_hash, &bare.client_id)
            .await
            .unwrap(),
        CodeRedemption::Redeemed(bare)
    );
}

/// Issue 9, finding 5: another client's code is not found, and stays as it was: still
/// redeemable by its own client, and once redeemed, recognised as a replay only when
/// that client presents it again.
pub async fn another_clients_code_is_left_alone<S: ConformanceStore>(store: Arc<S>) {
    let client = registered_client(&*store).await;
    let saved = code(&client.client_id, "alice");
    store.save_authorization_code(saved.clone()).await.unwrap();
    assert_eq!(
        store
            .redeem_authorization_code(&saved.code_hash, "someone-else")
            .await
            .unwrap(),
        CodeRedemption::NotFound
    );
    assert_eq!(
        store
            .redeem_authorization_code(&saved.code_hash, &saved.client_id)
            .await
            .unwrap(),
        CodeRedemption::Redeemed(saved.clone()),
        "the other client's attempt did not use the code up"
    );
    assert_eq!(
        store
            .redeem_authorization_code(&saved.code_hash, "someone-else")
            .await
            .unwrap(),
        CodeRedemption::NotFound,
        "nor is it a replay when another client presents it"
    );
    assert_eq!(
        store
            .redeem_authorization_code(&saved.code_hash, &saved.client_id)
            .await
            .unwrap(),
        CodeRedemption::AlreadyUsed(saved)
    );
}

pub async fn concurrent_redemptions<S: ConformanceStore>(store: Arc<S>) {
    let client = registered_client(&*store).await;
    let saved = code(&client.client_id, "alice");
    store.save_authorization_code(saved.clone()).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(CONCURRENCY));
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            let hash = saved.code_hash.clone();
            let client_id = saved.client_id.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .redeem_authorization_code(&hash, &client_id)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut redeemed = 0;
    for task in tasks {
        match task.await.unwrap() {
            CodeRedemption::Redeemed(c) => {
                assert_eq!(c, saved);
                redeemed += 1;
            }
            CodeRedemption::AlreadyUsed(c) => assert_eq!(c, saved),
            CodeRedemption::NotFound => panic!("the code exists"),
        }
    }
    assert_eq!(redeemed, 1, "exactly one of {CONCURRENCY} redemptions wins");
}

pub async fn concurrent_rotations<S: ConformanceStore>(store: Arc<S>) {
    let client = registered_client(&*store).await;
    let old = token(&client.client_id, "grant-c", Some("alice"));
    store.save_token(old.clone()).await.unwrap();
    let old_refresh = old.refresh_token_hash.clone().unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(CONCURRENCY));
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            let old_refresh = old_refresh.clone();
            let new = token(&client.client_id, "grant-c", Some("alice"));
            tokio::spawn(async move {
                barrier.wait().await;
                let rotated = store
                    .rotate_refresh_token(&old_refresh, new.clone())
                    .await
                    .unwrap();
                (rotated, new)
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        let (rotated, new) = task.await.unwrap();
        let saved = store
            .find_access_token(&new.access_token_hash)
            .await
            .unwrap();
        if rotated {
            winners += 1;
            assert_eq!(saved, Some(new));
        } else {
            assert_eq!(saved, None, "a losing rotation saves nothing");
        }
    }
    assert_eq!(winners, 1, "exactly one of {CONCURRENCY} rotations wins");
}

/// What one of [`mixed_hot_writes`]'s tasks did.
enum HotWrite {
    Redeemed(CodeRedemption<AuthorizationCodeRecord>),
    Rotated(bool, TokenRecord),
    Saved(TokenRecord),
}

/// Redemptions, rotations and new tokens all at once (on PostgreSQL their batches
/// join all three in one statement): each caller still gets its own answer.
pub async fn mixed_hot_writes<S: ConformanceStore>(store: Arc<S>) {
    const EACH: usize = 4;
    let client = registered_client(&*store).await;
    let mut codes = Vec::new();
    let mut olds = Vec::new();
    for i in 0..EACH {
        let saved = code(&client.client_id, "alice");
        store.save_authorization_code(saved.clone()).await.unwrap();
        codes.push(saved);
        let old = token(&client.client_id, &format!("grant-m{i}"), Some("alice"));
        store.save_token(old.clone()).await.unwrap();
        olds.push(old);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(EACH * 5));
    let mut tasks = Vec::new();
    for twice in [0, 1] {
        for saved in &codes {
            let (store, barrier, saved) = (store.clone(), barrier.clone(), saved.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let redemption = store
                    .redeem_authorization_code(&saved.code_hash, &saved.client_id)
                    .await
                    .unwrap();
                HotWrite::Redeemed(redemption)
            }));
        }
        for (i, old) in olds.iter().enumerate() {
            let (store, barrier) = (store.clone(), barrier.clone());
            let presented = old.refresh_token_hash.clone().unwrap();
            let new = token(&client.client_id, &format!("grant-m{i}"), Some("alice"));
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let rotated = store
                    .rotate_refresh_token(&presented, new.clone())
                    .await
                    .unwrap();
                HotWrite::Rotated(rotated, new)
            }));
        }
        if twice == 0 {
            for i in 0..EACH {
                let (store, barrier) = (store.clone(), barrier.clone());
                let new = token(&client.client_id, &format!("grant-n{i}"), Some("bob"));
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    store.save_token(new.clone()).await.unwrap();
                    HotWrite::Saved(new)
                }));
            }
        }
    }
    let (mut redeemed, mut used, mut rotated) = (0, 0, 0);
    for task in tasks {
        match task.await.unwrap() {
            HotWrite::Redeemed(CodeRedemption::Redeemed(c)) => {
                assert!(codes.contains(&c), "a code comes back as it was saved");
                redeemed += 1;
            }
            HotWrite::Redeemed(CodeRedemption::AlreadyUsed(c)) => {
                assert!(codes.contains(&c));
                used += 1;
            }
            HotWrite::Redeemed(CodeRedemption::NotFound) => panic!("every code exists"),
            HotWrite::Rotated(won, new) => {
                let saved = store
                    .find_access_token(&new.access_token_hash)
                    .await
                    .unwrap();
                if won {
                    rotated += 1;
                    assert_eq!(saved, Some(new), "a winning rotation's token is saved");
                } else {
                    assert_eq!(saved, None, "a losing rotation saves nothing");
                }
            }
            HotWrite::Saved(new) => {
                let saved = store
                    .find_access_token(&new.access_token_hash)
                    .await
                    .unwrap();
                assert_eq!(saved, Some(new), "a new token is saved");
            }
        }
    }
    assert_eq!(
        (redeemed, used),
        (EACH, EACH),
        "each code is redeemed once, then found used"
    );
    assert_eq!(rotated, EACH, "each refresh token is rotated once");
}

pub async fn pending_requests<S: ConformanceStore>(store: Arc<S>) {
    let client = registered_client(&*store).await;
    let params = vec![
        ("response_type".to_owned(), "code".to_owned()),
        ("scope".to_owned(), "openid read".to_owned()),
        ("state".to_owned(), "a&b=c é".to_owned()),
    ];
    let mut pending = PendingAuthorization::new(
        token_key(&unique_name("id-")),
        client.client_id.clone(),
        params,
        token_key("browser"),
        1_700_000_000,
        1_700_000_600,
    );
    pending.scope = portcullis_core::Scope::parse("openid read").unwrap();
    store
        .save_authorization_request(pending.clone())
        .await
        .unwrap();
    assert_eq!(
        store
            .find_authorization_request(&pending.id_hash)
            .await
            .unwrap(),
        Some(pending.clone()),
        "found as stored, parameters in order"
    );
    assert_eq!(
        store.find_authorization_request("nope").await.unwrap(),
        None
    );
    // Of many takes at once, one gets it.
    let barrier = Arc::new(tokio::sync::Barrier::new(CONCURRENCY));
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            let id_hash = pending.id_hash.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store.take_authorization_request(&id_hash).await.unwrap()
            })
        })
        .collect();
    let mut taken = Vec::new();
    for task in tasks {
        taken.extend(task.await.unwrap());
    }
    assert_eq!(taken, vec![pending.clone()], "exactly one take gets it");
    assert_eq!(
        store
            .find_authorization_request(&pending.id_hash)
            .await
            .unwrap(),
        None
    );
}

pub async fn authenticate_user<S: ConformanceStore>(store: Arc<S>) {
    store
        .add_user("alice", "correct horse battery staple")
        .await;
    store.add_user("bob", "hunter2").await;
    let alice = store
        .authenticate_user("alice", "correct horse battery staple")
        .await
        .unwrap()
        .expect("the right password is accepted");
    assert!(!alice.subject().is_empty());
    let again = store
        .authenticate_user("alice", "correct horse battery staple")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.subject(), again.subject(), "the subject is stable");
    let bob = store
        .authenticate_user("bob", "hunter2")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(alice.subject(), bob.subject());

    assert!(
        store
            .authenticate_user("alice", "hunter2")
            .await
            .unwrap()
            .is_none(),
        "wrong password"
    );
    assert!(
        store
            .authenticate_user("alice", "")
            .await
            .unwrap()
            .is_none(),
        "empty password"
    );
    assert!(
        store
            .authenticate_user("carol", "hunter2")
            .await
            .unwrap()
            .is_none(),
        "unknown user"
    );
    assert!(
        store.authenticate_user("", "").await.unwrap().is_none(),
        "empty username"
    );
}

/// The registered resource servers' audiences (RFC 8707): every client that has one,
/// none of the others.
pub async fn resource_server_audiences<S: ConformanceStore>(store: Arc<S>) {
    assert!(store.resource_server_audiences().await.unwrap().is_empty());
    store.add_client(client("plain")).await;
    let mut api = client("api-server");
    api.resource_server_audience = Some("https://mcp.example.com".into());
    store.add_client(api).await;
    let mut reports = client("reports-server");
    reports.resource_server_audience = Some("reports-api".into());
    store.add_client(reports).await;
    let mut found = store.resource_server_audiences().await.unwrap();
    found.sort();
    assert_eq!(found, ["https://mcp.example.com", "reports-api"]);
}

/// One test per check, for the store that `$make` (an async fn returning
/// `Option<Subject<_>>`, `None` to skip) builds.
macro_rules! conformance_tests {
    ($(#[$attr:meta])* $store:ident: $make:path) => {
        mod $store {
            macro_rules! check {
                ($check:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    $(#[$attr])*
                    async fn $check() {
                        let Some(subject) = $make().await else {
                            return;
                        };
                        super::$check(subject.store.clone()).await;
                    }
                };
            }
            check!(client_find);
            check!(token_save_and_find);
            check!(rotate_refresh_token);
            check!(revoke_grant);
            check!(revoke_token);
            check!(redeem_code);
            check!(another_clients_code_is_left_alone);
            check!(concurrent_redemptions);
            check!(concurrent_rotations);
            check!(mixed_hot_writes);
            check!(pending_requests);
            check!(authenticate_user);
            check!(resource_server_audiences);
        }
    };
}

conformance_tests!(memory_store: super::memory);
conformance_tests!(sqlite_store: super::sqlite);
conformance_tests!(
    #[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
    postgres_store: super::postgres
);
