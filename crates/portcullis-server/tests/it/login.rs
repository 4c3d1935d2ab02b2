//! Sign-in: failures, throttling, CSRF, session cookies.

use crate::support::*;

async fn login_form(browser: &reqwest::Client, server: &TestServer) -> Form {
    let page = browser
        .get(server.url("/login?return_to=%2Fhealthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain-http development issuer: no Secure flag"
    );
    parse_form(&page.text().await.unwrap())
}

#[tokio::test]
async fn wrong_password_and_unknown_user_answer_alike() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let form = login_form(&browser, &server).await;
    let wrong = submit(
        &browser,
        &server.base,
        &form,
        &[("username", USERNAME), ("password", "nope")],
    )
    .await;
    let unknown = submit(
        &browser,
        &server.base,
        &form,
        &[("username", "mallory"), ("password", "nope")],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    let wrong = wrong.text().await.unwrap();
    let unknown = unknown.text().await.unwrap();
    assert!(wrong.contains("The username or password is incorrect."));
    assert_eq!(
        wrong.replace(USERNAME, "NAME"),
        unknown.replace("mallory", "NAME"),
        "the two pages differ only in the echoed username"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn repeated_failures_lock_the_account_out_for_a_while() {
    let db = TestDb::sqlite();
    let server = TestServer::start_frozen(&db, |c| c.sign_in.login_free_attempts = 2).await;
    let browser = browser();
    let form = login_form(&browser, &server).await;
    for _ in 0..5 {
        let response = submit(
            &browser,
            &server.base,
            &form,
            &[("username", USERNAME), ("password", "guess")],
        )
        .await;
        assert!(matches!(response.status().as_u16(), 401 | 429));
    }
    // Even the right password is not checked while the delay runs (8 s here).
    let response = submit(
        &browser,
        &server.base,
        &form,
        &[("username", USERNAME), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(response.status(), 429);
    let retry_after: i64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-in attempts"));

    // Another username from the same address is not held back by alice's delay: the
    // address's budget counts failures per window, and two failures are far from it
    // (issue 9, finding 2: a crowd behind one address signs in while one guesses).
    let response = submit(
        &browser,
        &server.base,
        &form,
        &[("username", "bob"), ("password", "x")],
    )
    .await;
    assert_eq!(response.status(), 401, "checked, not throttled");
    db.drop_db().await;
}

#[tokio::test]
async fn sign_in_without_or_with_a_wrong_csrf_token_is_refused() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let form = login_form(&browser, &server).await;
    let missing = browser
        .post(server.url(&form.action))
        .form(&[("username", USERNAME), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    let wrong = browser
        .post(server.url(&form.action))
        .form(&[
            ("username", USERNAME),
            ("password", PASSWORD),
            ("csrf_token", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    assert!(
        wrong.headers().get("set-cookie").is_none(),
        "no session was started"
    );
    // The genuine form still works, and returns to the requested local page.
    let ok = submit(
        &browser,
        &server.base,
        &form,
        &[("username", USERNAME), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/healthz");
    db.drop_db().await;
}

#[tokio::test]
async fn logout_ends_the_session() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let form = login_form(&browser, &server).await;
    let ok = submit(
        &browser,
        &server.base,
        &form,
        &[("username", USERNAME), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(ok.status(), 303);
    let page = browser.get(server.url("/logout")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains(USERNAME));
    let form = parse_form(&html);
    let out = submit(&browser, &server.base, &form, &[]).await;
    assert_eq!(out.status(), 200);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let again = browser.get(server.url("/logout")).send().await.unwrap();
    assert!(again.text().await.unwrap().contains("You are signed out"));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_cannot_slip_under_the_limit() {
    let db = TestDb::sqlite();
    let server = TestServer::start_frozen(&db, |c| c.sign_in.login_free_attempts = 2).await;
    let browser = browser();
    let form = login_form(&browser, &server).await;
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..10 {
        let browser = browser.clone();
        let url = server.url(&form.action);
        let mut body = form.hidden.clone();
        body.push(("username".into(), USERNAME.into()));
        body.push(("password".into(), format!("guess-{i}")));
        guesses.spawn(async move {
            let response = browser.post(url).form(&body).send().await.unwrap();
            response.status().as_u16()
        });
    }
    let statuses: Vec<u16> = guesses.join_all().await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        checked <= 2,
        "only the free attempts reach the password check: {statuses:?}"
    );
    assert_eq!(checked + throttled, 10, "{statuses:?}");
    let right = submit(
        &browser,
        &server.base,
        &form,
        &[("username", USERNAME), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(
        right.status(),
        429,
        "the delay applies to the next attempt too"
    );
    db.drop_db().await;
}
