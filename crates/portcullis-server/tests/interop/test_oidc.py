"""Interoperability (issue 12): Python Authlib's OpenID Connect client against `portcullis serve`.

Authlib's OAuth2Session runs the code flow with PKCE and a nonce; the browser's part
(the sign-in and consent forms) is played by a requests session; Authlib's JOSE then
verifies the ID token against the served JWK Set and checks it with its own
`CodeIDToken` rules (iss, aud, exp, iat, nonce, at_hash), and the UserInfo endpoint is
read with the access token.
"""

import html
import re
import subprocess
import secrets
from urllib.parse import urljoin

import pytest
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.oidc.core import CodeIDToken

from test_authlib import HTTP_TIMEOUT, child_env, http, migrate, portcullis_binary, start_server, stop_server

REDIRECT_URI = "https://rp.example/authlib/callback"
USERNAME = "alice"
PASSWORD = "correct horse battery staple"


def cli(binary, database_url, *args, stdin=None):
    result = subprocess.run(
        [binary, "--database-url", database_url, *args],
        env=child_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"portcullis {' '.join(args)} failed: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    import json

    binary = portcullis_binary()
    workdir = tmp_path_factory.mktemp("portcullis-oidc")
    database_url = f"sqlite://{workdir / 'portcullis.db'}"
    migrate(binary, database_url)
    cli(
        binary, database_url, "user", "create", "--username", USERNAME, "--email", "alice@example.com",
        "--password-stdin", stdin=PASSWORD + "\n",
    )
    client = json.loads(
        cli(
            binary, database_url, "client", "create", "--name", "Authlib RP", "--redirect-uri", REDIRECT_URI,
            "--scope", "openid email",
        )
    )
    process, issuer = start_server(binary, database_url, workdir / "server.log")
    try:
        yield issuer, client
    finally:
        stop_server(process)


def submit_form(browser, base, page):
    """The page's form: its action and hidden fields."""
    action = html.unescape(re.search(r'<form[^>]*action="([^"]*)"', page).group(1))
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', page)
    }
    return urljoin(base, action), fields


def test_authlib_signs_in_with_openid_connect(provider):
    issuer, client = provider
    with http() as session:
        discovery = session.get(issuer + "/.well-known/openid-configuration", timeout=HTTP_TIMEOUT).json()
        jwks = session.get(discovery["jwks_uri"], timeout=HTTP_TIMEOUT).json()

    rp = OAuth2Session(
        client["client_id"],
        client["client_secret"],
        scope="openid email",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
        default_timeout=HTTP_TIMEOUT,
    )
    rp.trust_env = False
    nonce = secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(48)
    url, state = rp.create_authorization_url(
        discovery["authorization_endpoint"], nonce=nonce, code_verifier=verifier
    )

    with http() as browser:
        response = browser.get(url, allow_redirects=True, timeout=HTTP_TIMEOUT)
        assert "/login?" in response.url, response.url
        action, fields = submit_form(browser, issuer, response.text)
        fields.update(username=USERNAME, password=PASSWORD)
        response = browser.post(action, data=fields, allow_redirects=True, timeout=HTTP_TIMEOUT)
        assert "/consent?" in response.url, response.url
        action, fields = submit_form(browser, issuer, response.text)
        fields["decision"] = "allow"
        response = browser.post(action, data=fields, allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert response.status_code == 302, response.text
        callback = response.headers["Location"]
    assert callback.startswith(REDIRECT_URI), callback

    token = rp.fetch_token(discovery["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert rp.token["token_type"] == "Bearer"
    claims = JsonWebToken(discovery["id_token_signing_alg_values_supported"]).decode(
        token["id_token"],
        key=JsonWebKey.import_key_set(jwks),
        claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "values": [issuer]}},
        claims_params={"nonce": nonce, "client_id": client["client_id"], "access_token": token["access_token"]},
    )
    claims.validate(leeway=60)
    assert claims["aud"] == client["client_id"]
    assert claims["nonce"] == nonce
    assert "at_hash" in claims

    info = rp.get(discovery["userinfo_endpoint"], timeout=HTTP_TIMEOUT)
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == claims["sub"]
    assert info.json()["email"] == "alice@example.com"
