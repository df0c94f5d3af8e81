//! Renders every shipped template and reads the PDFs back the way a person would: as text
//! (pdftotext) and as an image (pdftoppm), from which the QR code is decoded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use sesshu_documents::model::{
    Addressee, Batch, CertificateDose, CertificateRecord, FormRecord, Letterhead, NoticeRecord,
    TicketRecord, Travel, number_line,
};
use sesshu_documents::{DocumentError, DocumentKind, FontSet, Templates, Typesetter, qr};

fn letterhead() -> Letterhead {
    Letterhead {
        municipality_code: "132098".into(),
        municipality_name: "見本市".into(),
        department: "健康福祉部 保健予防課".into(),
        issuer: "見本市長".into(),
        address: "東京都見本市中町一丁目1番1号".into(),
        phone: "042-000-0000".into(),
        note: "受付 平日 8時30分〜17時".into(),
        logo: None,
    }
}

fn addressee(withheld: bool) -> Addressee {
    Addressee {
        postal_code: Some("194-0013".into()),
        address: Some("東京都見本市原町田三丁目2番1号".into()),
        address_detail: Some("見本ハイツ203".into()),
        name: "山田 花子".into(),
        withheld,
    }
}

fn notice(n: usize, withheld: bool) -> NoticeRecord {
    NoticeRecord {
        number: format!("N-2026-{n:06}"),
        issued_on: "令和8年1月5日".into(),
        addressee: addressee(withheld),
        addressed_as: "保護者".into(),
        person_name: "山田 太郎".into(),
        person_kana: "ヤマダ タロウ".into(),
        birth_date: "令和7年11月10日".into(),
        series_name: "Hib感染症".into(),
        stage: "初回1回目".into(),
        window: "令和8年1月10日から令和12年11月9日まで".into(),
        standard_window: Some("令和8年1月10日から令和8年6月9日まで".into()),
        recall: false,
        reissue: false,
    }
}

fn typesetter() -> Typesetter {
    Typesetter::new(
        FontSet::system().expect("fonts-ipaexfont is installed (scripts/test installs it)"),
        Templates::shipped(),
    )
}

fn text_of(pdf: &[u8], dir: &Path, name: &str) -> String {
    let path = dir.join(format!("{name}.pdf"));
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("poppler-utils is installed (scripts/test installs it)");
    assert!(out.status.success());
    if let Ok(shots) = std::env::var("SESSHU_SCREENSHOTS") {
        let _ = Command::new("pdftoppm")
            .args(["-png", "-r", "60", "-f", "1", "-l", "1"])
            .arg(&path)
            .arg(Path::new(&shots).join(name))
            .status();
    }
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_notice_batch_reads_back_with_names_dates_and_one_page_each() {
    let t = typesetter();
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<NoticeRecord> = (1..=3).map(|n| notice(n, n == 2)).collect();
    let l = letterhead();
    let data = serde_json::to_value(Batch {
        letterhead: &l,
        records: &records,
    })
    .unwrap();
    let out = t.render(DocumentKind::Notice, &data).unwrap();
    assert_eq!(out.pages, 3, "one page per notice");
    let text = text_of(&out.pdf, dir.path(), "notice");
    for needle in [
        "山田 花子",
        "様（保護者）",
        "山田 太郎",
        "ヤマダ タロウ",
        "令和7年11月10日",
        "Hib感染症（初回1回目）予防接種のお知らせ",
        "令和8年1月10日から令和12年11月9日まで",
        "N-2026-000003",
        "見本市 健康福祉部 保健予防課",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    // The protected person's page (the second) shows no address; the others do.
    let pages: Vec<&str> = text.split('\u{c}').collect();
    assert!(pages[0].contains("原町田三丁目2番1号"));
    assert!(
        !pages[1].contains("原町田"),
        "address printed for a protected person"
    );
    assert!(pages[1].contains("住所は表示していません"));
}

#[test]
fn a_ticket_carries_its_number_line_as_text_and_as_a_qr_code() {
    let t = typesetter();
    let dir = tempfile::tempdir().unwrap();
    let line = number_line(4, 1, "132098", 1234).unwrap();
    let record = TicketRecord {
        ticket_number: "0000001234".into(),
        number_line: line.clone(),
        number_line_qr_svg: qr::svg(&line).unwrap(),
        issued_on: "令和8年4月1日".into(),
        addressee: addressee(false),
        person_name: "佐藤 一郎".into(),
        person_kana: "サトウ イチロウ".into(),
        birth_date: "昭和36年8月10日".into(),
        series_name: "帯状疱疹".into(),
        stage: "1回目".into(),
        valid_from: "令和8年4月1日".into(),
        valid_until: "令和9年3月31日".into(),
        reissue: true,
    };
    let l = letterhead();
    let data = serde_json::to_value(Batch {
        letterhead: &l,
        records: &[record],
    })
    .unwrap();
    let out = t.render(DocumentKind::Ticket, &data).unwrap();
    let text = text_of(&out.pdf, dir.path(), "ticket");
    for needle in [
        &line,
        "0000001234",
        "佐藤 一郎",
        "昭和36年8月10日",
        "再発行",
        "令和9年3月31日",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert_eq!(decode_qr(&out.pdf, dir.path()), vec![line]);
}

#[test]
fn a_form_and_a_travel_certificate_render_their_fields() {
    let t = typesetter();
    let dir = tempfile::tempdir().unwrap();
    let l = letterhead();
    let form = FormRecord {
        number: "N-2026-000001".into(),
        person_name: "山田 太郎".into(),
        person_kana: "ヤマダ タロウ".into(),
        birth_date: "令和7年11月10日".into(),
        age: "0歳2か月".into(),
        sex: "男".into(),
        address: "東京都見本市原町田三丁目2番1号".into(),
        guardian: "山田 花子".into(),
        series_name: "Hib感染症".into(),
        stage: "初回1回目".into(),
        ticket_number: None,
    };
    let data = serde_json::to_value(Batch {
        letterhead: &l,
        records: &[form],
    })
    .unwrap();
    let text = text_of(
        &t.render(DocumentKind::Form, &data).unwrap().pdf,
        dir.path(),
        "form",
    );
    for needle in [
        "Hib感染症（初回1回目）予診票",
        "0歳2か月",
        "保護者氏名",
        "山田 花子",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }

    let cert = CertificateRecord {
        certificate_id: "C132098-ABCD-EFGH".into(),
        issued_on: "令和8年12月2日".into(),
        issued_on_iso: "2026-12-02".into(),
        person_name: "山田 太郎".into(),
        person_kana: "ヤマダ タロウ".into(),
        birth_date: "令和7年11月10日".into(),
        birth_date_iso: "2025-11-10".into(),
        sex: "男".into(),
        travel: Some(Travel {
            romanised_name: "YAMADA TARO".into(),
            nationality: "JAPAN".into(),
            passport_number: "TZ1234567".into(),
        }),
        doses: vec![CertificateDose {
            vaccine: "5種混合(DPT-IPV-Hib)".into(),
            stage: "1期初回1回目".into(),
            date: "令和8年1月12日".into(),
            date_iso: "2026-01-12".into(),
            lot: "AB123".into(),
            clinic: "見本こどもクリニック".into(),
        }],
        qr_svg: qr::svg("SSC1.payload.signature").unwrap(),
        key_id: "k1a2b3c4".into(),
        reissue: false,
    };
    let data = serde_json::to_value(Batch {
        letterhead: &l,
        records: &[cert],
    })
    .unwrap();
    let out = t.render(DocumentKind::Certificate, &data).unwrap();
    let text = text_of(&out.pdf, dir.path(), "certificate");
    for needle in [
        "予防接種証明書",
        "Certificate of Vaccination",
        "YAMADA TARO",
        "TZ1234567",
        "C132098-ABCD-EFGH",
        "令和8年1月12日",
        "2026-01-12",
        "AB123",
        "見本市長",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert_eq!(
        decode_qr(&out.pdf, dir.path()),
        vec!["SSC1.payload.signature".to_owned()]
    );
}

#[test]
fn a_character_the_fonts_lack_is_named_instead_of_printed_as_a_box() {
    let fonts = FontSet::system().unwrap();
    if fonts.missing("𠮷").is_empty() {
        // IPAmj Mincho is installed and covers it: nothing to refuse on this machine.
        return;
    }
    let t = Typesetter::new(fonts, Templates::shipped());
    let mut n = notice(1, false);
    n.person_name = "𠮷田 太郎".into();
    let l = letterhead();
    let data = serde_json::to_value(Batch {
        letterhead: &l,
        records: &[n],
    })
    .unwrap();
    match t.render(DocumentKind::Notice, &data) {
        Err(DocumentError::MissingGlyphs { field, chars }) => {
            assert_eq!(field, "records[0].person_name");
            assert!(chars.contains("U+20BB7"), "{chars}");
        }
        other => panic!("expected a missing-glyph error, got {other:?}"),
    }
}

#[test]
fn a_city_template_overrides_the_shipped_wording_without_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = String::from_utf8(Templates::shipped().read("notice.typ").unwrap()).unwrap();
    std::fs::write(
        dir.path().join("notice.typ"),
        shipped.replace("予防接種のお知らせ", "予防接種のご案内（見本市）"),
    )
    .unwrap();
    let t = Typesetter::new(
        FontSet::system().unwrap(),
        Templates::with_city_dir(dir.path()),
    );
    let l = letterhead();
    let data = serde_json::to_value(Batch {
        letterhead: &l,
        records: &[notice(1, false)],
    })
    .unwrap();
    let text = text_of(
        &t.render(DocumentKind::Notice, &data).unwrap().pdf,
        dir.path(),
        "city",
    );
    assert!(text.contains("予防接種のご案内（見本市）"), "{text}");
    // A template cannot reach outside its directory.
    assert!(
        Templates::with_city_dir(dir.path())
            .read("../etc/passwd")
            .is_err()
    );
}

/// Every QR code on the first page, decoded from a 150 dpi rendering.
fn decode_qr(pdf: &[u8], dir: &Path) -> Vec<String> {
    let path = dir.join("qr.pdf");
    std::fs::write(&path, pdf).unwrap();
    let status = Command::new("pdftoppm")
        .args(["-png", "-r", "150", "-f", "1", "-l", "1", "-singlefile"])
        .arg(&path)
        .arg(dir.join("qr"))
        .status()
        .unwrap();
    assert!(status.success());
    let image = image::open(dir.join("qr.png")).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    prepared
        .detect_grids()
        .into_iter()
        .map(|g| g.decode().unwrap().1)
        .collect()
}
