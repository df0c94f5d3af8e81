//! What every request handler is given: the application layer and what only the web needs
//! (the login throttle, the idle period, the pages' memory), and where the request came from.

use std::sync::Arc;

use sesshu_app::App;
use sesshu_crypto::{Keyring, TenantCrypto};
use sesshu_domain::MunicipalityCode;
use sesshu_schedule::Engine;
use sesshu_store::{Store, StoreError};

#[derive(Clone)]
pub struct AppState {
    /// The operations, the store, the keys and the rules: what the pages and the API call.
    pub app: App,
    /// Require the second factor of every account, not only of administrators and My Number
    /// users (`SESSHU_REQUIRE_TOTP=all`).
    pub totp_for_all: bool,
    pub throttle: Arc<crate::session::Throttle>,
    /// The automatic logout: a session unused this long ends (default 15 minutes,
    /// `SESSHU_IDLE_SECONDS`).
    pub idle: chrono::Duration,
    /// What the staff pages keep between requests (pending enrolments, remembered lots).
    pub pages: Arc<crate::pages::Memory>,
}

impl AppState {
    pub fn new(store: Store, keyring: Arc<Keyring>, engine: Arc<Engine>) -> Self {
        Self::from_app(App::with_keyring(
            store,
            Arc::unwrap_or_clone(keyring),
            engine,
        ))
    }

    pub fn from_app(app: App) -> Self {
        Self {
            app,
            totp_for_all: false,
            throttle: Default::default(),
            idle: chrono::Duration::minutes(sesshu_store::IDLE_MINUTES),
            pages: Default::default(),
        }
    }

    /// The keyring as the key file holds it now.
    pub fn keyring(&self) -> Result<Arc<Keyring>, StoreError> {
        Ok(self.app.keys.get()?)
    }

    /// The municipality's My Number keys under the keyring as it is now.
    pub fn crypto(&self, tenant: MunicipalityCode) -> Result<TenantCrypto, StoreError> {
        Ok(TenantCrypto::derive(&*self.keyring()?, tenant)?)
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// Where a request came from (the client's address), for the audit log.
#[derive(Debug, Clone)]
pub(crate) struct Source(pub String);

pub(crate) fn source_of(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<Source>()
        .map(|s| s.0.clone())
        .unwrap_or_else(|| "local".into())
}
