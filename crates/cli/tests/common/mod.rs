//! What the binary's tests share: running `sesshu` against one database, reading its output.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_sesshu");

/// Runs `sesshu` in `dir` against `db`, with a key file in `dir/keys` and no ambient settings.
pub fn sesshu(dir: &Path, db: &str, args: &[&str]) -> Output {
    sesshu_with(dir, db, &[], args)
}

/// As [`sesshu`], with extra environment variables (another operator, a setting).
pub fn sesshu_with(dir: &Path, db: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env("SESSHU_DATABASE_URL", db)
        .env("SESSHU_KEY_FILE", dir.join("keys/sesshu.key"))
        .env_remove("SESSHU_KEY")
        .env_remove("SESSHU_CONFIG")
        .env_remove("SESSHU_MUNICIPALITY")
        .env_remove("SESSHU_RULES")
        .env("SESSHU_LOG", "warn")
        .env("SESSHU_OPERATOR", "tester");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run sesshu")
}

pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The text of a PDF as pdftotext reads it, pages separated by form feeds.
pub fn pdf_text(path: &Path) -> String {
    let out = Command::new("pdftotext")
        .arg("-layout")
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils; scripts/test installs it)");
    assert!(out.status.success(), "pdftotext {}", path.display());
    String::from_utf8(out.stdout).expect("UTF-8 text")
}

/// Every QR code on the first page of a PDF, rendered at 300 dpi and decoded.
pub fn pdf_qr_codes(path: &Path) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let status = Command::new("pdftoppm")
        .args(["-png", "-r", "300", "-f", "1", "-l", "1", "-singlefile"])
        .arg(path)
        .arg(dir.path().join("page"))
        .status()
        .expect("pdftoppm");
    assert!(status.success());
    let image = image::open(dir.path().join("page.png"))
        .expect("png")
        .to_luma8();
    rqrr::PreparedImage::prepare(image)
        .detect_grids()
        .into_iter()
        .map(|g| g.decode().expect("a readable QR code").1)
        .collect()
}

/// `sesshu init` for 町田市 (132098), which must succeed.
pub fn init_machida(dir: &Path, db: &str) {
    let out = sesshu(
        dir,
        db,
        &["init", "--municipality", "132098", "--name", "町田市"],
    );
    assert!(out.status.success(), "{}", text(&out));
}

/// The address number of the first person in a generated feed (UTF-8) who has a My Number.
pub fn first_with_my_number(feed: &Path) -> String {
    let town = std::fs::read_to_string(feed).unwrap();
    town.lines()
        .skip(1)
        .find(|l| l.split(',').nth(2).is_some_and(|n| !n.is_empty()))
        .and_then(|l| l.split(',').next())
        .unwrap()
        .to_owned()
}
