"""Interoperability, Python side: Authlib's JOSE (`authlib.jose`, code nobody here wrote)
verifies the JWT access tokens and signed introspection answers of a real `portcullis
serve` against its `/jwks`, across a key rotation: a token signed before the rotation
still verifies after it, and one signed after it verifies with a JWK Set fetched before
the new key became current.

Run through run.sh (which installs the pinned requirements and sets PORTCULLIS_BIN).
"""

import base64
import json
import subprocess
import time

import pytest
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import BadSignatureError, InvalidClaimError

from test_authlib import child_env, create_client, http, migrate, portcullis_binary, start_server, stop_server

# A short JWK Set cache lifetime and reload interval: the publication delay of a
# rotation is then 2 + 1 + 5 seconds.
SETTINGS = {
    "PORTCULLIS_ACCESS_TOKEN_FORMAT": "jwt",
    "PORTCULLIS_JWKS_MAX_AGE": "2",
    "PORTCULLIS_SIGNING_KEY_REFRESH": "1",
}


@pytest.fixture(scope="module")
def jwt_server(tmp_path_factory):
    binary = portcullis_binary()
    workdir = tmp_path_factory.mktemp("portcullis-jose")
    database_url = f"sqlite://{workdir / 'portcullis.db'}"
    migrate(binary, database_url)
    client = create_client(binary, database_url, "JOSE", "--auth-method", "client_secret_basic")
    process, issuer = start_server(binary, database_url, workdir / "server.log", SETTINGS)
    try:
        yield binary, database_url, issuer, client
    finally:
        stop_server(process)


def token(issuer, client):
    with http() as session:
        response = session.post(
            issuer + "/token",
            auth=(client.client_id, client.client_secret),
            data={"grant_type": "client_credentials", "scope": "reports:read"},
            timeout=10,
        )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def jwks(issuer):
    with http() as session:
        response = session.get(issuer + "/jwks", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/jwk-set+json"
    return response.json()


def header(jwt):
    segment = jwt.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def verify(jwt, key_set, issuer, typ="at+jwt", audience=None):
    header_typ = header(jwt).get("typ")
    assert header_typ == typ, header_typ
    decoder = JsonWebToken(["ES256", "RS256", "PS256", "EdDSA"])
    claims = decoder.decode(
        jwt,
        JsonWebKey.import_key_set(key_set),
        claims_options={"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": audience or issuer}},
    )
    claims.validate()
    return claims


def test_authlib_verifies_tokens_across_a_key_rotation(jwt_server):
    binary, database_url, issuer, client = jwt_server
    first = token(issuer, client)
    claims = verify(first, jwks(issuer), issuer)
    assert claims["client_id"] == client.client_id
    assert claims["scope"] == "reports:read"

    env = {**child_env(), **SETTINGS}
    rotated = json.loads(
        subprocess.run(
            [binary, "--database-url", database_url, "keys", "rotate"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        ).stdout
    )
    assert rotated["state"] == "next"
    published = None
    for _ in range(50):
        published = jwks(issuer)
        if any(k["kid"] == rotated["kid"] for k in published["keys"]):
            break
        time.sleep(0.1)
    assert any(k["kid"] == rotated["kid"] for k in published["keys"])

    time.sleep(max(0, rotated["activates"] - time.time()) + 1.5)
    second = token(issuer, client)
    assert header(second)["kid"] == rotated["kid"]
    # Verified with the set fetched while the new key was only "next".
    verify(second, published, issuer)
    # The old token with the set published now.
    verify(first, jwks(issuer), issuer)

    # The checks bite: another audience, and a tampered payload.
    with pytest.raises(InvalidClaimError):
        verify(second, published, issuer, audience="https://elsewhere.example")
    h, p, s = second.split(".")
    payload = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    payload["scope"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        verify(f"{h}.{forged}.{s}", published, issuer)


def test_authlib_verifies_a_signed_introspection_answer(jwt_server):
    _binary, _database_url, issuer, client = jwt_server
    access_token = token(issuer, client)
    with http() as session:
        response = session.post(
            issuer + "/introspect",
            auth=(client.client_id, client.client_secret),
            headers={"Accept": "application/token-introspection+jwt"},
            data={"token": access_token},
            timeout=10,
        )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/token-introspection+jwt"
    claims = verify(response.text, jwks(issuer), issuer, typ="token-introspection+jwt", audience=client.client_id)
    assert claims["token_introspection"]["active"] is True
    assert claims["token_introspection"]["client_id"] == client.client_id
