//! The core's storage traits on [`SqlStore`]: what the grants of `portcullis-core`
//! call. Errors become [`StoreError`]s (which the core turns into `server_error`).

use async_trait::async_trait;
use portcullis_core::{
    AuthorizationCodeRecord, AuthorizationCodeStore, AuthorizationRequestStore, ClientRecord,
    ClientStore, CodeRedemption, PendingAuthorization, ResourceServerStore, StoreError,
    TokenRecord, TokenStore, UserStore,
};

use crate::backend::TokenColumn;
use crate::records::UserRecord;
use crate::SqlStore;

#[async_trait]
impl ClientStore for SqlStore {
    type Client = ClientRecord;

    async fn find_client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        if crate::url_clients::is_url_client_id(client_id) {
            if let Some(resolver) = &self.url_clients {
                return resolver.resolve_client(self, client_id).await;
            }
            // A client stored by a resolver is not used without one.
            let found = self.find_client_cached(client_id).await?;
            return Ok(found.filter(|client| !crate::url_clients::is_resolved_client(client)));
        }
        Ok(self.find_client_cached(client_id).await?)
    }
}

/// Read from the database on each call (only requests that name a `resource` outside
/// the client's own allow-list ask): a resource server registered or removed counts at
/// once, on every instance.
#[async_trait]
impl ResourceServerStore for SqlStore {
    async fn resource_server_audiences(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.repository.resource_server_audiences().await?)
    }
}

#[async_trait]
impl portcullis_core::AssertionReplayStore for SqlStore {
    async fn record_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .repository
            .record_assertion(client_id, jti, expires_at, now)
            .await?)
    }
}

#[async_trait]
impl TokenStore for SqlStore {
    type Token = TokenRecord;

    async fn save_token(&self, token: TokenRecord) -> Result<(), StoreError> {
        // Decided before the save, so that the client_id is copied only when the use
        // is written (about hourly), not for every token.
        let used = self.client_use_due(&token.client_id, token.issued_at);
        self.repository
            .save_token(token)
            .await
            .inspect_err(|e| self.forget_deleted_client(e))?;
        if let Some((client_id, at)) = used {
            self.record_client_use(client_id, at);
        }
        Ok(())
    }

    async fn find_access_token(
        &self,
        access_token_hash: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self
            .repository
            .find_token(TokenColumn::Access, access_token_hash)
            .await?)
    }

    async fn find_refresh_token(
        &self,
        refresh_token_hash: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self
            .repository
            .find_token(TokenColumn::Refresh, refresh_token_hash)
            .await?)
    }

    async fn rotate_refresh_token(
        &self,
        old_refresh_token_hash: &str,
        new: TokenRecord,
    ) -> Result<bool, StoreError> {
        let used = self.client_use_due(&new.client_id, new.issued_at);
        let rotated = self
            .repository
            .rotate_refresh_token(old_refresh_token_hash, new)
            .await
            .inspect_err(|e| self.forget_deleted_client(e))?;
        if let (true, Some((client_id, at))) = (rotated, used) {
            self.record_client_use(client_id, at);
        }
        Ok(rotated)
    }

    async fn revoke_token(&self, access_token_hash: &str) -> Result<(), StoreError> {
        Ok(self.repository.revoke_token(access_token_hash).await?)
    }

    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        Ok(self
            .repository
            .revoke_grant(grant_id, crate::now_seconds())
            .await?)
    }
}

#[async_trait]
impl AuthorizationCodeStore for SqlStore {
    type Code = AuthorizationCodeRecord;

    async fn save_authorization_code(
        &self,
        code: AuthorizationCodeRecord,
    ) -> Result<(), StoreError> {
        Ok(self
            .repository
            .save_authorization_code(&code)
            .await
            .inspect_err(|e| self.forget_deleted_client(e))?)
    }

    async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        client_id: &str,
    ) -> Result<CodeRedemption<AuthorizationCodeRecord>, StoreError> {
        Ok(self
            .repository
            .redeem_authorization_code(code_hash, client_id)
            .await?)
    }
}

#[async_trait]
impl AuthorizationRequestStore for SqlStore {
    async fn save_authorization_request(
        &self,
        request: PendingAuthorization,
    ) -> Result<(), StoreError> {
        Ok(self
            .repository
            .save_authorization_request(&request)
            .await
            .inspect_err(|e| self.forget_deleted_client(e))?)
    }

    async fn find_authorization_request(
        &self,
        id_hash: &str,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        Ok(self.repository.find_authorization_request(id_hash).await?)
    }

    async fn take_authorization_request(
        &self,
        id_hash: &str,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        Ok(self.repository.take_authorization_request(id_hash).await?)
    }
}

#[async_trait]
impl UserStore for SqlStore {
    type User = UserRecord;

    async fn authenticate_user(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.verify_user_password(username, password).await?)
    }
}

#[async_trait]
impl portcullis_core::UsernameResolver for SqlStore {
    async fn username(&self, subject: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .find_user_by_subject(subject)
            .await?
            .map(|user| user.username))
    }
}

/// A user's claims for the UserInfo endpoint: `preferred_username`, `email` and `name`
/// from their columns, every other claim from the `claims` column. A disabled or
/// deleted user has none.
#[async_trait]
impl portcullis_core::claims::ClaimsSource for SqlStore {
    async fn claims(
        &self,
        subject: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, StoreError> {
        let Some(user) = self.find_user_by_subject(subject).await? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        let mut claims = user.claims;
        claims.insert("preferred_username".into(), user.username.into());
        if let Some(email) = user.email {
            claims.insert("email".into(), email.into());
        }
        if let Some(name) = user.name {
            claims.insert("name".into(), name.into());
        }
        Ok(Some(claims))
    }
}
