//! 住民記録連携ファイル (formats.md §1): one row per person, columns matched by header name.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Read, Write};

use sesshu_domain::person::optional_text;
use sesshu_domain::{
    AddressNumber, ChangeReason, CivilDate, HouseholdNumber, IntegratedAddressNumber, KanaName,
    MyNumber, Person, PersonName, PostalCode, ResidentStatus, Sex, parse_date,
};

use crate::encoding::{Encoding, TextEncoding};
use crate::report::RowError;
use crate::table::{Column, FileError, RowContext, TableReader};

/// Every column of the feed, in the order the writer emits them; `true` marks the required.
pub const COLUMNS: [Column; 22] = [
    ("宛名番号", true),
    ("統合宛名番号", false),
    ("個人番号", false),
    ("世帯番号", false),
    ("続柄", false),
    ("氏名", true),
    ("氏名カナ", true),
    ("生年月日", true),
    ("性別", true),
    ("郵便番号", false),
    ("住所", false),
    ("方書", false),
    ("地区コード", false),
    ("小学校区", false),
    ("電話番号", false),
    ("住民区分", true),
    ("異動事由", false),
    ("異動日", false),
    ("異動届出日", false),
    ("転入前住所", false),
    ("転出先住所", false),
    ("支援措置", false),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Col {
    AddressNumber,
    IntegratedAddressNumber,
    MyNumber,
    Household,
    Relationship,
    Name,
    Kana,
    Birth,
    Sex,
    Postal,
    Address,
    AddressDetail,
    District,
    School,
    Phone,
    Status,
    Reason,
    ChangedOn,
    NotifiedOn,
    PreviousAddress,
    NextAddress,
    Protected,
}

/// How to read a file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub encoding: Encoding,
    /// Operator-configured header names mapped to the standard ones (e.g. "カナ氏名" → "氏名カナ").
    pub aliases: HashMap<String, String>,
    /// Birth dates after this day are refused.
    pub today: Option<CivilDate>,
}

/// One valid row.
#[derive(Debug, Clone)]
pub struct ResidentRecord {
    pub line: u64,
    pub person: Person,
}

/// Streams a resident feed: header checks up front, then one validated row at a time.
pub struct ResidentReader<R: Read> {
    table: TableReader<R>,
    today: Option<CivilDate>,
}

impl<R: Read> std::fmt::Debug for ResidentReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentReader")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl ResidentReader<Box<dyn Read>> {
    /// Opens a feed; fails when the file as a whole cannot be a valid feed.
    pub fn new<S: Read + 'static>(source: S, options: &ReadOptions) -> Result<Self, FileError> {
        Ok(Self {
            table: TableReader::new(source, options.encoding, &options.aliases, &COLUMNS)?,
            today: options.today,
        })
    }
}

impl<R: Read> ResidentReader<R> {
    pub fn encoding(&self) -> TextEncoding {
        self.table.encoding()
    }

    /// Warnings about the header (unknown columns).
    pub fn warnings(&self) -> &[String] {
        self.table.warnings()
    }

    /// Bytes consumed so far, for progress display.
    pub fn position(&self) -> u64 {
        self.table.position()
    }

    /// The next row: `Ok(None)` at the end, `Ok(Some(Err(..)))` for a bad row, `Err` when the file
    /// turns out to be unusable (truncated, wrong encoding in the header…).
    pub fn next_record(
        &mut self,
    ) -> Result<Option<Result<ResidentRecord, Vec<RowError>>>, FileError> {
        let today = self.today;
        self.table
            .next_parsed(|line, fields| parse_row(today, line, fields))
    }
}

pub(crate) fn parse_row(
    today: Option<CivilDate>,
    line: u64,
    fields: &[Cow<'_, str>],
) -> Result<ResidentRecord, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut ctx = Ctx(RowContext {
        line,
        columns: &COLUMNS,
        fields,
        errors: &mut errors,
        secret: Some(Col::MyNumber as usize),
    });
    let address_number = ctx.required(Col::AddressNumber, AddressNumber::parse);
    let integrated = ctx.optional(Col::IntegratedAddressNumber, IntegratedAddressNumber::parse);
    let my_number = ctx.optional(Col::MyNumber, MyNumber::parse);
    let household_number = ctx.optional(Col::Household, HouseholdNumber::parse);
    let name = ctx.required(Col::Name, PersonName::parse);
    let kana = ctx.required(Col::Kana, KanaName::parse);
    let birth_date = ctx.required(Col::Birth, parse_date);
    let sex = ctx.required(Col::Sex, Sex::parse);
    let postal_code = ctx.optional(Col::Postal, PostalCode::parse);
    let status = ctx.required(Col::Status, ResidentStatus::parse);
    let change_reason = ctx.optional(Col::Reason, ChangeReason::parse);
    let changed_on = ctx.optional(Col::ChangedOn, parse_date);
    let notified_on = ctx.optional(Col::NotifiedOn, parse_date);
    let protected = ctx.optional(
        Col::Protected,
        |s| match sesshu_domain::digits::normalize_digits(s).as_str() {
            "1" => Ok(true),
            "0" => Ok(false),
            _ => Err("支援措置は 1 (対象) または 0/空欄 です"),
        },
    );
    if let (Some(birth), Some(today)) = (birth_date, today)
        && birth > today
    {
        ctx.error(Col::Birth, "生年月日が未来の日付です");
    }
    if let (Some(birth), Some(Some(changed))) = (birth_date, changed_on)
        && changed < birth
    {
        ctx.error(Col::ChangedOn, "異動日が生年月日より前です");
    }
    // Free text never holds a My Number. The keys may legitimately be 12 digits that happen to
    // pass the check (one in ten such numbers does), so there only the row's own number is
    // refused: the sign of a column mapped onto the wrong one.
    for c in [
        Col::Relationship,
        Col::Name,
        Col::Address,
        Col::AddressDetail,
        Col::District,
        Col::School,
        Col::Phone,
        Col::PreviousAddress,
        Col::NextAddress,
    ] {
        ctx.0.refuse_my_number(c as usize);
    }
    if let Some(Some(own)) = &my_number {
        for c in [
            Col::AddressNumber,
            Col::IntegratedAddressNumber,
            Col::Household,
        ] {
            if MyNumber::parse(ctx.0.value(c as usize)).is_ok_and(|n| n == *own) {
                ctx.error(
                    c,
                    "この行の個人番号と同じ値です (列の対応を確かめてください)",
                );
            }
        }
    }
    let text = |c: Col| optional_text(&fields[c as usize]);
    match (address_number, name, kana, birth_date, sex, status) {
        (
            Some(address_number),
            Some(name),
            Some(kana),
            Some(birth_date),
            Some(sex),
            Some(status),
        ) if errors.is_empty() => Ok(ResidentRecord {
            line,
            person: Person {
                address_number,
                integrated_address_number: integrated.flatten(),
                my_number: my_number.flatten(),
                household_number: household_number.flatten(),
                relationship: text(Col::Relationship),
                name,
                kana,
                birth_date,
                sex,
                postal_code: postal_code.flatten(),
                address: text(Col::Address),
                address_detail: text(Col::AddressDetail),
                district_code: text(Col::District),
                school_district: text(Col::School),
                phone: text(Col::Phone),
                status,
                change_reason: change_reason.flatten(),
                changed_on: changed_on.flatten(),
                notified_on: notified_on.flatten(),
                previous_address: text(Col::PreviousAddress),
                next_address: text(Col::NextAddress),
                protected: protected.flatten().unwrap_or(false),
            },
        }),
        _ => Err(errors),
    }
}

/// The shared row context, addressed by this format's column names.
struct Ctx<'a, 'f>(RowContext<'a, 'f>);

impl Ctx<'_, '_> {
    fn error(&mut self, c: Col, reason: impl Into<String>) {
        self.0.error(c as usize, reason);
    }

    fn required<T, E: std::fmt::Display>(
        &mut self,
        c: Col,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        self.0.required(c as usize, parse)
    }

    fn optional<T, E: std::fmt::Display>(
        &mut self,
        c: Col,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<Option<T>> {
        self.0.optional(c as usize, parse)
    }
}

/// Writes a feed in exactly the layout the reader accepts.
pub struct ResidentWriter<W: Write> {
    out: csv::Writer<W>,
    encoding: TextEncoding,
    buf: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("{0} に変換できない文字があります")]
    Unmappable(&'static str),
}

impl<W: Write> ResidentWriter<W> {
    pub fn new(inner: W, encoding: TextEncoding) -> Result<Self, WriteError> {
        let out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(inner);
        let mut w = Self {
            out,
            encoding,
            buf: Vec::with_capacity(COLUMNS.len()),
        };
        let header: Vec<String> = COLUMNS.iter().map(|(n, _)| (*n).to_owned()).collect();
        w.write_fields(&header)?;
        Ok(w)
    }

    fn write_fields(&mut self, fields: &[String]) -> Result<(), WriteError> {
        let mut encoded = Vec::with_capacity(fields.len());
        for f in fields {
            encoded.push(
                self.encoding
                    .encode(f)
                    .ok_or(WriteError::Unmappable(self.encoding.label()))?,
            );
        }
        self.out
            .write_record(encoded.iter().map(|c| c.as_ref()))
            .map_err(|e| WriteError::Io(io::Error::other(e)))
    }

    pub fn write(&mut self, p: &Person) -> Result<(), WriteError> {
        let date = |d: Option<CivilDate>| {
            d.map(|d| d.format("%Y%m%d").to_string())
                .unwrap_or_default()
        };
        let text = |s: &Option<String>| s.clone().unwrap_or_default();
        let my_number = p
            .my_number
            .as_ref()
            .map(|n| String::from_utf8_lossy(&n.expose()).into_owned())
            .unwrap_or_default();
        let mut fields = std::mem::take(&mut self.buf);
        fields.clear();
        fields.extend([
            p.address_number.to_string(),
            p.integrated_address_number
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            my_number,
            p.household_number
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            text(&p.relationship),
            format!("{} {}", p.name.family, p.name.given)
                .trim_end()
                .to_owned(),
            format!("{} {}", p.kana.family, p.kana.given)
                .trim_end()
                .to_owned(),
            date(Some(p.birth_date)),
            p.sex.code().to_string(),
            p.postal_code
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            text(&p.address),
            text(&p.address_detail),
            text(&p.district_code),
            text(&p.school_district),
            text(&p.phone),
            p.status.code().to_string(),
            p.change_reason
                .map(|r| format!("{:02}", r.code()))
                .unwrap_or_default(),
            date(p.changed_on),
            date(p.notified_on),
            text(&p.previous_address),
            text(&p.next_address),
            if p.protected {
                "1".into()
            } else {
                String::new()
            },
        ]);
        let result = self.write_fields(&fields);
        self.buf = fields;
        result
    }

    pub fn finish(mut self) -> Result<W, WriteError> {
        self.out.flush()?;
        self.out
            .into_inner()
            .map_err(|e| WriteError::Io(io::Error::other(e.to_string())))
    }
}
