//! What every input file shares: encoding sniffing, CRLF handling, columns matched by header name
//! (with operator aliases), truncation detection and per-row decoding. The readers of each format
//! (residents, doses) only parse the decoded fields.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Read};

use crate::encoding::{Encoding, TextEncoding, sniff};
use crate::report::RowError;

/// A column of a format: its standard header name and whether it is required.
pub type Column = (&'static str, bool);

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

/// Turns CRLF, and a CR alone, into LF before the CSV parser sees it: the parser counts lines by
/// LF but also ends a record at a lone CR, so without this a row after a CR (an old Mac file, or
/// a CR inside the header) would be reported on the wrong line. CR and LF never occur inside a
/// Shift_JIS double-byte character, so this is safe on raw bytes.
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
                // A CR at the very end of the file ends its line.
                if self.held_cr {
                    buf[0] = b'\n';
                }
                self.held_cr = false;
                return Ok(start);
            }
            let total = start + n;
            let mut out = 0;
            let mut i = 0;
            while i < total {
                let b = buf[i];
                if b == b'\r' && i + 1 < total {
                    i += 1;
                    if buf[i] == b'\n' {
                        continue;
                    }
                    buf[out] = b'\n';
                    out += 1;
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

/// Streams a CSV file whose columns are matched by header name.
pub struct TableReader<R: Read> {
    csv: csv::Reader<Tail<R>>,
    encoding: TextEncoding,
    columns: &'static [Column],
    index: Vec<Option<usize>>,
    width: usize,
    warnings: Vec<String>,
    pending: Option<(u64, csv::ByteRecord)>,
    done: bool,
}

/// One physical row, not yet decoded.
#[derive(Debug)]
pub struct RawRow {
    pub line: u64,
    record: csv::ByteRecord,
}

impl<R: Read> std::fmt::Debug for TableReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableReader")
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

impl TableReader<Box<dyn Read>> {
    /// Opens a file; fails when its header cannot be the header of this format.
    pub fn new<S: Read + 'static>(
        source: S,
        encoding: Encoding,
        aliases: &HashMap<String, String>,
        columns: &'static [Column],
    ) -> Result<Self, FileError> {
        let (encoding, body) = sniff(source, encoding)?;
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
        let mut index = vec![None; columns.len()];
        let mut warnings = Vec::new();
        for (pos, raw) in header.iter().enumerate() {
            let name = encoding.decode(raw).ok_or(FileError::Encoding {
                line: 1,
                encoding: encoding.label(),
            })?;
            let name = name.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            let name = aliases.get(name).map_or(name, String::as_str);
            match columns.iter().position(|(c, _)| *c == name) {
                Some(i) if index[i].is_some() => {
                    return Err(FileError::DuplicateColumn(name.to_owned()));
                }
                Some(i) => index[i] = Some(pos),
                None if name.is_empty() => {}
                None => warnings.push(format!("不明な列「{name}」は無視します")),
            }
        }
        let missing: Vec<&str> = columns
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
            columns,
            index,
            width: header.len(),
            warnings,
            pending: None,
            done: false,
        })
    }
}

impl<R: Read> TableReader<R> {
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

    /// Whether the file has this (optional) column.
    pub fn has(&self, column: usize) -> bool {
        self.index.get(column).is_some_and(Option::is_some)
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

    /// The next row: `Ok(None)` at the end, `Ok(Some(Err(..)))` for a row with the wrong number
    /// of fields, `Err` when the file turns out to be unusable (truncated…).
    pub fn next_row(&mut self) -> Result<Option<Result<RawRow, RowError>>, FileError> {
        let Some((line, record)) = self.read_raw()? else {
            return Ok(None);
        };
        if record.len() < self.width {
            // A short last row without a final newline is a cut transfer, not a keying error.
            let next = self.read_raw()?;
            let at_end = next.is_none();
            self.pending = next;
            if at_end && self.csv.get_ref().last != Some(b'\n') {
                return Err(FileError::Truncated { line });
            }
        }
        if record.len() != self.width {
            let reason = format!(
                "列の数が見出し ({}列) と異なります ({}列)",
                self.width,
                record.len()
            );
            return Ok(Some(Err(RowError::new(line, None, reason, None))));
        }
        Ok(Some(Ok(RawRow { line, record })))
    }

    /// The next row decoded and handed to `parse` (with its line), or the row's errors.
    #[allow(clippy::type_complexity)]
    pub fn next_parsed<T>(
        &mut self,
        parse: impl FnOnce(u64, &[Cow<'_, str>]) -> Result<T, Vec<RowError>>,
    ) -> Result<Option<Result<T, Vec<RowError>>>, FileError> {
        let Some(row) = self.next_row()? else {
            return Ok(None);
        };
        let row = match row {
            Ok(row) => row,
            Err(e) => return Ok(Some(Err(vec![e]))),
        };
        Ok(Some(match self.decode(&row) {
            Ok(fields) => parse(row.line, &fields),
            Err(errors) => Err(errors),
        }))
    }

    /// The row's fields in the order of the format's columns (blank for a column the file lacks).
    pub fn decode<'r>(&self, row: &'r RawRow) -> Result<Vec<Cow<'r, str>>, Vec<RowError>> {
        let mut errors = Vec::new();
        let mut fields = vec![Cow::Borrowed(""); self.columns.len()];
        for (i, slot) in fields.iter_mut().enumerate() {
            let Some(pos) = self.index[i] else { continue };
            let raw = row.record.get(pos).unwrap_or_default();
            match self.encoding.decode(raw) {
                Some(text) => *slot = text,
                None => errors.push(RowError::new(
                    row.line,
                    Some(self.columns[i].0),
                    format!("{} として読めない文字があります", self.encoding.label()),
                    None,
                )),
            }
        }
        if errors.is_empty() {
            Ok(fields)
        } else {
            Err(errors)
        }
    }
}

/// Collects the row errors of one row while its fields are parsed.
pub(crate) struct RowContext<'a, 'f> {
    pub line: u64,
    pub columns: &'static [Column],
    pub fields: &'a [Cow<'f, str>],
    pub errors: &'a mut Vec<RowError>,
    /// A column whose value is never echoed into a report (the My Number).
    pub secret: Option<usize>,
}

impl RowContext<'_, '_> {
    pub fn value(&self, c: usize) -> &str {
        sesshu_domain::digits::trim_spaces(&self.fields[c])
    }

    pub fn error(&mut self, c: usize, reason: impl Into<String>) {
        let value = self.value(c).to_owned();
        let value = if self.secret == Some(c) {
            None
        } else {
            Some(value.as_str())
        };
        self.errors.push(RowError::new(
            self.line,
            Some(self.columns[c].0),
            reason,
            value,
        ));
    }

    /// Refuses a value holding what passes as a My Number in a column meant for something else
    /// (a phone number, an address, a note): a shifted column or a number typed in the wrong
    /// box must not land in the register, where it would be shown and exported unsealed.
    pub fn refuse_my_number(&mut self, c: usize) {
        if crate::report::contains_my_number(self.value(c)) {
            self.error(
                c,
                "個人番号と思われる値です: この列には入れられません (個人番号は「個人番号」の列へ)",
            );
        }
    }

    pub fn required<T, E: std::fmt::Display>(
        &mut self,
        c: usize,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        if self.value(c).is_empty() {
            self.error(c, "必須項目が空です");
            return None;
        }
        self.required_or_blank(c, parse)
    }

    /// A value whose blank means something (parsed like any other), `None` for an error.
    pub fn required_or_blank<T, E: std::fmt::Display>(
        &mut self,
        c: usize,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match parse(self.value(c)) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(c, e.to_string());
                None
            }
        }
    }

    /// `Some(None)` for a blank value, `None` for an error.
    pub fn optional<T, E: std::fmt::Display>(
        &mut self,
        c: usize,
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
    fn crlf_and_a_lone_cr_become_lf_across_chunk_boundaries() {
        assert_eq!(through(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(through(&[b"a\r", b"\nb"]), b"a\nb");
        assert_eq!(through(&[b"a\r", b"b\r"]), b"a\nb\n");
        assert_eq!(through(&[b"\r", b"\r", b"\n"]), b"\n\n");
        assert_eq!(through(&[b"a\rb\r\nc"]), b"a\nb\nc");
    }

    /// Found by fuzzing: a CR alone inside the header made the parser end a record there
    /// while lines were counted by LF, so the first data row was reported as line 1.
    #[test]
    fn a_row_after_a_lone_cr_is_numbered_by_its_line() {
        use crate::resident::{COLUMNS, parse_row};
        let header = COLUMNS.iter().map(|c| c.0).collect::<Vec<_>>().join(",");
        let text = format!("{header}\r,,\r\n");
        let mut table = TableReader::new(
            std::io::Cursor::new(text.into_bytes()),
            crate::Encoding::Utf8,
            &Default::default(),
            &COLUMNS,
        )
        .unwrap();
        let row = table.next_parsed(|line, fields| parse_row(None, line, fields));
        let Ok(Some(Err(errors))) = row else {
            panic!("a row error: {row:?}");
        };
        assert!(errors.iter().all(|e| e.line == 2), "{errors:?}");
    }
}
