//! Shift_JIS (CP932) or UTF-8, detected from the start of the file or chosen by the operator.

use std::borrow::Cow;
use std::io::{self, Read};

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Auto,
    ShiftJis,
    Utf8,
}

impl std::str::FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Encoding::Auto),
            "sjis" | "shift_jis" | "shift-jis" | "cp932" | "windows-31j" => Ok(Encoding::ShiftJis),
            "utf8" | "utf-8" => Ok(Encoding::Utf8),
            other => Err(format!("unknown encoding '{other}' (auto, sjis, utf8)")),
        }
    }
}

/// The encoding a file is read in, once decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    ShiftJis,
    Utf8,
}

impl TextEncoding {
    pub fn label(self) -> &'static str {
        match self {
            TextEncoding::ShiftJis => "Shift_JIS",
            TextEncoding::Utf8 => "UTF-8",
        }
    }

    /// Decodes one field. CSV structure bytes (`,` `"` CR LF) never occur inside a Shift_JIS
    /// double-byte character, so splitting the raw bytes first and decoding each field is exact.
    pub fn decode<'a>(self, bytes: &'a [u8]) -> Option<Cow<'a, str>> {
        match self {
            TextEncoding::Utf8 => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
            // encoding_rs's Shift_JIS is the WHATWG one, i.e. Windows-31J with the NEC and IBM
            // extensions that municipal systems emit.
            TextEncoding::ShiftJis => {
                encoding_rs::SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes)
            }
        }
    }

    /// Encodes text for writing; `None` when a character has no Shift_JIS form.
    pub fn encode(self, text: &str) -> Option<Cow<'_, [u8]>> {
        match self {
            TextEncoding::Utf8 => Some(Cow::Borrowed(text.as_bytes())),
            TextEncoding::ShiftJis => {
                let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
                (!unmappable).then_some(bytes)
            }
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const SNIFF_LEN: usize = 64 * 1024;

/// Reads the first bytes, decides the encoding and returns a reader positioned after any BOM.
pub fn sniff<R: Read>(mut reader: R, wanted: Encoding) -> io::Result<(TextEncoding, impl Read)> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut reader)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)?;
    let had_bom = head.starts_with(UTF8_BOM);
    if had_bom {
        head.drain(..UTF8_BOM.len());
    }
    let encoding = match wanted {
        Encoding::Utf8 => TextEncoding::Utf8,
        Encoding::ShiftJis => TextEncoding::ShiftJis,
        Encoding::Auto if had_bom => TextEncoding::Utf8,
        Encoding::Auto => match std::str::from_utf8(&head) {
            Ok(_) => TextEncoding::Utf8,
            // A multi-byte character cut by the sniff window is still UTF-8.
            Err(e) if e.error_len().is_none() => TextEncoding::Utf8,
            Err(_) => TextEncoding::ShiftJis,
        },
    };
    Ok((encoding, io::Cursor::new(head).chain(reader)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(bytes: &[u8]) -> TextEncoding {
        sniff(bytes, Encoding::Auto)
            .map(|(e, _)| e)
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn detection_tells_shift_jis_from_utf8() {
        let text = "宛名番号,氏名\n1,山田 太郎\n";
        assert_eq!(detect(text.as_bytes()), TextEncoding::Utf8);
        let sjis = TextEncoding::ShiftJis.encode(text).unwrap_or_default();
        assert_eq!(detect(&sjis), TextEncoding::ShiftJis);
        let mut bom = UTF8_BOM.to_vec();
        bom.extend_from_slice(text.as_bytes());
        let (enc, mut rest) =
            sniff(&bom[..], Encoding::Auto).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(enc, TextEncoding::Utf8);
        let mut s = String::new();
        rest.read_to_string(&mut s).unwrap_or_default();
        assert_eq!(s, text);
    }

    #[test]
    fn nec_and_ibm_extensions_decode() {
        // ① (NEC row 13) and 髙 (IBM extension) as Windows-31J bytes.
        assert_eq!(
            TextEncoding::ShiftJis.decode(b"\x87\x40").as_deref(),
            Some("①")
        );
        assert_eq!(
            TextEncoding::ShiftJis.decode(b"\xFB\xFC").as_deref(),
            Some("髙")
        );
        assert_eq!(TextEncoding::ShiftJis.decode(b"\x82").as_deref(), None);
        assert_eq!(TextEncoding::ShiftJis.encode("𠮷"), None);
    }
}
