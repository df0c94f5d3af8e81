//! The `sesshu` binary as operators and scripts use it, on every backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use common::{BIN, json, sesshu, text};
use sesshu_testkit::leaks_my_number;

#[tokio::test]
async fn init_import_and_show_on_every_backend() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let init = sesshu(
            d,
            &db.url,
            &["init", "--municipality", "132098", "--name", "町田市"],
        );
        assert!(init.status.success(), "{}: {}", db.name, text(&init));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.join("keys/sesshu.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(d.join("sesshu.toml").exists());
        let again = sesshu(
            d,
            &db.url,
            &["init", "--municipality", "132098", "--name", "町田市"],
        );
        assert!(
            again.status.success() && text(&again).contains("既に登録"),
            "{}",
            text(&again)
        );

        let generate = sesshu(
            d,
            &db.url,
            &[
                "demo",
                "generate",
                "--persons",
                "800",
                "--seed",
                "4",
                "--as-of",
                "2026-04-01",
                "--out",
                "full.csv",
                "--changes",
                "80",
                "--changes-out",
                "diff.csv",
            ],
        );
        assert!(generate.status.success(), "{}", text(&generate));

        let first = sesshu(
            d,
            &db.url,
            &[
                "import",
                "residents",
                "full.csv",
                "--mode",
                "full",
                "--json",
            ],
        );
        assert_eq!(
            first.status.code(),
            Some(0),
            "{}: {}",
            db.name,
            text(&first)
        );
        let s = json(&first);
        for key in ["inserted", "updated", "unchanged", "rejected"] {
            assert!(s[key].is_u64(), "{key} missing: {s}");
        }
        assert_eq!(
            (s["inserted"].as_u64(), s["rejected"].as_u64()),
            (Some(800), Some(0)),
            "{s}"
        );
        assert_eq!(s["encoding"], "Shift_JIS");

        let again = json(&sesshu(
            d,
            &db.url,
            &[
                "import",
                "residents",
                "full.csv",
                "--mode",
                "full",
                "--json",
            ],
        ));
        assert_eq!(
            (again["inserted"].as_u64(), again["unchanged"].as_u64()),
            (Some(0), Some(800)),
            "{again}"
        );

        let diff = sesshu(d, &db.url, &["import", "residents", "diff.csv", "--json"]);
        assert_eq!(diff.status.code(), Some(0), "{}", text(&diff));
        let ds = json(&diff);
        assert!(ds["updated"].as_u64().unwrap() > 40, "{ds}");

        // A person whose row changed shows the old version in the history, number masked.
        let changed: Vec<String> = std::fs::read(d.join("diff.csv"))
            .map(|b| encoding_lines(&b))
            .unwrap()
            .into_iter()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_owned())
            .collect();
        let mut saw_history = false;
        for a in changed.iter().take(10) {
            let show = sesshu(d, &db.url, &["person", "show", a, "--json"]);
            assert!(show.status.success(), "{}", text(&show));
            let p = json(&show);
            assert!(
                !leaks_my_number(&text(&show)),
                "{}: unmasked My Number in person show",
                db.name
            );
            if let Some(n) = p["person"]["my_number"].as_str() {
                assert!(n.starts_with("********") && n.len() == 12, "{n}");
            }
            saw_history |= !p["history"].as_array().unwrap().is_empty();
        }
        assert!(saw_history, "{}: diff left no history", db.name);
        let human = sesshu(d, &db.url, &["person", "show", &changed[0]]);
        assert!(
            human.status.success() && text(&human).contains("宛名番号"),
            "{}",
            text(&human)
        );
        let missing = sesshu(d, &db.url, &["person", "show", "1"]);
        assert_eq!(missing.status.code(), Some(1));
        assert!(text(&missing).contains("登録されていません"));

        // Bad rows: exit 3 and a report, or exit 2 and nothing applied with --all-or-nothing.
        let mut bad = std::fs::read_to_string(d.join("full.csv")).unwrap_or_default();
        if bad.is_empty() {
            bad = encoding_lines(&std::fs::read(d.join("full.csv")).unwrap()).join("\r\n") + "\r\n";
        }
        let header = bad.lines().next().unwrap().to_owned();
        let bad_file = format!(
            "{header}\r\n900001,,,,,新井 一,アライ ハジメ,2025-02-30,1,,,,,,,1,,,,,,\r\n900002,,,,,新井 二,アライ ニ,20200101,1,,,,,,,1,,,,,,\r\n"
        );
        std::fs::write(d.join("bad.csv"), &bad_file).unwrap();
        let strict = sesshu(
            d,
            &db.url,
            &[
                "import",
                "residents",
                "bad.csv",
                "--all-or-nothing",
                "--json",
            ],
        );
        assert_eq!(strict.status.code(), Some(2), "{}", text(&strict));
        let none = sesshu(d, &db.url, &["person", "show", "900002"]);
        assert_eq!(
            none.status.code(),
            Some(1),
            "{}: a refused file applied a row",
            db.name
        );
        let partial = sesshu(
            d,
            &db.url,
            &[
                "import",
                "residents",
                "bad.csv",
                "--json",
                "--report",
                "errors.csv",
            ],
        );
        assert_eq!(partial.status.code(), Some(3), "{}", text(&partial));
        let ps = json(&partial);
        assert_eq!(
            (ps["inserted"].as_u64(), ps["rejected"].as_u64()),
            (Some(1), Some(1))
        );
        let report = std::fs::read_to_string(d.join("errors.csv")).unwrap();
        assert!(
            report.contains("2,生年月日,存在しない日付です,2025-02-30"),
            "{report}"
        );

        let no_column = "宛名番号,氏名\r\n1,山田 太郎\r\n";
        std::fs::write(d.join("nocol.csv"), no_column).unwrap();
        let refused = sesshu(d, &db.url, &["import", "residents", "nocol.csv"]);
        assert_eq!(refused.status.code(), Some(2));
        assert!(
            text(&refused).contains("必須の列がありません"),
            "{}",
            text(&refused)
        );

        let search = sesshu(d, &db.url, &["person", "search", "--kana", "ｻﾄｳ", "--json"]);
        assert!(search.status.success(), "{}", text(&search));
        assert!(!leaks_my_number(&text(&search)));
    }
}

/// The feed's lines, decoded from Shift_JIS.
fn encoding_lines(bytes: &[u8]) -> Vec<String> {
    let text = sesshu_formats::TextEncoding::ShiftJis
        .decode(bytes)
        .map(|c| c.into_owned())
        .unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

#[test]
fn demo_generate_is_deterministic_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let generate = |seed: &str, out: &str| {
        let o = sesshu(
            d,
            "sqlite://unused.db",
            &[
                "demo",
                "generate",
                "--persons",
                "500",
                "--seed",
                seed,
                "--as-of",
                "2026-04-01",
                "--out",
                out,
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        std::fs::read(d.join(out)).unwrap()
    };
    let a = generate("7", "a.csv");
    assert_eq!(a, generate("7", "b.csv"));
    assert_ne!(a, generate("8", "c.csv"));
    let lines = encoding_lines(&a);
    assert_eq!(lines.len(), 501);
    assert!(lines[0].starts_with("宛名番号,統合宛名番号,個人番号"));
}

#[test]
fn serve_demo_answers_on_loopback_and_refuses_other_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let refused = sesshu(
        d,
        "sqlite://x.db",
        &["serve", "--demo", "--listen", "0.0.0.0:0"],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("ループバック"),
        "{}",
        text(&refused)
    );

    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--demo-persons",
            "300",
        ])
        .current_dir(d)
        .env("SESSHU_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    let mut token = None;
    let mut admin = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("デモの管理者:") {
            let word_after = |marker: &str| {
                line.split(marker)
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_owned)
            };
            admin = word_after("パスワード ").zip(word_after("回復コード "));
        }
        if let Some(t) = line.strip_prefix("デモの API トークン (予防接種事務担当): ")
        {
            token = Some(t.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("sesshu: http://") {
            addr = rest.split('/').next().map(str::to_owned);
            break;
        }
    }
    let addr = addr.expect("serve printed its address");
    let token = token.expect("the demo printed a ready API token");
    let get_as = |path: &str, auth: Option<&str>| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let auth = auth
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    };
    let get = |path: &str| get_as(path, Some(&token));
    let anonymous = get_as("/api/v1/municipalities/999997/persons/100001", None);
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    // The printed administrator login works, second factor included.
    let (password, recovery) = admin.expect("the demo printed a ready administrator login");
    let body = format!(
        "{{\"municipality\":\"99999\",\"login\":\"admin\",\"password\":\"{password}\",\"totp\":\"{recovery}\"}}"
    );
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut login = String::new();
    s.read_to_string(&mut login).unwrap();
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    assert!(
        login
            .to_ascii_lowercase()
            .contains("set-cookie: sesshu_session=")
    );
    let health = get("/health");
    assert!(
        health.starts_with("HTTP/1.1 200") && health.contains("\"ok\""),
        "{health}"
    );
    let person = get("/api/v1/municipalities/999997/persons/100001");
    assert!(person.starts_with("HTTP/1.1 200"), "{person}");
    assert!(
        person
            .to_ascii_lowercase()
            .contains("cache-control: no-store")
    );
    assert!(!leaks_my_number(&person), "the API showed a My Number");
    child.kill().ok();
    child.wait().ok();
}
