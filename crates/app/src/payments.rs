//! Clinic payments (委託料, F10): the register holds every dose, so the month's payment is
//! computed from it instead of from a spreadsheet beside it. Prices are data (per product, dose
//! kind and period); a run takes the billing month's routine doses not yet paid, prices each at
//! its date, and states what each institution is owed — and what it is not, and why. A second
//! holder of `payment.run` approves; only then is the bank's Zengin file made, validated, its
//! digest kept. A clinic's claim is reconciled against the register line by line. Each step is
//! audited; a dose is paid once (the store's key is the dose).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use chrono::{Datelike, Weekday};
use serde::Serialize;
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::dose::BillingMonth;
use sesshu_domain::{CivilDate, MunicipalityCode};
use sesshu_formats::payment::{
    ClaimRow, PaymentFileError, PriceDose, read_claim, read_institutions, read_prices,
};
use sesshu_formats::zengin::{
    Account, BankKana, Requester, Transfer, ZenginError, write_transfer_file,
};
use sesshu_store::{
    BankAccount, BillableDose, Outcome, PaymentInstitution, PaymentItem, PaymentRun, Price,
};

use crate::spreadsheet::{BOM, push_row};
use crate::{Actor, App, AppError, today_in_japan};

/// What an institution is owed for one product and dose kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementLine {
    pub product: String,
    pub dose: String,
    pub unit_yen: i64,
    pub count: i64,
    pub amount_yen: i64,
}

/// 支払明細: one institution's lines in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub institution_code: String,
    pub institution_name: String,
    pub lines: Vec<StatementLine>,
    pub doses: i64,
    pub total_yen: i64,
}

/// A dose of the month a run does not pay, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unpaid {
    pub dose_id: i64,
    pub address_number: String,
    pub institution_code: Option<String>,
    pub product: String,
    pub ordinal: u32,
    pub given_on: String,
    pub reason: String,
}

/// A prepared run: the run, what it pays, and what it leaves.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentPreparation {
    pub run: PaymentRun,
    pub statements: Vec<Statement>,
    pub unpaid: Vec<Unpaid>,
    /// Doses of the month already paid by an earlier run.
    pub already_paid: usize,
}

/// One line of a reconciliation: the claim's line (if billed) and the register's price (if
/// recorded and payable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconLine {
    pub line: Option<u64>,
    pub institution_code: String,
    pub address_number: String,
    pub product: String,
    pub ordinal: u32,
    pub given_on: String,
    pub billed_yen: Option<i64>,
    pub register_yen: Option<i64>,
    pub note: String,
}

/// A clinic's claim against the register.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reconciliation {
    pub billing_month: String,
    pub matched: Vec<ReconLine>,
    pub billed_not_recorded: Vec<ReconLine>,
    pub recorded_not_billed: Vec<ReconLine>,
    pub price_differences: Vec<ReconLine>,
    /// Billed and recorded, but not a dose the city pays (flagged, given elsewhere, no price).
    pub not_payable: Vec<ReconLine>,
}

fn file_error(e: PaymentFileError) -> AppError {
    match e {
        PaymentFileError::Rows(rows) => AppError::Rows(rows),
        PaymentFileError::File(f) => AppError::Invalid(f.to_string()),
    }
}

fn zengin(e: ZenginError) -> AppError {
    AppError::Invalid(e.to_string())
}

/// The price for a dose on its date: a deferred dose's screening price; a given dose's price for
/// its 回数, else for every dose.
fn price_for<'p>(prices: &'p [Price], dose: &BillableDose) -> Option<&'p Price> {
    let valid = |p: &&Price| {
        p.product == dose.product
            && p.valid_from.as_str() <= dose.given_on.as_str()
            && p.valid_to
                .as_deref()
                .is_none_or(|to| dose.given_on.as_str() <= to)
    };
    let kind = |k: PriceDose| {
        let code = k.code();
        prices.iter().filter(valid).find(move |p| p.dose == code)
    };
    if dose.judgement == "deferred" {
        kind(PriceDose::ScreeningOnly)
    } else {
        kind(PriceDose::Ordinal(dose.ordinal)).or_else(|| kind(PriceDose::Any))
    }
}

/// What the city pays for a dose: the price less the self-payment the clinic collected, or the
/// whole price for a person exempt from it (実費徴収の免除) on the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Priced {
    unit_yen: i64,
    exempt: bool,
}

/// Why the city does not pay this dose, or what it pays.
fn payable(
    dose: &BillableDose,
    prices: &[Price],
    institutions: &HashMap<String, PaymentInstitution>,
) -> Result<Priced, String> {
    let Some(code) = &dose.institution_code else {
        return Err("医療機関コードがありません".into());
    };
    if dose.given_elsewhere {
        return Err("転入前接種 (他市町村での接種)".into());
    }
    if dose.judgement != "deferred" && dose.routine != Some(true) {
        return Err("定期接種として判定されていません (要確認)".into());
    }
    if !institutions.contains_key(code) {
        return Err(format!("医療機関 {code} の口座が登録されていません"));
    }
    price_for(prices, dose)
        .map(|p| match p.self_pay_yen.filter(|own| *own > 0) {
            Some(_) if dose.exempt => Priced {
                unit_yen: p.unit_yen,
                exempt: true,
            },
            Some(own) => Priced {
                unit_yen: p.unit_yen - own,
                exempt: false,
            },
            None => Priced {
                unit_yen: p.unit_yen,
                exempt: false,
            },
        })
        .ok_or_else(|| format!("{} の単価がありません ({})", dose.product, dose.given_on))
}

fn dose_label(product: &str, judgement: &str, ordinal: u32, exempt: bool) -> (String, String) {
    let kind = if judgement == "deferred" {
        PriceDose::ScreeningOnly.label()
    } else {
        format!("第{ordinal}回")
    };
    if exempt {
        (product.to_owned(), format!("{kind} (自己負担免除)"))
    } else {
        (product.to_owned(), kind)
    }
}

fn statements(
    items: &[(PaymentItem, BillableDose)],
    institutions: &HashMap<String, PaymentInstitution>,
) -> Vec<Statement> {
    let mut by: BTreeMap<&str, BTreeMap<(String, String, i64), i64>> = BTreeMap::new();
    for (item, dose) in items {
        let (product, kind) = dose_label(&dose.product, &dose.judgement, dose.ordinal, item.exempt);
        *by.entry(item.institution_code.as_str())
            .or_default()
            .entry((product, kind, item.unit_yen))
            .or_default() += 1;
    }
    by.into_iter()
        .map(|(code, lines)| {
            let lines: Vec<StatementLine> = lines
                .into_iter()
                .map(|((product, dose, unit_yen), count)| StatementLine {
                    product,
                    dose,
                    unit_yen,
                    count,
                    amount_yen: unit_yen * count,
                })
                .collect();
            Statement {
                institution_code: code.to_owned(),
                institution_name: institutions
                    .get(code)
                    .map(|i| i.name.clone())
                    .unwrap_or_default(),
                doses: lines.iter().map(|l| l.count).sum(),
                total_yen: lines.iter().map(|l| l.amount_yen).sum(),
                lines,
            }
        })
        .collect()
}

fn bank_account(a: &Account) -> BankAccount {
    BankAccount {
        bank_code: a.bank_code.clone(),
        bank_name_kana: a.bank_name.to_string(),
        branch_code: a.branch_code.clone(),
        branch_name_kana: a.branch_name.to_string(),
        account_type: a.account_type.code().to_owned(),
        account_number: a.account_number.clone(),
    }
}

/// The stored account, checked again by the Zengin types (it was valid when recorded; a
/// hand-edited row is caught here, not at the bank).
fn zengin_account(a: &BankAccount) -> Result<Account, AppError> {
    Account::new(
        &a.bank_code,
        &a.bank_name_kana,
        &a.branch_code,
        &a.branch_name_kana,
        &a.account_type,
        &a.account_number,
    )
    .map_err(zengin)
}

impl App {
    async fn institutions_by_code(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<HashMap<String, PaymentInstitution>, AppError> {
        let all = self.store.payment_institutions(tenant).await?;
        Ok(all.into_iter().map(|i| (i.code.clone(), i)).collect())
    }

    async fn payments_allowed(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        function: &str,
        asked: serde_json::Value,
    ) -> Result<(), AppError> {
        self.authorize_for(actor, tenant, Permission::PaymentRun, function, asked)
            .await
    }

    /// Records a price list (CSV: ワクチン, 回数, 適用開始日, 適用終了日, 単価), whole or not
    /// at all. Two prices of one product and dose kind may not be valid on the same day.
    pub async fn import_prices(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        source: impl Read + 'static,
    ) -> Result<usize, AppError> {
        self.payments_allowed(actor, tenant, "payment.prices", serde_json::Value::Null)
            .await?;
        let rows = read_prices(source, &self.engine.rules().product_codes()).map_err(file_error)?;
        let new: Vec<Price> = rows
            .iter()
            .map(|r| Price {
                product: r.product.clone(),
                dose: r.dose.code(),
                valid_from: r.valid_from.to_string(),
                valid_to: r.valid_to.map(|d| d.to_string()),
                unit_yen: r.unit_yen,
                self_pay_yen: r.self_pay_yen,
                recorded_at: String::new(),
                recorded_by: String::new(),
            })
            .collect();
        let replaced: HashSet<(&str, &str, &str)> = new
            .iter()
            .map(|p| (p.product.as_str(), p.dose.as_str(), p.valid_from.as_str()))
            .collect();
        let existing = self.store.prices(tenant).await?;
        let mut all: Vec<(Option<u64>, &Price)> = existing
            .iter()
            .filter(|p| {
                !replaced.contains(&(p.product.as_str(), p.dose.as_str(), p.valid_from.as_str()))
            })
            .map(|p| (None, p))
            .collect();
        all.extend(rows.iter().zip(&new).map(|(r, p)| (Some(r.line), p)));
        all.sort_by(|a, b| {
            (&a.1.product, &a.1.dose, &a.1.valid_from).cmp(&(
                &b.1.product,
                &b.1.dose,
                &b.1.valid_from,
            ))
        });
        let mut overlaps = Vec::new();
        for w in all.windows(2) {
            let (a, b) = (w[0].1, w[1].1);
            let open = a
                .valid_to
                .as_deref()
                .is_none_or(|to| to >= b.valid_from.as_str());
            if a.product == b.product && a.dose == b.dose && open {
                let line = w[1].0.or(w[0].0).unwrap_or(0);
                overlaps.push(sesshu_formats::RowError::new(
                    line,
                    Some("適用開始日"),
                    format!(
                        "{} {} の単価の適用期間が {} からの単価と重なっています",
                        b.product,
                        PriceDose::parse(&b.dose).map_or(b.dose.clone(), |k| k.label()),
                        a.valid_from
                    ),
                    Some(&b.valid_from),
                ));
            }
        }
        if !overlaps.is_empty() {
            return Err(AppError::Rows(overlaps));
        }
        self.store.put_prices(tenant, &new, &actor.actor).await?;
        self.record(
            actor,
            "payment.prices",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"prices": new.len()}),
        )
        .await?;
        Ok(new.len())
    }

    pub async fn prices(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<Vec<Price>, AppError> {
        self.payments_allowed(actor, tenant, "payment.read", serde_json::Value::Null)
            .await?;
        Ok(self.store.prices(tenant).await?)
    }

    /// Records institutions and their accounts (CSV), whole or not at all; each replaces the
    /// institution's earlier account, and the audit entry names the institutions changed.
    pub async fn import_payment_institutions(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        source: impl Read + 'static,
    ) -> Result<usize, AppError> {
        self.payments_allowed(
            actor,
            tenant,
            "payment.institutions",
            serde_json::Value::Null,
        )
        .await?;
        let rows = read_institutions(source).map_err(file_error)?;
        let mut seen = HashSet::new();
        let twice: Vec<_> = rows
            .iter()
            .filter(|r| !seen.insert(r.code.clone()))
            .map(|r| {
                sesshu_formats::RowError::new(
                    r.line,
                    Some("医療機関コード"),
                    "同じ医療機関が2行あります",
                    Some(&r.code),
                )
            })
            .collect();
        if !twice.is_empty() {
            return Err(AppError::Rows(twice));
        }
        let institutions: Vec<PaymentInstitution> = rows
            .iter()
            .map(|r| PaymentInstitution {
                code: r.code.clone(),
                name: r.name.clone(),
                payee_kana: r.payee.to_string(),
                account: bank_account(&r.account),
                recorded_at: String::new(),
                recorded_by: String::new(),
            })
            .collect();
        self.store
            .put_payment_institutions(tenant, &institutions, &actor.actor)
            .await?;
        self.record(
            actor,
            "payment.institutions",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"institutions": institutions.iter().map(|i| &i.code).collect::<Vec<_>>()}),
        )
        .await?;
        Ok(institutions.len())
    }

    pub async fn payment_institutions(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<Vec<PaymentInstitution>, AppError> {
        self.payments_allowed(actor, tenant, "payment.read", serde_json::Value::Null)
            .await?;
        Ok(self.store.payment_institutions(tenant).await?)
    }

    /// Records the city's own account (振込依頼人) the transfers leave from.
    pub async fn set_payment_requester(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        requester_code: &str,
        name: &str,
        account: &Account,
    ) -> Result<(), AppError> {
        self.payments_allowed(actor, tenant, "payment.requester", serde_json::Value::Null)
            .await?;
        let requester = Requester::new(requester_code, name, account.clone()).map_err(zengin)?;
        self.store
            .put_payment_requester(
                tenant,
                &requester.code,
                requester.name.as_str(),
                &bank_account(account),
                &actor.actor,
            )
            .await?;
        self.record(
            actor,
            "payment.requester",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"bank": account.bank_code, "branch": account.branch_code}),
        )
        .await
    }

    /// Prepares the run of a billing month: every routine dose not yet paid, priced at its date,
    /// by institution; the rest listed with the reason. Waits for a second person's approval.
    pub async fn prepare_payment_run(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        billing_month: &BillingMonth,
        transfer_date: CivilDate,
    ) -> Result<PaymentPreparation, AppError> {
        let asked = json!({"billing_month": billing_month.as_str()});
        self.payments_allowed(actor, tenant, "payment.prepare", asked)
            .await?;
        if transfer_date < today_in_japan() {
            return Err(AppError::Field(
                "transfer_date",
                format!("振込指定日 {transfer_date} は過去の日付です"),
            ));
        }
        // Banks transfer on business days; a weekend date would be refused at the bank (public
        // holidays are the clerk's to check: they change by law).
        if matches!(transfer_date.weekday(), Weekday::Sat | Weekday::Sun) {
            return Err(AppError::Field(
                "transfer_date",
                format!(
                    "振込指定日 {transfer_date} は土曜日か日曜日です: 銀行の営業日を指定してください"
                ),
            ));
        }
        if self.store.payment_requester(tenant).await?.is_none() {
            return Err(AppError::Invalid(
                "振込依頼人 (市の口座) が登録されていません: sesshu payments requester で登録してください".into(),
            ));
        }
        let prices = self.store.prices(tenant).await?;
        let institutions = self.institutions_by_code(tenant).await?;
        let doses = self
            .store
            .billing_month_doses(tenant, billing_month.as_str())
            .await?;
        let mut items = Vec::new();
        let mut unpaid = Vec::new();
        let mut already_paid = 0;
        let mut paid_doses = Vec::new();
        for dose in doses {
            if dose.paid_in.is_some() {
                already_paid += 1;
                continue;
            }
            match payable(&dose, &prices, &institutions) {
                Ok(priced) => {
                    let item = PaymentItem {
                        dose_id: dose.dose_id,
                        institution_code: dose.institution_code.clone().unwrap_or_default(),
                        unit_yen: priced.unit_yen,
                        exempt: priced.exempt,
                    };
                    items.push(item.clone());
                    paid_doses.push((item, dose));
                }
                Err(reason) => unpaid.push(Unpaid {
                    dose_id: dose.dose_id,
                    address_number: dose.address_number,
                    institution_code: dose.institution_code,
                    product: dose.product,
                    ordinal: dose.ordinal,
                    given_on: dose.given_on,
                    reason,
                }),
            }
        }
        if items.is_empty() {
            return Err(AppError::Invalid(format!(
                "請求年月 {billing_month} に支払う接種がありません (支払済み {already_paid} 件、支払対象外 {} 件)",
                unpaid.len()
            )));
        }
        let run = self
            .store
            .create_payment_run(
                tenant,
                billing_month.as_str(),
                &transfer_date.to_string(),
                &items,
                &actor.actor,
            )
            .await?;
        // The unpaid list names persons (宛名番号 with their doses): they are shown.
        let mut shown: Vec<String> = unpaid.iter().map(|u| u.address_number.clone()).collect();
        shown.sort_unstable();
        shown.dedup();
        self.record(
            actor,
            "payment.prepare",
            Outcome::Ok,
            vec![],
            shown,
            json!({"run": run.run_id, "billing_month": run.billing_month, "doses": run.doses,
                   "total_yen": run.total_yen, "unpaid": unpaid.len(), "already_paid": already_paid}),
        )
        .await?;
        Ok(PaymentPreparation {
            statements: statements(&paid_doses, &institutions),
            run,
            unpaid,
            already_paid,
        })
    }

    pub async fn payment_runs(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<Vec<PaymentRun>, AppError> {
        self.payments_allowed(actor, tenant, "payment.read", serde_json::Value::Null)
            .await?;
        Ok(self.store.payment_runs(tenant).await?)
    }

    async fn existing_payment_run(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<PaymentRun, AppError> {
        self.store
            .payment_run(tenant, run_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("支払処理 {run_id}")))
    }

    /// A run and each institution's statement.
    pub async fn payment_statements(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<(PaymentRun, Vec<Statement>), AppError> {
        self.payments_allowed(actor, tenant, "payment.read", json!({"run_id": run_id}))
            .await?;
        let run = self.existing_payment_run(tenant, run_id).await?;
        let items = self.store.payment_run_doses(tenant, run_id).await?;
        let institutions = self.institutions_by_code(tenant).await?;
        Ok((run, statements(&items, &institutions)))
    }

    /// The second person's approval: refused (and audited) for whoever prepared the run.
    pub async fn approve_payment_run(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<PaymentRun, AppError> {
        self.payment_decision(actor, tenant, run_id, "payment.approve", true)
            .await
    }

    /// Cancels a run whose file was not made; its doses can be paid by a later run.
    pub async fn cancel_payment_run(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<PaymentRun, AppError> {
        self.payment_decision(actor, tenant, run_id, "payment.cancel", false)
            .await
    }

    async fn payment_decision(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: &str,
        function: &str,
        approve: bool,
    ) -> Result<PaymentRun, AppError> {
        self.payments_allowed(actor, tenant, function, json!({"run_id": run_id}))
            .await?;
        self.existing_payment_run(tenant, run_id).await?;
        let done = if approve {
            self.store
                .approve_payment_run(tenant, run_id, &actor.actor)
                .await
        } else {
            self.store.cancel_payment_run(tenant, run_id).await
        }
        .map_err(AppError::from);
        let (outcome, detail) = match &done {
            Ok(_) => (Outcome::Ok, json!({"run": run_id})),
            Err(e) => (
                Outcome::Refused,
                json!({"run": run_id, "refused": e.to_string()}),
            ),
        };
        self.record(actor, function, outcome, vec![], vec![], detail)
            .await?;
        done
    }

    /// The bank's Zengin file for an approved run: one transfer per institution, read back and
    /// checked before it is returned; its SHA-256 is kept with the run, so the same file can be
    /// made again but a different one cannot.
    pub async fn payment_transfer_file(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<(PaymentRun, Vec<u8>), AppError> {
        self.payments_allowed(actor, tenant, "payment.transfer", json!({"run_id": run_id}))
            .await?;
        let run = self.existing_payment_run(tenant, run_id).await?;
        let requester = self.store.payment_requester(tenant).await?.ok_or_else(|| {
            AppError::Invalid("振込依頼人 (市の口座) が登録されていません".into())
        })?;
        let requester = Requester::new(
            &requester.requester_code,
            &requester.name_kana,
            zengin_account(&requester.account)?,
        )
        .map_err(zengin)?;
        let institutions = self.institutions_by_code(tenant).await?;
        let items = self.store.payment_run_doses(tenant, run_id).await?;
        let mut transfers = Vec::new();
        for s in statements(&items, &institutions) {
            let i = institutions.get(&s.institution_code).ok_or_else(|| {
                AppError::Invalid(format!(
                    "医療機関 {} の口座が登録されていません",
                    s.institution_code
                ))
            })?;
            transfers.push(Transfer {
                account: zengin_account(&i.account)?,
                payee: BankKana::convert("受取人名", &i.payee_kana, 30).map_err(zengin)?,
                amount_yen: u64::try_from(s.total_yen).unwrap_or(0),
                customer_code: i.code.clone(),
            });
        }
        let date = CivilDate::parse_from_str(&run.transfer_date, "%Y-%m-%d")
            .map_err(|_| AppError::Internal("payment_run.transfer_date".into()))?;
        let file = write_transfer_file(&requester, &date.format("%m%d").to_string(), &transfers)
            .map_err(zengin)?;
        let sum: u64 = transfers.iter().map(|t| t.amount_yen).sum();
        if i64::try_from(sum).ok() != Some(run.total_yen) {
            return Err(AppError::Internal(format!(
                "{run_id}: 振込合計 {sum} 円が支払処理の合計 {} 円と一致しません",
                run.total_yen
            )));
        }
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&file));
        let written = self
            .store
            .record_payment_file(tenant, run_id, &actor.actor, &digest)
            .await
            .map_err(AppError::from);
        let (outcome, detail) = match &written {
            Ok(_) => (
                Outcome::Ok,
                json!({"run": run_id, "transfers": transfers.len(), "total_yen": sum, "sha256": digest}),
            ),
            Err(e) => (
                Outcome::Refused,
                json!({"run": run_id, "refused": e.to_string()}),
            ),
        };
        self.record(actor, "payment.transfer", outcome, vec![], vec![], detail)
            .await?;
        Ok((written?, file))
    }

    /// Reconciles a clinic's claim (CSV) with the register's doses of the billing month for the
    /// institutions the claim names.
    pub async fn reconcile_claim(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        billing_month: &BillingMonth,
        source: impl Read + 'static,
    ) -> Result<Reconciliation, AppError> {
        let asked = json!({"billing_month": billing_month.as_str()});
        self.payments_allowed(actor, tenant, "payment.reconcile", asked)
            .await?;
        let claim = read_claim(source, &self.engine.rules().product_codes()).map_err(file_error)?;
        let prices = self.store.prices(tenant).await?;
        let institutions = self.institutions_by_code(tenant).await?;
        let named: HashSet<&str> = claim.iter().map(|c| c.institution.as_str()).collect();
        type Key = (String, String, String, u32, String);
        let key_of = |i: &str, a: &str, p: &str, o: u32, g: &str| -> Key {
            (i.to_owned(), a.to_owned(), p.to_owned(), o, g.to_owned())
        };
        let mut register: HashMap<Key, BillableDose> = HashMap::new();
        for d in self
            .store
            .billing_month_doses(tenant, billing_month.as_str())
            .await?
        {
            let Some(code) = d.institution_code.as_deref() else {
                continue;
            };
            if named.contains(code) {
                let k = key_of(code, &d.address_number, &d.product, d.ordinal, &d.given_on);
                register.insert(k, d);
            }
        }
        let line_of = |c: &ClaimRow, register_yen: Option<i64>, note: String| ReconLine {
            line: Some(c.line),
            institution_code: c.institution.clone(),
            address_number: c.address_number.clone(),
            product: c.product.clone(),
            ordinal: c.ordinal,
            given_on: c.given_on.to_string(),
            billed_yen: Some(c.billed_yen),
            register_yen,
            note,
        };
        let mut r = Reconciliation {
            billing_month: billing_month.to_string(),
            ..Reconciliation::default()
        };
        for c in &claim {
            let k = key_of(
                &c.institution,
                &c.address_number,
                &c.product,
                c.ordinal,
                &c.given_on.to_string(),
            );
            let Some(dose) = register.remove(&k) else {
                r.billed_not_recorded.push(line_of(
                    c,
                    None,
                    "登録簿にこの請求年月の接種がありません".into(),
                ));
                continue;
            };
            let price = dose
                .paid_yen
                .ok_or(())
                .or_else(|()| payable(&dose, &prices, &institutions).map(|p| p.unit_yen));
            match price {
                Err(reason) => r.not_payable.push(line_of(c, None, reason)),
                // Whether the person was exempt explains most differences on B類 lines: the
                // clinic billed the whole price for a person who owed the self-payment, or
                // collected it from one who did not.
                Ok(yen) if yen != c.billed_yen => r.price_differences.push(line_of(
                    c,
                    Some(yen),
                    format!(
                        "差額 {} 円{}",
                        c.billed_yen - yen,
                        if dose.exempt {
                            " (実費徴収の免除決定あり)"
                        } else {
                            ""
                        }
                    ),
                )),
                Ok(yen) => r.matched.push(line_of(
                    c,
                    Some(yen),
                    dose.paid_in
                        .map_or_else(String::new, |run| format!("支払処理 {run} で支払済み")),
                )),
            }
        }
        let mut left: Vec<BillableDose> = register.into_values().collect();
        left.sort_by(|a, b| {
            (&a.institution_code, &a.given_on, a.dose_id).cmp(&(
                &b.institution_code,
                &b.given_on,
                b.dose_id,
            ))
        });
        for d in left {
            let price = payable(&d, &prices, &institutions).map(|p| p.unit_yen);
            r.recorded_not_billed.push(ReconLine {
                line: None,
                institution_code: d.institution_code.clone().unwrap_or_default(),
                address_number: d.address_number.clone(),
                product: d.product.clone(),
                ordinal: d.ordinal,
                given_on: d.given_on.clone(),
                billed_yen: None,
                register_yen: price.as_ref().ok().copied(),
                note: price.err().unwrap_or_default(),
            });
        }
        let shown: Vec<String> = [
            &r.matched,
            &r.billed_not_recorded,
            &r.recorded_not_billed,
            &r.price_differences,
            &r.not_payable,
        ]
        .into_iter()
        .flatten()
        .map(|l| l.address_number.clone())
        .collect();
        self.record(
            actor,
            "payment.reconcile",
            Outcome::Ok,
            vec![],
            shown,
            json!({"billing_month": r.billing_month, "claim_lines": claim.len(),
                   "matched": r.matched.len(), "billed_not_recorded": r.billed_not_recorded.len(),
                   "recorded_not_billed": r.recorded_not_billed.len(),
                   "price_differences": r.price_differences.len(), "not_payable": r.not_payable.len()}),
        )
        .await?;
        Ok(r)
    }
}

/// The statements as a spreadsheet (UTF-8 with BOM, cells defused): one row per institution,
/// product and dose kind, then the institution's total.
pub fn statements_csv(run: &PaymentRun, statements: &[Statement]) -> String {
    let mut out = String::from(BOM);
    push_row(
        &mut out,
        &[
            "支払処理",
            "請求年月",
            "医療機関コード",
            "医療機関名",
            "ワクチン",
            "回",
            "単価",
            "件数",
            "金額",
        ],
    );
    for s in statements {
        for l in &s.lines {
            push_row(
                &mut out,
                &[
                    &run.run_id,
                    &run.billing_month,
                    &s.institution_code,
                    &s.institution_name,
                    &l.product,
                    &l.dose,
                    &l.unit_yen.to_string(),
                    &l.count.to_string(),
                    &l.amount_yen.to_string(),
                ],
            );
        }
        push_row(
            &mut out,
            &[
                &run.run_id,
                &run.billing_month,
                &s.institution_code,
                &s.institution_name,
                "合計",
                "",
                "",
                &s.doses.to_string(),
                &s.total_yen.to_string(),
            ],
        );
    }
    out
}
