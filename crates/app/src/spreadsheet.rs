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
