//! The per-row error report: line, column, reason (and the value, unless it may be a My Number).

use std::io::{self, Write};

/// One problem with one field (or the whole row when `column` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based, the header being line 1.
    pub line: u64,
    pub column: Option<String>,
    pub reason: String,
    /// The offending value, already redacted by [`RowError::new`].
    pub value: Option<String>,
    /// The row's 宛名番号 as written, when it reads as one: who to look up.
    pub address_number: Option<String>,
    /// The row's clinic (code and name as written): whom to call.
    pub clinic: Option<String>,
}

impl RowError {
    pub fn new(
        line: u64,
        column: Option<&str>,
        reason: impl Into<String>,
        value: Option<&str>,
    ) -> Self {
        Self {
            line,
            column: column.map(str::to_owned),
            reason: reason.into(),
            value: value.map(redact),
            address_number: None,
            clinic: None,
        }
    }

    /// The same error naming the row's person and clinic, redacted like the value.
    pub fn about(mut self, address_number: Option<&str>, clinic: Option<&str>) -> Self {
        let kept = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(redact);
        self.address_number = kept(address_number);
        self.clinic = kept(clinic);
        self
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}行目", self.line)?;
        if let Some(c) = &self.column {
            write!(f, " [{c}]")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Hides any value holding a 12-digit number (separators allowed) that passes the My Number
/// check, whatever column it arrived in: a shifted column must not smuggle a number into the
/// report. Longer digit runs (15-digit address numbers) are not My Numbers and stay visible —
/// unless cutting the value to 100 characters leaves 12 of their digits standing alone (found
/// by the resident reader's fuzzer).
pub fn redact(value: &str) -> String {
    let cut: String = value.chars().take(100).collect();
    if contains_my_number(value) || contains_my_number(&cut) {
        "(個人番号の可能性があるため表示しません)".to_owned()
    } else {
        cut
    }
}

pub use sesshu_domain::my_number::contains_my_number;

/// A cell a spreadsheet will not run: a leading formula character (`= + - @`, or the tab and
/// carriage return that can hide one) gets an apostrophe. A refused row's value is whatever the
/// file held, and the clerk opens the report in Excel. Every CSV meant for a spreadsheet writes
/// its cells through this (the import report, the access review, the audit export, the print
/// vendor's file).
pub fn defuse(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Writes the report as UTF-8 CSV with a BOM, so that Excel opens it correctly.
pub struct ErrorReport<W: Write> {
    out: csv::Writer<W>,
}

impl<W: Write> ErrorReport<W> {
    pub fn new(mut inner: W) -> io::Result<Self> {
        inner.write_all(b"\xEF\xBB\xBF")?;
        let mut out = csv::Writer::from_writer(inner);
        out.write_record(["行", "列", "理由", "値", "宛名番号", "医療機関"])
            .map_err(io::Error::other)?;
        Ok(Self { out })
    }

    pub fn write(&mut self, e: &RowError) -> io::Result<()> {
        let line = e.line.to_string();
        let text = |s: &Option<String>| defuse(s.as_deref().unwrap_or("")).into_owned();
        self.out
            .write_record([
                line,
                text(&e.column),
                defuse(&e.reason).into_owned(),
                text(&e.value),
                text(&e.address_number),
                text(&e.clinic),
            ])
            .map_err(io::Error::other)
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        self.out
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_cut_short_does_not_leave_a_my_number_standing() {
        // 88 other characters, then 30 zeros: no 12-digit run, but the first 100 characters
        // end in twelve zeros, which pass the check digit.
        let value = format!("{}{}", "ﾄ".repeat(88), "0".repeat(30));
        assert!(!contains_my_number(&value));
        assert_eq!(redact(&value), "(個人番号の可能性があるため表示しません)");
        let long_ok = format!("{}{}", "ﾄ".repeat(10), "0".repeat(30));
        assert_eq!(redact(&long_ok), long_ok);
    }

    #[test]
    fn report_is_csv_with_bom() -> io::Result<()> {
        let mut r = ErrorReport::new(Vec::new())?;
        r.write(&RowError::new(
            3,
            Some("生年月日"),
            "存在しない日付です",
            Some("2025-02-30"),
        ))?;
        let bytes = r.finish()?;
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with('\u{feff}'));
        assert!(text.contains("3,生年月日,存在しない日付です,2025-02-30"));
        Ok(())
    }

    #[test]
    fn a_cell_that_would_run_as_a_formula_is_defused() -> io::Result<()> {
        for hostile in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(defuse(hostile), format!("'{hostile}"));
        }
        assert_eq!(defuse("佐藤"), "佐藤");
        let mut r = ErrorReport::new(Vec::new())?;
        let mut e = RowError::new(
            2,
            Some("氏名"),
            "=HYPERLINK(\"x\")",
            Some("=cmd|' /C calc'!A0"),
        );
        e.clinic = Some("@clinic".into());
        r.write(&e)?;
        let bytes = r.finish()?;
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("'=cmd|"), "{text}");
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert!(text.contains("'@clinic"), "{text}");
        Ok(())
    }
}
