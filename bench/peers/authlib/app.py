"""Authlib 1.x on Flask as a load-test peer of Portcullis (bench/peers, issue 5).

A minimal authorization server built the way Authlib's Flask OAuth 2.0 server guide
builds one: Flask-SQLAlchemy models on Authlib's SQLAlchemy mixins, the helper
functions of ``authlib.integrations.sqla_oauth2``, the client_credentials grant and an
``IntrospectionEndpoint`` subclass, client_secret_basic everywhere.

    python app.py init            # create the tables and the client (once, before gunicorn)
    gunicorn --workers 2 --bind 127.0.0.1:PORT 'app:create_app()'

Environment:
    AUTHLIB_DB              SQLite file (required)
    AUTHLIB_SQLITE_TUNING   "wal" (default): journal_mode=WAL, synchronous=NORMAL, the
                            durability Portcullis runs with by default; "none": SQLite's
                            own defaults (rollback journal, synchronous=FULL)
    CLIENT_ID, CLIENT_SECRET  the client (init only)

Endpoints: POST /oauth/token, POST /oauth/introspect.
"""

import os
import sys
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.sqla_oauth2 import (
    OAuth2ClientMixin,
    OAuth2TokenMixin,
    create_query_client_func,
    create_query_token_func,
    create_save_token_func,
)
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event

ISSUER = "http://127.0.0.1"
TOKEN_TTL = 3600

db = SQLAlchemy()


class Client(db.Model, OAuth2ClientMixin):
    __tablename__ = "oauth2_client"
    id = db.Column(db.Integer, primary_key=True)


class Token(db.Model, OAuth2TokenMixin):
    __tablename__ = "oauth2_token"
    id = db.Column(db.Integer, primary_key=True)
    # The resource owner (a user table's key in the guide); NULL for client_credentials.
    user_id = db.Column(db.Integer, nullable=True)


query_token = create_query_token_func(db.session, Token)


class MyIntrospectionEndpoint(IntrospectionEndpoint):
    """RFC 7662 introspection of access tokens, client_secret_basic."""

    CLIENT_AUTH_METHODS = ["client_secret_basic"]

    def query_token(self, token_string, token_type_hint):
        return query_token(token_string, token_type_hint)

    def introspect_token(self, token):
        return {
            "active": True,
            "client_id": token.client_id,
            "token_type": token.token_type,
            "scope": token.get_scope(),
            "aud": token.client_id,
            "iss": ISSUER,
            "exp": token.issued_at + token.expires_in,
            "iat": token.issued_at,
        }

    def check_permission(self, token, client, request):
        # A client may introspect only its own tokens.
        return token.client_id == client.client_id


def _tune_sqlite(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_app():
    path = os.environ.get("AUTHLIB_DB")
    if not path:
        raise RuntimeError("AUTHLIB_DB (the SQLite file) is not set")
    tuning = os.environ.get("AUTHLIB_SQLITE_TUNING", "wal")
    if tuning not in ("wal", "none"):
        raise RuntimeError(f"AUTHLIB_SQLITE_TUNING must be wal or none, not {tuning}")

    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{os.path.abspath(path)}",
        OAUTH2_TOKEN_EXPIRES_IN={"client_credentials": TOKEN_TTL},
    )
    db.init_app(app)
    if tuning == "wal":
        with app.app_context():
            event.listen(db.engine, "connect", _tune_sqlite)

    authorization = AuthorizationServer(
        app,
        query_client=create_query_client_func(db.session, Client),
        save_token=create_save_token_func(db.session, Token),
    )
    authorization.register_grant(grants.ClientCredentialsGrant)
    authorization.register_endpoint(MyIntrospectionEndpoint)

    @app.route("/oauth/token", methods=["POST"])
    def issue_token():
        return authorization.create_token_response()

    @app.route("/oauth/introspect", methods=["POST"])
    def introspect_token():
        return authorization.create_endpoint_response(
            MyIntrospectionEndpoint.ENDPOINT_NAME
        )

    return app


def init():
    """Creates the tables and the client; run once before the workers start."""
    client_id = os.environ.get("CLIENT_ID", "bench-client")
    client_secret = os.environ.get("CLIENT_SECRET", "bench-secret-0123456789abcdef")
    app = create_app()
    with app.app_context():
        db.create_all()
        if not Client.query.filter_by(client_id=client_id).first():
            client = Client(
                client_id=client_id,
                client_secret=client_secret,
                client_id_issued_at=int(time.time()),
            )
            client.set_client_metadata(
                {
                    "client_name": "portcullis-bench",
                    "grant_types": ["client_credentials"],
                    "response_types": [],
                    "token_endpoint_auth_method": "client_secret_basic",
                    "scope": "",
                }
            )
            db.session.add(client)
            db.session.commit()


if __name__ == "__main__":
    if sys.argv[1:] == ["init"]:
        init()
    else:
        sys.exit("usage: python app.py init   (then serve with gunicorn 'app:create_app()')")
