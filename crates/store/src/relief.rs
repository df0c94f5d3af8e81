//! 健康被害救済 (F8): relief cases, the documents received for each, and their steps. Which
//! step may follow which, and which documents a benefit needs, is the application's (it is
//! data there); the store keeps the order of what was recorded safe against two clerks at once:
//! a step is written only if the case is still at the status the clerk saw.

use std::collections::BTreeMap;

use sesshu_domain::{AddressNumber, MunicipalityCode};

use crate::columns::Columns;
use crate::notices::take_numbers;
use crate::sql::Value;
use crate::{Store, StoreError, now_utc};

/// A case as received (checked by the application layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReliefCase {
    pub dose_id: Option<i64>,
    pub regime: String,
    pub benefit: String,
    pub harm: String,
    pub onset_on: String,
    pub applicant_relation: String,
    pub applicant_name: String,
    pub received_on: String,
    pub pay_to: String,
    pub account_note: String,
    pub note: String,
}

/// A step as recorded (checked by the application layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReliefStep {
    pub step: String,
    pub done_on: String,
    pub amount_yen: Option<i64>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReliefDocument {
    pub document: String,
    pub received_on: String,
    pub recorded_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReliefStep {
    pub seq: i64,
    pub step: String,
    pub done_on: String,
    pub amount_yen: Option<i64>,
    pub note: String,
    pub done_by: String,
    pub recorded_at: String,
}

/// A case with its documents and its steps, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReliefCase {
    pub case_id: i64,
    pub address_number: String,
    pub dose_id: Option<i64>,
    pub regime: String,
    pub benefit: String,
    pub harm: String,
    pub onset_on: String,
    pub applicant_relation: String,
    pub applicant_name: String,
    pub received_on: String,
    pub pay_to: String,
    pub account_note: String,
    pub status: String,
    pub recorded_by: String,
    pub recorded_at: String,
    pub documents: Vec<ReliefDocument>,
    pub steps: Vec<ReliefStep>,
}

impl ReliefCase {
    /// The last step recorded (a case always has its 受付).
    pub fn last_step(&self) -> Option<&ReliefStep> {
        self.steps.last()
    }

    /// Everything paid so far.
    pub fn paid_yen(&self) -> i64 {
        self.steps
            .iter()
            .filter(|s| s.step == "paid")
            .filter_map(|s| s.amount_yen)
            .sum()
    }
}

fn case_from_row(r: &impl Columns) -> Result<ReliefCase, StoreError> {
    Ok(ReliefCase {
        case_id: r.try_get("case_id")?,
        address_number: r.try_get("address_number")?,
        dose_id: r.try_get("dose_id")?,
        regime: r.try_get("regime")?,
        benefit: r.try_get("benefit")?,
        harm: r.try_get("harm")?,
        onset_on: r.try_get("onset_on")?,
        applicant_relation: r.try_get("applicant_relation")?,
        applicant_name: r.try_get("applicant_name")?,
        received_on: r.try_get("received_on")?,
        pay_to: r.try_get("pay_to")?,
        account_note: r.try_get("account_note")?,
        status: r.try_get("status")?,
        recorded_by: r.try_get("recorded_by")?,
        recorded_at: r.try_get("recorded_at")?,
        documents: Vec::new(),
        steps: Vec::new(),
    })
}

async fn insert_step(
    db: &mut sqlx::Transaction<'static, sqlx::Any>,
    code: &str,
    case_id: i64,
    step: &NewReliefStep,
    by: &str,
) -> Result<(), StoreError> {
    let seq: i64 = sqlx::query(
        "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM relief_step \
         WHERE municipality_code = $1 AND case_id = $2",
    )
    .bind(code)
    .bind(case_id)
    .fetch_one(&mut **db)
    .await?
    .try_get("next")?;
    sqlx::query(
        "INSERT INTO relief_step (municipality_code, case_id, seq, step, done_on, amount_yen, \
         note, done_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(code)
    .bind(case_id)
    .bind(seq)
    .bind(&step.step)
    .bind(&step.done_on)
    .bind(step.amount_yen)
    .bind(&step.note)
    .bind(by)
    .bind(now_utc())
    .execute(&mut **db)
    .await?;
    Ok(())
}

async fn insert_document(
    db: &mut sqlx::Transaction<'static, sqlx::Any>,
    code: &str,
    case_id: i64,
    document: &str,
    received_on: &str,
    by: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO relief_document (municipality_code, case_id, document, received_on, \
         recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(code)
    .bind(case_id)
    .bind(document)
    .bind(received_on)
    .bind(by)
    .bind(now_utc())
    .execute(&mut **db)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Invalid("この書類は既に受け付けています".into())
        }
        _ => e.into(),
    })?;
    Ok(())
}

impl Store {
    /// Opens a case with the documents received with the application and its 受付 step.
    pub async fn receive_relief(
        &self,
        tenant: MunicipalityCode,
        address: &AddressNumber,
        new: &NewReliefCase,
        documents: &[(String, String)],
        by: &str,
    ) -> Result<ReliefCase, StoreError> {
        if self.person(tenant, address).await?.is_none() {
            return Err(StoreError::NotFound(format!("宛名番号 {address} の人")));
        }
        if let Some(d) = new.dose_id {
            let dose = self.dose(tenant, d).await?;
            if dose.is_none_or(|r| r.address_number != address.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "接種記録 {d} は宛名番号 {address} の人の記録ではありません"
                )));
            }
        }
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        let id = take_numbers(&mut db, tenant, "relief_case", 1).await?;
        let case_id = i64::try_from(id).map_err(|_| StoreError::Corrupt("relief_case".into()))?;
        sqlx::query(
            "INSERT INTO relief_case (municipality_code, case_id, address_number, dose_id, \
             regime, benefit, harm, onset_on, applicant_relation, applicant_name, received_on, \
             pay_to, account_note, status, recorded_by, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'received', $14, $15)",
        )
        .bind(&code)
        .bind(case_id)
        .bind(address.as_str())
        .bind(new.dose_id)
        .bind(&new.regime)
        .bind(&new.benefit)
        .bind(&new.harm)
        .bind(&new.onset_on)
        .bind(&new.applicant_relation)
        .bind(&new.applicant_name)
        .bind(&new.received_on)
        .bind(&new.pay_to)
        .bind(&new.account_note)
        .bind(by)
        .bind(now_utc())
        .execute(&mut *db)
        .await?;
        for (document, received_on) in documents {
            insert_document(&mut db, &code, case_id, document, received_on, by).await?;
        }
        let received = NewReliefStep {
            step: "received".into(),
            done_on: new.received_on.clone(),
            amount_yen: None,
            note: new.note.clone(),
        };
        insert_step(&mut db, &code, case_id, &received, by).await?;
        db.commit().await?;
        self.relief_case(tenant, case_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("relief_case".into()))
    }

    /// Notes a document received later. The same document twice is refused.
    pub async fn add_relief_document(
        &self,
        tenant: MunicipalityCode,
        case_id: i64,
        document: &str,
        received_on: &str,
        by: &str,
    ) -> Result<ReliefCase, StoreError> {
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        insert_document(&mut db, &code, case_id, document, received_on, by).await?;
        db.commit().await?;
        self.relief_case(tenant, case_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("救済の案件 {case_id}")))
    }

    /// Appends a step, if the case is still at `seen_status` (else someone recorded another
    /// step in between, and this one is refused for the clerk to look again).
    pub async fn add_relief_step(
        &self,
        tenant: MunicipalityCode,
        case_id: i64,
        seen_status: &str,
        step: &NewReliefStep,
        by: &str,
    ) -> Result<ReliefCase, StoreError> {
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE relief_case SET status = $1 WHERE municipality_code = $2 AND case_id = $3 \
             AND status = $4",
        )
        .bind(&step.step)
        .bind(&code)
        .bind(case_id)
        .bind(seen_status)
        .execute(&mut *db)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Invalid(format!(
                "救済の案件 {case_id} は他の操作で進んでいます: 開き直してください"
            )));
        }
        insert_step(&mut db, &code, case_id, step, by).await?;
        db.commit().await?;
        self.relief_case(tenant, case_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("relief_case".into()))
    }

    pub async fn relief_case(
        &self,
        tenant: MunicipalityCode,
        case_id: i64,
    ) -> Result<Option<ReliefCase>, StoreError> {
        let mut cases = self
            .relief_cases_where(tenant, Some(("case_id", Value::Int(Some(case_id)))))
            .await?;
        Ok(cases.pop())
    }

    /// Every case of the municipality, newest first.
    pub async fn relief_cases(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<Vec<ReliefCase>, StoreError> {
        self.relief_cases_where(tenant, None).await
    }

    pub async fn relief_cases_of_person(
        &self,
        tenant: MunicipalityCode,
        address: &str,
    ) -> Result<Vec<ReliefCase>, StoreError> {
        self.relief_cases_where(tenant, Some(("address_number", Value::text(address))))
            .await
    }

    /// The cases whose `column` (a name of this module's, never input) equals the value, or
    /// all, each with its documents and steps: three reads, whatever the number of cases.
    async fn relief_cases_where(
        &self,
        tenant: MunicipalityCode,
        only: Option<(&'static str, Value)>,
    ) -> Result<Vec<ReliefCase>, StoreError> {
        let mut params = vec![Value::text(tenant.as_string())];
        let column = only.as_ref().map(|(c, _)| *c);
        params.extend(only.map(|(_, v)| v));
        let filter = column.map_or(String::new(), |c| format!("AND {c} = $2"));
        let mut cases = self
            .fetch_all(
                &format!(
                    "SELECT * FROM relief_case WHERE municipality_code = $1 {filter} \
                     ORDER BY case_id DESC"
                ),
                &params,
                |r| case_from_row(r),
            )
            .await?;
        let ids = |table: &str| {
            format!(
                "SELECT t.* FROM {table} t JOIN relief_case c ON c.municipality_code = \
                 t.municipality_code AND c.case_id = t.case_id WHERE c.municipality_code = $1 {}",
                column.map_or(String::new(), |c| format!("AND c.{c} = $2"))
            )
        };
        let mut documents: BTreeMap<i64, Vec<ReliefDocument>> = BTreeMap::new();
        for (id, d) in self
            .fetch_all(
                &format!(
                    "{} ORDER BY t.received_on, t.document",
                    ids("relief_document")
                ),
                &params,
                |r| {
                    Ok((
                        r.try_get::<i64>("case_id")?,
                        ReliefDocument {
                            document: r.try_get("document")?,
                            received_on: r.try_get("received_on")?,
                            recorded_by: r.try_get("recorded_by")?,
                        },
                    ))
                },
            )
            .await?
        {
            documents.entry(id).or_default().push(d);
        }
        let mut steps: BTreeMap<i64, Vec<ReliefStep>> = BTreeMap::new();
        for (id, s) in self
            .fetch_all(
                &format!("{} ORDER BY t.seq", ids("relief_step")),
                &params,
                |r| {
                    Ok((
                        r.try_get::<i64>("case_id")?,
                        ReliefStep {
                            seq: r.try_get("seq")?,
                            step: r.try_get("step")?,
                            done_on: r.try_get("done_on")?,
                            amount_yen: r.try_get("amount_yen")?,
                            note: r.try_get("note")?,
                            done_by: r.try_get("done_by")?,
                            recorded_at: r.try_get("recorded_at")?,
                        },
                    ))
                },
            )
            .await?
        {
            steps.entry(id).or_default().push(s);
        }
        for c in &mut cases {
            c.documents = documents.remove(&c.case_id).unwrap_or_default();
            c.steps = steps.remove(&c.case_id).unwrap_or_default();
        }
        Ok(cases)
    }
}
