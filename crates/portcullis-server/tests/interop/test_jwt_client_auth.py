"""Interoperability: Authlib's JWT client authentication (RFC 7523 §2.2, OpenID Connect
Core §9: private_key_jwt and client_secret_jwt) against `portcullis serve`.

Clients are registered with the CLI (a private_key_jwt client with its public JWK Set,
a client_secret_jwt client under a key-encryption key); Authlib signs the assertions.
Authlib's assertions live an hour unless told otherwise; the server accepts at most
five minutes, so the tests give Authlib an `exp` claim — and check that its default is
refused with words that say why.
"""

import base64
import json
import subprocess
import time

import pytest
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT
from joserfc.jwk import RSAKey

from test_authlib import (
    HTTP_TIMEOUT,
    SCOPE,
    child_env,
    create_client,
    http,
    migrate,
    portcullis_binary,
    start_server,
    stop_server,
)

KEK = base64.b64encode(bytes([7]) * 32).decode()


@pytest.fixture(scope="module")
def jwt_server(tmp_path_factory):
    binary = portcullis_binary()
    workdir = tmp_path_factory.mktemp("portcullis-jwt")
    database_url = f"sqlite://{workdir / 'portcullis.db'}"
    migrate(binary, database_url)
    key = RSAKey.generate_key(2048, auto_kid=True)
    jwks = json.dumps({"keys": [key.as_dict(private=False)]})
    private = create_client(
        binary, database_url, "Key client", "--auth-method", "private_key_jwt", "--jwks", jwks
    )
    # The CLI seals a client_secret_jwt client's secret with the key-encryption key.
    result = subprocess.run(
        [
            binary,
            "--database-url",
            database_url,
            "client",
            "create",
            "--name",
            "HMAC client",
            "--grant-type",
            "client_credentials",
            "--scope",
            SCOPE,
            "--auth-method",
            "client_secret_jwt",
        ],
        env={**child_env(), "PORTCULLIS_KEY_ENCRYPTION_KEY": KEK},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    hmac_client = json.loads(result.stdout)
    process, issuer = start_server(
        binary,
        database_url,
        workdir / "server.log",
        {"PORTCULLIS_KEY_ENCRYPTION_KEY": KEK},
    )
    try:
        yield {
            "issuer": issuer,
            "key": key,
            "private_key_jwt": private.client_id,
            "client_secret_jwt": (hmac_client["client_id"], hmac_client["client_secret"]),
        }
    finally:
        stop_server(process)


def short_lived():
    now = int(time.time())
    return {"iat": now, "exp": now + 60}


def session(client_id, secret, method, auth):
    s = OAuth2Session(
        client_id, secret, token_endpoint_auth_method=method, scope=SCOPE, default_timeout=HTTP_TIMEOUT
    )
    s.register_client_auth_method(auth)
    s.trust_env = False
    return s


def test_metadata_lists_the_jwt_methods(jwt_server):
    with http() as h:
        doc = h.get(jwt_server["issuer"] + "/.well-known/oauth-authorization-server", timeout=HTTP_TIMEOUT).json()
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    assert "client_secret_jwt" in doc["token_endpoint_auth_methods_supported"]
    assert "RS256" in doc["token_endpoint_auth_signing_alg_values_supported"]
    assert "HS256" in doc["token_endpoint_auth_signing_alg_values_supported"]


def test_private_key_jwt_with_authlib(jwt_server):
    token_endpoint = jwt_server["issuer"] + "/token"
    s = session(
        jwt_server["private_key_jwt"],
        jwt_server["key"],
        "private_key_jwt",
        PrivateKeyJWT(token_endpoint, claims=short_lived()),
    )
    token = s.fetch_token(token_endpoint, grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["access_token"]


def test_client_secret_jwt_with_authlib(jwt_server):
    token_endpoint = jwt_server["issuer"] + "/token"
    client_id, secret = jwt_server["client_secret_jwt"]
    s = session(client_id, secret, "client_secret_jwt", ClientSecretJWT(token_endpoint, claims=short_lived()))
    token = s.fetch_token(token_endpoint, grant_type="client_credentials")
    assert token["access_token"]
    wrong = session(
        client_id, "not-the-secret", "client_secret_jwt", ClientSecretJWT(token_endpoint, claims=short_lived())
    )
    with pytest.raises(Exception) as refused:
        wrong.fetch_token(token_endpoint, grant_type="client_credentials")
    assert "invalid_client" in str(refused.value)


def test_authlib_default_hour_long_assertion_is_refused_with_a_reason(jwt_server):
    token_endpoint = jwt_server["issuer"] + "/token"
    s = session(jwt_server["private_key_jwt"], jwt_server["key"], "private_key_jwt", PrivateKeyJWT(token_endpoint))
    with pytest.raises(Exception) as refused:
        s.fetch_token(token_endpoint, grant_type="client_credentials")
    assert "lives too long" in str(refused.value)
