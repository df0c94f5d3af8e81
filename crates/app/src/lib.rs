//! The application layer: one function per staff operation, written once and called by every
//! interface (the command line, the staff pages, the JSON API).
//!
//! An operation takes who acts ([`Actor`]), the municipality and a typed request; it checks the
//! permission ([`App::authorize`], a refusal audited), does the work through the store, writes
//! the audit entry and returns a typed result. Adapters parse, call and render; the store keeps
//! persistence (SQL, rows, transactions) and decides nothing.

pub mod accounts;
pub mod actor;
pub mod assessment;
pub mod audit;
pub mod certificates;
pub mod clinics;
mod clock;
pub mod doses;
mod error;
pub mod exemption;
pub mod extraction;
pub mod flagged;
pub mod imports;
pub mod jobs;
pub mod links;
pub mod mail;
pub mod notices;
pub mod payments;
pub mod persons;
pub mod printing;
mod recall;
pub mod relief;
pub mod reminders;
pub mod requests;
pub mod retention;
pub mod schedule;
pub mod settings;
pub mod spreadsheet;
pub mod statistics;
pub mod tokens;
pub mod view;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sesshu_crypto::{Keyring, KeyringSource, TenantCrypto};
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::Permission;
use sesshu_schedule::Engine;
use sesshu_store::{Outcome, Store};

pub use actor::Actor;
pub use clock::today_in_japan;
pub use error::AppError;
pub use printing::Printing;
pub use settings::{DocumentsConfig, MailConfig, RetentionConfig};

/// What every operation works with: the register, the keys, the rules and the documents'
/// settings. Cheap to clone; one per process.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    /// The key file as it is now: `keys rotate` and `keys retire` reach a running server.
    pub keys: Arc<KeyringSource>,
    pub engine: Arc<Engine>,
    pub documents: Arc<DocumentsConfig>,
    certificate_keys: Option<Arc<KeyringSource>>,
    output_dir: PathBuf,
    /// Names this process in the jobs it runs, so a restart finds what it left running.
    pub runner: Arc<str>,
    /// Fonts and templates, loaded once per municipality.
    printing: Arc<Mutex<HashMap<MunicipalityCode, Printing>>>,
    /// Recent clinic checks that found nobody, per account (`clinics.rs`).
    clinic_misses: Arc<clinics::Misses>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("output_dir", &self.output_dir)
            .finish_non_exhaustive()
    }
}

impl App {
    pub fn new(store: Store, keys: KeyringSource, engine: Arc<Engine>) -> Self {
        Self {
            store,
            keys: Arc::new(keys),
            engine,
            documents: Arc::new(DocumentsConfig::default()),
            certificate_keys: None,
            output_dir: PathBuf::from("sesshu-data/documents"),
            runner: actor::host_name().unwrap_or_else(|| "local".into()).into(),
            printing: Arc::default(),
            clinic_misses: Arc::default(),
        }
    }

    /// With a fixed keyring (tests, the demo, `SESSHU_KEY`).
    pub fn with_keyring(store: Store, keyring: Keyring, engine: Arc<Engine>) -> Self {
        Self::new(store, KeyringSource::fixed(keyring), engine)
    }

    pub fn with_documents(mut self, documents: DocumentsConfig) -> Self {
        if let Some(dir) = &documents.output_dir {
            self.output_dir = dir.clone();
        }
        self.documents = Arc::new(documents);
        self.printing = Arc::default();
        self
    }

    pub fn with_certificate_keys(mut self, keys: KeyringSource) -> Self {
        self.certificate_keys = Some(Arc::new(keys));
        self
    }

    /// Where the server writes what it prints, unless the documents' settings name a place.
    pub fn with_output_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        if self.documents.output_dir.is_none() {
            self.output_dir = dir.into();
        }
        self
    }

    pub fn with_runner(mut self, runner: &str) -> Self {
        self.runner = runner.into();
        self
    }

    /// The directory a municipality's printed files go under.
    pub fn output_dir(&self, tenant: MunicipalityCode) -> PathBuf {
        self.output_dir.join(tenant.as_string())
    }

    /// The keyring as the key file holds it now.
    pub fn keyring(&self) -> Result<Arc<Keyring>, AppError> {
        Ok(self.keys.get()?)
    }

    /// The municipality's My Number keys under the keyring as it is now.
    pub fn crypto(&self, tenant: MunicipalityCode) -> Result<TenantCrypto, AppError> {
        Ok(TenantCrypto::derive(&*self.keyring()?, tenant)?)
    }

    pub(crate) fn certificate_keyring(&self) -> Result<Arc<Keyring>, AppError> {
        match &self.certificate_keys {
            Some(k) => Ok(k.get()?),
            None => Err(AppError::NoCertificateKey),
        }
    }

    /// The municipality's typesetter and sender block.
    pub async fn printing(&self, tenant: MunicipalityCode) -> Result<Printing, AppError> {
        if let Some(p) = self
            .printing
            .lock()
            .ok()
            .and_then(|m| m.get(&tenant).cloned())
        {
            return Ok(p);
        }
        let p = Printing::load(&self.documents, &self.store, tenant).await?;
        if let Ok(mut m) = self.printing.lock() {
            m.insert(tenant, p.clone());
        }
        Ok(p)
    }

    /// The actor may act in `tenant` with `needed`. Another municipality is simply not there
    /// (not found, whatever exists); a missing permission is refused. Both are audited.
    pub async fn authorize(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        needed: Permission,
        function: &str,
    ) -> Result<(), AppError> {
        self.authorize_for(actor, tenant, needed, function, serde_json::Value::Null)
            .await
    }

    /// [`App::authorize`] for an operation on one thing (a person, a dose, a run, an account):
    /// a refusal's entry names what was asked for, so that an auditor reading a refusal —
    /// above all one reaching into another municipality — sees what was sought, not only where.
    pub async fn authorize_for(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        needed: Permission,
        function: &str,
        asked: serde_json::Value,
    ) -> Result<(), AppError> {
        let refused = |mut detail: serde_json::Value| {
            if !asked.is_null() {
                detail["asked"] = asked.clone();
            }
            detail
        };
        if actor.tenant != Some(tenant) {
            let detail = refused(serde_json::json!({"reason": "other municipality",
                                                    "municipality": tenant.as_string()}));
            self.record(actor, function, Outcome::Refused, vec![], vec![], detail)
                .await?;
            return Err(AppError::NotFound(format!("団体 {}", tenant.as_string())));
        }
        if !actor.can(needed) {
            let detail =
                refused(serde_json::json!({"reason": "permission", "needed": needed.code()}));
            self.record(actor, function, Outcome::Refused, vec![], vec![], detail)
                .await?;
            return Err(AppError::Forbidden(needed));
        }
        Ok(())
    }

    /// The audit entry of what the actor did, in the actor's municipality's chain.
    pub async fn record(
        &self,
        actor: &Actor,
        function: &str,
        outcome: Outcome,
        acted: Vec<String>,
        shown: Vec<String>,
        detail: serde_json::Value,
    ) -> Result<(), AppError> {
        self.store
            .audit(
                actor.tenant,
                actor.event(function, outcome, acted, shown, detail),
            )
            .await?;
        Ok(())
    }

    /// The entry of a change to one person's records, done or refused: the person is named as
    /// acted on either way, so a search of the log by person finds the refusal too.
    pub(crate) async fn recorded_for_person<T>(
        &self,
        actor: &Actor,
        function: &str,
        person: &str,
        result: Result<T, sesshu_store::StoreError>,
        detail: impl FnOnce(&T) -> serde_json::Value,
    ) -> Result<T, AppError> {
        self.recorded_for_persons(actor, function, vec![person.to_owned()], result, detail)
            .await
    }

    /// As [`Self::recorded_for_person`], for a change that acts on several persons (a link
    /// names both records, a purge every person it deleted).
    pub(crate) async fn recorded_for_persons<T>(
        &self,
        actor: &Actor,
        function: &str,
        persons: Vec<String>,
        result: Result<T, sesshu_store::StoreError>,
        detail: impl FnOnce(&T) -> serde_json::Value,
    ) -> Result<T, AppError> {
        let (outcome, detail) = match &result {
            Ok(done) => (Outcome::Ok, detail(done)),
            Err(e) => (
                Outcome::Refused,
                serde_json::json!({"refused": e.to_string()}),
            ),
        };
        self.record(actor, function, outcome, persons, vec![], detail)
            .await?;
        Ok(result?)
    }
}
