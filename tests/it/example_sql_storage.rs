//! `examples/sql_storage.rs` on real SQLite: a token issued over an in-memory database
//! introspects as active, and everything — clients, users, tokens — survives a restart
//! on a database file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use portcullis_core::{token_key, Token, TokenStore};

use crate::sql_storage::{
    authorization_server, introspect, issue_token, open_store, sign_in, OwningTeam, API_AUDIENCE,
};

/// A fresh directory under the system's temporary one, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "portcullis-example-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn json(response: portcullis_core::OAuthResponse) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    (status, serde_json::from_slice(response.body()).unwrap())
}

#[tokio::test]
async fn the_sql_store_issues_and_introspects_a_client_credentials_token() {
    let store = open_store("sqlite::memory:").await.unwrap();
    let server = authorization_server(store.clone());
    let (status, token) = json(issue_token(&server).await.unwrap()).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["scope"], "reports:read");
    let access_token = token["access_token"].as_str().unwrap();

    // Stored as a hash, with the client's audience.
    let stored = store
        .find_access_token(&token_key(access_token))
        .await
        .unwrap()
        .expect("the token is in the database");
    assert_eq!(stored.client_id(), "reporting");
    assert_eq!(stored.audience(), vec![API_AUDIENCE.to_owned()]);

    let (status, info) = json(introspect(&server, access_token).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], "reporting");
    assert_eq!(info["scope"], "reports:read");
    assert_eq!(info["aud"], API_AUDIENCE);
    assert_eq!(info["iss"], "https://auth.example");

    let (_, unknown) = json(introspect(&server, "not-a-token").await.unwrap()).await;
    assert_eq!(unknown, serde_json::json!({"active": false}));

    let alice = sign_in(&store, "alice", "correct horse battery staple").await;
    assert_eq!(alice.unwrap().unwrap().username, "alice");
    assert_eq!(sign_in(&store, "alice", "wrong").await.unwrap(), None);
}

#[tokio::test]
async fn clients_users_and_tokens_survive_a_restart_on_a_database_file() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("portcullis.db").display());
    let access_token = {
        let server = authorization_server(open_store(&url).await.unwrap());
        let (status, token) = json(issue_token(&server).await.unwrap()).await;
        assert_eq!(status, 200, "{token}");
        token["access_token"].as_str().unwrap().to_owned()
    };

    // A new process, in effect: the same file, opened again (and not seeded twice).
    let store = open_store(&url).await.unwrap();
    assert_eq!(store.list_clients().await.unwrap().len(), 2);
    assert_eq!(store.list_users().await.unwrap().len(), 1);
    // The client's own field came back from the metadata column, with the standard ones.
    let reporting = store.get_client("reporting").await.unwrap().unwrap();
    assert_eq!(
        reporting.metadata.extras.get::<OwningTeam>(),
        Some("analytics".to_owned())
    );
    assert_eq!(reporting.metadata.contacts, vec!["reports@example.com"]);
    assert_eq!(
        reporting.registration_metadata()["owning_team"],
        "analytics"
    );
    let server = authorization_server(store.clone());
    let (_, info) = json(introspect(&server, &access_token).await.unwrap()).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], "reporting");
    assert!(sign_in(&store, "alice", "correct horse battery staple")
        .await
        .unwrap()
        .is_some());
}
