//! Clinic payments (委託料, F10): unit prices with their validity, the institutions' and the
//! city's accounts, and payment runs with the doses each pays. A dose is in at most one item,
//! ever (the item's key is the dose), so two runs — even prepared at the same moment — cannot
//! pay it twice; a cancelled run gives its doses back.

use sesshu_domain::MunicipalityCode;
use sqlx::Row;

use crate::notices::same_operator;
use crate::sql::Params;
use crate::{Store, StoreError, now_utc, random_hex};

/// A unit price as stored. `dose` is `*`, a 回数, or `screening` (予診のみ).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Price {
    pub product: String,
    pub dose: String,
    pub valid_from: String,
    pub valid_to: Option<String>,
    pub unit_yen: i64,
    /// 自己負担額: what the person pays the clinic (B類), unless exempt.
    pub self_pay_yen: Option<i64>,
    pub recorded_at: String,
    pub recorded_by: String,
}

/// A bank account in the bank's characters, as validated by the Zengin writer's types.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BankAccount {
    pub bank_code: String,
    pub bank_name_kana: String,
    pub branch_code: String,
    pub branch_name_kana: String,
    pub account_type: String,
    pub account_number: String,
}

/// A contracted institution and where it is paid.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PaymentInstitution {
    pub code: String,
    pub name: String,
    pub payee_kana: String,
    pub account: BankAccount,
    pub recorded_at: String,
    pub recorded_by: String,
}

/// 振込依頼人: the city's account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PaymentRequester {
    pub requester_code: String,
    pub name_kana: String,
    pub account: BankAccount,
    pub recorded_at: String,
    pub recorded_by: String,
}

/// Where a payment run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    AwaitingApproval,
    Approved,
    /// The transfer file was made: the run can no longer be cancelled.
    Written,
    Cancelled,
}

impl PaymentStatus {
    pub fn code(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "awaiting_approval",
            Self::Approved => "approved",
            Self::Written => "written",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "承認待ち",
            Self::Approved => "承認済み",
            Self::Written => "振込データ作成済み",
            Self::Cancelled => "取消",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        [
            Self::AwaitingApproval,
            Self::Approved,
            Self::Written,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|x| x.code() == s)
        .ok_or_else(|| StoreError::Corrupt(format!("payment_run.status {s}")))
    }
}

/// A payment run: one billing month's doses, its total, and who prepared, approved and wrote it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PaymentRun {
    pub run_id: String,
    pub billing_month: String,
    pub transfer_date: String,
    pub status: PaymentStatus,
    pub doses: i64,
    pub total_yen: i64,
    pub created_at: String,
    pub created_by: String,
    pub approved_at: Option<String>,
    pub approved_by: Option<String>,
    pub written_at: Option<String>,
    pub written_by: Option<String>,
    pub file_sha256: Option<String>,
}

/// A dose of a billing month, with the run that paid it, if one did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillableDose {
    pub dose_id: i64,
    pub address_number: String,
    pub product: String,
    pub ordinal: u32,
    pub given_on: String,
    pub judgement: String,
    pub institution_code: Option<String>,
    pub routine: Option<bool>,
    pub given_elsewhere: bool,
    pub paid_in: Option<String>,
    pub paid_yen: Option<i64>,
    /// The person holds a 実費徴収 exemption in force on the day of the dose.
    pub exempt: bool,
}

/// A dose a run pays, at a unit price, to an institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentItem {
    pub dose_id: i64,
    pub institution_code: String,
    pub unit_yen: i64,
    /// Paid the whole price: the person was exempt from the self-payment.
    pub exempt: bool,
}

fn account(r: &sqlx::any::AnyRow) -> Result<BankAccount, StoreError> {
    Ok(BankAccount {
        bank_code: r.try_get("bank_code")?,
        bank_name_kana: r.try_get("bank_name_kana")?,
        branch_code: r.try_get("branch_code")?,
        branch_name_kana: r.try_get("branch_name_kana")?,
        account_type: r.try_get("account_type")?,
        account_number: r.try_get("account_number")?,
    })
}

fn run(r: &sqlx::any::AnyRow) -> Result<PaymentRun, StoreError> {
    Ok(PaymentRun {
        run_id: r.try_get("run_id")?,
        billing_month: r.try_get("billing_month")?,
        transfer_date: r.try_get("transfer_date")?,
        status: PaymentStatus::parse(&r.try_get::<String, _>("status")?)?,
        doses: r.try_get("doses")?,
        total_yen: r.try_get("total_yen")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        approved_at: r.try_get("approved_at")?,
        approved_by: r.try_get("approved_by")?,
        written_at: r.try_get("written_at")?,
        written_by: r.try_get("written_by")?,
        file_sha256: r.try_get("file_sha256")?,
    })
}

/// A dose and its payment (`d` the dose, `p` the payment item), as [`billable`] reads them.
const BILLABLE_COLUMNS: &str = "d.dose_id, d.address_number, d.product, d.ordinal, d.given_on, \
    d.judgement, d.institution_code, d.routine, d.given_elsewhere, p.run_id, p.unit_yen, \
    CASE WHEN EXISTS (SELECT 1 FROM cost_exemption e WHERE e.municipality_code = d.municipality_code \
      AND e.address_number = d.address_number AND e.decision = 'exempt' AND e.revoked_at IS NULL \
      AND e.valid_from <= d.given_on AND e.valid_to >= d.given_on) THEN 1 ELSE 0 END AS exempt_now";

fn billable(r: &sqlx::any::AnyRow) -> Result<BillableDose, StoreError> {
    Ok(BillableDose {
        dose_id: r.try_get("dose_id")?,
        address_number: r.try_get("address_number")?,
        product: r.try_get("product")?,
        ordinal: u32::try_from(r.try_get::<i64, _>("ordinal")?)
            .map_err(|_| StoreError::Corrupt("dose.ordinal".into()))?,
        given_on: r.try_get("given_on")?,
        judgement: r.try_get("judgement")?,
        institution_code: r.try_get("institution_code")?,
        routine: r.try_get::<Option<i64>, _>("routine")?.map(|v| v != 0),
        given_elsewhere: r.try_get::<i64, _>("given_elsewhere")? != 0,
        paid_in: r.try_get("run_id")?,
        paid_yen: r.try_get("unit_yen")?,
        exempt: r.try_get::<i64, _>("exempt_now")? != 0,
    })
}

const RUN_COLUMNS: &str = "run_id, billing_month, transfer_date, status, doses, total_yen, \
    created_at, created_by, approved_at, approved_by, written_at, written_by, file_sha256";

impl Store {
    pub async fn prices(&self, tenant: MunicipalityCode) -> Result<Vec<Price>, StoreError> {
        let rows = sqlx::query(
            "SELECT product, dose, valid_from, valid_to, unit_yen, self_pay_yen, recorded_at, \
             recorded_by \
             FROM payment_price WHERE municipality_code = $1 ORDER BY product, dose, valid_from",
        )
        .bind(tenant.as_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Price {
                    product: r.try_get("product")?,
                    dose: r.try_get("dose")?,
                    valid_from: r.try_get("valid_from")?,
                    valid_to: r.try_get("valid_to")?,
                    unit_yen: r.try_get("unit_yen")?,
                    self_pay_yen: r.try_get("self_pay_yen")?,
                    recorded_at: r.try_get("recorded_at")?,
                    recorded_by: r.try_get("recorded_by")?,
                })
            })
            .collect()
    }

    /// Records prices in one transaction; a price of the same product, dose and start replaces
    /// the one recorded (the audit log keeps what it was).
    pub async fn put_prices(
        &self,
        tenant: MunicipalityCode,
        prices: &[Price],
        by: &str,
    ) -> Result<(), StoreError> {
        let code = tenant.as_string();
        let now = now_utc();
        let mut db = self.begin_write().await?;
        for p in prices {
            sqlx::query(
                "DELETE FROM payment_price WHERE municipality_code = $1 AND product = $2 \
                 AND dose = $3 AND valid_from = $4",
            )
            .bind(&code)
            .bind(&p.product)
            .bind(&p.dose)
            .bind(&p.valid_from)
            .execute(&mut *db)
            .await?;
            sqlx::query(
                "INSERT INTO payment_price (municipality_code, product, dose, valid_from, valid_to, \
                 unit_yen, self_pay_yen, recorded_at, recorded_by) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            )
            .bind(&code)
            .bind(&p.product)
            .bind(&p.dose)
            .bind(&p.valid_from)
            .bind(&p.valid_to)
            .bind(p.unit_yen)
            .bind(p.self_pay_yen)
            .bind(&now)
            .bind(by)
            .execute(&mut *db)
            .await?;
        }
        db.commit().await?;
        Ok(())
    }

    pub async fn payment_institutions(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<Vec<PaymentInstitution>, StoreError> {
        let rows = sqlx::query(
            "SELECT institution_code, name, payee_kana, bank_code, bank_name_kana, branch_code, \
             branch_name_kana, account_type, account_number, recorded_at, recorded_by \
             FROM payment_institution WHERE municipality_code = $1 ORDER BY institution_code",
        )
        .bind(tenant.as_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PaymentInstitution {
                    code: r.try_get("institution_code")?,
                    name: r.try_get("name")?,
                    payee_kana: r.try_get("payee_kana")?,
                    account: account(r)?,
                    recorded_at: r.try_get("recorded_at")?,
                    recorded_by: r.try_get("recorded_by")?,
                })
            })
            .collect()
    }

    /// Records institutions in one transaction, each replacing its earlier account.
    pub async fn put_payment_institutions(
        &self,
        tenant: MunicipalityCode,
        institutions: &[PaymentInstitution],
        by: &str,
    ) -> Result<(), StoreError> {
        let code = tenant.as_string();
        let now = now_utc();
        let mut db = self.begin_write().await?;
        for i in institutions {
            sqlx::query(
                "DELETE FROM payment_institution WHERE municipality_code = $1 AND institution_code = $2",
            )
            .bind(&code)
            .bind(&i.code)
            .execute(&mut *db)
            .await?;
            let a = &i.account;
            sqlx::query(
                "INSERT INTO payment_institution (municipality_code, institution_code, name, \
                 payee_kana, bank_code, bank_name_kana, branch_code, branch_name_kana, account_type, \
                 account_number, recorded_at, recorded_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
            )
            .bind(&code)
            .bind(&i.code)
            .bind(&i.name)
            .bind(&i.payee_kana)
            .bind(&a.bank_code)
            .bind(&a.bank_name_kana)
            .bind(&a.branch_code)
            .bind(&a.branch_name_kana)
            .bind(&a.account_type)
            .bind(&a.account_number)
            .bind(&now)
            .bind(by)
            .execute(&mut *db)
            .await?;
        }
        db.commit().await?;
        Ok(())
    }

    pub async fn payment_requester(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<Option<PaymentRequester>, StoreError> {
        let row = sqlx::query(
            "SELECT requester_code, name_kana, bank_code, bank_name_kana, branch_code, \
             branch_name_kana, account_type, account_number, recorded_at, recorded_by \
             FROM payment_requester WHERE municipality_code = $1",
        )
        .bind(tenant.as_string())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(PaymentRequester {
                requester_code: r.try_get("requester_code")?,
                name_kana: r.try_get("name_kana")?,
                account: account(&r)?,
                recorded_at: r.try_get("recorded_at")?,
                recorded_by: r.try_get("recorded_by")?,
            })
        })
        .transpose()
    }

    pub async fn put_payment_requester(
        &self,
        tenant: MunicipalityCode,
        requester_code: &str,
        name_kana: &str,
        a: &BankAccount,
        by: &str,
    ) -> Result<(), StoreError> {
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        sqlx::query("DELETE FROM payment_requester WHERE municipality_code = $1")
            .bind(&code)
            .execute(&mut *db)
            .await?;
        sqlx::query(
            "INSERT INTO payment_requester (municipality_code, requester_code, name_kana, bank_code, \
             bank_name_kana, branch_code, branch_name_kana, account_type, account_number, \
             recorded_at, recorded_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        )
        .bind(&code)
        .bind(requester_code)
        .bind(name_kana)
        .bind(&a.bank_code)
        .bind(&a.bank_name_kana)
        .bind(&a.branch_code)
        .bind(&a.branch_name_kana)
        .bind(&a.account_type)
        .bind(&a.account_number)
        .bind(now_utc())
        .bind(by)
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        Ok(())
    }

    /// Every dose (not deleted) billed in `billing_month` (`YYYYMM`), with its payment if any.
    pub async fn billing_month_doses(
        &self,
        tenant: MunicipalityCode,
        billing_month: &str,
    ) -> Result<Vec<BillableDose>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BILLABLE_COLUMNS} FROM dose d LEFT JOIN payment_item p \
               ON p.municipality_code = d.municipality_code AND p.dose_id = d.dose_id \
             WHERE d.municipality_code = $1 AND d.billing_month = $2 AND d.deleted = 0 \
             ORDER BY d.institution_code, d.given_on, d.dose_id"
        )))
        .bind(tenant.as_string())
        .bind(billing_month)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(billable).collect()
    }

    /// Records a run awaiting approval with its items, in one transaction. A dose some other run
    /// already pays refuses the whole run.
    pub async fn create_payment_run(
        &self,
        tenant: MunicipalityCode,
        billing_month: &str,
        transfer_date: &str,
        items: &[PaymentItem],
        by: &str,
    ) -> Result<PaymentRun, StoreError> {
        let code = tenant.as_string();
        let run_id = format!("P{}", random_hex(6));
        let total: i64 = items.iter().map(|i| i.unit_yen).sum();
        let doses = i64::try_from(items.len()).unwrap_or(i64::MAX);
        let mut db = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO payment_run (municipality_code, run_id, billing_month, transfer_date, status, \
             doses, total_yen, created_at, created_by) VALUES ($1,$2,$3,$4,'awaiting_approval',$5,$6,$7,$8)",
        )
        .bind(&code)
        .bind(&run_id)
        .bind(billing_month)
        .bind(transfer_date)
        .bind(doses)
        .bind(total)
        .bind(now_utc())
        .bind(by)
        .execute(&mut *db)
        .await?;
        for chunk in items.chunks(500) {
            let mut p = Params::new(self.backend());
            let sql = format!(
                "INSERT INTO payment_item (municipality_code, dose_id, run_id, institution_code, \
                 unit_yen, exempt) VALUES {}",
                p.groups(chunk.len(), 6)
            );
            // Placeholders only: the values are bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for i in chunk {
                q = q
                    .bind(&code)
                    .bind(i.dose_id)
                    .bind(&run_id)
                    .bind(&i.institution_code)
                    .bind(i.unit_yen)
                    .bind(i64::from(i.exempt));
            }
            match q.execute(&mut *db).await {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::Invalid(
                        "支払済み (または別の支払処理に含まれる) 接種があります: 支払処理を作り直してください".into(),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        db.commit().await?;
        self.payment_run(tenant, &run_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("payment_run".into()))
    }

    pub async fn payment_run(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<Option<PaymentRun>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM payment_run WHERE municipality_code = $1 AND run_id = $2"
        )))
        .bind(tenant.as_string())
        .bind(run_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(run).transpose()
    }

    /// The runs, newest first.
    pub async fn payment_runs(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<Vec<PaymentRun>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM payment_run WHERE municipality_code = $1 \
             ORDER BY created_at DESC, run_id"
        )))
        .bind(tenant.as_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(run).collect()
    }

    /// The doses a run pays, by institution, with what identifies each dose.
    pub async fn payment_run_doses(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<Vec<(PaymentItem, BillableDose)>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BILLABLE_COLUMNS}, p.institution_code AS paid_to, p.exempt AS paid_exempt \
             FROM payment_item p JOIN dose d \
               ON d.municipality_code = p.municipality_code AND d.dose_id = p.dose_id \
             WHERE p.municipality_code = $1 AND p.run_id = $2 \
             ORDER BY p.institution_code, d.given_on, p.dose_id"
        )))
        .bind(tenant.as_string())
        .bind(run_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let dose = billable(r)?;
                let item = PaymentItem {
                    dose_id: dose.dose_id,
                    institution_code: r.try_get("paid_to")?,
                    unit_yen: r.try_get("unit_yen")?,
                    exempt: r.try_get::<i64, _>("paid_exempt")? != 0,
                };
                Ok((item, dose))
            })
            .collect()
    }

    /// The second person's approval; the preparer is refused.
    pub async fn approve_payment_run(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
        by: &str,
    ) -> Result<PaymentRun, StoreError> {
        let r = self.existing_payment_run(tenant, run_id).await?;
        if r.status != PaymentStatus::AwaitingApproval {
            return Err(StoreError::Invalid(format!(
                "{run_id} は承認待ちではありません ({})",
                r.status.label()
            )));
        }
        if same_operator(&r.created_by, by) {
            return Err(StoreError::Invalid(
                "支払処理を作成した人は承認できません: 別の職員が承認してください".into(),
            ));
        }
        let n = sqlx::query(
            "UPDATE payment_run SET status = 'approved', approved_by = $1, approved_at = $2 \
             WHERE municipality_code = $3 AND run_id = $4 AND status = 'awaiting_approval'",
        )
        .bind(by)
        .bind(now_utc())
        .bind(tenant.as_string())
        .bind(run_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Invalid(format!(
                "{run_id} は同時に変更されました"
            )));
        }
        self.existing_payment_run(tenant, run_id).await
    }

    /// Records that the transfer file was made (the first time) and its digest.
    pub async fn record_payment_file(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
        by: &str,
        sha256: &str,
    ) -> Result<PaymentRun, StoreError> {
        let r = self.existing_payment_run(tenant, run_id).await?;
        match r.status {
            PaymentStatus::Approved => {}
            PaymentStatus::Written if r.file_sha256.as_deref() == Some(sha256) => return Ok(r),
            PaymentStatus::Written => {
                return Err(StoreError::Invalid(format!(
                    "{run_id} の振込データは作成済みで、今回の内容と一致しません"
                )));
            }
            other => {
                return Err(StoreError::Invalid(format!(
                    "{run_id} は承認されていません ({}): 振込データは承認後に作成できます",
                    other.label()
                )));
            }
        }
        let n = sqlx::query(
            "UPDATE payment_run SET status = 'written', written_by = $1, written_at = $2, \
             file_sha256 = $3 WHERE municipality_code = $4 AND run_id = $5 AND status = 'approved'",
        )
        .bind(by)
        .bind(now_utc())
        .bind(sha256)
        .bind(tenant.as_string())
        .bind(run_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Invalid(format!(
                "{run_id} は同時に変更されました"
            )));
        }
        self.existing_payment_run(tenant, run_id).await
    }

    /// Cancels a run whose file was not made, giving its doses back to be paid later.
    pub async fn cancel_payment_run(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<PaymentRun, StoreError> {
        self.existing_payment_run(tenant, run_id).await?;
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE payment_run SET status = 'cancelled' WHERE municipality_code = $1 AND run_id = $2 \
             AND status IN ('awaiting_approval', 'approved')",
        )
        .bind(&code)
        .bind(run_id)
        .execute(&mut *db)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Invalid(format!(
                "{run_id} は取り消せません (振込データを作成した支払は取り消せません)"
            )));
        }
        sqlx::query("DELETE FROM payment_item WHERE municipality_code = $1 AND run_id = $2")
            .bind(&code)
            .bind(run_id)
            .execute(&mut *db)
            .await?;
        db.commit().await?;
        self.existing_payment_run(tenant, run_id).await
    }

    async fn existing_payment_run(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<PaymentRun, StoreError> {
        self.payment_run(tenant, run_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("支払処理 {run_id}")))
    }
}
