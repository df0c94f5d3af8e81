//! `sesshu schedule`: the evaluation contract as other programs call it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_sesshu");

fn eval_stdin(input: &str, extra: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(["schedule", "eval"])
        .args(extra)
        .env_remove("SESSHU_RULES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn eval_reads_stdin_or_a_file_and_prints_the_contract() {
    let request = json!({
        "birth_date": "2025-01-20", "sex": "F", "as_of": "2025-04-10",
        "history": [{"vaccine": "hib", "dose": 1, "date": "2025-04-01"}]
    })
    .to_string();
    let (code, stdout, stderr) = eval_stdin(&request, &[]);
    assert_eq!(code, 0, "{stderr}");
    let out: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(out["series"]["hib"]["earliest_date"], json!("2025-04-29"));
    assert_eq!(out["history"][0]["routine"], json!(true));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("req.json");
    std::fs::write(&file, &request).unwrap();
    let from_file = Command::new(BIN)
        .args(["schedule", "eval"])
        .arg(&file)
        .env_remove("SESSHU_RULES")
        .output()
        .unwrap();
    assert!(from_file.status.success());
    let again: Value = serde_json::from_slice(&from_file.stdout).unwrap();
    assert_eq!(again, out, "same request, same answer");
}

#[test]
fn a_malformed_request_exits_2_with_the_reason() {
    let (code, stdout, stderr) = eval_stdin(
        r#"{"birth_date":"2025-13-01","sex":"F","as_of":"2025-01-01"}"#,
        &[],
    );
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("JSON"), "{stderr}");
}

#[test]
fn a_city_rules_file_replaces_the_shipped_one() {
    let rules = Command::new(BIN)
        .args(["schedule", "rules"])
        .env_remove("SESSHU_RULES")
        .output()
        .unwrap();
    assert!(rules.status.success());
    let text = String::from_utf8(rules.stdout).unwrap();
    assert!(text.contains("R-HIB-2"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.toml");
    std::fs::write(
        &file,
        text.replace(
            "month_end = \"last_day\"",
            "month_end = \"next_month_first\"",
        ),
    )
    .unwrap();
    let request = json!({"birth_date": "2023-01-15", "sex": "M", "as_of": "2025-02-01",
        "history": [{"vaccine": "varicella", "dose": 1, "date": "2024-11-30"}]})
    .to_string();
    let (_, stdout, _) = eval_stdin(&request, &["--rules", file.to_str().unwrap()]);
    let out: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        out["series"]["varicella"]["earliest_date"],
        json!("2025-03-01")
    );

    std::fs::write(&file, "this is not toml [").unwrap();
    let (code, _, stderr) = eval_stdin(&request, &["--rules", file.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(stderr.contains("規則ファイル"), "{stderr}");
}
