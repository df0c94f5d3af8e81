//! 住民記録連携ファイル (formats.md §1): one row per person, columns matched by header name.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use sesshu_domain::person::optional_text;
use sesshu_domain::{
    AddressNumber, ChangeReason, CivilDate, HouseholdNumber, IntegratedAddressNumber, KanaName,
    MyNumber, Person, PersonName, PostalCode, ResidentStatus, Sex, parse_date,
};

use crate::encoding::{Encoding, TextEncoding, sniff};
use crate::report::RowError;

/// Every column of the feed, in the order the writer emits them; `true` marks the required.
pub const COLUMNS: [(&str, bool); 22] = [
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

#[cfg(test)]
mod crlf_tests {
    use super::*;

    fn through(chunks: &[&[u8]]) -> Vec<u8> {
        struct Chunks<'a>(Vec<&'a [u8]>);
        impl Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Ok(0);
                }
                let c = self.0.remove(0);
                buf[..c.len()].copy_from_slice(c);
                Ok(c.len())
            }
        }
        let mut out = Vec::new();
        CrlfToLf {
            inner: Chunks(chunks.to_vec()),
            held_cr: false,
        }
        .read_to_end(&mut out)
        .unwrap_or_default();
        out
    }

    #[test]
    fn crlf_becomes_lf_across_chunk_boundaries() {
        assert_eq!(through(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(through(&[b"a\r", b"\nb"]), b"a\nb");
        assert_eq!(through(&[b"a\r", b"b\r"]), b"a\rb\r");
        assert_eq!(through(&[b"\r", b"\r", b"\n"]), b"\r\n");
    }
}

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

/// A file-level problem: nothing of the file may be applied.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("ファイルを読めません: {0}")]
    Io(#[from] io::Error),
    #[error("ファイルが空です (見出し行がありません)")]
    Empty,
    #[error(
        "必須の列がありません: {missing}。見出し行の文字コード ({encoding}) と列名を確認してください"
    )]
    MissingColumns {
        missing: String,
        encoding: &'static str,
    },
    #[error("1行目: 列名「{0}」が重複しています")]
    DuplicateColumn(String),
    #[error(
        "{line}行目: {encoding} として読めない文字があります。文字コードを確認してください (--encoding)"
    )]
    Encoding { line: u64, encoding: &'static str },
    #[error(
        "{line}行目でファイルが途中で切れています (列が足りず、最終行に改行がありません)。転送をやり直してください"
    )]
    Truncated { line: u64 },
    #[error("{line}行目: CSV として読めません: {reason}")]
    Csv { line: u64, reason: String },
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

/// Wraps the byte source to remember whether the file ended with a newline.
struct Tail<R> {
    inner: R,
    last: Option<u8>,
}

impl<R: Read> Read for Tail<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

/// Turns CRLF into LF before the CSV parser sees it: the parser counts lines by LF, and with
/// CRLF its record positions lag one line behind. CR and LF never occur inside a Shift_JIS
/// double-byte character, so this is safe on raw bytes.
struct CrlfToLf<R> {
    inner: R,
    held_cr: bool,
}

impl<R: Read> Read for CrlfToLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let start = usize::from(self.held_cr);
            if self.held_cr {
                buf[0] = b'\r';
            }
            let n = self.inner.read(&mut buf[start..])?;
            if n == 0 {
                // A CR at the very end of the file stays a CR.
                self.held_cr = false;
                return Ok(start);
            }
            let total = start + n;
            let mut out = 0;
            let mut i = 0;
            while i < total {
                let b = buf[i];
                if b == b'\r' && i + 1 < total && buf[i + 1] == b'\n' {
                    i += 1;
                    continue;
                }
                buf[out] = b;
                out += 1;
                i += 1;
            }
            // A CR at the end of this chunk may be the first half of a CRLF: hold it back.
            self.held_cr = out > 0 && buf[out - 1] == b'\r';
            if self.held_cr {
                out -= 1;
            }
            if out > 0 {
                return Ok(out);
            }
        }
    }
}

/// Streams a resident feed: header checks up front, then one validated row at a time.
pub struct ResidentReader<R: Read> {
    csv: csv::Reader<Tail<R>>,
    encoding: TextEncoding,
    index: [Option<usize>; COLUMNS.len()],
    width: usize,
    warnings: Vec<String>,
    today: Option<CivilDate>,
    pending: Option<(u64, csv::ByteRecord)>,
    done: bool,
}

impl<R: Read> std::fmt::Debug for ResidentReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentReader")
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

fn csv_error(e: csv::Error) -> FileError {
    let line = e.position().map_or(0, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => FileError::Io(io),
        other => FileError::Csv {
            line,
            reason: format!("{other:?}"),
        },
    }
}

impl ResidentReader<Box<dyn Read>> {
    /// Opens a feed; fails when the file as a whole cannot be a valid feed.
    pub fn new<S: Read + 'static>(source: S, options: &ReadOptions) -> Result<Self, FileError> {
        let (encoding, body) = sniff(source, options.encoding)?;
        let body: Box<dyn Read> = Box::new(CrlfToLf {
            inner: body,
            held_cr: false,
        });
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(256 * 1024)
            .from_reader(Tail {
                inner: body,
                last: None,
            });
        let mut header = csv::ByteRecord::new();
        if !csv.read_byte_record(&mut header).map_err(csv_error)? {
            return Err(FileError::Empty);
        }
        let mut index = [None; COLUMNS.len()];
        let mut warnings = Vec::new();
        for (pos, raw) in header.iter().enumerate() {
            let name = encoding.decode(raw).ok_or(FileError::Encoding {
                line: 1,
                encoding: encoding.label(),
            })?;
            let name = name.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            let name = options.aliases.get(name).map_or(name, String::as_str);
            match COLUMNS.iter().position(|(c, _)| *c == name) {
                Some(i) if index[i].is_some() => {
                    return Err(FileError::DuplicateColumn(name.to_owned()));
                }
                Some(i) => index[i] = Some(pos),
                None if name.is_empty() => {}
                None => warnings.push(format!("不明な列「{name}」は無視します")),
            }
        }
        let missing: Vec<&str> = COLUMNS
            .iter()
            .zip(index.iter())
            .filter(|((_, required), found)| *required && found.is_none())
            .map(|((name, _), _)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(FileError::MissingColumns {
                missing: missing.join(", "),
                encoding: encoding.label(),
            });
        }
        Ok(Self {
            csv,
            encoding,
            index,
            width: header.len(),
            warnings,
            today: options.today,
            pending: None,
            done: false,
        })
    }
}

impl<R: Read> ResidentReader<R> {
    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    /// Warnings about the header (unknown columns).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Bytes consumed so far, for progress display.
    pub fn position(&self) -> u64 {
        self.csv.position().byte()
    }

    fn read_raw(&mut self) -> Result<Option<(u64, csv::ByteRecord)>, FileError> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        if self.done {
            return Ok(None);
        }
        let mut rec = csv::ByteRecord::new();
        if self.csv.read_byte_record(&mut rec).map_err(csv_error)? {
            let line = rec.position().map_or(0, |p| p.line());
            Ok(Some((line, rec)))
        } else {
            self.done = true;
            Ok(None)
        }
    }

    /// The next row: `Ok(None)` at the end, `Ok(Some(Err(..)))` for a bad row, `Err` when the file
    /// turns out to be unusable (truncated, wrong encoding in the header…).
    pub fn next_record(
        &mut self,
    ) -> Result<Option<Result<ResidentRecord, Vec<RowError>>>, FileError> {
        let Some((line, rec)) = self.read_raw()? else {
            return Ok(None);
        };
        if rec.len() < self.width {
            // A short last row without a final newline is a cut transfer, not a keying error.
            let next = self.read_raw()?;
            let at_end = next.is_none();
            self.pending = next;
            if at_end && self.csv.get_ref().last != Some(b'\n') {
                return Err(FileError::Truncated { line });
            }
        }
        if rec.len() != self.width {
            let reason = format!(
                "列の数が見出し ({}列) と異なります ({}列)",
                self.width,
                rec.len()
            );
            return Ok(Some(Err(vec![RowError::new(line, None, reason, None)])));
        }
        Ok(Some(self.parse_row(line, &rec)))
    }

    fn parse_row(&self, line: u64, rec: &csv::ByteRecord) -> Result<ResidentRecord, Vec<RowError>> {
        let mut errors = Vec::new();
        let mut fields: [std::borrow::Cow<'_, str>; COLUMNS.len()] = Default::default();
        for (i, slot) in fields.iter_mut().enumerate() {
            let Some(pos) = self.index[i] else { continue };
            let raw = rec.get(pos).unwrap_or_default();
            match self.encoding.decode(raw) {
                Some(text) => *slot = text,
                None => errors.push(RowError::new(
                    line,
                    Some(COLUMNS[i].0),
                    format!("{} として読めない文字があります", self.encoding.label()),
                    None,
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut ctx = RowContext {
            line,
            fields: &fields,
            errors: &mut errors,
        };
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
        let protected =
            ctx.optional(
                Col::Protected,
                |s| match sesshu_domain::digits::normalize_digits(s).as_str() {
                    "1" => Ok(true),
                    "0" => Ok(false),
                    _ => Err("支援措置は 1 (対象) または 0/空欄 です"),
                },
            );
        if let (Some(birth), Some(today)) = (birth_date, self.today)
            && birth > today
        {
            ctx.error(Col::Birth, "生年月日が未来の日付です");
        }
        if let (Some(birth), Some(Some(changed))) = (birth_date, changed_on)
            && changed < birth
        {
            ctx.error(Col::ChangedOn, "異動日が生年月日より前です");
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
}

struct RowContext<'a, 'f> {
    line: u64,
    fields: &'a [std::borrow::Cow<'f, str>; COLUMNS.len()],
    errors: &'a mut Vec<RowError>,
}

impl RowContext<'_, '_> {
    fn value(&self, c: Col) -> &str {
        sesshu_domain::digits::trim_spaces(&self.fields[c as usize])
    }

    fn error(&mut self, c: Col, reason: impl Into<String>) {
        let value = self.value(c).to_owned();
        let value = if c == Col::MyNumber {
            None
        } else {
            Some(value.as_str())
        };
        self.errors.push(RowError::new(
            self.line,
            Some(COLUMNS[c as usize].0),
            reason,
            value,
        ));
    }

    fn required<T, E: std::fmt::Display>(
        &mut self,
        c: Col,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        if self.value(c).is_empty() {
            self.error(c, "必須項目が空です");
            return None;
        }
        match parse(self.value(c)) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(c, e.to_string());
                None
            }
        }
    }

    /// `Some(None)` for a blank value, `None` for an error.
    fn optional<T, E: std::fmt::Display>(
        &mut self,
        c: Col,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<Option<T>> {
        if self.value(c).is_empty() {
            return Some(None);
        }
        match parse(self.value(c)) {
            Ok(v) => Some(Some(v)),
            Err(e) => {
                self.error(c, e.to_string());
                None
            }
        }
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
