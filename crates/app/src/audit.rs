//! The auditor's work on a municipality's log (audit.read): search it, export it, verify its
//! chain. Each is itself an entry: the conditions of a search, the rows it gave, the verdict.
//! (Verifying every chain of the deployment and the retention job are the host operator's,
//! in the command line: they act on the deployment's own chain too.)

use serde_json::json;
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::Permission;
use sesshu_store::{AuditEntry, AuditQuery, AuditVerification, Outcome};

use crate::{Actor, App, AppError};

/// Why the entries are read: shown on a page, or exported to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditUse {
    Search,
    Export,
}

impl App {
    /// The municipality's entries that meet `query`, recorded as `audit.read` (or
    /// `audit.export`) with the conditions and the number of rows.
    pub async fn audit_entries(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        query: &AuditQuery,
        usage: AuditUse,
    ) -> Result<Vec<AuditEntry>, AppError> {
        let function = match usage {
            AuditUse::Search => "audit.read",
            AuditUse::Export => "audit.export",
        };
        self.authorize(actor, tenant, Permission::AuditRead, function)
            .await?;
        let entries = self.store.audit_entries(Some(tenant), query).await?;
        self.record(
            actor,
            function,
            Outcome::Ok,
            vec![],
            vec![],
            json!({
                "person": query.person, "actor": query.actor, "function": query.function,
                "from": query.from, "until": query.until, "limit": query.limit,
                "rows": entries.len(),
            }),
        )
        .await?;
        Ok(entries)
    }

    /// Verifies the municipality's chain (with the key, its signed checkpoints and retention
    /// summaries too); the verdict is recorded, `failed` when the chain is broken.
    pub async fn verify_audit(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<AuditVerification, AppError> {
        self.authorize(actor, tenant, Permission::AuditRead, "audit.verify")
            .await?;
        let v = self
            .store
            .verify_audit_of(Some(&*self.keyring()?), tenant)
            .await?;
        let broken = v.broken.is_some();
        self.record(
            actor,
            "audit.verify",
            if broken { Outcome::Failed } else { Outcome::Ok },
            vec![],
            vec![],
            json!({"entries": v.entries, "broken": v.broken}),
        )
        .await?;
        Ok(v)
    }
}
