//! The clinic payments' input files (F10): the unit prices (委託料単価), the institutions with
//! their bank accounts, and a clinic's claim (請求明細) to reconcile. Each is read whole or not
//! at all: a file with a bad row is refused with every row's line and reason.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

use sesshu_domain::dose::{parse_institution_code, parse_ordinal, parse_yen};
use sesshu_domain::{AddressNumber, CivilDate, parse_date};

use crate::encoding::Encoding;
use crate::report::RowError;
use crate::table::{Column, FileError, RowContext, TableReader};
use crate::zengin::{Account, BankKana};

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum PaymentFileError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{} 行に誤りがあります。何も登録していません", .0.len())]
    Rows(Vec<RowError>),
}

pub const PRICE_COLUMNS: [Column; 6] = [
    ("ワクチン", true),
    ("回数", false),
    ("適用開始日", true),
    ("適用終了日", false),
    ("単価", true),
    // B類: what the person pays the clinic, deducted from the city's payment unless the person
    // is exempt (実費徴収の免除). Blank or absent: no self-payment.
    ("自己負担額", false),
];

/// Which doses a price is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PriceDose {
    /// Every dose given (回数 left blank).
    Any,
    /// The dose of this 回数 only (a first dose priced apart from the rest).
    Ordinal(u32),
    /// 予診のみ: the screening of a dose deferred (接種判定 見合わせ).
    ScreeningOnly,
}

impl PriceDose {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "" | "*" => Ok(Self::Any),
            "予診のみ" | "screening" => Ok(Self::ScreeningOnly),
            other => parse_ordinal(other).map(Self::Ordinal).map_err(|_| {
                format!("回数は数字、空欄 (全回) または「予診のみ」です (「{other}」)")
            }),
        }
    }

    /// As stored: `*`, the 回数, or `screening`.
    pub fn code(self) -> String {
        match self {
            Self::Any => "*".into(),
            Self::Ordinal(n) => n.to_string(),
            Self::ScreeningOnly => "screening".into(),
        }
    }

    pub fn label(self) -> String {
        match self {
            Self::Any => "全回".into(),
            Self::Ordinal(n) => format!("第{n}回"),
            Self::ScreeningOnly => "予診のみ".into(),
        }
    }
}

/// A unit price: for a product (and one dose of it, or every dose), over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRow {
    pub line: u64,
    pub product: String,
    pub dose: PriceDose,
    pub valid_from: CivilDate,
    pub valid_to: Option<CivilDate>,
    pub unit_yen: i64,
    pub self_pay_yen: Option<i64>,
}

pub const INSTITUTION_COLUMNS: [Column; 9] = [
    ("医療機関コード", true),
    ("医療機関名", true),
    ("受取人名カナ", true),
    ("金融機関コード", true),
    ("金融機関名カナ", true),
    ("支店コード", true),
    ("支店名カナ", true),
    ("預金種目", true),
    ("口座番号", true),
];

/// A contracted institution and the account it is paid into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstitutionRow {
    pub line: u64,
    pub code: String,
    pub name: String,
    pub payee: BankKana,
    pub account: Account,
}

pub const CLAIM_COLUMNS: [Column; 6] = [
    ("医療機関コード", true),
    ("宛名番号", true),
    ("ワクチン", true),
    ("回数", true),
    ("接種日", true),
    ("請求額", true),
];

/// One line of a clinic's claim: a dose it says it gave, and what it asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRow {
    pub line: u64,
    pub institution: String,
    pub address_number: String,
    pub product: String,
    pub ordinal: u32,
    pub given_on: CivilDate,
    pub billed_yen: i64,
}

fn read_all<T>(
    source: impl Read + 'static,
    columns: &'static [Column],
    mut parse: impl FnMut(&mut RowContext<'_, '_>) -> Option<T>,
) -> Result<Vec<T>, PaymentFileError> {
    let mut table = TableReader::new(source, Encoding::Auto, &HashMap::new(), columns)?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    while let Some(row) = table.next_parsed(|line, fields: &[Cow<'_, str>]| {
        let mut row_errors = Vec::new();
        let mut ctx = RowContext {
            line,
            columns,
            fields,
            errors: &mut row_errors,
            secret: None,
        };
        let parsed = parse(&mut ctx);
        match parsed {
            Some(v) if row_errors.is_empty() => Ok(v),
            _ => Err(row_errors),
        }
    })? {
        match row {
            Ok(v) => rows.push(v),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(PaymentFileError::Rows(errors))
    }
}

fn product(s: &str, products: &[String]) -> Result<String, String> {
    let code = s.trim().to_ascii_lowercase();
    if products.is_empty() || products.contains(&code) {
        Ok(code)
    } else {
        Err(format!("不明なワクチンコード「{s}」"))
    }
}

/// Reads a price list; `products` are the codes the rules know (empty: any).
pub fn read_prices(
    source: impl Read + 'static,
    products: &[String],
) -> Result<Vec<PriceRow>, PaymentFileError> {
    read_all(source, &PRICE_COLUMNS, |ctx| {
        let product = ctx.required(0, |s| product(s, products));
        let dose = ctx.required_or_blank(1, PriceDose::parse);
        let valid_from = ctx.required(2, parse_date);
        let valid_to = ctx.optional(3, parse_date);
        let unit_yen = ctx.required(4, parse_yen);
        let self_pay_yen = ctx.optional(5, parse_yen);
        if let (Some(unit), Some(Some(own))) = (unit_yen, self_pay_yen)
            && own >= unit
        {
            ctx.error(5, "自己負担額が単価以上です");
        }
        if let (Some(from), Some(Some(to))) = (valid_from, valid_to)
            && to < from
        {
            ctx.error(3, "適用終了日が適用開始日より前です");
        }
        if unit_yen == Some(0) {
            ctx.error(4, "単価が 0 円です");
        }
        Some(PriceRow {
            line: ctx.line,
            product: product?,
            dose: dose?,
            valid_from: valid_from?,
            valid_to: valid_to?,
            unit_yen: unit_yen?,
            self_pay_yen: self_pay_yen?,
        })
    })
}

/// Reads the institutions and their accounts; every name is converted to the bank's characters
/// here, so a name the bank would refuse is found at registration, not on payment day.
pub fn read_institutions(
    source: impl Read + 'static,
) -> Result<Vec<InstitutionRow>, PaymentFileError> {
    read_all(source, &INSTITUTION_COLUMNS, |ctx| {
        let code = ctx.required(0, parse_institution_code);
        let name = ctx.required(1, |s| Ok::<_, String>(s.to_owned()));
        let payee = ctx.required(2, |s| BankKana::convert("受取人名", s, 30));
        let bank_code = ctx.value(3).to_owned();
        let bank_name = ctx.value(4).to_owned();
        let branch_code = ctx.value(5).to_owned();
        let branch_name = ctx.value(6).to_owned();
        let account_type = ctx.value(7).to_owned();
        let account_number = ctx.value(8).to_owned();
        ctx.refuse_my_number(8);
        let account = match Account::new(
            &bank_code,
            &bank_name,
            &branch_code,
            &branch_name,
            &account_type,
            &account_number,
        ) {
            Ok(a) => Some(a),
            Err(e) => {
                let column = match &e {
                    crate::zengin::ZenginError::AccountType(_) => 7,
                    crate::zengin::ZenginError::Digits { field, .. }
                    | crate::zengin::ZenginError::Character { field, .. }
                    | crate::zengin::ZenginError::TooLong { field, .. }
                    | crate::zengin::ZenginError::Empty { field } => match field.as_str() {
                        "金融機関コード" => 3,
                        "金融機関名" => 4,
                        "支店コード" => 5,
                        "支店名" => 6,
                        _ => 8,
                    },
                    _ => 8,
                };
                ctx.error(column, e.to_string());
                None
            }
        };
        Some(InstitutionRow {
            line: ctx.line,
            code: code?,
            name: name?,
            payee: payee?,
            account: account?,
        })
    })
}

/// Reads a clinic's claim.
pub fn read_claim(
    source: impl Read + 'static,
    products: &[String],
) -> Result<Vec<ClaimRow>, PaymentFileError> {
    read_all(source, &CLAIM_COLUMNS, |ctx| {
        let institution = ctx.required(0, parse_institution_code);
        ctx.refuse_my_number(1);
        let address_number = ctx.required(1, |s| AddressNumber::parse(s).map(|a| a.to_string()));
        let product = ctx.required(2, |s| product(s, products));
        let ordinal = ctx.required(3, parse_ordinal);
        let given_on = ctx.required(4, parse_date);
        let billed_yen = ctx.required(5, parse_yen);
        Some(ClaimRow {
            line: ctx.line,
            institution: institution?,
            address_number: address_number?,
            product: product?,
            ordinal: ordinal?,
            given_on: given_on?,
            billed_yen: billed_yen?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> std::io::Cursor<Vec<u8>> {
        std::io::Cursor::new(s.as_bytes().to_vec())
    }

    #[test]
    fn a_price_list_is_read_or_refused_with_every_bad_line() {
        let ok = read_prices(
            bytes("ワクチン,回数,適用開始日,適用終了日,単価\nmr,,2026-04-01,2027-03-31,\"10,450\"\nhib,4,2026-04-01,,8800\n"),
            &["mr".into(), "hib".into()],
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(ok.len(), 2);
        assert_eq!((ok[0].dose, ok[0].unit_yen), (PriceDose::Any, 10_450));
        assert_eq!(ok[1].dose, PriceDose::Ordinal(4));
        let Err(PaymentFileError::Rows(errors)) = read_prices(
            bytes(
                "ワクチン,回数,適用開始日,適用終了日,単価\nxx,,2026-04-01,,1\nmr,,2026-04-01,2026-03-01,0\nmr,予診のみ,2026-04-01,,3000\n",
            ),
            &["mr".into()],
        ) else {
            unreachable!("a bad file was read")
        };
        let lines: Vec<(u64, Option<String>)> =
            errors.iter().map(|e| (e.line, e.column.clone())).collect();
        assert_eq!(
            lines,
            vec![
                (2, Some("ワクチン".into())),
                (3, Some("適用終了日".into())),
                (3, Some("単価".into()))
            ]
        );
    }

    #[test]
    fn a_self_payment_is_read_and_one_not_below_the_price_refused() {
        let head = "ワクチン,回数,適用開始日,適用終了日,単価,自己負担額\n";
        let ok = read_prices(
            bytes(&format!(
                "{head}flu,,2026-10-01,,5000,1500\nmr,,2026-04-01,,10450,\n"
            )),
            &[],
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            ok.iter().map(|p| p.self_pay_yen).collect::<Vec<_>>(),
            [Some(1500), None]
        );
        let Err(PaymentFileError::Rows(errors)) =
            read_prices(bytes(&format!("{head}flu,,2026-10-01,,5000,5000\n")), &[])
        else {
            unreachable!("a self-payment of the whole price was read")
        };
        assert_eq!(
            (errors[0].line, errors[0].column.as_deref()),
            (2, Some("自己負担額"))
        );
    }

    #[test]
    fn an_institution_whose_name_the_bank_cannot_take_is_refused_at_the_field() {
        let head = "医療機関コード,医療機関名,受取人名カナ,金融機関コード,金融機関名カナ,支店コード,支店名カナ,預金種目,口座番号\n";
        let ok = read_institutions(bytes(&format!(
            "{head}0110000001,山田小児科,イ）ヤマダショウニカ,0001,ミズホ,123,ホンテン,普通,1234567\n"
        )))
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(ok[0].payee.as_str(), "ｲ)ﾔﾏﾀﾞｼﾖｳﾆｶ");
        let Err(PaymentFileError::Rows(errors)) = read_institutions(bytes(&format!(
            "{head}0110000001,山田小児科,山田小児科,0001,ミズホ,12,ホンテン,普通,1234567\n"
        ))) else {
            unreachable!("a bad file was read")
        };
        let columns: Vec<Option<String>> = errors.iter().map(|e| e.column.clone()).collect();
        assert_eq!(
            columns,
            vec![Some("受取人名カナ".into()), Some("支店コード".into())]
        );
        assert!(errors[0].reason.contains('山'), "{}", errors[0].reason);
    }

    #[test]
    fn a_claim_naming_a_my_number_for_the_person_is_refused_without_echoing_it() {
        // Completed with its check digit here, so that no valid number stands in the source.
        let number = (0..=9)
            .map(|d| format!("12345678901{d}"))
            .find(|n| sesshu_domain::my_number::is_valid_my_number(n.as_bytes()))
            .unwrap_or_else(|| unreachable!("one check digit fits"));
        let Err(PaymentFileError::Rows(errors)) = read_claim(
            bytes(&format!(
                "医療機関コード,宛名番号,ワクチン,回数,接種日,請求額\n0110000001,{number},mr,1,2026-05-01,10450\n"
            )),
            &[],
        ) else {
            unreachable!("a My Number was taken for a 宛名番号")
        };
        assert_eq!(errors[0].column.as_deref(), Some("宛名番号"));
        assert!(
            errors
                .iter()
                .all(|e| e.value.as_deref() != Some(number.as_str()))
        );
    }
}
