"""Interoperability: Python's Authlib (a client nobody here wrote) against `portcullis serve`.

Run through run.sh, which installs the pinned requirements and points PORTCULLIS_BIN at
the binary. A session-scoped fixture registers clients with the CLI in a fresh SQLite
database, starts the server on a free loopback port and stops it at the end; every test
fetches its own tokens, so the tests do not depend on each other's order.
"""

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

HERE = Path(__file__).resolve().parent
SCOPE = "reports:read"
HTTP_TIMEOUT = 10
READY_TIMEOUT = 30
METADATA_PATH = "/.well-known/oauth-authorization-server"


@dataclass
class Client:
    client_id: str
    client_secret: str
    auth_method: str


@dataclass
class Server:
    issuer: str
    clients: dict = field(default_factory=dict)

    @property
    def token_endpoint(self):
        return self.issuer + "/token"

    @property
    def introspection_endpoint(self):
        return self.issuer + "/introspect"

    @property
    def revocation_endpoint(self):
        return self.issuer + "/revoke"


def portcullis_binary():
    # run.sh sets PORTCULLIS_BIN; the fallback is the repository's debug build.
    binary = os.environ.get("PORTCULLIS_BIN") or str(HERE.parents[3] / "target/debug/portcullis")
    if not os.access(binary, os.X_OK):
        pytest.exit(f"portcullis binary not found at {binary}: build it or set PORTCULLIS_BIN", 2)
    return binary


def child_env():
    """The environment without PORTCULLIS_* settings, so only our flags configure the server."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http():
    """A requests session that ignores proxy settings: the server is on loopback."""
    session = requests.Session()
    session.trust_env = False
    return session


def authlib_session(client, **kwargs):
    session = OAuth2Session(
        client.client_id,
        client.client_secret,
        token_endpoint_auth_method=client.auth_method,
        revocation_endpoint_auth_method=client.auth_method,
        scope=SCOPE,
        default_timeout=HTTP_TIMEOUT,
        **kwargs,
    )
    session.trust_env = False
    return session


def migrate(binary, database_url):
    """Creates the database: only serve and migrate do; the management commands open it."""
    result = subprocess.run(
        [binary, "--database-url", database_url, "migrate"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"migrate failed: {result.stderr}"


def create_client(binary, database_url, name, *extra):
    result = subprocess.run(
        [
            binary,
            "--database-url",
            database_url,
            "client",
            "create",
            "--name",
            name,
            "--grant-type",
            "client_credentials",
            "--scope",
            SCOPE,
            *extra,
        ],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"client create {name} failed: {result.stderr}"
    created = json.loads(result.stdout)
    return Client(created["client_id"], created["client_secret"], created["token_endpoint_auth_method"])


def start_server(binary, database_url, log_path, settings=None):
    """Starts `portcullis serve` on a free port (with extra PORTCULLIS_* `settings`);
    retries if the port was taken meanwhile."""
    for _attempt in range(3):
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        log = open(log_path, "ab")
        process = subprocess.Popen(
            [binary, "--database-url", database_url, "serve", "--bind", f"127.0.0.1:{port}", "--issuer", issuer],
            env={**child_env(), **(settings or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        with http() as session:
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if session.get(issuer + "/healthz", timeout=1).status_code == 200:
                        return process, issuer
                except requests.RequestException:
                    pass
                time.sleep(0.1)
        if process.poll() is None:
            stop_server(process)
            break  # running but never healthy: a retry will not help
    tail = Path(log_path).read_text(errors="replace")[-4000:]
    pytest.fail(f"portcullis serve did not become healthy within {READY_TIMEOUT}s; log:\n{tail}")


def stop_server(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    binary = portcullis_binary()
    workdir = tmp_path_factory.mktemp("portcullis")
    database_url = f"sqlite://{workdir / 'portcullis.db'}"
    migrate(binary, database_url)
    clients = {
        "basic": create_client(binary, database_url, "Basic", "--auth-method", "client_secret_basic"),
        "post": create_client(binary, database_url, "Post", "--auth-method", "client_secret_post"),
        "orders_app": create_client(
            binary, database_url, "Orders app", "--auth-method", "client_secret_basic", "--audience", "orders"
        ),
        "orders_api": create_client(
            binary,
            database_url,
            "Orders API",
            "--auth-method",
            "client_secret_basic",
            "--resource-server-audience",
            "orders",
        ),
        "stranger": create_client(binary, database_url, "Stranger", "--auth-method", "client_secret_basic"),
    }
    process, issuer = start_server(binary, database_url, workdir / "server.log")
    try:
        yield Server(issuer=issuer, clients=clients)
    finally:
        stop_server(process)


def fetch(server, name):
    """A fresh client_credentials access token for the named client, fetched with Authlib."""
    with authlib_session(server.clients[name]) as session:
        return session.fetch_token(server.token_endpoint, grant_type="client_credentials")


def introspect(server, name, token):
    with authlib_session(server.clients[name]) as session:
        response = session.introspect_token(server.introspection_endpoint, token=token)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


# 1. Metadata discovery (RFC 8414)


@pytest.fixture(scope="session")
def metadata(server):
    with http() as session:
        response = session.get(server.issuer + METADATA_PATH, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def test_metadata_issuer_matches_server(server, metadata):
    assert metadata["issuer"] == server.issuer


def test_metadata_has_token_revocation_and_introspection_endpoints(server, metadata):
    for key in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        assert isinstance(metadata.get(key), str), key
        assert metadata[key].startswith(server.issuer + "/"), (key, metadata[key])


def test_metadata_grant_types_include_client_credentials(metadata):
    assert "client_credentials" in metadata["grant_types_supported"]


def test_metadata_iss_parameter_supported_is_true(metadata):
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_metadata_passes_authlib_validation(metadata, monkeypatch):
    # Authlib insists on an https issuer unless told this is a development setup.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    AuthorizationServerMetadata(metadata).validate()


def test_authlib_session_works_with_discovered_endpoints(server, metadata):
    with authlib_session(server.clients["basic"]) as session:
        token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        info = session.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
        assert info.status_code == 200 and info.json()["active"] is True
        revoked = session.revoke_token(
            metadata["revocation_endpoint"], token=token["access_token"], token_type_hint="access_token"
        )
        assert revoked.status_code == 200
        info = session.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
        assert info.status_code == 200 and info.json() == {"active": False}


# 2. client_credentials (RFC 6749 §4.4)


@pytest.mark.parametrize("name", ["basic", "post"])
def test_client_credentials_gives_bearer_token_with_expires_in_and_scope(server, name):
    token = fetch(server, name)
    assert token["access_token"]
    assert token["token_type"].lower() == "bearer"
    assert isinstance(token["expires_in"], int) and token["expires_in"] > 0
    assert token["scope"] == SCOPE


@pytest.mark.parametrize("name", ["basic", "post"])
def test_client_credentials_gives_no_refresh_token(server, name):
    assert "refresh_token" not in fetch(server, name)


@pytest.mark.parametrize("name", ["basic", "post"])
def test_client_credentials_response_has_cache_control_no_store(server, name):
    client = server.clients[name]
    data = {"grant_type": "client_credentials", "scope": SCOPE}
    auth = None
    if client.auth_method == "client_secret_post":
        data.update(client_id=client.client_id, client_secret=client.client_secret)
    else:
        auth = (client.client_id, client.client_secret)
    with http() as session:
        response = session.post(server.token_endpoint, data=data, auth=auth, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    directives = [d.strip().lower() for d in response.headers.get("Cache-Control", "").split(",")]
    assert "no-store" in directives, response.headers


# 3. Introspection (RFC 7662)


def test_introspection_of_own_token_is_active_with_claims(server):
    before = int(time.time())
    token = fetch(server, "basic")
    info = introspect(server, "basic", token["access_token"])
    assert info["active"] is True
    assert info["scope"] == SCOPE
    assert info["client_id"] == server.clients["basic"].client_id
    assert info["token_type"].lower() == "bearer"
    assert info["iss"] == server.issuer
    assert isinstance(info["iat"], int) and isinstance(info["exp"], int)
    assert before - 5 <= info["iat"] <= int(time.time()) + 5
    assert info["exp"] - info["iat"] == token["expires_in"]


def test_introspection_of_post_client_token_is_active(server):
    token = fetch(server, "post")
    info = introspect(server, "post", token["access_token"])
    assert info["active"] is True
    assert info["client_id"] == server.clients["post"].client_id


def test_introspection_of_unknown_token_is_exactly_inactive(server):
    assert introspect(server, "basic", "no-such-token-" + "x" * 32) == {"active": False}


def test_resource_server_introspects_token_issued_for_its_audience(server):
    token = fetch(server, "orders_app")
    info = introspect(server, "orders_api", token["access_token"])
    assert info["active"] is True
    assert info["client_id"] == server.clients["orders_app"].client_id
    assert info["scope"] == SCOPE
    assert info["aud"] in ("orders", ["orders"])


def test_resource_server_does_not_see_tokens_without_its_audience(server):
    token = fetch(server, "basic")
    assert introspect(server, "orders_api", token["access_token"]) == {"active": False}


def test_unrelated_client_introspecting_another_clients_token_is_exactly_inactive(server):
    token = fetch(server, "basic")
    assert introspect(server, "stranger", token["access_token"]) == {"active": False}
    # ... while the token is in fact active for its owner.
    assert introspect(server, "basic", token["access_token"])["active"] is True


# 4. Revocation (RFC 7009)


@pytest.mark.parametrize("name", ["basic", "post"])
def test_revocation_is_200_and_token_becomes_inactive(server, name):
    token = fetch(server, name)
    with authlib_session(server.clients[name]) as session:
        response = session.revoke_token(
            server.revocation_endpoint, token=token["access_token"], token_type_hint="access_token"
        )
    assert response.status_code == 200, response.text
    assert introspect(server, name, token["access_token"]) == {"active": False}


def test_revoking_unknown_token_is_200(server):
    with authlib_session(server.clients["basic"]) as session:
        response = session.revoke_token(
            server.revocation_endpoint, token="no-such-token-" + "y" * 32, token_type_hint="access_token"
        )
    assert response.status_code == 200, response.text


def test_revoking_another_clients_token_is_200_and_token_stays_active(server):
    token = fetch(server, "basic")
    with authlib_session(server.clients["stranger"]) as session:
        response = session.revoke_token(
            server.revocation_endpoint, token=token["access_token"], token_type_hint="access_token"
        )
    assert response.status_code == 200, response.text
    assert introspect(server, "basic", token["access_token"])["active"] is True


@pytest.mark.parametrize("name", ["basic", "post"])
def test_revocation_with_wrong_client_secret_is_401_invalid_client(server, name):
    token = fetch(server, name)
    real = server.clients[name]
    impostor = Client(real.client_id, real.client_secret[::-1] + "x", real.auth_method)
    with authlib_session(impostor) as session:
        response = session.revoke_token(
            server.revocation_endpoint, token=token["access_token"], token_type_hint="access_token"
        )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    if real.auth_method == "client_secret_basic":
        # RFC 6749 §5.2: a failed Authorization-header authentication carries a challenge.
        assert response.headers.get("WWW-Authenticate", "").lower().startswith("basic")
    # The failed attempt revoked nothing.
    assert introspect(server, name, token["access_token"])["active"] is True
