//! A small cache of clients for the token and introspection endpoints.
//!
//! Every token request authenticates its client; reading the client row each time is
//! most of the database work of a `client_credentials` request. The cache keeps found
//! clients for `ttl` seconds (at most `capacity` of them; unknown client ids are never
//! cached, so they cannot fill it). Changes made through this store (a secret rotated,
//! a client deleted) evict the entry at once; changes made by another process — the
//! CLI, another instance on the same PostgreSQL — are seen within `ttl`. A `ttl` of 0
//! disables the cache.

use std::collections::HashMap;
use std::sync::Mutex;

use portcullis_core::ClientRecord;

/// The cache.
pub(crate) struct ClientCache {
    ttl: i64,
    capacity: usize,
    entries: Mutex<HashMap<String, (ClientRecord, i64)>>,
}

impl ClientCache {
    pub(crate) fn new(ttl: u64, capacity: usize) -> Self {
        Self {
            ttl: i64::try_from(ttl).unwrap_or(i64::MAX),
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached client, if fresh at `now`.
    pub(crate) fn get(&self, client_id: &str, now: i64) -> Option<ClientRecord> {
        if self.ttl == 0 {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        match entries.get(client_id) {
            Some((client, until)) if now < *until => Some(client.clone()),
            _ => None,
        }
    }

    /// Remembers `client` as read at `now`.
    pub(crate) fn put(&self, client: &ClientRecord, now: i64) {
        if self.ttl == 0 {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity {
            entries.retain(|_, (_, until)| now < *until);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            client.client_id.clone(),
            (client.clone(), now.saturating_add(self.ttl)),
        );
    }

    /// Forgets `client_id`.
    pub(crate) fn evict(&self, client_id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(client_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::Scope;

    fn client(id: &str) -> ClientRecord {
        ClientRecord::new(id)
            .with_name(id)
            .with_scope(Scope::empty())
            .with_auth_method("none")
    }

    #[test]
    fn entries_expire_evict_and_stay_bounded() {
        let cache = ClientCache::new(5, 2);
        cache.put(&client("a"), 100);
        assert!(cache.get("a", 104).is_some());
        assert!(cache.get("a", 105).is_none(), "expired after ttl");
        cache.put(&client("a"), 200);
        cache.evict("a");
        assert!(cache.get("a", 200).is_none(), "evicted");
        for id in ["a", "b", "c"] {
            cache.put(&client(id), 300);
        }
        assert!(cache.entries.lock().unwrap().len() <= 2, "bounded");
        let off = ClientCache::new(0, 10);
        off.put(&client("a"), 0);
        assert!(off.get("a", 0).is_none(), "ttl 0 disables");
    }
}
