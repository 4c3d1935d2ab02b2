//! Single-use operations under contention: code redemption and refresh rotation must
//! each have exactly one winner (RFC 6749 §4.1.2, RFC 9700 §4.14.2).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use http::StatusCode;
use portcullis_core::{
    AuthorizationCodeGrant, AuthorizationCodeRecord, AuthorizationCodeStore, AuthorizationServer,
    BearerError, ClientRecord, ClientStore, CodeRedemption, ManualClock, MemoryStore,
    RefreshTokenGrant, Scope, StoreError, TokenRecord, TokenStore, User,
};
use tokio::sync::{Barrier, Notify};

use crate::support::*;

const RACERS: usize = 16;

/// Sends `request` RACERS times at once from tasks on the multi-threaded runtime and
/// returns every response.
async fn race(
    ts: &TestServer,
    params: Vec<(String, String)>,
    auth: Auth<'static>,
) -> Vec<portcullis_core::OAuthResponse> {
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut handles = Vec::new();
    for _ in 0..RACERS {
        let server = ts.server.clone();
        let barrier = barrier.clone();
        let params = params.clone();
        handles.push(tokio::spawn(async move {
            let pairs: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let request = token_request(auth, &pairs);
            barrier.wait().await;
            server.create_token_response(&request).await
        }));
    }
    let mut responses = Vec::new();
    for handle in handles {
        responses.push(handle.await.unwrap());
    }
    responses
}

fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_code_redemptions_have_exactly_one_winner() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.conf_code("read", &pkce).await;
    let responses = race(
        &ts,
        owned(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CONF_REDIRECT),
            ("code_verifier", &pkce.verifier),
        ]),
        CONF,
    )
    .await;
    let winners: Vec<_> = responses
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one redemption may succeed");
    for loser in responses.iter().filter(|r| r.status() != StatusCode::OK) {
        assert_invalid_grant(loser);
    }
    let issued = ts.store().tokens().unwrap();
    assert_eq!(issued.len(), 1, "one code, one token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_have_exactly_one_winner() {
    let ts = TestServer::new();
    let body = ts.conf_tokens("read").await;
    let refresh = field(&body, "refresh_token").to_owned();
    let responses = race(
        &ts,
        owned(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]),
        CONF,
    )
    .await;
    let winners: Vec<_> = responses
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one rotation may succeed");
    for loser in responses.iter().filter(|r| r.status() != StatusCode::OK) {
        assert_invalid_grant(loser);
    }
    // The original issuance plus exactly one rotation.
    assert_eq!(ts.store().tokens().unwrap().len(), 2);
    // Every loser is a reuse of a rotated token, so the whole grant ends revoked,
    // the winner's new pair included.
    let winner = json(winners[0]);
    assert!(!ts.is_active(field(&winner, "access_token")).await);
    assert!(ts.store().tokens().unwrap().iter().all(|t| t.revoked));
}

/// A `MemoryStore` whose next `save_token` (or `find_refresh_token`) waits until the
/// test lets it go, to stage a race deterministically.
struct GatedStore {
    inner: MemoryStore,
    hold_next_save: AtomicBool,
    hold_next_find_refresh: AtomicBool,
    reached: Notify,
    release: Notify,
}

impl GatedStore {
    fn new() -> Self {
        let inner = MemoryStore::new();
        inner.insert_client(confidential_client()).unwrap();
        Self {
            inner,
            hold_next_save: AtomicBool::new(false),
            hold_next_find_refresh: AtomicBool::new(false),
            reached: Notify::new(),
            release: Notify::new(),
        }
    }

    async fn gate(&self, flag: &AtomicBool) {
        if flag.swap(false, Ordering::SeqCst) {
            self.reached.notify_one();
            self.release.notified().await;
        }
    }
}

fn gated_server() -> Arc<AuthorizationServer<GatedStore>> {
    let mut server =
        AuthorizationServer::new(GatedStore::new()).with_clock(Arc::new(ManualClock::new(START)));
    server.register_grant(AuthorizationCodeGrant::new());
    server.register_grant(RefreshTokenGrant::new());
    Arc::new(server)
}

/// A code for conf-app over `server`, with its PKCE verifier.
async fn gated_code(server: &AuthorizationServer<GatedStore>) -> (String, PkcePair) {
    let pkce = PkcePair::new();
    let alice = USER.to_owned();
    let response = server
        .create_authorization_response(
            &authorize_request(&[
                ("response_type", "code"),
                ("client_id", CONF_ID),
                ("redirect_uri", CONF_REDIRECT),
                ("scope", "read"),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ]),
            Some(&alice as &dyn User),
        )
        .await
        .unwrap();
    let code = query_params(&location(&response)).remove("code").unwrap();
    (code, pkce)
}

fn redeem_request(code: &str, pkce: &PkcePair) -> portcullis_core::OAuthRequest {
    token_request(
        CONF,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CONF_REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
}

fn refresh_request(refresh_token: &str) -> portcullis_core::OAuthRequest {
    token_request(
        CONF,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

#[async_trait]
impl ClientStore for GatedStore {
    type Client = ClientRecord;

    async fn find_client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.inner.find_client(client_id).await
    }
}

#[async_trait]
impl TokenStore for GatedStore {
    type Token = TokenRecord;

    async fn save_token(&self, token: TokenRecord) -> Result<(), StoreError> {
        self.gate(&self.hold_next_save).await;
        self.inner.save_token(token).await
    }

    async fn find_access_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.inner.find_access_token(hash).await
    }

    async fn find_refresh_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        // Read first, then stall: the caller acts on what it read before the stall.
        let found = self.inner.find_refresh_token(hash).await;
        self.gate(&self.hold_next_find_refresh).await;
        found
    }

    async fn rotate_refresh_token(&self, old: &str, new: TokenRecord) -> Result<bool, StoreError> {
        self.inner.rotate_refresh_token(old, new).await
    }

    async fn revoke_token(&self, hash: &str) -> Result<(), StoreError> {
        self.inner.revoke_token(hash).await
    }

    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        self.inner.revoke_grant(grant_id).await
    }
}

#[async_trait]
impl AuthorizationCodeStore for GatedStore {
    type Code = AuthorizationCodeRecord;

    async fn save_authorization_code(
        &self,
        code: AuthorizationCodeRecord,
    ) -> Result<(), StoreError> {
        self.inner.save_authorization_code(code).await
    }

    async fn redeem_authorization_code(
        &self,
        hash: &str,
        client_id: &str,
    ) -> Result<CodeRedemption<AuthorizationCodeRecord>, StoreError> {
        self.inner.redeem_authorization_code(hash, client_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_landing_before_the_winner_saves_still_revokes_its_tokens() {
    let server = gated_server();
    let (code, pkce) = gated_code(&server).await;
    let redeem = redeem_request(&code, &pkce);

    // The first redemption wins the code, then stalls before its token is saved.
    server.store().hold_next_save.store(true, Ordering::SeqCst);
    let first = tokio::spawn({
        let server = server.clone();
        let redeem = redeem.clone();
        async move { server.create_token_response(&redeem).await }
    });
    server.store().reached.notified().await;

    // The replay lands in that window: refused, and it revokes the grant.
    assert_invalid_grant(&server.create_token_response(&redeem).await);

    server.store().release.notify_one();
    let first = first.await.unwrap();
    assert_eq!(first.status(), StatusCode::OK, "{}", body_text(&first));
    let body = json(&first);
    assert_eq!(
        server
            .resource_protector()
            .validate_token(field(&body, "access_token"), &Scope::empty())
            .await,
        Err(BearerError::InvalidToken),
        "a token issued from a replayed code must not stay valid"
    );
    let refresh = refresh_request(field(&body, "refresh_token"));
    assert_invalid_grant(&server.create_token_response(&refresh).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_that_read_the_token_before_another_rotated_it_loses() {
    let server = gated_server();
    let (code, pkce) = gated_code(&server).await;
    let response = server
        .create_token_response(&redeem_request(&code, &pkce))
        .await;
    let refresh = field(&json(&response), "refresh_token").to_owned();
    let request = refresh_request(&refresh);

    // The slow request reads the still-valid refresh token, then stalls.
    server
        .store()
        .hold_next_find_refresh
        .store(true, Ordering::SeqCst);
    let slow = tokio::spawn({
        let server = server.clone();
        let request = request.clone();
        async move { server.create_token_response(&request).await }
    });
    server.store().reached.notified().await;

    // Meanwhile another request rotates it.
    let fast = server.create_token_response(&request).await;
    assert_eq!(fast.status(), StatusCode::OK, "{}", body_text(&fast));

    server.store().release.notify_one();
    let slow = slow.await.unwrap();
    assert_invalid_grant(&slow);
    // The slow request is a reuse of a rotated token: the fast one's tokens go too.
    let fast = json(&fast);
    assert_eq!(
        server
            .resource_protector()
            .validate_token(field(&fast, "access_token"), &Scope::empty())
            .await,
        Err(BearerError::InvalidToken)
    );
}
