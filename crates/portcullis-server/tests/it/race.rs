//! Two `portcullis serve` processes on one PostgreSQL database: when both are asked to
//! redeem the same authorization code at the same moment, exactly one succeeds.

use oauth2::{CsrfToken, PkceCodeChallenge, Scope};

use crate::support::*;

#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn two_instances_never_both_redeem_one_code() {
    let db = TestDb::postgres().await;
    let _store = seed(&db).await;
    let a = spawn_instance(&db).await;
    let b = spawn_instance(&db).await;
    let browser = browser();
    let http = reqwest::Client::new();
    let mut signed_in = false;
    for round in 0..5 {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _) = oauth_client(&a.base)
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let (page, _) = if signed_in {
            follow(&browser, &a.base, url.to_string()).await
        } else {
            signed_in = true;
            sign_in_from(&browser, &a.base, url.to_string(), USERNAME, PASSWORD).await
        };
        let response = if page.status() == 200 {
            let form = parse_form(&page.text().await.unwrap());
            submit(&browser, &a.base, &form, &[("decision", "allow")]).await
        } else {
            page
        };
        let code = query(&location(&a.base, &response))["code"].clone();
        let body = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.secret().as_str()),
        ];
        let post = |base: &str| {
            http.post(format!("{base}/token"))
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                .form(&body)
                .send()
        };
        let (ra, rb) = tokio::join!(post(&a.base), post(&b.base));
        let statuses = [ra.unwrap().status().as_u16(), rb.unwrap().status().as_u16()];
        let wins = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(wins, 1, "round {round}: statuses {statuses:?}");
        assert!(
            statuses.contains(&400),
            "round {round}: the loser gets invalid_grant: {statuses:?}"
        );
    }
    drop(a);
    drop(b);
    db.drop_db().await;
}
