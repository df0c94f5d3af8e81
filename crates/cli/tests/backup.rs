//! `sesshu backup` and `sesshu restore` on both backends: a restore puts back exactly what the
//! manifest says, with every audit chain verified; a register is replaced only when asked; a
//! damaged backup is refused and changes nothing; the key file is never in a backup; a backup
//! taken during an import holds the import completely or not at all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{BIN, sesshu, text};
use serde_json::Value;

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

/// Persons held for 132098 in a backup.
fn persons(dir: &Path) -> i64 {
    manifest(dir)["held"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["municipality_code"] == "132098")
        .map(|h| h["persons"].as_i64().unwrap())
        .unwrap()
}

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

#[tokio::test]
async fn a_backup_restores_what_it_holds_and_nothing_else() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        common::init_machida(d, &db.url);
        for (persons, out, doses) in [
            ("300", "town.csv", "doses.csv"),
            ("20000", "big.csv", "big-doses.csv"),
        ] {
            ok(run(&[
                "demo",
                "generate",
                "--persons",
                persons,
                "--seed",
                "6",
                "--as-of",
                "2026-04-01",
                "--encoding",
                "utf8",
                "--out",
                out,
                "--doses-out",
                doses,
            ]));
        }
        ok(run(&["import", "residents", "town.csv", "--mode", "full"]));
        let _ = run(&["import", "doses", "doses.csv"]);

        let said = ok(run(&["backup", "b1"]));
        assert!(
            said.contains("鍵ファイルは含みません"),
            "{}: {said}",
            db.name
        );
        let m = manifest(&d.join("b1"));
        assert_eq!(persons(&d.join("b1")), 300, "{}", db.name);
        let town = &m["held"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["municipality_code"] == "132098")
            .unwrap()
            .clone();
        assert!(town["doses"].as_i64().unwrap() > 0, "{}: {m}", db.name);
        assert!(
            town["audit_entries"].as_i64().unwrap() > 0,
            "{}: {m}",
            db.name
        );
        // Neither the key file nor its secret is in the backup.
        let key = std::fs::read_to_string(d.join("keys/sesshu.key")).unwrap();
        let secrets: Vec<&str> = key
            .lines()
            .filter(|l| !l.starts_with('#') && l.len() > 16)
            .collect();
        assert!(!secrets.is_empty());
        for f in std::fs::read_dir(d.join("b1")).unwrap() {
            let f = f.unwrap();
            assert!(!f.file_name().to_string_lossy().ends_with(".key"));
            let bytes = std::fs::read(f.path()).unwrap();
            for s in &secrets {
                let s = s.split_once('=').map_or(*s, |(_, v)| v.trim()).as_bytes();
                assert!(
                    !bytes.windows(s.len()).any(|w| w == s),
                    "{}: {:?}",
                    db.name,
                    f.path()
                );
            }
        }
        // A directory already used is refused.
        let again = run(&["backup", "b1"]);
        assert!(
            !again.status.success() && text(&again).contains("空ではありません"),
            "{}",
            text(&again)
        );

        // The register moves on; restoring needs --force and then puts back the backup's state.
        ok(run(&["import", "residents", "big.csv"]));
        let refused = run(&["restore", "b1"]);
        assert!(!refused.status.success(), "{}", db.name);
        assert!(text(&refused).contains("--force"), "{}", text(&refused));
        let said = ok(run(&["restore", "b1", "--force"]));
        assert!(said.contains("件数は目録と一致"), "{}: {said}", db.name);
        ok(run(&["audit", "verify"]));
        ok(run(&["backup", "b2"]));
        assert_eq!(
            persons(&d.join("b2")),
            300,
            "{}: the restore put back 300",
            db.name
        );

        // A damaged backup is refused before anything is touched.
        let bad = d.join("bad");
        std::fs::create_dir(&bad).unwrap();
        for f in std::fs::read_dir(d.join("b2")).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), bad.join(f.file_name())).unwrap();
        }
        let m2 = manifest(&bad);
        let victim = bad.join(m2["files"].as_object().unwrap().keys().next().unwrap());
        let mut bytes = std::fs::read(&victim).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        std::fs::write(&victim, bytes).unwrap();
        let refused = run(&["restore", "bad", "--force"]);
        assert!(!refused.status.success(), "{}", db.name);
        assert!(text(&refused).contains("SHA-256"), "{}", text(&refused));
        ok(run(&["audit", "verify"]));

        // A backup taken while an import runs holds all of it or none of it.
        let mut import = std::process::Command::new(BIN)
            .args(["import", "residents", "big.csv"])
            .current_dir(d)
            .env("SESSHU_DATABASE_URL", &db.url)
            .env("SESSHU_KEY_FILE", d.join("keys/sesshu.key"))
            .env_remove("SESSHU_KEY")
            .env_remove("SESSHU_CONFIG")
            .env("SESSHU_LOG", "warn")
            .env("SESSHU_OPERATOR", "tester")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        ok(run(&["backup", "during"]));
        assert!(import.wait().unwrap().success(), "{}", db.name);
        ok(run(&["backup", "after"]));
        let during = persons(&d.join("during"));
        let after = persons(&d.join("after"));
        assert!(after > 300, "{}", db.name);
        assert!(
            during == 300 || during == after,
            "{}: {during} of {after}",
            db.name
        );
        let said = ok(run(&["restore", "during", "--force"]));
        assert!(said.contains("件数は目録と一致"), "{}: {said}", db.name);
        ok(run(&["audit", "verify"]));
    }
}
