"""Interoperability: the official Python MCP SDK (`mcp`), with its own OAuth client
(`mcp.client.auth.OAuthClientProvider` on the transport's HTTP client), connects to the
MCP server of examples/mcp_server.rs protected by a real `portcullis serve`.

The 401 names the resource metadata (RFC 9728), which names Portcullis; the SDK reads
Portcullis's metadata (RFC 8414), gets a client ID -- by dynamic client registration
(RFC 7591) in one test, by a client ID metadata document served over HTTPS in the
other -- sends the user to the authorization endpoint with PKCE and `resource` (RFC
8707), redeems the code and calls the tool `add`. The browser is played by httpx2 (the
SDK's HTTP client): the sign-in and consent forms are filled in as a person would. The
access token is a JWT whose `aud` is the MCP server's URL, which introspection by the
MCP server's resource-server client confirms.

Run through run.sh, which installs requirements.txt into .venv and sets PORTCULLIS_BIN,
MCP_SERVER_BIN and the test CA / certificate (MCP_TEST_CA_FILE, MCP_TEST_TLS_*).
"""

from __future__ import annotations

import asyncio
import base64
import html as html_lib
import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import httpx2
import pytest
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

USERNAME = "alice"
PASSWORD = "correct horse battery staple"
SCOPE = "mcp:tools"


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTCULLIS_", "MCP_"))}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, what: str, process: subprocess.Popen) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if httpx2.get(url, timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer at {url}")


class Documents:
    """The HTTPS server of the client ID metadata documents (certificate from the test CA)."""

    def __init__(self) -> None:
        self.served: dict[str, dict] = {}
        self.fetched: list[str] = []
        documents = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                path = urlparse(self.path).path
                documents.fetched.append(path)
                document = documents.served.get(path)
                if document is None:
                    self.send_error(404)
                    return
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.environ["MCP_TEST_TLS_CERT"], os.environ["MCP_TEST_TLS_KEY"])
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Setup:
    issuer: str
    resource: str
    resource_server: dict
    documents: Documents


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Setup:
    binary = os.environ.get("PORTCULLIS_BIN")
    mcp_binary = os.environ.get("MCP_SERVER_BIN")
    ca_file = os.environ.get("MCP_TEST_CA_FILE")
    assert binary, "PORTCULLIS_BIN must name the portcullis binary"
    assert mcp_binary, "MCP_SERVER_BIN must name the mcp_server example's binary"
    assert ca_file, "MCP_TEST_CA_FILE, MCP_TEST_TLS_CERT and MCP_TEST_TLS_KEY must be set (run.sh)"
    directory: Path = tmp_path_factory.mktemp("portcullis-mcp-py")
    database_url = f"sqlite://{directory / 'portcullis.db'}"

    def run(*args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [binary, "--database-url", database_url, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=child_env(),
        )
        assert result.returncode == 0, f"portcullis {' '.join(args)}: {result.stderr}"
        return result.stdout

    s = Setup()
    as_port, mcp_port = free_port(), free_port()
    s.issuer = f"http://127.0.0.1:{as_port}"
    s.resource = f"http://127.0.0.1:{mcp_port}/mcp"
    run("migrate")
    run("user", "create", "--username", USERNAME, "--password-stdin", stdin=f"{PASSWORD}\n")
    # The MCP server as a resource server: registers its URL as a resource (RFC 8707)
    # clients may ask for, and may introspect the tokens issued for it.
    s.resource_server = json.loads(
        run(
            "client", "create", "--name", "MCP server (resource server)",
            "--grant-type", "client_credentials", "--resource-server-audience", s.resource,
        )
    )
    s.documents = Documents()
    portcullis = subprocess.Popen(
        [binary, "--database-url", database_url, "serve", "--bind", f"127.0.0.1:{as_port}",
         "--issuer", s.issuer],
        env=child_env(
            PORTCULLIS_ACCESS_TOKEN_FORMAT="jwt",
            PORTCULLIS_REGISTRATION="open",
            # What a client that registers itself may ask for: the MCP server's scope.
            PORTCULLIS_REGISTRATION_SCOPES=SCOPE,
            PORTCULLIS_CLIENT_ID_METADATA_DOCUMENTS="true",
            PORTCULLIS_FETCH_ALLOWED_ADDRESSES="127.0.0.1",
            PORTCULLIS_FETCH_CA_FILE=ca_file,
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    mcp_server = None
    try:
        wait_for(f"{s.issuer}/healthz", "portcullis serve", portcullis)
        mcp_server = subprocess.Popen(
            [mcp_binary],
            env=child_env(MCP_AUTHORIZATION_SERVER=s.issuer, MCP_ADDR=f"127.0.0.1:{mcp_port}"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        wait_for(
            f"http://127.0.0.1:{mcp_port}/.well-known/oauth-protected-resource/mcp",
            "the MCP server",
            mcp_server,
        )
        # The protected endpoint itself answers (its challenge) before the SDK is let in.
        challenge = httpx2.post(s.resource, json={"jsonrpc": "2.0", "id": 0, "method": "ping"})
        assert challenge.status_code == 401, challenge.text
        assert "resource_metadata=" in challenge.headers["www-authenticate"]
        yield s
    finally:
        for process in (mcp_server, portcullis):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        s.documents.close()


class Browser:
    """A browser: keeps cookies, follows nothing by itself."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.cookies: dict[str, str] = {}
        self.http = httpx2.AsyncClient(follow_redirects=False, timeout=30)

    async def request(self, method: str, url: str, **kwargs) -> httpx2.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = await self.http.request(method, urljoin(self.issuer, url), headers=headers, **kwargs)
        for line in response.headers.get_list("set-cookie"):
            name, _, value = line.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        return response

    async def follow(self, url: str) -> tuple[httpx2.Response, str]:
        """Follows redirects within the server; returns the last response and its URL."""
        for _ in range(10):
            response = await self.request("GET", url)
            location = response.headers.get("location")
            if location is None:
                return response, url
            target = urljoin(url, location)
            if not target.startswith(self.issuer + "/"):
                return response, url
            url = target
        raise AssertionError("too many redirects")

    async def submit(self, page: str, fields: dict[str, str]) -> httpx2.Response:
        """Submits the page's form with `fields` added to its hidden inputs."""
        action = html_lib.unescape(re.search(r'<form[^>]*action="([^"]*)"', page).group(1))
        data = [
            (name, html_lib.unescape(value))
            for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', page)
        ]
        data += list(fields.items())
        return await self.request(
            "POST",
            action,
            content=urlencode(data).encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )

    async def close(self) -> None:
        await self.http.aclose()


async def authorize_in_browser(setup: Setup, authorization_url: str) -> str:
    """The person at the browser: signs in, allows, returns the URL sent back to."""
    browser = Browser(setup.issuer)
    try:
        login, url = await browser.follow(authorization_url)
        assert "/login?" in url, f"the login page, not {login.status_code}: {login.text}"
        signed_in = await browser.submit(login.text, {"username": USERNAME, "password": PASSWORD})
        assert signed_in.status_code == 303, signed_in.text
        consent, url = await browser.follow(urljoin(setup.issuer, signed_in.headers["location"]))
        assert "/consent?" in url, f"the consent page: {consent.text}"
        assert setup.resource in html_lib.unescape(consent.text), "the consent page names the MCP server"
        decided = await browser.submit(consent.text, {"decision": "allow"})
        assert decided.status_code == 302, decided.text
        return decided.headers["location"]
    finally:
        await browser.close()


class MemoryStorage:
    """The SDK's TokenStorage, in memory, remembering what was saved."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None
        self.saved_clients: list[OAuthClientInformationFull] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.saved_clients.append(client_info)
        self.client_info = client_info


def claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def introspect(setup: Setup, token: str) -> dict:
    metadata = httpx2.get(f"{setup.issuer}/.well-known/oauth-authorization-server").json()
    response = httpx2.post(
        metadata["introspection_endpoint"],
        data={"token": token},
        auth=(setup.resource_server["client_id"], setup.resource_server["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


def client_metadata(redirect_uri: str, name: str) -> OAuthClientMetadata:
    return OAuthClientMetadata(
        client_name=name,
        redirect_uris=[redirect_uri],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )


async def connect_and_call_tool(
    setup: Setup, metadata: OAuthClientMetadata, client_metadata_url: str | None = None
) -> tuple[MemoryStorage, list[str], list[str]]:
    """Connects with the SDK, which signs in on the way; lists the tools, calls `add`,
    checks the token. Returns the storage, the requests made and the authorization URLs."""
    storage = MemoryStorage()
    authorization_urls: list[str] = []
    callbacks: list[str] = []

    async def redirect_handler(url: str) -> None:
        authorization_urls.append(url)
        callbacks.append(await authorize_in_browser(setup, url))

    async def callback_handler() -> AuthorizationCodeResult:
        callback = urlparse(callbacks[-1])
        redirect = urlparse(str(metadata.redirect_uris[0]))
        assert (callback.scheme, callback.netloc, callback.path) == (
            redirect.scheme, redirect.netloc, redirect.path,
        ), f"the loopback redirect URI: {callbacks[-1]}"
        params = {k: v[0] for k, v in parse_qs(callback.query).items()}
        assert "error" not in params, f"an error at the redirect URI: {callbacks[-1]}"
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    provider = OAuthClientProvider(
        server_url=setup.resource,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=client_metadata_url,
    )
    requests: list[str] = []

    async def record(request: httpx2.Request) -> None:
        requests.append(f"{request.method} {request.url}")

    async with httpx2.AsyncClient(auth=provider, timeout=30, event_hooks={"request": [record]}) as http:
        async with Client(streamable_http_client(setup.resource, http_client=http)) as client:
            tools = await client.list_tools()
            assert "add" in [tool.name for tool in tools.tools], tools
            result = await client.call_tool("add", {"a": 2, "b": 3})
            assert not result.is_error, result
            assert [(c.type, c.text) for c in result.content] == [("text", "5")], result

    assert len(authorization_urls) == 1, authorization_urls
    authorization = urlparse(authorization_urls[0])
    params = {k: v[0] for k, v in parse_qs(authorization.query).items()}
    assert f"{authorization.scheme}://{authorization.netloc}" == setup.issuer
    assert params["resource"] == setup.resource, "RFC 8707 resource"
    assert params["code_challenge_method"] == "S256"
    assert SCOPE in params["scope"].split(), "the challenged scope"
    assert params["client_id"] == storage.client_info.client_id

    access_token = storage.tokens.access_token
    token = claims(access_token)
    assert token["iss"] == setup.issuer
    assert as_list(token["aud"]) == [setup.resource], "the token is for the MCP server (aud)"
    assert token["client_id"] == storage.client_info.client_id
    introspected = introspect(setup, access_token)
    assert introspected["active"] is True, introspected
    assert as_list(introspected["aud"]) == [setup.resource], "introspection: aud"
    assert introspected["client_id"] == storage.client_info.client_id
    return storage, requests, authorization_urls


def test_python_sdk_dynamic_client_registration_sign_in_consent_and_a_tool_call_for_the_mcp_server(setup):
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    metadata = client_metadata(redirect_uri, "Python MCP SDK (DCR)")
    storage, requests, _ = asyncio.run(connect_and_call_tool(setup, metadata))

    assert f"POST {setup.issuer}/register" in requests, requests
    assert len(storage.saved_clients) == 1, "registered once"
    registered = storage.saved_clients[0]
    assert not registered.client_id.startswith("https://"), registered.client_id
    assert [str(uri) for uri in registered.redirect_uris] == [redirect_uri]
    assert registered.token_endpoint_auth_method == "none"
    assert registered.client_secret is None, "a public client has no secret"


def test_python_sdk_client_id_metadata_document_sign_in_consent_and_a_tool_call_for_the_mcp_server(setup):
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    path = f"/clients/python-mcp-sdk-{secrets.token_hex(4)}.json"
    url = f"{setup.documents.base}{path}"
    metadata = client_metadata(redirect_uri, "Python MCP SDK (CIMD)")
    setup.documents.served[path] = {"client_id": url, **metadata.model_dump(mode="json", exclude_none=True)}
    storage, requests, authorization_urls = asyncio.run(connect_and_call_tool(setup, metadata, url))

    assert storage.client_info.client_id == url, "the document's URL is the client ID"
    assert not any(r.startswith("POST ") and r.endswith("/register") for r in requests), requests
    assert path in setup.documents.fetched, "Portcullis fetched the document"
