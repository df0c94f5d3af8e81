//! The invariant from the attacker's side: every command an operator runs — with debug logging
//! on — and every file those commands write is scanned for a 12-digit number that passes the My
//! Number check digit. The town's residents all have My Numbers; none may surface.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{BIN, json};
use sesshu_formats::contains_my_number;
use sesshu_testkit::leaks_my_number;

#[tokio::test]
async fn no_output_log_report_or_export_contains_a_my_number() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut seen = String::new();
        let mut run = |args: &[&str]| {
            let out = Command::new(BIN)
                .args(args)
                .current_dir(d)
                .env("SESSHU_DATABASE_URL", &db.url)
                .env("SESSHU_KEY_FILE", d.join("keys/sesshu.key"))
                .env_remove("SESSHU_KEY")
                .env_remove("SESSHU_CONFIG")
                .env_remove("SESSHU_MUNICIPALITY")
                .env_remove("SESSHU_RULES")
                .env("SESSHU_LOG", "debug")
                .env("SESSHU_OPERATOR", "tester")
                .output()
                .unwrap();
            let text = format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            seen.push_str(&text);
            (out, text)
        };
        run(&["init", "--municipality", "132098", "--name", "町田市"]);
        run(&[
            "demo",
            "generate",
            "--persons",
            "400",
            "--seed",
            "9",
            "--as-of",
            "2026-04-01",
            "--encoding",
            "utf8",
            "--out",
            "town.csv",
            "--doses-out",
            "doses.csv",
        ]);
        // A feed with broken rows, some of whose bad values sit next to real My Numbers.
        let town = std::fs::read_to_string(d.join("town.csv")).unwrap();
        let mut broken: Vec<String> = town.lines().map(str::to_owned).collect();
        for line in broken.iter_mut().skip(1).step_by(37) {
            let mut f: Vec<String> = line.split(',').map(str::to_owned).collect();
            f[7] = "2099-13-45".into();
            *line = f.join(",");
        }
        std::fs::write(d.join("broken.csv"), broken.join("\n") + "\n").unwrap();
        run(&[
            "import",
            "residents",
            "broken.csv",
            "--mode",
            "full",
            "--json",
        ]);
        run(&[
            "import",
            "residents",
            "town.csv",
            "--mode",
            "full",
            "--json",
        ]);
        run(&["import", "doses", "doses.csv", "--json"]);
        let address = town
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_owned();
        run(&["person", "show", &address]);
        run(&["person", "show", &address, "--json"]);
        run(&["person", "search", "--birth-date", "2025-06-01", "--json"]);
        run(&[
            "dose",
            "add",
            &address,
            "--vaccine",
            "flu",
            "--dose",
            "1",
            "--date",
            "2025-11-01",
        ]);
        run(&["schedule", "due", "--as-of", "2026-04-01", "--json"]);
        run(&[
            "user",
            "add",
            "tanaka",
            "--name",
            "田中",
            "--grant",
            "role:clerk",
        ]);
        run(&["user", "list", "--json"]);
        run(&["access-review", "--csv", "review.csv"]);
        run(&["token", "create", "report", "--grant", "role:viewer"]);
        run(&["token", "list", "--json"]);
        run(&["keys", "rotate", "--json"]);
        run(&["audit", "export", "--out", "audit.csv"]);
        let (verify, _) = run(&["audit", "verify", "--json"]);
        assert_eq!(json(&verify)["intact"], true, "{}", db.name);

        assert!(
            seen.contains("DEBUG") || seen.contains("INFO"),
            "the logs were on"
        );
        assert!(
            !leaks_my_number(&seen),
            "{}: a My Number in output or logs",
            db.name
        );
        let mut files = 0;
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // The inputs hold My Numbers by design; the database and key are checked elsewhere.
            if ["town.csv", "broken.csv", "doses.csv"].contains(&name.as_str())
                || name.starts_with("sesshu")
                || path.is_dir()
            {
                continue;
            }
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            assert!(
                !leaks_my_number(&text),
                "{}: a My Number in {name}",
                db.name
            );
            files += 1;
        }
        assert!(
            files >= 3,
            "{}: the report, the review and the export were written",
            db.name
        );
        assert!(
            contains_my_number(&town),
            "the test's town does carry My Numbers"
        );
    }
}

#[test]
fn the_scanner_finds_a_number_in_text_but_not_inside_a_digest() {
    let n = sesshu_domain::MyNumber::from_first_eleven([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]).unwrap();
    let digits = String::from_utf8(n.expose().to_vec()).unwrap();
    assert!(leaks_my_number(&format!("個人番号: {digits}。")));
    assert!(leaks_my_number(&format!("\"my_number\":\"{digits}\"")));
    assert!(!leaks_my_number(&format!(
        "sha256 ab{digits}cdef0123456789"
    )));
}
