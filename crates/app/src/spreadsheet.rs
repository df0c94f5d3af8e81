//! CSV as the staff's spreadsheets open it: UTF-8 with a BOM, CRLF, every cell quoted, and a
//! cell that starts like a formula defused, so a value someone typed (a search condition in the
//! audit log, a name) is never run by the spreadsheet.

/// The byte-order mark Excel needs to read UTF-8.
pub const BOM: &str = "\u{feff}";

/// One CSV line.
pub fn push_row(out: &mut String, cells: &[&str]) {
    let line: Vec<String> = cells.iter().map(|c| cell(c)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

/// A cell, quoted; a leading formula character is defused with an apostrophe.
pub fn cell(s: &str) -> String {
    let s = sesshu_formats::report::defuse(s);
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The text encoding of a CSV the staff download.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CsvEncoding {
    /// UTF-8 with a BOM, as Excel opens it.
    #[default]
    Utf8Bom,
    /// Shift_JIS; a character it lacks becomes 〓.
    ShiftJis,
}

impl CsvEncoding {
    /// `utf8` or `sjis`, as the command line and the pages name them.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "utf8" => Some(Self::Utf8Bom),
            "sjis" => Some(Self::ShiftJis),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Utf8Bom => "text/csv; charset=utf-8",
            Self::ShiftJis => "text/csv; charset=shift_jis",
        }
    }

    /// The CSV's bytes, and how many of its lines held a character the encoding lacks.
    pub fn encode(self, text: &str) -> (Vec<u8>, usize) {
        match self {
            Self::Utf8Bom => (format!("{BOM}{text}").into_bytes(), 0),
            Self::ShiftJis => {
                let mut out = Vec::with_capacity(text.len());
                let mut lacking = 0;
                for line in text.split_inclusive("\r\n") {
                    let (bytes, lacked) = shift_jis(line);
                    lacking += usize::from(lacked);
                    out.extend_from_slice(&bytes);
                }
                (out, lacking)
            }
        }
    }
}

/// `text` in Shift_JIS, each character it lacks written as 〓 (the customary mark); `true` when
/// there was one.
pub fn shift_jis(text: &str) -> (Vec<u8>, bool) {
    let (encoded, _, bad) = encoding_rs::SHIFT_JIS.encode(text);
    if !bad {
        return (encoded.into_owned(), false);
    }
    let fixed: String = text
        .chars()
        .map(|c| {
            let mut b = [0u8; 4];
            let (_, _, bad) = encoding_rs::SHIFT_JIS.encode(c.encode_utf8(&mut b));
            if bad { '〓' } else { c }
        })
        .collect();
    (encoding_rs::SHIFT_JIS.encode(&fixed).0.into_owned(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formula_is_defused_and_quotes_are_doubled() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("佐藤"), "\"佐藤\"");
        let mut out = String::new();
        push_row(&mut out, &["a", "-1"]);
        assert_eq!(out, "\"a\",\"'-1\"\r\n");
    }
}
