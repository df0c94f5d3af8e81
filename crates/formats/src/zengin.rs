//! 全銀協規定形式 総合振込 (the Zengin total-transfer file) that pays the clinics (F10): fixed
//! records of 120 bytes — one header, a data record per payee, a trailer with the count and the
//! sum, an end record — each ended by CRLF, in JIS X 0201 (ASCII and half-width katakana, as
//! Shift_JIS writes them). The layout is data ([`HEADER`], [`DATA`], [`TRAILER`], [`END`]), the
//! same tables docs/zengin.md gives with their source, and the reader uses it too, so what is
//! written is read back and checked before anyone sees the file.

use std::fmt;

/// A field's characters: `N` digits, right-aligned and zero-filled; `C` bank characters
/// (half-width katakana, upper-case Latin, digits, a few marks), left-aligned and space-filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    N,
    C,
}

/// One field of a record, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub width: usize,
    pub kind: Kind,
}

const fn f(name: &'static str, width: usize, kind: Kind) -> Field {
    Field { name, width, kind }
}

pub const RECORD_BYTES: usize = 120;

/// ヘッダー・レコード.
pub const HEADER: [Field; 13] = [
    f("データ区分", 1, Kind::N),
    f("種別コード", 2, Kind::N),
    f("コード区分", 1, Kind::N),
    f("振込依頼人コード", 10, Kind::N),
    f("振込依頼人名", 40, Kind::C),
    f("振込指定日", 4, Kind::N),
    f("仕向銀行番号", 4, Kind::N),
    f("仕向銀行名", 15, Kind::C),
    f("仕向支店番号", 3, Kind::N),
    f("仕向支店名", 15, Kind::C),
    f("預金種目", 1, Kind::N),
    f("口座番号", 7, Kind::N),
    f("ダミー", 17, Kind::C),
];

/// データ・レコード.
pub const DATA: [Field; 16] = [
    f("データ区分", 1, Kind::N),
    f("被仕向銀行番号", 4, Kind::N),
    f("被仕向銀行名", 15, Kind::C),
    f("被仕向支店番号", 3, Kind::N),
    f("被仕向支店名", 15, Kind::C),
    f("手形交換所番号", 4, Kind::N),
    f("預金種目", 1, Kind::N),
    f("口座番号", 7, Kind::N),
    f("受取人名", 30, Kind::C),
    f("振込金額", 10, Kind::N),
    f("新規コード", 1, Kind::N),
    f("顧客コード1", 10, Kind::C),
    f("顧客コード2", 10, Kind::C),
    f("振込指定区分", 1, Kind::N),
    f("識別表示", 1, Kind::C),
    f("ダミー", 7, Kind::C),
];

/// トレーラ・レコード.
pub const TRAILER: [Field; 4] = [
    f("データ区分", 1, Kind::N),
    f("合計件数", 6, Kind::N),
    f("合計金額", 12, Kind::N),
    f("ダミー", 101, Kind::C),
];

/// エンド・レコード.
pub const END: [Field; 2] = [f("データ区分", 1, Kind::N), f("ダミー", 119, Kind::C)];

/// 種別コード of a total transfer (総合振込).
pub const KIND_TOTAL_TRANSFER: &str = "21";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZenginError {
    #[error("{field}: 「{ch}」は全銀の半角文字に変換できません")]
    Character { field: String, ch: char },
    #[error("{field}: {width}文字を超えています ({len}文字)")]
    TooLong {
        field: String,
        width: usize,
        len: usize,
    },
    #[error("{field}: 空にできません")]
    Empty { field: String },
    #[error("{field}: 数字{width}桁までです (「{value}」)")]
    Digits {
        field: String,
        width: usize,
        value: String,
    },
    #[error("預金種目は 1 (普通)、2 (当座)、4 (貯蓄)、9 (その他) のいずれかです (「{0}」)")]
    AccountType(String),
    #[error("振込金額が 0 円です: {0}")]
    ZeroAmount(String),
    #[error("振込が 1 件もありません")]
    NoTransfers,
    #[error("{line}件目のレコード: {reason}")]
    Record { line: usize, reason: String },
}

/// Text in the characters a bank accepts, at most `width` of them: the payee's name as the
/// account holds it, a bank's or branch's name. Built by [`BankKana::convert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankKana(String);

impl BankKana {
    /// Converts what staff type — full-width katakana or hiragana, full-width Latin, the long
    /// vowel mark — into the bank's half-width characters: voiced kana become the base and ﾞ,
    /// small kana their large form (banks refuse ｧ…ｯ), ー and ・ become - and `.`. A character
    /// with no such form (a kanji) is refused by name, never dropped.
    pub fn convert(field: &str, text: &str, width: usize) -> Result<Self, ZenginError> {
        let mut out = String::new();
        for c in text.trim_matches([' ', '\u{3000}']).chars() {
            push_bank_chars(&mut out, c).ok_or_else(|| ZenginError::Character {
                field: field.to_owned(),
                ch: c,
            })?;
        }
        let len = out.chars().count();
        if len == 0 {
            return Err(ZenginError::Empty {
                field: field.to_owned(),
            });
        }
        if len > width {
            return Err(ZenginError::TooLong {
                field: field.to_owned(),
                width,
                len,
            });
        }
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BankKana {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const FULL: &str =
    "ヲアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン";
const HALF: &str = "ｦｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ";
const SMALL_FULL: &str = "ァィゥェォッャュョヮヵヶヰヱ";
const SMALL_LARGE: &str = "アイウエオツヤユヨワカケイエ";
const SMALL_HALF: &str = "ｧｨｩｪｫｯｬｭｮ";
const SMALL_HALF_LARGE: &str = "ｱｲｳｴｵﾂﾔﾕﾖ";

fn nth_of(from: &str, to: &str, c: char) -> Option<char> {
    let i = from.chars().position(|x| x == c)?;
    to.chars().nth(i)
}

/// Whether `c` is one of the bank's characters as it stands.
fn is_bank_char(c: char) -> bool {
    c.is_ascii_digit()
        || c.is_ascii_uppercase()
        || matches!(
            c,
            ' ' | '(' | ')' | '-' | '.' | '/' | ',' | '\\' | '｢' | '｣'
        )
        || c == 'ｦ'
        || ('ｱ'..='ﾟ').contains(&c)
}

fn push_bank_chars(out: &mut String, c: char) -> Option<()> {
    // Hiragana become katakana first.
    let c = match c {
        'ぁ'..='ゖ' => char::from_u32(c as u32 + 0x60)?,
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0)?,
        '\u{3000}' => ' ',
        other => other,
    };
    let c = c.to_ascii_uppercase();
    let c = match c {
        'ー' | 'ｰ' | '‐' | '−' | '—' | '―' => '-',
        '・' | '･' => '.',
        '「' => '｢',
        '」' => '｣',
        other => other,
    };
    let c = nth_of(SMALL_FULL, SMALL_LARGE, c)
        .or_else(|| nth_of(SMALL_HALF, SMALL_HALF_LARGE, c))
        .unwrap_or(c);
    if is_bank_char(c) {
        out.push(c);
        return Some(());
    }
    if c == 'ヴ' {
        out.push_str("ｳﾞ");
        return Some(());
    }
    if let Some(h) = nth_of(FULL, HALF, c) {
        out.push(h);
        return Some(());
    }
    // A voiced kana is the code point after its base, a semi-voiced two after (カ ガ, ハ バ パ).
    let base = |d: u32| char::from_u32(c as u32 - d).and_then(|b| nth_of(FULL, HALF, b));
    let voiced = "ガギグゲゴザジズゼゾダヂヅデドバビブベボ";
    let semi = "パピプペポ";
    if voiced.contains(c) {
        out.push(base(1)?);
        out.push('ﾞ');
        return Some(());
    }
    if semi.contains(c) {
        out.push(base(2)?);
        out.push('ﾟ');
        return Some(());
    }
    None
}

/// 預金種目.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountType {
    /// 普通
    Ordinary,
    /// 当座
    Current,
    /// 貯蓄
    Savings,
    /// その他
    Other,
}

impl AccountType {
    pub fn parse(s: &str) -> Result<Self, ZenginError> {
        match s.trim() {
            "1" | "普通" => Ok(Self::Ordinary),
            "2" | "当座" => Ok(Self::Current),
            "4" | "貯蓄" => Ok(Self::Savings),
            "9" | "その他" => Ok(Self::Other),
            other => Err(ZenginError::AccountType(other.to_owned())),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Ordinary => "1",
            Self::Current => "2",
            Self::Savings => "4",
            Self::Other => "9",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Ordinary => "普通",
            Self::Current => "当座",
            Self::Savings => "貯蓄",
            Self::Other => "その他",
        }
    }
}

/// Digits of exactly `width` (a bank or branch number), or up to it (an account number,
/// zero-filled on the left as the layout does).
pub fn digits(field: &str, value: &str, width: usize, exact: bool) -> Result<String, ZenginError> {
    let v = sesshu_domain::digits::normalize_digits(value);
    let ok = !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit())
        && (v.len() == width || (!exact && v.len() < width));
    if ok {
        Ok(v)
    } else {
        Err(ZenginError::Digits {
            field: field.to_owned(),
            width,
            value: value.to_owned(),
        })
    }
}

/// A bank account: bank and branch by number and name, the kind and the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub bank_code: String,
    pub bank_name: BankKana,
    pub branch_code: String,
    pub branch_name: BankKana,
    pub account_type: AccountType,
    pub account_number: String,
}

impl Account {
    /// Validates every part, naming the field that is wrong.
    pub fn new(
        bank_code: &str,
        bank_name: &str,
        branch_code: &str,
        branch_name: &str,
        account_type: &str,
        account_number: &str,
    ) -> Result<Self, ZenginError> {
        Ok(Self {
            bank_code: digits("金融機関コード", bank_code, 4, true)?,
            bank_name: BankKana::convert("金融機関名", bank_name, 15)?,
            branch_code: digits("支店コード", branch_code, 3, true)?,
            branch_name: BankKana::convert("支店名", branch_name, 15)?,
            account_type: AccountType::parse(account_type)?,
            account_number: digits("口座番号", account_number, 7, false)?,
        })
    }
}

/// 振込依頼人: the city's account the money leaves from, and the code its bank gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub code: String,
    pub name: BankKana,
    pub account: Account,
}

impl Requester {
    pub fn new(code: &str, name: &str, account: Account) -> Result<Self, ZenginError> {
        Ok(Self {
            code: digits("振込依頼人コード", code, 10, false)?,
            name: BankKana::convert("振込依頼人名", name, 40)?,
            account,
        })
    }
}

/// One payment: to whom, where, how much, and the code the payee sees on its statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub account: Account,
    /// 受取人名 as the account holds it (≤ 30).
    pub payee: BankKana,
    pub amount_yen: u64,
    /// 顧客コード1: the 医療機関コード, so the city's ledger matches the bank's.
    pub customer_code: String,
}

/// The whole file for one transfer day (`mmdd` of 振込指定日), records ended by CRLF.
pub fn write_transfer_file(
    requester: &Requester,
    transfer_mmdd: &str,
    transfers: &[Transfer],
) -> Result<Vec<u8>, ZenginError> {
    if transfers.is_empty() {
        return Err(ZenginError::NoTransfers);
    }
    let mut out = Vec::with_capacity((transfers.len() + 3) * (RECORD_BYTES + 2));
    let r = requester;
    let a = &r.account;
    push_record(
        &mut out,
        &HEADER,
        &[
            "1",
            KIND_TOTAL_TRANSFER,
            "0",
            &r.code,
            r.name.as_str(),
            transfer_mmdd,
            &a.bank_code,
            a.bank_name.as_str(),
            &a.branch_code,
            a.branch_name.as_str(),
            a.account_type.code(),
            &a.account_number,
            "",
        ],
    )?;
    let mut total: u64 = 0;
    for t in transfers {
        if t.amount_yen == 0 {
            return Err(ZenginError::ZeroAmount(t.payee.to_string()));
        }
        total = total.saturating_add(t.amount_yen);
        let a = &t.account;
        push_record(
            &mut out,
            &DATA,
            &[
                "2",
                &a.bank_code,
                a.bank_name.as_str(),
                &a.branch_code,
                a.branch_name.as_str(),
                "0",
                a.account_type.code(),
                &a.account_number,
                t.payee.as_str(),
                &t.amount_yen.to_string(),
                "0",
                &t.customer_code,
                "",
                "7",
                "",
                "",
            ],
        )?;
    }
    push_record(
        &mut out,
        &TRAILER,
        &["8", &transfers.len().to_string(), &total.to_string(), ""],
    )?;
    push_record(&mut out, &END, &["9", ""])?;
    // Read back what was written: a layout slip is found here, not at the bank.
    let read = read_file(&out)?;
    let summed: u64 = read
        .iter()
        .filter(|r| r.kind == '2')
        .filter_map(|r| r.get("振込金額")?.parse::<u64>().ok())
        .sum();
    if summed != total {
        return Err(ZenginError::Record {
            line: read.len(),
            reason: "合計金額が明細の和と一致しません".into(),
        });
    }
    Ok(out)
}

fn push_record(out: &mut Vec<u8>, layout: &[Field], values: &[&str]) -> Result<(), ZenginError> {
    let start = out.len();
    for (field, value) in layout.iter().zip(values) {
        let len = value.chars().count();
        if len > field.width {
            return Err(ZenginError::TooLong {
                field: field.name.to_owned(),
                width: field.width,
                len,
            });
        }
        match field.kind {
            Kind::N => {
                if !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ZenginError::Digits {
                        field: field.name.to_owned(),
                        width: field.width,
                        value: (*value).to_owned(),
                    });
                }
                out.extend(std::iter::repeat_n(b'0', field.width - len));
                out.extend_from_slice(value.as_bytes());
            }
            Kind::C => {
                for c in value.chars() {
                    out.push(jis_byte(c).ok_or_else(|| ZenginError::Character {
                        field: field.name.to_owned(),
                        ch: c,
                    })?);
                }
                out.extend(std::iter::repeat_n(b' ', field.width - len));
            }
        }
    }
    debug_assert_eq!(out.len() - start, RECORD_BYTES);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// The JIS X 0201 byte of a bank character: ASCII as itself, half-width katakana at 0xA1..0xDF.
fn jis_byte(c: char) -> Option<u8> {
    if !is_bank_char(c) {
        return None;
    }
    if c.is_ascii() {
        return u8::try_from(c).ok();
    }
    u8::try_from(c as u32 - 0xFF61 + 0xA1).ok()
}

fn jis_char(b: u8) -> Option<char> {
    match b {
        0x20..=0x7E => Some(char::from(b)),
        0xA1..=0xDF => char::from_u32(u32::from(b) - 0xA1 + 0xFF61),
        _ => None,
    }
}

/// A record read back: its データ区分 and each field as text, padding removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: char,
    pub fields: Vec<(&'static str, String)>,
}

impl Record {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a transfer file by the same layout: every record 120 bytes and CRLF, in order (header,
/// data…, trailer, end), the trailer's count and sum those of the data records.
pub fn read_file(bytes: &[u8]) -> Result<Vec<Record>, ZenginError> {
    let bad = |line: usize, reason: &str| ZenginError::Record {
        line,
        reason: reason.to_owned(),
    };
    if !bytes.len().is_multiple_of(RECORD_BYTES + 2) {
        return Err(bad(0, "レコード長が 120 バイト + CRLF ではありません"));
    }
    let mut records = Vec::new();
    for (i, raw) in bytes.chunks(RECORD_BYTES + 2).enumerate() {
        let line = i + 1;
        if &raw[RECORD_BYTES..] != b"\r\n" {
            return Err(bad(line, "改行 (CRLF) の位置が違います"));
        }
        let kind = char::from(raw[0]);
        let layout: &[Field] = match kind {
            '1' => &HEADER,
            '2' => &DATA,
            '8' => &TRAILER,
            '9' => &END,
            _ => return Err(bad(line, "データ区分が 1, 2, 8, 9 のいずれでもありません")),
        };
        let mut at = 0;
        let mut fields = Vec::with_capacity(layout.len());
        for field in layout {
            let part = &raw[at..at + field.width];
            at += field.width;
            let text: Option<String> = part.iter().map(|b| jis_char(*b)).collect();
            let text =
                text.ok_or_else(|| bad(line, &format!("{}: 全銀の文字でない", field.name)))?;
            let value = match field.kind {
                Kind::N => {
                    if !text.bytes().all(|b| b.is_ascii_digit() || b == b' ') {
                        return Err(bad(line, &format!("{}: 数字でない", field.name)));
                    }
                    text.trim_start_matches('0').trim().to_owned()
                }
                Kind::C => text.trim_end().to_owned(),
            };
            fields.push((field.name, value));
        }
        records.push(Record { kind, fields });
    }
    let kinds: String = records.iter().map(|r| r.kind).collect();
    let data = kinds.chars().filter(|k| *k == '2').count();
    let shape_ok = kinds.starts_with('1')
        && kinds.ends_with("89")
        && kinds[1..kinds.len() - 2].chars().all(|k| k == '2');
    if !shape_ok {
        return Err(bad(
            0,
            "ヘッダー、データ、トレーラ、エンドの順になっていません",
        ));
    }
    let trailer = &records[records.len() - 2];
    let count: usize = trailer
        .get("合計件数")
        .and_then(|v| {
            if v.is_empty() {
                Some(0)
            } else {
                v.parse().ok()
            }
        })
        .unwrap_or(usize::MAX);
    if count != data {
        return Err(bad(
            records.len() - 1,
            "合計件数がデータ・レコードの数と違います",
        ));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str) -> Account {
        Account::new("0001", "ﾐｽﾞﾎ", "123", "ﾎﾝﾃﾝ", "1", "1234567")
            .and_then(|mut a| {
                a.bank_name = BankKana::convert("金融機関名", name, 15)?;
                Ok(a)
            })
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn every_record_is_120_characters_wide() {
        for layout in [&HEADER[..], &DATA[..], &TRAILER[..], &END[..]] {
            assert_eq!(layout.iter().map(|f| f.width).sum::<usize>(), RECORD_BYTES);
        }
    }

    #[test]
    fn names_are_converted_to_the_banks_half_width_kana() {
        let c = |s: &str| BankKana::convert("受取人名", s, 30).map(|k| k.0);
        assert_eq!(c("ヤマダ　ショウニカ"), Ok("ﾔﾏﾀﾞ ｼﾖｳﾆｶ".into()));
        assert_eq!(c("いりょうほうじん"), Ok("ｲﾘﾖｳﾎｳｼﾞﾝ".into()));
        assert_eq!(c("ｶ)ﾊﾟｰｸ"), Ok("ｶ)ﾊﾟ-ｸ".into()));
        assert_eq!(c("ヴィラ・クリニック"), Ok("ｳﾞｲﾗ.ｸﾘﾆﾂｸ".into()));
        assert_eq!(c("ｅｘａｍｐｌｅ（１）"), Ok("EXAMPLE(1)".into()));
        assert_eq!(
            c("山田クリニック"),
            Err(ZenginError::Character {
                field: "受取人名".into(),
                ch: '山'
            })
        );
        assert!(matches!(
            BankKana::convert("金融機関名", "アイウエオカキクケコサシスセソタ", 15),
            Err(ZenginError::TooLong { len: 16, .. })
        ));
        assert!(matches!(c("　"), Err(ZenginError::Empty { .. })));
    }

    #[test]
    fn a_file_is_written_field_by_field_and_read_back() {
        let requester = Requester::new(
            "1234567890",
            "サンプルシ",
            Account::new(
                "0009",
                "ミツイスミトモ",
                "001",
                "トウキヨウ",
                "2",
                "7654321",
            )
            .unwrap_or_else(|e| unreachable!("{e}")),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let t = |payee: &str, yen: u64, code: &str| Transfer {
            account: account("ﾐｽﾞﾎ"),
            payee: BankKana::convert("受取人名", payee, 30).unwrap_or_else(|e| unreachable!("{e}")),
            amount_yen: yen,
            customer_code: code.into(),
        };
        let bytes = write_transfer_file(
            &requester,
            "0125",
            &[
                t("ｲ)ﾔﾏﾀﾞｸﾘﾆﾂｸ", 123_456, "0110000001"),
                t("ｽｽﾞｷｲｲﾝ", 7_800, "0110000002"),
            ],
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(bytes.len(), 5 * 122);
        let header = &bytes[..120];
        assert_eq!(&header[..4], b"1210");
        assert_eq!(&header[4..14], b"1234567890");
        // 振込依頼人名 ｻﾝﾌﾟﾙｼ in JIS X 0201, space-filled to 40.
        assert_eq!(&header[14..21], &[0xBB, 0xDD, 0xCC, 0xDF, 0xD9, 0xBC, b' ']);
        assert_eq!(&header[54..58], b"0125");
        assert_eq!(&header[58..62], b"0009");
        assert_eq!(&header[77..80], b"001");
        assert_eq!(&header[95..103], b"27654321");
        let data = &bytes[122..242];
        assert_eq!(&data[..5], b"20001");
        assert_eq!(&data[20..23], b"123");
        assert_eq!(&data[38..42], b"0000");
        assert_eq!(&data[42..50], b"11234567");
        assert_eq!(&data[80..90], b"0000123456");
        assert_eq!(&data[90..101], b"00110000001");
        assert_eq!(data[111], b'7');
        assert_eq!(data[112], b' ');
        let trailer = &bytes[366..486];
        assert_eq!(&trailer[..19], b"8000002000000131256");
        assert_eq!(&bytes[488..490], b"9 ");
        let read = read_file(&bytes).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(read[1].get("受取人名"), Some("ｲ)ﾔﾏﾀﾞｸﾘﾆﾂｸ"));
        assert_eq!(read[2].get("振込金額"), Some("7800"));
        assert_eq!(read[3].get("合計金額"), Some("131256"));
    }

    #[test]
    fn a_damaged_file_is_refused() {
        let requester =
            Requester::new("1", "ｼ", account("ﾐｽﾞﾎ")).unwrap_or_else(|e| unreachable!("{e}"));
        let one = Transfer {
            account: account("ﾐｽﾞﾎ"),
            payee: BankKana::convert("受取人名", "ｱ", 30).unwrap_or_else(|e| unreachable!("{e}")),
            amount_yen: 1,
            customer_code: String::new(),
        };
        let mut bytes = write_transfer_file(&requester, "0101", std::slice::from_ref(&one))
            .unwrap_or_else(|e| unreachable!("{e}"));
        // The trailer says two.
        bytes[244 + 6] = b'2';
        assert!(read_file(&bytes).is_err());
        assert_eq!(
            write_transfer_file(&requester, "0101", &[]),
            Err(ZenginError::NoTransfers)
        );
        let zero = Transfer {
            amount_yen: 0,
            ..one
        };
        assert!(matches!(
            write_transfer_file(&requester, "0101", &[zero]),
            Err(ZenginError::ZeroAmount(_))
        ));
        assert!(Account::new("01", "ﾐｽﾞﾎ", "123", "ﾎﾝﾃﾝ", "1", "1").is_err());
        assert!(Account::new("0001", "ﾐｽﾞﾎ", "123", "ﾎﾝﾃﾝ", "3", "1").is_err());
        assert!(Account::new("0001", "ﾐｽﾞﾎ", "123", "ﾎﾝﾃﾝ", "1", "12345678").is_err());
    }
}
