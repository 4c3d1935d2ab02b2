//! A hook for clients whose `client_id` is an `https` URL: the application resolves
//! them (the server: by fetching the client ID metadata document the URL names,
//! draft-ietf-oauth-client-id-metadata-document) instead of the store reading the
//! `clients` table. [`SqlStore::with_url_client_resolver`] sets it; without one, and
//! for every other `client_id`, [`find_client`](portcullis_core::ClientStore::find_client)
//! reads the table as always (an ordinary `client_id` costs one prefix comparison).

use async_trait::async_trait;
use portcullis_core::{ClientRecord, StoreError};

use crate::SqlStore;

/// The metadata member (`true`) that marks a client stored by a resolver: without a
/// resolver (the setting turned off since), [`find_client`](portcullis_core::ClientStore::find_client)
/// does not return such a row, so a client known only by its document is unknown.
pub const RESOLVED_CLIENT_MARKER: &str = "client_id_metadata_document";

/// True when `client` carries [`RESOLVED_CLIENT_MARKER`].
pub fn is_resolved_client(client: &ClientRecord) -> bool {
    client.metadata.extras.get_raw(RESOLVED_CLIENT_MARKER) == Some(&serde_json::Value::Bool(true))
}

/// Resolves a `client_id` that is an `https` URL.
///
/// The resolver is handed the store, so it can read the `clients` table (an
/// operator may have registered a URL `client_id` by hand) and keep a row for the
/// client it resolved: tokens, codes and consents reference the `clients` table.
#[async_trait]
pub trait UrlClientResolver: Send + Sync {
    /// The client `client_id` (an `https` URL) names, or `None` when it names none
    /// that can be used; `Err` only for a failure of the store itself.
    async fn resolve_client(
        &self,
        store: &SqlStore,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, StoreError>;
}

/// True when `client_id` goes to the resolver: it starts with `https://`.
pub(crate) fn is_url_client_id(client_id: &str) -> bool {
    client_id
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_marked_clients_are_resolved_clients() {
        let mut client = ClientRecord::new("https://app.example.com/c.json");
        assert!(!is_resolved_client(&client));
        client
            .metadata
            .extras
            .insert_raw(RESOLVED_CLIENT_MARKER, serde_json::Value::from("true"));
        assert!(!is_resolved_client(&client), "only the boolean true marks");
        client
            .metadata
            .extras
            .insert_raw(RESOLVED_CLIENT_MARKER, serde_json::Value::Bool(true));
        assert!(is_resolved_client(&client));
    }

    #[test]
    fn only_https_urls_go_to_the_resolver() {
        assert!(is_url_client_id("https://app.example.com/client.json"));
        assert!(is_url_client_id("HTTPS://app.example.com/client.json"));
        for other in ["web-app", "http://app.example.com/c.json", "https:/x", ""] {
            assert!(!is_url_client_id(other), "{other}");
        }
    }
}
