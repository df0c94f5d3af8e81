//! Recall, notices, tickets, certificates and reminder mails through the binary, on both
//! backends: who is selected and why (one day either side of the window), the guard rails (the
//! dead, the moved-out, the protected, four-eyes, a death between approval and printing), resumable
//! batches, and the documents read back as text and QR codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Output;

use common::{BIN, json, pdf_qr_codes, pdf_text, sesshu, sesshu_with, text};
use sesshu_testkit::leaks_my_number;

const HEADER: &str = "宛名番号,統合宛名番号,個人番号,世帯番号,続柄,氏名,氏名カナ,生年月日,性別,郵便番号,住所,方書,地区コード,小学校区,電話番号,住民区分,異動事由,異動日,異動届出日,転入前住所,転出先住所,支援措置";

/// (address number, My Number, household, relationship, name, kana, birth, sex, status,
/// reason, protected)
type Row<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
);

/// Infants around the window of Hib's first dose in January 2026 (生後2月: born 2025-11-02
/// opens on 2026-01-01, born 2025-12-01 on 2026-01-31), and a mother.
const TOWN: &[Row] = &[
    (
        "200010",
        "442097979211",
        "0002000001",
        "世帯主",
        "見本 花子",
        "ミホン ハナコ",
        "19950402",
        "2",
        "1",
        "",
        "",
    ),
    (
        "200001",
        "885085364792",
        "0002000001",
        "子",
        "見本 一郎",
        "ミホン イチロウ",
        "20251102",
        "1",
        "1",
        "01",
        "",
    ),
    (
        "200002",
        "",
        "0002000002",
        "世帯主",
        "早川 二郎",
        "ハヤカワ ジロウ",
        "20251201",
        "1",
        "1",
        "01",
        "",
    ),
    (
        "200003",
        "",
        "0002000003",
        "世帯主",
        "前田 三郎",
        "マエダ サブロウ",
        "20251101",
        "1",
        "1",
        "01",
        "",
    ),
    (
        "200004",
        "",
        "0002000004",
        "世帯主",
        "後藤 四郎",
        "ゴトウ シロウ",
        "20251202",
        "1",
        "1",
        "01",
        "",
    ),
    (
        "200005",
        "",
        "0002000005",
        "世帯主",
        "故人 五郎",
        "コジン ゴロウ",
        "20251115",
        "1",
        "3",
        "05",
        "",
    ),
    (
        "200006",
        "",
        "0002000006",
        "世帯主",
        "転出 六郎",
        "テンシュツ ロクロウ",
        "20251115",
        "1",
        "2",
        "04",
        "",
    ),
    (
        "200007",
        "",
        "0002000007",
        "世帯主",
        "保護 七子",
        "ホゴ ナナコ",
        "20251120",
        "2",
        "1",
        "01",
        "1",
    ),
    (
        "200008",
        "",
        "0002000008",
        "世帯主",
        "済 八郎",
        "スミ ハチロウ",
        "20251110",
        "1",
        "1",
        "01",
        "",
    ),
];

fn feed(rows: &[Row]) -> String {
    let mut s = format!("{HEADER}\n");
    for (n, (a, my, h, rel, name, kana, birth, sex, status, reason, protected)) in
        rows.iter().enumerate()
    {
        s.push_str(&format!(
            "{a},,{my},{h},{rel},{name},{kana},{birth},{sex},194-00{n:02},東京都見本市原町田{n}丁目1番1号,見本ハイツ{n}01,01,第一小学校,,{status},{reason},,,,,{protected}\n"
        ));
    }
    s
}

/// A municipality with [`TOWN`] imported.
fn register(d: &Path, db: &str) {
    ok(sesshu(
        d,
        db,
        &["init", "--municipality", "132098", "--name", "見本市"],
    ));
    std::fs::write(d.join("town.csv"), feed(TOWN)).unwrap();
    ok(sesshu(
        d,
        db,
        &["import", "residents", "town.csv", "--encoding", "utf8"],
    ));
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", text(&out));
    out
}

#[tokio::test]
async fn a_recall_selects_by_the_rules_prints_checks_and_resumes() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        register(d, &db.url);
        ok(run(&[
            "dose",
            "add",
            "200008",
            "--vaccine",
            "hib",
            "--dose",
            "1",
            "--date",
            "2026-01-09",
        ]));

        let query = [
            "--series",
            "hib",
            "--dose",
            "1",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "--as-of",
            "2026-01-15",
        ];
        let extract = run(&[&["notices", "extract", "--json"][..], &query].concat());
        assert_eq!(
            extract.status.code(),
            Some(0),
            "{}: {}",
            db.name,
            text(&extract)
        );
        let r = json(&extract);
        let included: Vec<&str> = r["sample"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["address_number"].as_str().unwrap())
            .collect();
        assert_eq!(included, ["200001", "200002", "200007"], "{}: {r}", db.name);
        assert_eq!(r["count"], 3);
        assert_eq!(r["protected"], 1);
        assert_eq!(
            r["excluded"]["期間外"], 2,
            "one day early and one day late: {r}"
        );
        assert_eq!(r["excluded"]["死亡"], 1);
        assert_eq!(r["excluded"]["転出"], 1);
        assert_eq!(
            r["excluded"]["次は別の回"], 1,
            "the dose recorded for 200008"
        );
        assert_eq!(r["checks"]["passed"], true);
        assert_eq!(r["cohorts"][0]["born"], "2025-11");
        assert_eq!(r["cohorts"][0]["count"], 2);
        assert_eq!(r["cohorts"][1]["born"], "2025-12");
        assert!(
            r["sample"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("2026-01-01 に始まる"),
            "{r}"
        );
        assert!(r["difference"].is_null(), "no earlier run");

        // Four-eyes: planned, not printed; the planner cannot approve; a colleague can.
        let plan = sesshu_with(
            d,
            &db.url,
            &[("SESSHU_NOTICE_APPROVAL", "1")],
            &[
                &[
                    "notices",
                    "issue",
                    "--json",
                    "--documents",
                    "notice,ticket,form",
                    "--per-file",
                    "1",
                ][..],
                &query,
            ]
            .concat(),
        );
        let planned = json(&ok(plan));
        assert_eq!(planned["status"], "awaiting_approval", "{planned}");
        let run_id = planned["run_id"].as_str().unwrap().to_owned();
        let refused = run(&["notices", "issue", "--run", &run_id, "--out", "out"]);
        assert!(!refused.status.success(), "issued without approval");
        assert!(text(&refused).contains("承認待ち"), "{}", text(&refused));
        let own = run(&["notices", "approve", &run_id]);
        assert!(!own.status.success(), "the planner approved their own run");
        ok(sesshu_with(
            d,
            &db.url,
            &[("SESSHU_OPERATOR", "checker")],
            &["notices", "approve", &run_id],
        ));

        // An interruption after the first file: the second file's name is taken by a directory.
        let out = d.join("out");
        std::fs::create_dir_all(out.join(format!("{run_id}-notice-002.pdf"))).unwrap();
        let broken = run(&[
            "notices", "issue", "--run", &run_id, "--out", "out", "--json",
        ]);
        assert!(!broken.status.success(), "{}", text(&broken));
        assert!(out.join(format!("{run_id}-notice-001.pdf")).is_file());
        std::fs::remove_dir(out.join(format!("{run_id}-notice-002.pdf"))).unwrap();
        let resumed = json(&ok(run(&[
            "notices", "issue", "--run", &run_id, "--out", "out", "--json",
        ])));
        assert_eq!(resumed["files_resumed"], 1, "{resumed}");
        assert_eq!(resumed["files_written"], 8, "{resumed}");
        assert_eq!(resumed["pages"], 9);

        // The letters: the guardian, the child, the window in 和暦; no address for 200007.
        let letters: Vec<String> = (1..=3)
            .map(|p| squash(&pdf_text(&out.join(format!("{run_id}-notice-{p:03}.pdf")))))
            .collect();
        assert!(
            letters[0].contains("見本花子様（保護者）"),
            "{}",
            letters[0]
        );
        assert!(letters[0].contains("見本一郎さんは"));
        assert!(
            letters[0].contains("令和8年1月1日から令和12年"),
            "{}",
            letters[0]
        );
        assert!(letters[0].contains("原町田1丁目1番1号"));
        assert!(letters[0].contains("標準的な接種期間"), "{}", letters[0]);
        assert!(letters[2].contains("保護七子"));
        assert!(
            !letters[2].contains("原町田"),
            "a protected person's address was printed"
        );
        assert!(letters[2].contains("住所は表示していません"));

        // The tickets: an 18-digit line as text and as the QR code beside it.
        let ticket = out.join(format!("{run_id}-ticket-001.pdf"));
        let t = pdf_text(&ticket);
        let line = t
            .split_whitespace()
            .find(|w| w.len() == 18 && w.chars().all(|c| c.is_ascii_digit()))
            .unwrap_or_else(|| panic!("no number line in {t}"))
            .to_owned();
        assert_eq!(&line[..8], "91132098", "kind, dose 1, municipality");
        assert_eq!(pdf_qr_codes(&ticket), vec![line.clone()]);
        let first_ticket = line[8..].to_owned();
        assert!(pdf_text(&out.join(format!("{run_id}-form-001.pdf"))).contains(&first_ticket));

        // The vendor file: Shift_JIS, one row per person, the protected address blank.
        let raw = std::fs::read(out.join(format!("{run_id}-vendor.csv"))).unwrap();
        let (csv, _, bad) = encoding_rs::SHIFT_JIS.decode(&raw);
        assert!(!bad, "not Shift_JIS");
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 4, "{csv}");
        let protected = rows.iter().find(|r| r.contains(",200007,")).unwrap();
        assert!(
            !protected.contains("原町田") && protected.ends_with(",1"),
            "{protected}"
        );

        // No My Number in anything printed (the mother's and the child's are in the register).
        for entry in std::fs::read_dir(&out).unwrap() {
            let path = entry.unwrap().path();
            let content = if path.extension().is_some_and(|e| e == "pdf") {
                pdf_text(&path)
            } else {
                csv.to_string()
            };
            assert!(!leaks_my_number(&content), "{}", path.display());
        }

        // Re-issue: a new number, the old one dead.
        let again = json(&ok(run(&[
            "notices",
            "reissue-ticket",
            &first_ticket,
            "--out",
            "re.pdf",
            "--json",
        ])));
        assert_ne!(again["ticket_number"], first_ticket.as_str());
        assert_eq!(again["reissue_of"], first_ticket.as_str());
        let re = squash(&pdf_text(&d.join("re.pdf")));
        assert!(re.contains("再発行"), "{re}");
        assert!(
            re.contains("Hib感染症初回1回目"),
            "the stage as first printed: {re}"
        );
        assert!(
            !run(&[
                "notices",
                "reissue-ticket",
                &first_ticket,
                "--out",
                "re2.pdf"
            ])
            .status
            .success()
        );

        // 再勧奨 in February: 200001 has had the dose since, the others have not.
        ok(run(&[
            "dose",
            "add",
            "200001",
            "--vaccine",
            "hib",
            "--dose",
            "1",
            "--date",
            "2026-01-20",
        ]));
        let recall = [
            "--series",
            "hib",
            "--dose",
            "1",
            "--from",
            "2026-02-01",
            "--to",
            "2026-02-28",
            "--as-of",
            "2026-02-01",
            "--basis",
            "open",
            "--recall-of",
            &run_id,
        ];
        let r = json(&ok(run(
            &[&["notices", "extract", "--json"][..], &recall].concat()
        )));
        let again: Vec<&str> = r["sample"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["address_number"].as_str().unwrap())
            .collect();
        assert_eq!(again, ["200002", "200007"], "{r}");
        assert!(
            r["sample"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("前回の通知")
        );
        assert_eq!(r["difference"]["previous_run"], run_id.as_str());
        assert_eq!(r["difference"]["kept"], 2);
        assert_eq!(r["difference"]["dropped_by_reason"]["次は別の回"], 1, "{r}");

        // A death between approval and printing blocks the run.
        let plan = json(&ok(sesshu_with(
            d,
            &db.url,
            &[("SESSHU_NOTICE_APPROVAL", "1")],
            &[&["notices", "issue", "--json"][..], &recall].concat(),
        )));
        let second = plan["run_id"].as_str().unwrap().to_owned();
        ok(sesshu_with(
            d,
            &db.url,
            &[("SESSHU_OPERATOR", "checker")],
            &["notices", "approve", &second],
        ));
        let mut died = TOWN.to_vec();
        died[2].8 = "3";
        died[2].9 = "05";
        std::fs::write(d.join("diff.csv"), feed(&died[2..3])).unwrap();
        ok(run(&[
            "import",
            "residents",
            "diff.csv",
            "--mode",
            "diff",
            "--encoding",
            "utf8",
        ]));
        let blocked = run(&["notices", "issue", "--run", &second, "--out", "out2"]);
        assert!(!blocked.status.success(), "printed for the dead");
        assert!(
            text(&blocked).contains("死亡しています"),
            "{}",
            text(&blocked)
        );
        assert!(
            !d.join("out2")
                .join(format!("{second}-notice-001.pdf"))
                .exists()
        );

        // 利用停止 after approval stops printing too, and leaves the person out of extractions
        // while it is in force.
        let suspend = [
            "person",
            "suspend",
            "200007",
            "--reason",
            "窓口で本人が利用停止を請求",
            "--requested-on",
            "2026-02-02",
        ];
        ok(run(&suspend));
        let twice = run(&suspend);
        assert!(!twice.status.success(), "suspended twice");
        assert!(text(&twice).contains("既に利用停止中"), "{}", text(&twice));
        assert!(
            !run(&["person", "suspend", "299999", "--reason", "x"])
                .status
                .success()
        );
        let shown = text(&ok(run(&["person", "show", "200007"])));
        assert!(shown.contains("利用停止中 (請求日 2026-02-02)"), "{shown}");
        let blocked = text(&run(&[
            "notices", "issue", "--run", &second, "--out", "out2",
        ]));
        assert!(
            blocked.contains("利用停止の請求を受けています"),
            "{blocked}"
        );
        let r = json(&run(
            &[&["notices", "extract", "--json"][..], &query].concat()
        ));
        assert_eq!(r["excluded"]["利用停止"], 1, "{r}");
        assert!(
            !r["sample"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["address_number"] == "200007"),
            "{r}"
        );
        ok(run(&[
            "person",
            "lift-suspension",
            "200007",
            "--reason",
            "本人が請求を取り下げ",
        ]));
        assert!(
            !run(&["person", "lift-suspension", "200007", "--reason", "again"])
                .status
                .success(),
            "lifted what was not in force"
        );
        let r = json(&run(
            &[&["notices", "extract", "--json"][..], &query].concat()
        ));
        assert!(r["excluded"]["利用停止"].is_null(), "{r}");
        assert!(
            r["sample"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["address_number"] == "200007"),
            "{r}"
        );
        for f in ["person.suspend", "person.lift_suspension"] {
            let log = text(&ok(run(&[
                "audit",
                "export",
                "--function",
                f,
                "--person",
                "200007",
            ])));
            assert!(log.lines().count() > 1, "{f} not audited: {log}");
        }

        // A record linked into another gets no notice while the link is in force.
        let link = [
            "person",
            "link",
            "200001",
            "200007",
            "--reason",
            "二重に登録した記録",
        ];
        let linked = text(&ok(run(&link)));
        assert!(
            linked.contains("宛名番号 200007 を 200001 に統合しました"),
            "{linked}"
        );
        let twice = run(&link);
        assert!(!twice.status.success(), "linked twice");
        assert!(
            text(&twice).contains("既に統合されています"),
            "{}",
            text(&twice)
        );
        let r = json(&run(
            &[&["notices", "extract", "--json"][..], &query].concat()
        ));
        assert_eq!(r["excluded"]["他の記録に統合"], 1, "{r}");
        let listed = text(&ok(run(&["person", "links"])));
        assert!(
            listed.contains("200001 ← 200007") && listed.contains("統合中"),
            "{listed}"
        );
        let id = listed.split('\t').next().unwrap().to_owned();
        assert!(
            !run(&["person", "unlink", &id, "--reason", " "])
                .status
                .success()
        );
        ok(run(&["person", "unlink", &id, "--reason", "別人と判明"]));
        let listed = text(&ok(run(&["person", "links"])));
        assert!(listed.contains("解除"), "{listed}");
        let r = json(&run(
            &[&["notices", "extract", "--json"][..], &query].concat()
        ));
        assert!(r["excluded"]["他の記録に統合"].is_null(), "{r}");
    }
}

#[tokio::test]
async fn a_certificate_verifies_by_file_id_and_qr_and_fails_when_altered() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        register(d, &db.url);
        assert!(
            !run(&["certificate", "issue", "200001", "--out", "none.pdf"])
                .status
                .success(),
            "a certificate of no dose"
        );
        ok(run(&[
            "dose",
            "add",
            "200001",
            "--vaccine",
            "hib",
            "--dose",
            "1",
            "--date",
            "2026-01-10",
            "--lot",
            "HB-001",
            "--institution-name",
            "見本こどもクリニック",
        ]));

        let issued = ok(run(&[
            "certificate",
            "issue",
            "200001",
            "--out",
            "c.pdf",
            "--travel",
            "--romanised-name",
            "Mihon Ichiro",
            "--nationality",
            "Japan",
            "--passport",
            "tz1234567",
        ]));
        let id = String::from_utf8_lossy(&issued.stdout).trim().to_owned();
        assert!(id.starts_with("132098-"), "{id}");
        let c = d.join("c.pdf");
        let t = squash(&pdf_text(&c));
        for needle in [
            id.as_str(),
            "予防接種証明書",
            "MIHONICHIRO",
            "TZ1234567",
            "令和8年1月10日",
            "2026-01-10",
            "HB-001",
            "見本こどもクリニック",
            "見本市長",
        ] {
            assert!(t.contains(needle), "{needle} missing: {t}");
        }
        assert!(!leaks_my_number(&t));
        assert_eq!(
            run(&["certificate", "verify", "c.pdf"]).status.code(),
            Some(0)
        );
        assert_eq!(run(&["certificate", "verify", &id]).status.code(), Some(0));

        // One byte changed anywhere in the file: not genuine.
        let mut bytes = std::fs::read(&c).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 1;
        std::fs::write(d.join("altered.pdf"), &bytes).unwrap();
        assert_eq!(
            run(&["certificate", "verify", "altered.pdf"]).status.code(),
            Some(1)
        );
        assert_eq!(
            run(&["certificate", "verify", "132098-2026-999999"])
                .status
                .code(),
            Some(1)
        );

        // Offline: the QR code's token and the published key, no database.
        let token = pdf_qr_codes(&c).pop().expect("a QR code");
        let key = ok(run(&["certificate", "public-key"])).stdout;
        std::fs::write(d.join("city.pub"), &key).unwrap();
        let offline = |token: &str| {
            std::process::Command::new(BIN)
                .args([
                    "certificate",
                    "verify",
                    "--json",
                    "--token",
                    token,
                    "--public-key",
                ])
                .arg(d.join("city.pub"))
                .env("SESSHU_DATABASE_URL", "sqlite:///nonexistent/never.db")
                .output()
                .unwrap()
        };
        let good = offline(&token);
        assert_eq!(good.status.code(), Some(0), "{}", text(&good));
        assert_eq!(json(&good)["certificate"]["p"], "TZ1234567");
        assert_eq!(json(&good)["certificate"]["id"], id.as_str());
        // The name in the token changed: the signature no longer matches.
        let parts: Vec<&str> = token.split('.').collect();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(b64.decode(parts[2]).unwrap()).unwrap();
        let forged = format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1],
            b64.encode(payload.replace("TZ1234567", "TZ7654321")),
            parts[3]
        );
        assert_eq!(offline(&forged).status.code(), Some(1));

        // Re-issue revokes the old one.
        let re = ok(run(&[
            "certificate",
            "issue",
            "200001",
            "--out",
            "c2.pdf",
            "--reissue-of",
            &id,
        ]));
        let new_id = String::from_utf8_lossy(&re.stdout).trim().to_owned();
        assert_eq!(
            run(&["certificate", "verify", "c.pdf"]).status.code(),
            Some(1)
        );
        assert_eq!(
            run(&["certificate", "verify", &new_id]).status.code(),
            Some(0)
        );
        assert!(pdf_text(&d.join("c2.pdf")).contains("再発行"));
    }
}

/// Text without whitespace: pdftotext spaces CJK text by its layout, and names are stored with
/// an ideographic space.
fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Reminder mails from the command line, through a real SMTP server: a guardian opted in, the
/// dry run lists her with her child's due doses, a relay that is down makes the run exit 3 with
/// the failure recorded, and the next run sends the one mail.
#[tokio::test]
async fn reminders_are_listed_sent_and_a_failed_relay_exits_3() {
    let smtp = sesshu_testkit::smtp::SmtpServer::start();
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        register(d, &db.url);
        ok(run(&[
            "reminders",
            "subscribe",
            "200010",
            "hanako@example.jp",
        ]));
        let bad = run(&["reminders", "subscribe", "200010", "hanako@"]);
        assert!(!bad.status.success(), "{}: {}", db.name, text(&bad));

        let dry = ok(run(&["reminders", "send", "--dry-run", "--json"]));
        let v = json(&dry);
        let mail = v["mails"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["guardian"] == "200010")
            .unwrap_or_else(|| panic!("{}: {v}", db.name));
        assert!(
            mail["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["child"] == "200001"),
            "{}: {mail}",
            db.name
        );
        let none = run(&["reminders", "send"]);
        assert!(!none.status.success(), "{}: no relay", db.name);
        assert!(text(&none).contains("smtp_host"), "{}", text(&none));

        let config = |port: u16| {
            format!(
                "[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsecurity = \"none\"\n\
                 from = \"見本市 <yobou@example.jp>\"\npublic_url = \"https://sesshu.example.jp\"\n\
                 attempts = 2\nretry_seconds = 0\n"
            )
        };
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(d.join("sesshu.toml"), config(closed)).unwrap();
        let failed = run(&["reminders", "send"]);
        assert_eq!(
            failed.status.code(),
            Some(3),
            "{}: {}",
            db.name,
            text(&failed)
        );
        assert!(text(&failed).contains("失敗 (2回)"), "{}", text(&failed));
        let before = smtp.messages().len();
        std::fs::write(d.join("sesshu.toml"), config(smtp.port)).unwrap();
        let sent = ok(run(&["reminders", "send"]));
        assert!(text(&sent).contains("送信 1"), "{}", text(&sent));
        assert_eq!(smtp.messages().len(), before + 1, "{}", db.name);
        assert!(
            smtp.messages()
                .last()
                .unwrap()
                .contains("hanako@example.jp")
        );
    }
}

#[tokio::test]
async fn a_payment_run_is_approved_by_another_operator_and_differences_exit_3() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let as_who =
            |who: &str, args: &[&str]| sesshu_with(d, &db.url, &[("SESSHU_OPERATOR", who)], args);
        register(d, &db.url);
        let day = (sesshu_web::today_in_japan() - chrono::Days::new(1)).to_string();
        ok(as_who(
            "alice",
            &[
                "dose",
                "add",
                "200010",
                "--vaccine",
                "flu",
                "--dose",
                "1",
                "--date",
                &day,
                "--institution",
                "1310000001",
                "--billing-month",
                "202611",
                "--deferred",
            ],
        ));
        std::fs::write(
            d.join("prices.csv"),
            "ワクチン,回数,適用開始日,適用終了日,単価\nflu,予診のみ,2015-04-01,,2000\n",
        )
        .unwrap();
        ok(as_who("alice", &["payments", "prices", "prices.csv"]));
        let head = "医療機関コード,医療機関名,受取人名カナ,金融機関コード,金融機関名カナ,支店コード,支店名カナ,預金種目,口座番号\n";
        std::fs::write(
            d.join("bad.csv"),
            format!("{head}1310000001,見本医院,見本医院,0001,ミズホ,123,ホンテン,普通,1234567\n"),
        )
        .unwrap();
        let bad = as_who("alice", &["payments", "institutions", "bad.csv"]);
        assert_eq!(bad.status.code(), Some(2), "{}: {}", db.name, text(&bad));
        assert!(
            text(&bad).contains("2行目 [受取人名カナ]"),
            "{}",
            text(&bad)
        );
        std::fs::write(
            d.join("inst.csv"),
            format!(
                "{head}1310000001,見本医院,ミホンイイン,0001,ミズホ,123,ホンテン,普通,1234567\n"
            ),
        )
        .unwrap();
        ok(as_who("alice", &["payments", "institutions", "inst.csv"]));
        ok(as_who(
            "alice",
            &[
                "payments",
                "requester",
                "--code",
                "1234567890",
                "--name",
                "ミホンシ",
                "--bank",
                "0009",
                "--bank-name",
                "ミツイスミトモ",
                "--branch",
                "001",
                "--branch-name",
                "ホンテン",
                "--account",
                "7654321",
            ],
        ));
        // A weekday: banks transfer on business days.
        let mut transfer = sesshu_web::today_in_japan() + chrono::Days::new(10);
        while chrono::Datelike::weekday(&transfer).number_from_monday() > 5 {
            transfer = transfer + chrono::Days::new(1);
        }
        let transfer = transfer.to_string();
        let prepared = ok(as_who(
            "alice",
            &[
                "payments",
                "prepare",
                "202611",
                "--transfer-date",
                &transfer,
                "--json",
            ],
        ));
        let run_id = json(&prepared)["run"]["run_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let own = as_who("alice", &["payments", "approve", &run_id]);
        assert!(!own.status.success(), "{}: {}", db.name, text(&own));
        assert!(text(&own).contains("別の職員"), "{}", text(&own));
        ok(as_who("bob", &["payments", "approve", &run_id]));
        ok(as_who(
            "bob",
            &["payments", "transfer", &run_id, "--out", "furikomi.txt"],
        ));
        let file = std::fs::read(d.join("furikomi.txt")).unwrap();
        assert_eq!(file.len(), 4 * 122, "{}", db.name);
        assert!(file.windows(4).any(|w| w == b"2000"), "{}", db.name);

        std::fs::write(
            d.join("claim.csv"),
            format!("医療機関コード,宛名番号,ワクチン,回数,接種日,請求額\n1310000001,200010,flu,1,{day},2500\n"),
        )
        .unwrap();
        let differs = as_who("alice", &["payments", "reconcile", "202611", "claim.csv"]);
        assert_eq!(
            differs.status.code(),
            Some(3),
            "{}: {}",
            db.name,
            text(&differs)
        );
        assert!(text(&differs).contains("差額 500 円"), "{}", text(&differs));
    }
}

#[tokio::test]
async fn statistics_coverage_counts_the_years_target_and_writes_shift_jis() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        register(d, &db.url);
        ok(sesshu(
            d,
            &db.url,
            &[
                "dose",
                "add",
                "200008",
                "--vaccine",
                "hib",
                "--dose",
                "1",
                "--date",
                "2026-01-15",
            ],
        ));
        // Hib's window opens at 2 months: for all six living residents in January 2026
        // (FY2025); the dead and the moved-out are not counted.
        let out = ok(sesshu(
            d,
            &db.url,
            &[
                "statistics",
                "coverage",
                "--series",
                "hib",
                "--fiscal-year",
                "2025",
                "--csv",
                "c.csv",
                "--encoding",
                "sjis",
            ],
        ));
        let t = text(&out);
        assert!(
            t.contains("2025年度") && t.contains("対象者 6 人"),
            "{}: {t}",
            db.name
        );
        assert!(t.contains(": 1 (16.7%)"), "{}: {t}", db.name);
        let csv = std::fs::read(d.join("c.csv")).unwrap();
        assert!(!csv.starts_with(b"\xEF\xBB\xBF"), "Shift_JIS has no BOM");
        assert!(
            {
                let needle = b"\"6\",\"1\",\"16.7\"";
                csv.windows(needle.len()).any(|w| w == needle)
            },
            "{}",
            db.name
        );
        // By month of birth: the living residents born in each month.
        let out = ok(sesshu(
            d,
            &db.url,
            &[
                "statistics",
                "cohorts",
                "--series",
                "hib",
                "--born-from",
                "2025-11-01",
                "--born-to",
                "2025-12-31",
            ],
        ));
        let t = text(&out);
        assert!(
            t.contains("2025-11: 1 / 4 人 (25.0%)") && t.contains("2025-12: 0 / 2 人 (0.0%)"),
            "{}: {t}",
            db.name
        );
        let bad = sesshu(d, &db.url, &["statistics", "coverage", "--series", "nope"]);
        assert!(!bad.status.success());
        assert!(text(&bad).contains("nope"), "{}", text(&bad));
    }
}

#[tokio::test]
async fn an_exemption_is_recorded_listed_and_revoked_from_the_command_line() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        register(d, &db.url);
        let today = sesshu_web::today_in_japan().to_string();
        let record = |evidence: &str, ground: &str| {
            run(&[
                "exemption",
                "record",
                "--person",
                "200010",
                "--ground",
                ground,
                "--evidence",
                evidence,
                "--applied-on",
                &today,
            ])
        };
        // No document, or a ground the rules do not name: said, and nothing recorded.
        let bad = record("", "welfare");
        assert!(!bad.status.success(), "{}", db.name);
        assert!(text(&bad).contains("確認した書類"), "{}", text(&bad));
        let bad = record("証明書", "rich");
        assert!(text(&bad).contains("welfare, tax_exempt"), "{}", text(&bad));
        let listed = ok(run(&["exemption", "list"]));
        assert!(text(&listed).contains("0 件"), "{}", text(&listed));

        let made = ok(record("保護受給証明書", "welfare"));
        assert!(
            text(&made).contains("免除 生活保護受給者"),
            "{}",
            text(&made)
        );
        let again = record("保護受給証明書", "welfare");
        assert!(text(&again).contains("既にあります"), "{}", text(&again));
        ok(run(&["exemption", "revoke", "1", "--reason", "誤登録"]));
        ok(run(&["exemption", "list", "--csv", "year.csv"]));
        let file = std::fs::read_to_string(d.join("year.csv")).unwrap();
        assert!(
            file.contains("200010") && file.contains("取消 (誤登録)"),
            "{file}"
        );
        let mine = ok(run(&["exemption", "list", "--person", "200010"]));
        assert!(text(&mine).contains("[取消: 誤登録]"), "{}", text(&mine));
    }
}

#[tokio::test]
async fn a_disclosure_request_is_received_printed_and_answered_from_the_command_line() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        register(d, &db.url);
        let bad = run(&[
            "request",
            "receive",
            "--person",
            "200010",
            "--kind",
            "disclosure",
            "--identity",
            "",
            "--details",
            "全部",
        ]);
        assert!(!bad.status.success(), "{}", db.name);
        assert!(text(&bad).contains("本人確認"), "{}", text(&bad));
        let made = ok(run(&[
            "request",
            "receive",
            "--person",
            "200010",
            "--kind",
            "disclosure",
            "--identity",
            "運転免許証",
            "--details",
            "接種記録の全部",
        ]));
        assert!(text(&made).contains("回答期限"), "{}", text(&made));
        ok(run(&["request", "disclose", "1", "--out", "d.pdf"]));
        let pdf = pdf_text(&d.join("d.pdf"));
        assert!(pdf.contains("保有個人情報の開示"), "{pdf}");
        assert!(!leaks_my_number(&pdf), "{}", db.name);
        let listed = ok(run(&["request", "list"]));
        assert!(text(&listed).contains("1 件"), "{}", text(&listed));
        ok(run(&[
            "request",
            "answer",
            "1",
            "--outcome",
            "full",
            "--answer",
            "写しを交付",
        ]));
        let all = ok(run(&["request", "list", "--all"]));
        assert!(
            text(&all).contains("[全部開示: 写しを交付]"),
            "{}",
            text(&all)
        );
        let open = ok(run(&["request", "list"]));
        assert!(text(&open).contains("0 件"), "{}", text(&open));
    }
}

#[tokio::test]
async fn a_relief_case_is_received_advanced_and_its_letter_written_from_the_command_line() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        register(d, &db.url);
        let onset = (sesshu_web::today_in_japan() - chrono::Days::new(10)).to_string();
        let receive = |documents: &str| {
            run(&[
                "relief",
                "receive",
                "--person",
                "200001",
                "--regime",
                "statutory_a",
                "--benefit",
                "medical",
                "--harm",
                "接種後の発熱とけいれんで入院",
                "--onset-on",
                &onset,
                "--applicant",
                "guardian",
                "--applicant-name",
                "見本 花子",
                "--documents",
                documents,
            ])
        };
        let refused = receive("vaccination_proof");
        assert!(!refused.status.success(), "{}", db.name);
        assert!(
            text(&refused).contains("給付の請求書"),
            "{}",
            text(&refused)
        );
        let t = text(&ok(receive("claim,vaccination_proof,medical_records")));
        assert!(t.contains("案件 1 を受け付けました"), "{t}");
        ok(run(&["relief", "step", "1", "investigated"]));
        let early = run(&["relief", "step", "1", "forwarded"]);
        assert!(!early.status.success());
        assert!(
            text(&early).contains("医療費・医療手当の証明書"),
            "{}",
            text(&early)
        );
        ok(run(&["relief", "document", "1", "medical_cost"]));
        ok(run(&["relief", "step", "1", "forwarded"]));
        ok(run(&["relief", "step", "1", "approved"]));
        ok(run(&["relief", "step", "1", "paid", "--amount", "50000"]));
        let shown = text(&ok(run(&["relief", "show", "1"])));
        assert!(
            shown.contains("手続\t支給") && shown.contains("50000 円"),
            "{shown}"
        );
        ok(run(&[
            "relief", "letter", "1", "payment", "--out", "pay.pdf",
        ]));
        let letter: String = common::pdf_text(&d.join("pay.pdf"))
            .split_whitespace()
            .collect();
        assert!(
            letter.contains("支給決定通知書") && letter.contains("50,000円"),
            "{letter}"
        );
        let listed = text(&ok(run(&["relief", "list"])));
        assert!(listed.contains("1 件"), "{listed}");
    }
}

#[tokio::test]
async fn persons_past_the_retention_period_are_deleted_by_two_operators_with_a_certificate() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let as_op =
            |op: &str, args: &[&str]| sesshu_with(d, &db.url, &[("SESSHU_OPERATOR", op)], args);
        register(d, &db.url);
        // An adult of the town (the infants were born after the day they would have moved).
        let gone = TOWN[0].0;
        let mut moved = TOWN[0..1].to_vec();
        moved[0].8 = "2";
        moved[0].9 = "04";
        let six_years_ago = (sesshu_web::today_in_japan() - chrono::Days::new(6 * 366))
            .format("%Y%m%d")
            .to_string();
        let diff = feed(&moved).replace(",2,04,,", &format!(",2,04,{six_years_ago},"));
        std::fs::write(d.join("moved.csv"), diff).unwrap();
        ok(as_op(
            "tanaka",
            &[
                "import",
                "residents",
                "moved.csv",
                "--mode",
                "diff",
                "--encoding",
                "utf8",
            ],
        ));

        let short = as_op("tanaka", &["retention", "plan", "--years", "3"]);
        assert!(!short.status.success());
        assert!(
            text(&short).contains("5 年より短くできません"),
            "{}",
            text(&short)
        );
        let plan = text(&ok(as_op("tanaka", &["retention", "plan"])));
        assert!(plan.contains(gone) && plan.contains("転出"), "{plan}");
        let own = as_op("tanaka", &["retention", "approve", "1"]);
        assert!(!own.status.success(), "approved by its planner");
        ok(as_op("suzuki", &["retention", "approve", "1"]));
        let done = text(&ok(as_op("suzuki", &["retention", "execute", "1"])));
        assert!(
            done.contains("削除済み") && done.contains("\"persons\":1"),
            "{done}"
        );
        let verified = text(&ok(as_op("sato", &["retention", "verify", "1"])));
        assert!(verified.contains("署名は正しい"), "{verified}");
        let shown = as_op("sato", &["person", "show", gone]);
        assert!(!shown.status.success(), "{}", text(&shown));
        ok(as_op("sato", &["audit", "verify"]));
    }
}
