//! Whose clusters a request sees: the account its access key signs for. Real EKS learns it from
//! the credentials themselves; the double is told (an exact key, or a test on keys) or asks a
//! resolver, such as moto's STS, which knows the account of every temporary key it handed out.
//!
//! Order: exact mappings, then tests on keys in the order they were added, then the resolver
//! (its answers cached per key), then [`EksOptions::account`](super::EksOptions::account). A
//! mapping added after a key was resolved still wins over the cached answer.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::OnceCell;

/// A test on access key ids ([`EksDouble::map_access_keys`](super::EksDouble::map_access_keys)).
pub(super) type KeyTest = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// The account of an access key no mapping names, or `None` if the resolver does not know it.
pub(super) type Resolver =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Option<String>> + Send>> + Send + Sync>;

/// One key's resolution: filled once by the first request that needs it, awaited by the
/// requests that arrive meanwhile.
type Resolution = Arc<OnceCell<Option<String>>>;

/// Which access keys sign for which account.
#[derive(Default)]
pub(super) struct Keys {
    exact: HashMap<String, String>,
    tests: Vec<(KeyTest, String)>,
    resolver: Option<Resolver>,
    resolved: HashMap<String, Resolution>,
}

/// What [`Keys::lookup`] found; resolving happens outside the double's lock.
pub(super) enum Lookup {
    Mapped(String),
    Resolve {
        key: String,
        resolver: Resolver,
        resolution: Resolution,
    },
    Unknown,
}

impl Keys {
    pub(super) fn map(&mut self, access_key_id: &str, account: &str) {
        self.exact
            .insert(access_key_id.to_owned(), account.to_owned());
    }

    pub(super) fn map_matching(&mut self, test: KeyTest, account: &str) {
        self.tests.push((test, account.to_owned()));
    }

    /// Replaces the resolver and forgets what the old one answered.
    pub(super) fn resolve_with(&mut self, resolver: Resolver) {
        self.resolver = Some(resolver);
        self.resolved.clear();
    }

    pub(super) fn lookup(&mut self, access_key_id: &str) -> Lookup {
        if let Some(account) = self.exact.get(access_key_id) {
            return Lookup::Mapped(account.clone());
        }
        if let Some((_, account)) = self.tests.iter().find(|(test, _)| test(access_key_id)) {
            return Lookup::Mapped(account.clone());
        }
        let Some(resolver) = &self.resolver else {
            return Lookup::Unknown;
        };
        Lookup::Resolve {
            key: access_key_id.to_owned(),
            resolver: Arc::clone(resolver),
            resolution: Arc::clone(self.resolved.entry(access_key_id.to_owned()).or_default()),
        }
    }
}

impl Lookup {
    /// The account, asking the resolver if this key has not been resolved yet; `None`: the
    /// default account.
    pub(super) async fn account(self) -> Option<String> {
        match self {
            Lookup::Mapped(account) => Some(account),
            Lookup::Resolve {
                key,
                resolver,
                resolution,
            } => resolution.get_or_init(|| resolver(key)).await.clone(),
            Lookup::Unknown => None,
        }
    }
}
