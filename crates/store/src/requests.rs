//! 開示・訂正・利用停止の請求 (F13): the register of what persons asked about their own data —
//! received when, by whom (本人 or a representative) and how their identity was confirmed, by
//! when it must be answered (extendable once, with the reason), and the answer. An answered
//! request is never changed again; nothing is deleted.

use sesshu_domain::{AddressNumber, MunicipalityCode};

use crate::columns::Columns;
use crate::notices::take_numbers;
use crate::sql::Value;
use crate::{Store, StoreError, now_utc};

/// A request as it is to be recorded (checked by the application layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub kind: String,
    pub received_on: String,
    pub requester: String,
    pub identity_checked: String,
    pub details: String,
    pub due_on: String,
}

/// A request in the register.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubjectRequest {
    pub request_id: i64,
    pub address_number: String,
    pub kind: String,
    pub received_on: String,
    pub requester: String,
    pub identity_checked: String,
    pub details: String,
    pub due_on: String,
    pub extended_to: Option<String>,
    pub extension_reason: Option<String>,
    pub status: String,
    pub outcome: Option<String>,
    pub answer: Option<String>,
    pub answered_on: Option<String>,
    pub answered_by: Option<String>,
    pub recorded_by: String,
    pub recorded_at: String,
}

impl SubjectRequest {
    /// The day the answer is owed: the extended deadline if there is one.
    pub fn deadline(&self) -> &str {
        self.extended_to.as_deref().unwrap_or(&self.due_on)
    }

    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
}

fn from_row(r: &impl Columns) -> Result<SubjectRequest, StoreError> {
    Ok(SubjectRequest {
        request_id: r.try_get("request_id")?,
        address_number: r.try_get("address_number")?,
        kind: r.try_get("kind")?,
        received_on: r.try_get("received_on")?,
        requester: r.try_get("requester")?,
        identity_checked: r.try_get("identity_checked")?,
        details: r.try_get("details")?,
        due_on: r.try_get("due_on")?,
        extended_to: r.try_get("extended_to")?,
        extension_reason: r.try_get("extension_reason")?,
        status: r.try_get("status")?,
        outcome: r.try_get("outcome")?,
        answer: r.try_get("answer")?,
        answered_on: r.try_get("answered_on")?,
        answered_by: r.try_get("answered_by")?,
        recorded_by: r.try_get("recorded_by")?,
        recorded_at: r.try_get("recorded_at")?,
    })
}

/// How an open request is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    /// `answered` or `withdrawn`.
    pub status: String,
    pub outcome: String,
    pub answer: String,
    pub answered_on: String,
}

impl Store {
    /// Records a request received. Refused for a person not in the register.
    pub async fn receive_request(
        &self,
        tenant: MunicipalityCode,
        address: &AddressNumber,
        new: &NewRequest,
        by: &str,
    ) -> Result<SubjectRequest, StoreError> {
        if self.person(tenant, address).await?.is_none() {
            return Err(StoreError::NotFound(format!("宛名番号 {address} の人")));
        }
        let mut db = self.begin_write().await?;
        let id = take_numbers(&mut db, tenant, "subject_request", 1).await?;
        let id = i64::try_from(id).map_err(|_| StoreError::Corrupt("subject_request".into()))?;
        sqlx::query(
            "INSERT INTO subject_request (municipality_code, request_id, address_number, kind, \
             received_on, requester, identity_checked, details, due_on, status, recorded_by, \
             recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $11)",
        )
        .bind(tenant.as_string())
        .bind(id)
        .bind(address.as_str())
        .bind(&new.kind)
        .bind(&new.received_on)
        .bind(&new.requester)
        .bind(&new.identity_checked)
        .bind(&new.details)
        .bind(&new.due_on)
        .bind(by)
        .bind(now_utc())
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        self.subject_request(tenant, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("subject_request".into()))
    }

    /// Extends an open request's deadline once, with the reason.
    pub async fn extend_request(
        &self,
        tenant: MunicipalityCode,
        request_id: i64,
        to: &str,
        reason: &str,
    ) -> Result<SubjectRequest, StoreError> {
        let changed = sqlx::query(
            "UPDATE subject_request SET extended_to = $1, extension_reason = $2 \
             WHERE municipality_code = $3 AND request_id = $4 AND status = 'open' \
             AND extended_to IS NULL",
        )
        .bind(to)
        .bind(reason)
        .bind(tenant.as_string())
        .bind(request_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        self.changed_or_why(tenant, request_id, changed, "期限は既に延長されています")
            .await
    }

    /// Closes an open request: answered (with the outcome) or withdrawn.
    pub async fn close_request(
        &self,
        tenant: MunicipalityCode,
        request_id: i64,
        closing: &Closing,
        by: &str,
    ) -> Result<SubjectRequest, StoreError> {
        let changed = sqlx::query(
            "UPDATE subject_request SET status = $1, outcome = $2, answer = $3, \
             answered_on = $4, answered_by = $5 \
             WHERE municipality_code = $6 AND request_id = $7 AND status = 'open'",
        )
        .bind(&closing.status)
        .bind(&closing.outcome)
        .bind(&closing.answer)
        .bind(&closing.answered_on)
        .bind(by)
        .bind(tenant.as_string())
        .bind(request_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        self.changed_or_why(tenant, request_id, changed, "請求は既に完了しています")
            .await
    }

    async fn changed_or_why(
        &self,
        tenant: MunicipalityCode,
        request_id: i64,
        changed: u64,
        why: &str,
    ) -> Result<SubjectRequest, StoreError> {
        let current = self
            .subject_request(tenant, request_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("請求 {request_id}")))?;
        if changed == 0 {
            let why = if current.is_open() {
                why
            } else {
                "請求は既に完了しています"
            };
            return Err(StoreError::Invalid(format!("請求 {request_id}: {why}")));
        }
        Ok(current)
    }

    pub async fn subject_request(
        &self,
        tenant: MunicipalityCode,
        request_id: i64,
    ) -> Result<Option<SubjectRequest>, StoreError> {
        self.fetch_optional(
            "SELECT * FROM subject_request WHERE municipality_code = $1 AND request_id = $2",
            &[Value::text(tenant.as_string()), Value::int(request_id)],
            |r| from_row(r),
        )
        .await
    }

    /// The register: the open requests by deadline, then (with `all`) the closed ones, newest
    /// first.
    pub async fn subject_requests(
        &self,
        tenant: MunicipalityCode,
        all: bool,
    ) -> Result<Vec<SubjectRequest>, StoreError> {
        let only_open = if all { "" } else { "AND status = 'open'" };
        self.fetch_all(
            &format!(
                "SELECT * FROM subject_request WHERE municipality_code = $1 {only_open} \
                 ORDER BY CASE WHEN status = 'open' THEN 0 ELSE 1 END, \
                 COALESCE(extended_to, due_on), request_id DESC"
            ),
            &[Value::text(tenant.as_string())],
            |r| from_row(r),
        )
        .await
    }

    /// A person's requests, newest first.
    pub async fn subject_requests_of_person(
        &self,
        tenant: MunicipalityCode,
        address: &str,
    ) -> Result<Vec<SubjectRequest>, StoreError> {
        self.fetch_all(
            "SELECT * FROM subject_request WHERE municipality_code = $1 AND address_number = $2 \
             ORDER BY request_id DESC",
            &[Value::text(tenant.as_string()), Value::text(address)],
            |r| from_row(r),
        )
        .await
    }
}
