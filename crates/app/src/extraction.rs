//! Ad-hoc extraction (EUC, F12): a clerk's conditions — products, dose, dates, age at the dose,
//! district (町丁目), institution, flags — and chosen columns, written as CSV. The column
//! catalogue has no My Number, so no choice of columns can produce one; a protected person's
//! (支援措置) address is never written; every cell is defused against formulas. The conditions,
//! the columns, the operator, the time, the row count and every person written are in the
//! audit log (`export.run`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::age::age_on;
use sesshu_domain::{CivilDate, MunicipalityCode, district};
use sesshu_store::{DoseFilter, ExtractedDose, Outcome, RoutineFilter};

pub use crate::spreadsheet::CsvEncoding;
use crate::spreadsheet::push_row;
use crate::{Actor, App, AppError};

/// A column an extraction may hold. There is deliberately no My Number among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    AddressNumber,
    Name,
    Kana,
    BirthDate,
    Sex,
    District,
    Address,
    Product,
    Ordinal,
    GivenOn,
    AgeAtDose,
    Institution,
    InstitutionName,
    Lot,
    Judgement,
    Routine,
    BillingMonth,
}

impl Column {
    pub const ALL: [Column; 17] = [
        Column::AddressNumber,
        Column::Name,
        Column::Kana,
        Column::BirthDate,
        Column::Sex,
        Column::District,
        Column::Address,
        Column::Product,
        Column::Ordinal,
        Column::GivenOn,
        Column::AgeAtDose,
        Column::Institution,
        Column::InstitutionName,
        Column::Lot,
        Column::Judgement,
        Column::Routine,
        Column::BillingMonth,
    ];

    /// The key on the command line and in forms.
    pub fn key(self) -> &'static str {
        match self {
            Column::AddressNumber => "address_number",
            Column::Name => "name",
            Column::Kana => "kana",
            Column::BirthDate => "birth_date",
            Column::Sex => "sex",
            Column::District => "district",
            Column::Address => "address",
            Column::Product => "product",
            Column::Ordinal => "ordinal",
            Column::GivenOn => "given_on",
            Column::AgeAtDose => "age_at_dose",
            Column::Institution => "institution",
            Column::InstitutionName => "institution_name",
            Column::Lot => "lot",
            Column::Judgement => "judgement",
            Column::Routine => "routine",
            Column::BillingMonth => "billing_month",
        }
    }

    /// The CSV header.
    pub fn label(self) -> &'static str {
        match self {
            Column::AddressNumber => "宛名番号",
            Column::Name => "氏名",
            Column::Kana => "氏名カナ",
            Column::BirthDate => "生年月日",
            Column::Sex => "性別",
            Column::District => "町丁目",
            Column::Address => "住所",
            Column::Product => "ワクチン",
            Column::Ordinal => "回数",
            Column::GivenOn => "接種日",
            Column::AgeAtDose => "接種時年齢",
            Column::Institution => "医療機関コード",
            Column::InstitutionName => "医療機関名",
            Column::Lot => "ロット番号",
            Column::Judgement => "接種判定",
            Column::Routine => "定期接種",
            Column::BillingMonth => "請求年月",
        }
    }

    pub fn parse(key: &str) -> Result<Self, AppError> {
        Self::ALL
            .into_iter()
            .find(|c| c.key() == key.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|c| c.key()).collect();
                AppError::Field(
                    "columns",
                    format!("不明な列「{key}」: {} のいずれかです", known.join(", ")),
                )
            })
    }
}

/// What to extract.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtractionRequest {
    pub products: Vec<String>,
    pub ordinal: Option<u32>,
    pub given_from: Option<CivilDate>,
    pub given_to: Option<CivilDate>,
    /// Age at the dose, in whole years, inclusive.
    pub age_from: Option<u32>,
    pub age_to: Option<u32>,
    /// 町丁目, as read from the address (a prefix: 原町田 matches 原町田一丁目 …).
    pub district: Option<String>,
    pub institution: Option<String>,
    pub routine: RoutineFilter,
    pub include_deferred: bool,
    pub include_elsewhere: bool,
    pub include_former_residents: bool,
    pub columns: Vec<Column>,
    pub encoding: CsvEncoding,
}

/// The file and how many rows it holds.
#[derive(Debug, Clone)]
pub struct Extraction {
    pub csv: Vec<u8>,
    pub rows: usize,
    pub persons: usize,
    /// Cells that held a character Shift_JIS lacks (written as 〓).
    pub unmappable: usize,
}

fn sex_label(code: i64) -> &'static str {
    match code {
        1 => "男",
        2 => "女",
        _ => "",
    }
}

fn cell(c: Column, d: &ExtractedDose, age: Option<u32>) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    match c {
        Column::AddressNumber => d.address_number.clone(),
        Column::Name => format!("{}\u{3000}{}", d.family_name, d.given_name),
        Column::Kana => format!("{} {}", d.family_kana, d.given_kana),
        Column::BirthDate => d.birth_date.clone(),
        Column::Sex => sex_label(d.sex).to_owned(),
        Column::District if d.protected => String::new(),
        Column::District => d
            .address
            .as_deref()
            .and_then(district::of_address)
            .unwrap_or_default(),
        // A protected person's (支援措置) address is never written out.
        Column::Address if d.protected => "(支援措置対象のため表示しません)".to_owned(),
        Column::Address => opt(&d.address),
        Column::Product => d.product.clone(),
        Column::Ordinal => d.ordinal.to_string(),
        Column::GivenOn => d.given_on.clone(),
        Column::AgeAtDose => age.map(|a| a.to_string()).unwrap_or_default(),
        Column::Institution => opt(&d.institution_code),
        Column::InstitutionName => opt(&d.institution_name),
        Column::Lot => opt(&d.lot),
        Column::Judgement => match d.judgement.as_str() {
            "deferred" => "見合わせ".to_owned(),
            _ => "接種".to_owned(),
        },
        Column::Routine => match d.routine {
            Some(true) => "定期".to_owned(),
            Some(false) => "要確認".to_owned(),
            None => String::new(),
        },
        Column::BillingMonth => opt(&d.billing_month),
    }
}

fn date(s: &str) -> Option<CivilDate> {
    CivilDate::parse_from_str(s, "%Y-%m-%d").ok()
}

impl App {
    /// Extracts the doses matching `req` as CSV (export.run).
    pub async fn extract(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        req: &ExtractionRequest,
    ) -> Result<Extraction, AppError> {
        let conditions =
            serde_json::to_value(req).map_err(|e| AppError::Internal(e.to_string()))?;
        self.authorize_for(
            actor,
            tenant,
            Permission::ExportRun,
            "export.run",
            conditions.clone(),
        )
        .await?;
        let mut errors = Vec::new();
        if req.columns.is_empty() {
            errors.push(("columns", "出力する列を1つ以上選んでください".to_owned()));
        }
        let known = self.engine.rules().product_codes();
        if let Some(p) = req.products.iter().find(|p| !known.contains(p)) {
            errors.push(("products", format!("不明なワクチンコード「{p}」")));
        }
        if let (Some(f), Some(t)) = (req.given_from, req.given_to)
            && t < f
        {
            errors.push(("given_to", "接種日の終わりが始まりより前です".to_owned()));
        }
        if let (Some(f), Some(t)) = (req.age_from, req.age_to)
            && t < f
        {
            errors.push(("age_to", "年齢の上限が下限より小さい値です".to_owned()));
        }
        if !errors.is_empty() {
            return Err(AppError::Fields(errors));
        }
        let filter = DoseFilter {
            products: req.products.clone(),
            ordinal: req.ordinal,
            given_from: req.given_from.map(|d| d.to_string()),
            given_to: req.given_to.map(|d| d.to_string()),
            institution: req.institution.clone().filter(|s| !s.trim().is_empty()),
            routine: req.routine,
            include_deferred: req.include_deferred,
            include_elsewhere: req.include_elsewhere,
            include_former_residents: req.include_former_residents,
        };
        let doses = self.store.extract_doses(tenant, &filter).await?;
        let wanted_district = req
            .district
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let mut text = String::new();
        let header: Vec<&str> = req.columns.iter().map(|c| c.label()).collect();
        push_row(&mut text, &header);
        let mut rows = 0usize;
        let mut persons: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        for d in &doses {
            let age = date(&d.birth_date)
                .zip(date(&d.given_on))
                .and_then(|(b, g)| age_on(b, g));
            if req.age_from.is_some_and(|f| age.is_none_or(|a| a < f))
                || req.age_to.is_some_and(|t| age.is_none_or(|a| a > t))
            {
                continue;
            }
            if let Some(w) = wanted_district {
                // A protected person's address is not read for a district either.
                let here = (!d.protected)
                    .then(|| d.address.as_deref().and_then(district::of_address))
                    .flatten();
                if !here.is_some_and(|h| h.starts_with(w)) {
                    continue;
                }
            }
            let cells: Vec<String> = req.columns.iter().map(|c| cell(*c, d, age)).collect();
            let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
            push_row(&mut text, &cells);
            rows += 1;
            if seen.insert(d.address_number.as_str()) {
                persons.push(d.address_number.clone());
            }
        }
        let (csv, unmappable) = req.encoding.encode(&text);
        let columns: Vec<&str> = req.columns.iter().map(|c| c.key()).collect();
        self.record(
            actor,
            "export.run",
            Outcome::Ok,
            vec![],
            persons.clone(),
            json!({"conditions": conditions, "columns": columns, "rows": rows,
                   "persons": persons.len()}),
        )
        .await?;
        Ok(Extraction {
            csv,
            rows,
            persons: persons.len(),
            unmappable,
        })
    }
}
