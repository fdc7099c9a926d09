//! What a node last read of credentials (apps, Basic-auth keys, Getui tokens), so that
//! while the store cannot be reached it still authenticates the callers it knows and
//! answers them from memory (counts come from the audience index). Every successful
//! read refreshes it; it is consulted only when the store fails. A token is trusted
//! from it only until its expiry: a revocation made elsewhere during the outage cannot
//! be learnt until the store is back.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use roster_core::{App, AppId};

use crate::{Credential, StoreError, StoreResult, TokenGrant};

/// Entries kept per map; beyond it the map starts afresh (a spray of unknown keys
/// cannot grow it without bound).
const CAP: usize = 16_384;

#[derive(Debug, Default)]
pub(crate) struct Known {
    apps: Mutex<HashMap<AppId, Option<App>>>,
    credentials: Mutex<HashMap<String, Option<Credential>>>,
    tokens: Mutex<HashMap<String, Option<TokenGrant>>>,
}

fn remember<K: Eq + Hash, V: Clone>(map: &Mutex<HashMap<K, V>>, key: K, value: &V) {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    if m.len() >= CAP {
        m.clear();
    }
    m.insert(key, value.clone());
}

fn recall<K: Eq + Hash, V: Clone>(map: &Mutex<HashMap<K, V>>, key: &K) -> Option<V> {
    map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(key)
        .cloned()
}

/// `read`'s answer, remembered; when the backend fails, the one remembered, if any.
fn through<K: Eq + Hash + Clone, V: Clone>(
    map: &Mutex<HashMap<K, V>>,
    key: &K,
    read: StoreResult<V>,
    usable: impl FnOnce(&V) -> bool,
) -> StoreResult<V> {
    match read {
        Ok(v) => {
            remember(map, key.clone(), &v);
            Ok(v)
        }
        Err(StoreError::Backend(msg)) => match recall(map, key).filter(usable) {
            Some(v) => {
                tracing::debug!("store unreachable; answering a credential check from memory");
                Ok(v)
            }
            None => Err(StoreError::Backend(msg)),
        },
        Err(e) => Err(e),
    }
}

impl Known {
    pub(crate) fn app(
        &self,
        app: &AppId,
        read: StoreResult<Option<App>>,
    ) -> StoreResult<Option<App>> {
        through(&self.apps, app, read, |_| true)
    }

    pub(crate) fn credential(
        &self,
        key: &str,
        read: StoreResult<Option<Credential>>,
    ) -> StoreResult<Option<Credential>> {
        through(&self.credentials, &key.to_owned(), read, |_| true)
    }

    pub(crate) fn token(
        &self,
        digest: &str,
        now: i64,
        read: StoreResult<Option<TokenGrant>>,
    ) -> StoreResult<Option<TokenGrant>> {
        through(&self.tokens, &digest.to_owned(), read, |g| {
            g.as_ref().is_none_or(|g| g.expires_at > now)
        })
    }

    /// A deleted, renamed or rotated app is forgotten at once: its row and every key
    /// of it (its tokens expire or were deleted with it).
    pub(crate) fn forget_app(&self, app: &AppId) {
        self.apps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(app);
        self.credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, c| c.as_ref().is_none_or(|c| &c.app != app));
    }

    /// A token revoked through this node is forgotten at once.
    pub(crate) fn forget_token(&self, digest: &str) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down<T>() -> StoreResult<T> {
        Err(StoreError::Backend("connection refused".into()))
    }

    #[test]
    fn answers_from_memory_only_when_the_store_fails() {
        let k = Known::default();
        let grant = TokenGrant {
            app: AppId::parse("a1").expect("app"),
            expires_at: 100,
        };
        assert!(k.token("d", 10, down()).is_err(), "nothing known yet");
        assert_eq!(
            k.token("d", 10, Ok(Some(grant.clone()))).ok(),
            Some(Some(grant.clone()))
        );
        assert_eq!(k.token("d", 50, down()).ok(), Some(Some(grant.clone())));
        assert!(k.token("d", 100, down()).is_err(), "not past its expiry");
        // a refusal by the rules is never replaced by memory
        let refused: StoreResult<Option<TokenGrant>> =
            Err(roster_core::Error::NotFound("app".into()).into());
        assert!(k.token("d", 50, refused).is_err());
        // the store's newer answer wins
        assert_eq!(k.token("d", 50, Ok(None)).ok(), Some(None));
        assert_eq!(k.token("d", 60, down()).ok(), Some(None));
        k.forget_token("d");
        assert!(k.token("d", 60, down()).is_err());
    }
}
