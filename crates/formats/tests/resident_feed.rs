//! The resident feed reader against the contract of formats.md §1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sesshu_domain::{MyNumber, ResidentStatus, Sex};
use sesshu_formats::{Encoding, FileError, ReadOptions, ResidentReader, RowError, TextEncoding};

const HEADER: &str = "宛名番号,統合宛名番号,個人番号,世帯番号,続柄,氏名,氏名カナ,生年月日,性別,郵便番号,住所,方書,地区コード,小学校区,電話番号,住民区分,異動事由,異動日,異動届出日,転入前住所,転出先住所,支援措置";

/// A synthetic, check-digit-valid number made at run time (never a literal in the repository).
fn synthetic_number(seed: u8) -> String {
    let first = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, seed % 10];
    let n = MyNumber::from_first_eleven(first).unwrap_or_else(|| unreachable!());
    String::from_utf8_lossy(&n.expose()).into_owned()
}

fn row(
    addr: &str,
    my_number: &str,
    name: &str,
    kana: &str,
    birth: &str,
    sex: &str,
    status: &str,
) -> String {
    format!(
        "{addr},,{my_number},H1,世帯主,{name},{kana},{birth},{sex},194-0013,東京都さくら市原町田1-1-1,さくらハイツ101,01,第一小,042-000-0000,{status},02,20240401,20240405,大阪府大阪市,,"
    )
}

type Rows = Vec<Result<sesshu_formats::ResidentRecord, Vec<RowError>>>;

fn read_all(bytes: Vec<u8>, options: &ReadOptions) -> Result<Rows, FileError> {
    let mut reader = ResidentReader::new(std::io::Cursor::new(bytes), options)?;
    let mut out = Vec::new();
    while let Some(r) = reader.next_record()? {
        out.push(r);
    }
    Ok(out)
}

fn errors(rows: &Rows) -> Vec<&RowError> {
    rows.iter()
        .filter_map(|r| r.as_ref().err())
        .flatten()
        .collect()
}

#[test]
fn utf8_and_shift_jis_files_read_the_same() -> Result<(), FileError> {
    let text = format!(
        "{HEADER}\r\n{}\r\n{}\r\n",
        row(
            "1001",
            &synthetic_number(1),
            "髙橋 一郎",
            "ﾀｶﾊｼ ｲﾁﾛｳ",
            "R2.5.1",
            "1",
            "1"
        ),
        row(
            "1002",
            "",
            "山田\u{3000}花子",
            "ヤマダ　ハナコ",
            "平成元年1月8日",
            "女",
            "3"
        ),
    );
    let sjis = TextEncoding::ShiftJis
        .encode(&text)
        .map(|c| c.into_owned())
        .unwrap_or_default();
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(text.as_bytes());
    for bytes in [text.as_bytes().to_vec(), sjis, bom] {
        let rows = read_all(bytes, &ReadOptions::default())?;
        assert_eq!(rows.len(), 2);
        let p = &rows[0]
            .as_ref()
            .map_err(|e| FileError::Csv {
                line: 0,
                reason: format!("{e:?}"),
            })?
            .person;
        assert_eq!(p.address_number.as_str(), "1001");
        assert_eq!(
            (p.name.family.as_str(), p.name.given.as_str()),
            ("髙橋", "一郎")
        );
        assert_eq!(p.kana.family, "ﾀｶﾊｼ", "kana kept as given");
        assert_eq!(p.birth_date.to_string(), "2020-05-01");
        assert_eq!(p.sex, Sex::Male);
        assert_eq!(
            p.postal_code.as_ref().map(|c| c.digits().to_owned()),
            Some("1940013".into())
        );
        assert_eq!(
            p.my_number.as_ref().map(|n| n.expose().to_vec()),
            Some(synthetic_number(1).into_bytes())
        );
        let q = &rows[1]
            .as_ref()
            .map_err(|e| FileError::Csv {
                line: 0,
                reason: format!("{e:?}"),
            })?
            .person;
        assert_eq!(q.status, ResidentStatus::Deceased);
        assert_eq!(q.birth_date.to_string(), "1989-01-08");
        assert!(q.my_number.is_none());
    }
    Ok(())
}

#[test]
fn bad_values_are_reported_by_line_and_column_without_the_my_number() -> Result<(), FileError> {
    let good = synthetic_number(2);
    let mut bad_check = good.clone();
    let last = bad_check.pop().map_or(0, |c| (c as u8 - b'0' + 1) % 10);
    bad_check.push(char::from(b'0' + last));
    let text = format!(
        "{HEADER}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        row(
            "2001",
            &bad_check,
            "佐藤 一",
            "サトウ ハジメ",
            "20200101",
            "1",
            "1"
        ),
        row("2002", "", "佐藤 二", "サトウ ニ", "2025-02-30", "1", "1"),
        row(
            "2003",
            "",
            "佐藤 三",
            "サトウ サン",
            "平成32年1月1日",
            "1",
            "1"
        ),
        row("2004", "", "佐藤 四", "サトウ シ", "20200101", "1", "7"),
        row("2005", "", "佐藤 五", "佐藤 五", "20200101", "9", "1"),
        row("2006", "", "佐藤 六", "サトウ ロク", "20200101", "1", "1"),
    );
    let rows = read_all(text.into_bytes(), &ReadOptions::default())?;
    assert_eq!(rows.len(), 6);
    assert!(rows[5].is_ok(), "a good row after bad ones still reads");
    let errs = errors(&rows);
    let found: Vec<(u64, &str, &str)> = errs
        .iter()
        .map(|e| (e.line, e.column.as_deref().unwrap_or(""), e.reason.as_str()))
        .collect();
    assert!(
        found.contains(&(2, "個人番号", "個人番号の検査用数字が一致しません")),
        "{found:?}"
    );
    assert!(
        found.contains(&(3, "生年月日", "存在しない日付です")),
        "{found:?}"
    );
    assert!(
        found.contains(&(4, "生年月日", "元号の期間外の日付です")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(l, c, r)| *l == 5 && *c == "住民区分" && r.contains("住登外者")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|(l, c, _)| *l == 6 && *c == "氏名カナ"),
        "{found:?}"
    );
    assert!(
        found.iter().any(|(l, c, _)| *l == 6 && *c == "性別"),
        "{found:?}"
    );
    for e in &errs {
        let shown = format!("{e} {:?}", e.value);
        assert!(
            !shown.contains(&bad_check) && !shown.contains(&good),
            "My Number leaked: {shown}"
        );
    }
    Ok(())
}

#[test]
fn missing_required_column_refuses_the_file() {
    let text = "宛名番号,氏名,生年月日,性別,住民区分\n1,山田 太郎,20200101,1,1\n";
    match read_all(text.as_bytes().to_vec(), &ReadOptions::default()) {
        Err(FileError::MissingColumns { missing, .. }) => assert_eq!(missing, "氏名カナ"),
        other => panic!("expected MissingColumns, got {other:?}"),
    }
}

#[test]
fn aliases_map_vendor_headers_and_unknown_columns_warn() -> Result<(), FileError> {
    let text = "宛名番号,カナ氏名,氏名,生年月日,性別,住民区分,備考\n1,ヤマダ タロウ,山田 太郎,20200101,1,1,x\n";
    let mut options = ReadOptions::default();
    options.aliases.insert("カナ氏名".into(), "氏名カナ".into());
    let reader = ResidentReader::new(std::io::Cursor::new(text.as_bytes().to_vec()), &options)?;
    assert_eq!(reader.warnings(), ["不明な列「備考」は無視します"]);
    let rows = read_all(text.as_bytes().to_vec(), &options)?;
    assert!(rows[0].is_ok());
    Ok(())
}

#[test]
fn a_truncated_file_is_refused_and_a_short_row_inside_is_a_row_error() -> Result<(), FileError> {
    let full = format!(
        "{HEADER}\n{}\n{}\n",
        row("1", "", "山田 太郎", "ヤマダ タロウ", "20200101", "1", "1"),
        row("2", "", "山田 次郎", "ヤマダ ジロウ", "20200101", "1", "1"),
    );
    let cut = &full[..full.len() - 40];
    match read_all(cut.as_bytes().to_vec(), &ReadOptions::default()) {
        Err(FileError::Truncated { line: 3 }) => {}
        other => panic!("expected Truncated at line 3, got {other:?}"),
    }
    let short_inside = format!(
        "{HEADER}\n1,,,H1\n{}\n",
        row("2", "", "山田 次郎", "ヤマダ ジロウ", "20200101", "1", "1")
    );
    let rows = read_all(short_inside.into_bytes(), &ReadOptions::default())?;
    assert_eq!(errors(&rows)[0].line, 2);
    assert!(errors(&rows)[0].reason.contains("列の数"));
    assert!(rows[1].is_ok());
    Ok(())
}

#[test]
fn wrong_encoding_is_named() {
    let text = format!(
        "{HEADER}\n{}\n",
        row("1", "", "山田 太郎", "ヤマダ タロウ", "20200101", "1", "1")
    );
    let sjis = TextEncoding::ShiftJis
        .encode(&text)
        .map(|c| c.into_owned())
        .unwrap_or_default();
    let forced_utf8 = ReadOptions {
        encoding: Encoding::Utf8,
        ..ReadOptions::default()
    };
    match read_all(sjis, &forced_utf8) {
        Err(FileError::Encoding {
            line: 1,
            encoding: "UTF-8",
        }) => {}
        other => panic!("expected an encoding error, got {other:?}"),
    }
    let forced_sjis = ReadOptions {
        encoding: Encoding::ShiftJis,
        ..ReadOptions::default()
    };
    match read_all(text.into_bytes(), &forced_sjis) {
        Err(FileError::MissingColumns {
            encoding: "Shift_JIS",
            ..
        })
        | Err(FileError::Encoding { .. }) => {}
        other => panic!("expected the header to fail under Shift_JIS, got {other:?}"),
    }
}

#[test]
fn an_empty_file_is_refused() {
    assert!(matches!(
        read_all(Vec::new(), &ReadOptions::default()),
        Err(FileError::Empty)
    ));
}

#[test]
fn future_birth_dates_are_refused_when_today_is_known() -> Result<(), FileError> {
    let text = format!(
        "{HEADER}\n{}\n",
        row("1", "", "山田 太郎", "ヤマダ タロウ", "20300101", "1", "1")
    );
    let options = ReadOptions {
        today: sesshu_domain::parse_date("2026-11-23").ok(),
        ..ReadOptions::default()
    };
    let rows = read_all(text.into_bytes(), &options)?;
    assert_eq!(errors(&rows)[0].reason, "生年月日が未来の日付です");
    Ok(())
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut bytes = format!("{HEADER}\n").into_bytes();
            bytes.extend(body);
            let _ = read_all(bytes, &ReadOptions::default());
        }

        #[test]
        fn arbitrary_field_text_never_panics(fields in proptest::collection::vec("\\PC{0,12}", 22)) {
            let line = fields.iter().map(|f| f.replace([',', '"', '\n', '\r'], "")).collect::<Vec<_>>().join(",");
            let bytes = format!("{HEADER}\n{line}\n").into_bytes();
            let rows = read_all(bytes, &ReadOptions::default());
            prop_assert!(rows.is_ok());
        }

        #[test]
        fn arbitrary_headers_never_panic(header in "\\PC{0,80}") {
            let _ = read_all(format!("{header}\n1,2,3\n").into_bytes(), &ReadOptions::default());
        }
    }
}

#[test]
fn line_numbers_count_the_header_as_line_one_with_crlf_or_lf() -> Result<(), FileError> {
    for eol in ["\n", "\r\n"] {
        let text = format!(
            "{HEADER}{eol}{}{eol}{}{eol}{}{eol}",
            row("1", "", "山田 太郎", "ヤマダ タロウ", "20200101", "1", "1"),
            row("2", "", "山田 次郎", "ヤマダ ジロウ", "20200101", "1", "1"),
            row(
                "3",
                "",
                "山田 三郎",
                "ヤマダ サブロウ",
                "20209999",
                "1",
                "1"
            ),
        );
        let rows = read_all(text.into_bytes(), &ReadOptions::default())?;
        let lines: Vec<u64> = rows
            .iter()
            .map(|r| match r {
                Ok(rec) => rec.line,
                Err(e) => e[0].line,
            })
            .collect();
        assert_eq!(lines, vec![2, 3, 4], "eol {eol:?}");
    }
    Ok(())
}

/// A My Number typed into the phone or address column, or a column mapped onto the wrong one,
/// is refused with its line and column, and the number is not repeated in the report. A key that
/// merely passes the check digit (one 12-digit number in ten does) is a key, unless it is the
/// row's own My Number.
#[test]
fn a_my_number_outside_its_column_is_refused_without_being_repeated() -> Result<(), FileError> {
    let n = synthetic_number(3);
    let other = synthetic_number(4);
    let spaced = format!("{} {} {}", &n[..4], &n[4..8], &n[8..]);
    let base = row("3001", "", "鈴木 一", "スズキ ハジメ", "20200101", "1", "1");
    let phone = base.replace("042-000-0000", &spaced);
    let address = row("3002", "", "鈴木 二", "スズキ ニ", "20200101", "1", "1")
        .replace("さくらハイツ101", &format!("備考{n}"));
    let household = row("3003", &n, "鈴木 三", "スズキ サン", "20200101", "1", "1")
        .replace(",H1,", &format!(",{n},"));
    let a_key = row(&other, &n, "鈴木 四", "スズキ シ", "20200101", "1", "1");
    let text = format!("{HEADER}\n{phone}\n{address}\n{household}\n{a_key}\n");
    let rows = read_all(text.into_bytes(), &ReadOptions::default())?;
    let errs = errors(&rows);
    let found: Vec<(u64, &str)> = errs
        .iter()
        .map(|e| (e.line, e.column.as_deref().unwrap_or("")))
        .collect();
    assert!(found.contains(&(2, "電話番号")), "{found:?}");
    assert!(found.contains(&(3, "方書")), "{found:?}");
    assert!(found.contains(&(4, "世帯番号")), "{found:?}");
    assert!(
        rows[3].is_ok(),
        "a 12-digit address number passing the check is still an address number: {found:?}"
    );
    for e in &errs {
        let shown = format!("{e} {:?} {:?}", e.value, e.address_number);
        assert!(!shown.contains(&n), "My Number repeated: {shown}");
        assert!(
            !shown.contains(&n[..4]) || !shown.contains(&n[8..]),
            "{shown}"
        );
    }
    Ok(())
}
