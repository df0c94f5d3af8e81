//! JSON views of register data, shared by the API and `sesshu person show --json`. The My Number
//! appears only masked.

use serde::Serialize;
use sesshu_domain::{Guardian, Person, age_on, format_wareki};
use sesshu_store::{HistoryEntry, ImportRun, PersonRow, PersonSummary};

#[derive(Debug, Serialize)]
pub struct PersonView {
    pub address_number: String,
    pub integrated_address_number: Option<String>,
    /// `********1234` at most.
    pub my_number: Option<String>,
    pub household_number: Option<String>,
    pub relationship: Option<String>,
    pub name: String,
    pub kana: String,
    pub birth_date: String,
    pub birth_date_wareki: String,
    pub age: Option<u32>,
    pub sex: &'static str,
    pub postal_code: Option<String>,
    pub address: Option<String>,
    pub address_detail: Option<String>,
    pub district_code: Option<String>,
    pub school_district: Option<String>,
    pub phone: Option<String>,
    pub resident_status: &'static str,
    pub change_reason: Option<&'static str>,
    pub changed_on: Option<String>,
    pub notified_on: Option<String>,
    pub previous_address: Option<String>,
    pub next_address: Option<String>,
    pub protected: bool,
}

impl PersonView {
    pub fn new(
        p: &Person,
        masked_my_number: Option<String>,
        today: sesshu_domain::CivilDate,
    ) -> Self {
        Self {
            address_number: p.address_number.to_string(),
            integrated_address_number: p
                .integrated_address_number
                .as_ref()
                .map(ToString::to_string),
            my_number: masked_my_number,
            household_number: p.household_number.as_ref().map(ToString::to_string),
            relationship: p.relationship.clone(),
            name: p.name.to_string(),
            kana: p.kana.to_string(),
            birth_date: p.birth_date.to_string(),
            birth_date_wareki: format_wareki(p.birth_date),
            age: age_on(p.birth_date, today),
            sex: p.sex.label(),
            postal_code: p.postal_code.as_ref().map(ToString::to_string),
            address: p.address.clone(),
            address_detail: p.address_detail.clone(),
            district_code: p.district_code.clone(),
            school_district: p.school_district.clone(),
            phone: p.phone.clone(),
            resident_status: p.status.label(),
            change_reason: p.change_reason.map(|r| r.label()),
            changed_on: p.changed_on.map(|d| d.to_string()),
            notified_on: p.notified_on.map(|d| d.to_string()),
            previous_address: p.previous_address.clone(),
            next_address: p.next_address.clone(),
            protected: p.protected,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct GuardianView {
    pub address_number: String,
    pub name: String,
    pub relationship: String,
}

impl From<&Guardian> for GuardianView {
    fn from(g: &Guardian) -> Self {
        Self {
            address_number: g.address_number.to_string(),
            name: g.name.to_string(),
            relationship: g.relationship.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct HistoryView {
    pub version: i64,
    pub recorded_at: String,
    pub superseded_at: String,
    pub superseded_by_import: Option<String>,
    pub person: PersonView,
}

/// A person with everything the register knows around them.
#[derive(Debug, Serialize)]
pub struct PersonDetail {
    pub municipality: String,
    pub version: i64,
    pub updated_at: String,
    pub person: PersonView,
    pub guardians: Vec<GuardianView>,
    /// Superseded versions, newest first.
    pub history: Vec<HistoryView>,
}

impl PersonDetail {
    pub fn new(
        row: &PersonRow,
        masked_my_number: Option<String>,
        guardians: &[Guardian],
        history: &[HistoryEntry],
        today: sesshu_domain::CivilDate,
    ) -> Self {
        Self {
            municipality: row.municipality.to_string(),
            version: row.version,
            updated_at: row.updated_at.clone(),
            person: PersonView::new(&row.person, masked_my_number, today),
            guardians: guardians.iter().map(GuardianView::from).collect(),
            history: history
                .iter()
                .map(|h| HistoryView {
                    version: h.version,
                    recorded_at: h.recorded_at.clone(),
                    superseded_at: h.superseded_at.clone(),
                    superseded_by_import: h.superseded_by_import.clone(),
                    person: PersonView::new(&h.person, None, today),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PersonSummaryView {
    pub address_number: String,
    pub name: String,
    pub kana: String,
    pub birth_date: String,
    pub sex: &'static str,
    pub resident_status: &'static str,
    /// Absent for protected persons.
    pub address: Option<String>,
    pub protected: bool,
}

impl From<&PersonSummary> for PersonSummaryView {
    fn from(s: &PersonSummary) -> Self {
        Self {
            address_number: s.address_number.to_string(),
            name: s.name.to_string(),
            kana: s.kana.to_string(),
            birth_date: s.birth_date.to_string(),
            sex: s.sex.label(),
            resident_status: s.status.label(),
            address: s.address.clone(),
            protected: s.protected,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ImportRunView {
    pub import_id: String,
    pub kind: String,
    pub file_name: String,
    pub file_sha256: String,
    pub mode: String,
    pub status: String,
    pub message: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub total_rows: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub missing: i64,
    pub operator: String,
}

impl From<&ImportRun> for ImportRunView {
    fn from(r: &ImportRun) -> Self {
        Self {
            import_id: r.import_id.clone(),
            kind: r.kind.clone(),
            file_name: r.file_name.clone(),
            file_sha256: r.file_sha256.clone(),
            mode: r.mode.clone(),
            status: r.status.clone(),
            message: r.message.clone(),
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            total_rows: r.total_rows,
            inserted: r.inserted,
            updated: r.updated,
            unchanged: r.unchanged,
            rejected: r.rejected,
            missing: r.missing,
            operator: r.operator.clone(),
        }
    }
}

/// Loads a person with guardians (inferred from the household) and history.
pub async fn person_detail(
    store: &sesshu_store::Store,
    crypto: &sesshu_crypto::TenantCrypto,
    tenant: sesshu_domain::MunicipalityCode,
    address_number: &sesshu_domain::AddressNumber,
    today: sesshu_domain::CivilDate,
) -> Result<Option<PersonDetail>, sesshu_store::StoreError> {
    let Some(row) = store.person(tenant, address_number).await? else {
        return Ok(None);
    };
    let masked = row.open_my_number(crypto)?.map(|n| n.masked());
    let guardians = match &row.person.household_number {
        Some(h) => {
            sesshu_domain::infer_guardians(&row.person, &store.household(tenant, h).await?, today)
        }
        None => Vec::new(),
    };
    let history = store.person_history(tenant, address_number).await?;
    Ok(Some(PersonDetail::new(
        &row, masked, &guardians, &history, today,
    )))
}
