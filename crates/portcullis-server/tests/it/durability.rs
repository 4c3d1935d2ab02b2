//! Issue 5's durability rule: every token is committed before its response is sent, so
//! a `portcullis serve` process killed (SIGKILL, no shutdown) right after answering
//! has lost none of the tokens it handed out.

use portcullis_core::{token_key, TokenStore};
use portcullis_sql::SqlStore;

use crate::support::*;

const SERVICE_ID: &str = "service";
const SERVICE_SECRET: &str = "service-secret-0123456789abcdefghijkl";
const TOKENS: usize = 200;

async fn killed_server_loses_no_token_it_returned(db: TestDb) {
    let store = seed(&db).await;
    store
        .insert_client(&service_client(SERVICE_ID, SERVICE_SECRET))
        .await
        .unwrap();
    drop(store);
    let mut server = spawn_instance(&db).await;
    // Many requests at once, so that the tokens are group-committed in batches.
    let http = reqwest::Client::new();
    let requests = (0..TOKENS).map(|_| {
        let http = http.clone();
        let url = format!("{}/token", server.base);
        tokio::spawn(async move {
            let response = http
                .post(url)
                .basic_auth(SERVICE_ID, Some(SERVICE_SECRET))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let body: serde_json::Value = response.json().await.unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        })
    });
    let mut issued = Vec::with_capacity(TOKENS);
    for request in requests.collect::<Vec<_>>() {
        issued.push(request.await.unwrap());
    }
    // No graceful shutdown: the process dies the moment the last answer is read.
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let reopened = SqlStore::connect(&db.url()).await.unwrap();
    for token in &issued {
        let found = reopened.find_access_token(&token_key(token)).await.unwrap();
        let found = found.unwrap_or_else(|| panic!("token {token} was returned but is lost"));
        assert_eq!(found.client_id, SERVICE_ID);
        assert!(!found.revoked);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_server_loses_no_token_it_returned_on_sqlite() {
    killed_server_loses_no_token_it_returned(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn killed_server_loses_no_token_it_returned_on_postgres() {
    killed_server_loses_no_token_it_returned(TestDb::postgres().await).await;
}
