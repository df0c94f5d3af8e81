//! What the binary's tests share: running `sesshu` against one database, reading its output.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_sesshu");

/// Runs `sesshu` in `dir` against `db`, with a key file in `dir/keys` and no ambient settings.
pub fn sesshu(dir: &Path, db: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("SESSHU_DATABASE_URL", db)
        .env("SESSHU_KEY_FILE", dir.join("keys/sesshu.key"))
        .env_remove("SESSHU_KEY")
        .env_remove("SESSHU_CONFIG")
        .env_remove("SESSHU_MUNICIPALITY")
        .env_remove("SESSHU_RULES")
        .env("SESSHU_LOG", "warn")
        .env("SESSHU_OPERATOR", "tester")
        .output()
        .expect("run sesshu")
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
