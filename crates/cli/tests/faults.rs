//! What the operator sees when the machine fails under the register: a full disk during an
//! import and under a read that must be audited, and a damaged database file. Each gives a clear error,
//! loses nothing committed, and the register works again once the cause is gone.
//!
//! A full disk needs a small filesystem of its own: the test mounts a tmpfs, which needs root.
//! `.ci/run` runs as root and sets `SESSHU_TEST_REQUIRE_FAULTS=1`, so there it cannot be skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{sesshu, text};

/// A tmpfs of `megabytes` at `at`, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, megabytes: u32) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(at)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self(at.to_path_buf())),
            other => {
                assert!(
                    std::env::var("SESSHU_TEST_REQUIRE_FAULTS").as_deref() != Ok("1"),
                    "cannot mount a tmpfs for the full-disk test: {other:?}"
                );
                eprintln!("warning: full-disk test skipped (mounting a tmpfs needs root)");
                None
            }
        }
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.flush();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The exit of a command that failed as designed: an error, not a panic (101) or a signal.
fn failed_cleanly(out: &std::process::Output) -> bool {
    matches!(out.status.code(), Some(c) if c != 0 && c != 101)
}

#[tokio::test]
async fn a_full_disk_stops_an_import_and_an_audit_append_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(disk) = SmallDisk::mount(&d.join("disk"), 8) else {
        return;
    };
    let db = format!("sqlite://{}", d.join("disk/register.db").display());
    let run = |args: &[&str]| sesshu(d, &db, args);
    common::init_machida(d, &db);
    for (persons, out) in [("100", "small.csv"), ("20000", "large.csv")] {
        let made = run(&[
            "demo",
            "generate",
            "--persons",
            persons,
            "--seed",
            "5",
            "--encoding",
            "utf8",
            "--out",
            out,
        ]);
        assert!(made.status.success(), "{}", text(&made));
    }
    let small = run(&["import", "residents", "small.csv", "--mode", "full"]);
    assert!(small.status.success(), "{}", text(&small));
    let address = common::first_with_my_number(&d.join("small.csv"));

    // The import runs out of disk: a clear error, nothing of it kept, the attempt recorded.
    let large = run(&["import", "residents", "large.csv", "--mode", "full"]);
    assert!(failed_cleanly(&large), "{}", text(&large));
    assert!(
        stderr(&large).contains("ディスクの空きがありません"),
        "{}",
        text(&large)
    );
    let store = sesshu_store::Store::connect(&db).await.unwrap();
    let held = store
        .raw_texts_for_tests("SELECT CAST(COUNT(*) AS TEXT) FROM person")
        .await
        .unwrap();
    store.close().await;
    assert_eq!(
        held,
        ["100"],
        "the first import whole, nothing of the second"
    );
    let shown = run(&["person", "show", &address]);
    assert!(shown.status.success(), "{}", text(&shown));
    let log = String::from_utf8(run(&["audit", "export", "--function", "import.residents"]).stdout)
        .unwrap();
    assert!(log.contains("失敗") || log.contains("failed"), "{log}");

    // No room left for even the audit log's entry: the read it would record is refused, with
    // the disk named, and nothing of the person is shown.
    let filler = disk.fill();
    let blind = run(&["person", "show", &address]);
    assert!(failed_cleanly(&blind), "{}", text(&blind));
    assert!(stderr(&blind).contains("ディスク"), "{}", text(&blind));
    assert!(
        blind.stdout.is_empty(),
        "nothing is shown that was not recorded: {}",
        String::from_utf8_lossy(&blind.stdout)
    );

    // Space again: everything works, and the log is whole.
    std::fs::remove_file(filler).unwrap();
    let again = run(&["person", "show", &address]);
    assert!(again.status.success(), "{}", text(&again));
    let verified = run(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(text(&verified).contains("完全"), "{}", text(&verified));
}

#[tokio::test]
async fn a_damaged_register_file_is_named_as_damaged_and_nothing_panics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("register.db");
    let db = format!("sqlite://{}", file.display());
    let run = |args: &[&str]| sesshu(d, &db, args);
    common::init_machida(d, &db);
    let made = run(&[
        "demo",
        "generate",
        "--persons",
        "2000",
        "--seed",
        "9",
        "--encoding",
        "utf8",
        "--out",
        "town.csv",
    ]);
    assert!(made.status.success(), "{}", text(&made));
    let imported = run(&["import", "residents", "town.csv", "--mode", "full"]);
    assert!(imported.status.success(), "{}", text(&imported));
    assert!(
        !d.join("register.db-wal").exists()
            || std::fs::metadata(d.join("register.db-wal")).unwrap().len() == 0,
        "the last command checkpointed its log into the file"
    );

    // Garbage over the pages past the schema, as a failing disk or a bad copy leaves them.
    let mut bytes = std::fs::read(&file).unwrap();
    assert!(
        bytes.len() > 64 * 4096,
        "a register of some size: {}",
        bytes.len()
    );
    for (i, b) in bytes.iter_mut().enumerate().skip(8 * 4096) {
        *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    std::fs::write(&file, bytes).unwrap();

    for args in [
        &["person", "search", "--kana", "ア"][..],
        &["import", "residents", "town.csv", "--mode", "full"][..],
    ] {
        let out = run(args);
        assert!(failed_cleanly(&out), "{args:?}: {}", text(&out));
        assert!(
            stderr(&out).contains("壊れています"),
            "{args:?} names the damage: {}",
            text(&out)
        );
    }
}
