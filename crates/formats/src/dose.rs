//! 予診票データ (formats.md §2): one row per administered or deferred dose, keyed monthly by a
//! contractor. Only the shape of each row is checked here; who the person is and whether the dose
//! follows the rules is for the importer, which knows the register and the schedule.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

use sesshu_domain::dose::{
    AntibodyResult, BillingMonth, Dose, DoseJudgement, parse_amount_ml, parse_institution_code,
    parse_ordinal, parse_yen,
};
use sesshu_domain::person::optional_text;
use sesshu_domain::{AddressNumber, CivilDate, KanaName, Sex, parse_date};

use crate::encoding::{Encoding, TextEncoding};
use crate::report::RowError;
use crate::table::{Column, FileError, RowContext, TableReader};

/// Every column, in the order the writer emits them; `true` marks the always-required.
pub const DOSE_COLUMNS: [Column; 22] = [
    ("医療機関コード", true),
    ("医療機関名", false),
    ("医師名", false),
    ("宛名番号", false),
    ("氏名", false),
    ("氏名カナ", false),
    ("生年月日", true),
    ("性別", false),
    ("ワクチン", true),
    ("回数", true),
    ("接種日", true),
    ("ロット番号", false),
    ("メーカー", false),
    ("接種量", false),
    ("接種判定", false),
    ("予診日", false),
    ("請求年月", false),
    ("接種券番号", false),
    ("備考", false),
    ("抗体価", false),
    ("助成金額", false),
    ("転入前接種", false),
];

#[derive(Debug, Clone, Copy)]
#[repr(usize)]
enum C {
    Institution,
    InstitutionName,
    Doctor,
    AddressNumber,
    Name,
    Kana,
    Birth,
    Sex,
    Vaccine,
    Ordinal,
    GivenOn,
    Lot,
    Maker,
    Amount,
    Judgement,
    ScreenedOn,
    Billing,
    Ticket,
    Notes,
    Antibody,
    Subsidy,
    Elsewhere,
}

/// How to read a dose file.
#[derive(Debug, Clone, Default)]
pub struct DoseReadOptions {
    pub encoding: Encoding,
    pub aliases: HashMap<String, String>,
    /// Dose dates after this day are refused.
    pub today: Option<CivilDate>,
    /// The product codes the rules know; another code is a row error.
    pub products: Vec<String>,
    /// Codes that are tests, not vaccines (回数 0, 抗体価 required).
    pub tests: Vec<String>,
}

/// Who the row is about, as written on the form.
#[derive(Debug, Clone)]
pub struct DoseSubject {
    pub address_number: Option<AddressNumber>,
    pub name: Option<String>,
    pub kana: Option<KanaName>,
    pub birth_date: CivilDate,
    pub sex: Option<Sex>,
}

/// One row that can be a dose.
#[derive(Debug, Clone)]
pub struct DoseRecord {
    pub line: u64,
    pub subject: DoseSubject,
    pub dose: Dose,
}

pub struct DoseReader<R: Read> {
    table: TableReader<R>,
    options: DoseReadOptions,
}

impl<R: Read> std::fmt::Debug for DoseReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoseReader")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl DoseReader<Box<dyn Read>> {
    pub fn new<S: Read + 'static>(source: S, options: DoseReadOptions) -> Result<Self, FileError> {
        let table = TableReader::new(source, options.encoding, &options.aliases, &DOSE_COLUMNS)?;
        Ok(Self { table, options })
    }
}

impl<R: Read> DoseReader<R> {
    pub fn encoding(&self) -> TextEncoding {
        self.table.encoding()
    }

    pub fn warnings(&self) -> &[String] {
        self.table.warnings()
    }

    pub fn position(&self) -> u64 {
        self.table.position()
    }

    pub fn next_record(&mut self) -> Result<Option<Result<DoseRecord, Vec<RowError>>>, FileError> {
        let Self { table, options } = self;
        table.next_parsed(|line, fields| parse_row(options, line, fields))
    }
}

fn parse_row(
    options: &DoseReadOptions,
    line: u64,
    fields: &[Cow<'_, str>],
) -> Result<DoseRecord, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut ctx = RowContext {
        line,
        columns: &DOSE_COLUMNS,
        fields,
        errors: &mut errors,
        secret: None,
    };
    let c = |c: C| c as usize;
    let institution = ctx.required(c(C::Institution), parse_institution_code);
    let address_number = ctx.optional(c(C::AddressNumber), AddressNumber::parse);
    let kana = ctx.optional(c(C::Kana), KanaName::parse);
    let birth = ctx.required(c(C::Birth), parse_date);
    let sex = ctx.optional(c(C::Sex), Sex::parse);
    let products = &options.products;
    let product = ctx.required(c(C::Vaccine), |s: &str| {
        let code = s.trim().to_ascii_lowercase();
        if products.is_empty() || products.contains(&code) {
            Ok(code)
        } else {
            Err(format!("不明なワクチンコード「{s}」"))
        }
    });
    let ordinal = ctx.required(c(C::Ordinal), parse_ordinal);
    let given_on = ctx.required(c(C::GivenOn), parse_date);
    let amount = ctx.optional(c(C::Amount), parse_amount_ml);
    let judgement = ctx.optional(c(C::Judgement), DoseJudgement::parse);
    let screened_on = ctx.optional(c(C::ScreenedOn), parse_date);
    let billing = ctx.optional(c(C::Billing), BillingMonth::parse);
    let antibody = ctx.optional(c(C::Antibody), AntibodyResult::parse);
    let subsidy = ctx.optional(c(C::Subsidy), parse_yen);
    let elsewhere = ctx.optional(c(C::Elsewhere), |s: &str| match s.trim() {
        "1" | "１" | "有" => Ok(true),
        "0" | "０" | "無" => Ok(false),
        _ => Err("転入前接種は 1 (他市町村で接種) または 0/空欄 です"),
    });
    if matches!(address_number, Some(None)) && matches!(kana, Some(None)) {
        ctx.error(c(C::Kana), "宛名番号が空のときは氏名カナが必須です");
    }
    if let (Some(birth), Some(given)) = (birth, given_on) {
        if given < birth {
            ctx.error(c(C::GivenOn), "接種日が生年月日より前です");
        }
        if options.today.is_some_and(|t| given > t) {
            ctx.error(c(C::GivenOn), "接種日が未来の日付です");
        }
    }
    let is_test = product.as_ref().is_some_and(|p| options.tests.contains(p));
    // The antibody result may also be written in 備考 (formats.md §2).
    let mut antibody = antibody.flatten();
    if is_test && antibody.is_none() {
        antibody = AntibodyResult::parse(ctx.value(c(C::Notes))).ok();
        if antibody.is_none() {
            ctx.error(
                c(C::Antibody),
                "抗体検査には抗体価 (low / sufficient) が必要です",
            );
        }
    }
    if is_test && ordinal.is_some_and(|n| n != 0) {
        ctx.error(c(C::Ordinal), "抗体検査の回数は 0 です");
    }
    if !is_test && ordinal == Some(0) {
        ctx.error(c(C::Ordinal), "接種の回数は 1 以上です");
    }
    // Free text never holds a My Number (see the resident reader).
    for col in [
        C::InstitutionName,
        C::Doctor,
        C::Name,
        C::Lot,
        C::Maker,
        C::Notes,
    ] {
        ctx.refuse_my_number(c(col));
    }
    let text = |col: C| optional_text(&fields[col as usize]);
    match (institution, birth, product, ordinal, given_on) {
        (Some(institution), Some(birth_date), Some(product), Some(ordinal), Some(given_on))
            if errors.is_empty() =>
        {
            Ok(DoseRecord {
                line,
                subject: DoseSubject {
                    address_number: address_number.flatten(),
                    name: text(C::Name),
                    kana: kana.flatten(),
                    birth_date,
                    sex: sex.flatten(),
                },
                dose: Dose {
                    product,
                    ordinal,
                    given_on,
                    judgement: judgement.flatten().unwrap_or(DoseJudgement::Given),
                    institution_code: Some(institution),
                    institution_name: text(C::InstitutionName),
                    doctor: text(C::Doctor),
                    lot: text(C::Lot),
                    manufacturer: text(C::Maker),
                    amount_ml: amount.flatten(),
                    screened_on: screened_on.flatten(),
                    billing_month: billing.flatten(),
                    subsidy_yen: subsidy.flatten(),
                    ticket_number: text(C::Ticket),
                    notes: text(C::Notes),
                    given_elsewhere: elsewhere.flatten().unwrap_or(false),
                    antibody_result: antibody,
                },
            })
        }
        _ => {
            let address = fields
                .get(c(C::AddressNumber))
                .map(|a| a.trim())
                .filter(|a| AddressNumber::parse(a).is_ok());
            let clinic = clinic_label(
                fields.get(c(C::Institution)).map(|s| s.trim()),
                fields.get(c(C::InstitutionName)).map(|s| s.trim()),
            );
            Err(errors
                .into_iter()
                .map(|e| e.about(address, clinic.as_deref()))
                .collect())
        }
    }
}

/// A clinic as a clerk reads it: `code name`, either alone when the other is missing.
pub fn clinic_label(code: Option<&str>, name: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = [code, name]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Writes a dose file in exactly the layout the reader accepts (UTF-8), for the demo town and
/// the benchmarks.
pub struct DoseWriter<W: std::io::Write> {
    out: csv::Writer<W>,
}

impl<W: std::io::Write> DoseWriter<W> {
    pub fn new(inner: W) -> Result<Self, csv::Error> {
        let mut out = csv::Writer::from_writer(inner);
        out.write_record(DOSE_COLUMNS.iter().map(|(n, _)| *n))?;
        Ok(Self { out })
    }

    pub fn write(&mut self, subject: &DoseSubject, dose: &Dose) -> Result<(), csv::Error> {
        let date = |d: Option<CivilDate>| d.map(|d| d.format("%Y%m%d").to_string());
        let fields: [Option<String>; DOSE_COLUMNS.len()] = [
            dose.institution_code.clone(),
            dose.institution_name.clone(),
            dose.doctor.clone(),
            subject
                .address_number
                .as_ref()
                .map(|a| a.as_str().to_owned()),
            subject.name.clone(),
            subject.kana.as_ref().map(ToString::to_string),
            date(Some(subject.birth_date)),
            subject.sex.map(|s| s.code().to_string()),
            Some(dose.product.clone()),
            Some(dose.ordinal.to_string()),
            date(Some(dose.given_on)),
            dose.lot.clone(),
            dose.manufacturer.clone(),
            dose.amount_ml.clone(),
            Some(match dose.judgement {
                DoseJudgement::Given => "1".into(),
                DoseJudgement::Deferred => "2".into(),
            }),
            date(dose.screened_on),
            dose.billing_month.as_ref().map(|b| b.as_str().to_owned()),
            dose.ticket_number.clone(),
            dose.notes.clone(),
            dose.antibody_result.map(|r| r.as_str().to_owned()),
            dose.subsidy_yen.map(|y| y.to_string()),
            dose.given_elsewhere.then(|| "1".to_owned()),
        ];
        self.out
            .write_record(fields.iter().map(|f| f.as_deref().unwrap_or("")))
    }

    pub fn finish(mut self) -> Result<W, std::io::Error> {
        self.out.flush()?;
        self.out
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}
