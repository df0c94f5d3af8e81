//! The fuzz corpus is committed, and the fuzzer grows it by mutating synthetic seeds: a grown
//! input can come to hold twelve digits that pass the My Number check. Such a file must not be
//! kept, real or not, because nobody reading the repository can tell which it is. Every input is
//! scanned: the named seeds (`town-utf8.csv` …) carry no My Number at all (their column is blank),
//! and a seed that held one fails the test. The `regression-*` inputs are kept byte for byte,
//! because they reproduce a failure; one of them is a long run of fuzzer digits that a cut once left
//! looking like a My Number, so they are not scanned. `scripts/fuzz.sh` runs this with
//! `SESSHU_SCRUB_CORPUS=1`, which deletes the inputs the fuzzer grew (named by their SHA-1)
//! instead of failing; a named seed is never deleted, only reported.

use std::path::{Path, PathBuf};

use sesshu_domain::my_number::contains_my_number;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

fn grown_by_the_fuzzer(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.len() == 40 && n.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_regression(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("regression-"))
}

fn holds_a_my_number(bytes: &[u8]) -> bool {
    // Shift_JIS full-width digits are 0x82 0x4F..0x58; fold them so a CSV seed's encoding does
    // not hide a number from the scan.
    let mut folded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x82 && bytes.get(i + 1).is_some_and(|b| (0x4F..=0x58).contains(b)) {
            folded.push(b'0' + (bytes[i + 1] - 0x4F));
            i += 2;
        } else {
            folded.push(bytes[i]);
            i += 1;
        }
    }
    contains_my_number(&String::from_utf8_lossy(bytes))
        || contains_my_number(&String::from_utf8_lossy(&folded))
}

#[test]
fn no_fuzz_input_holds_a_my_number() {
    let scrub = std::env::var_os("SESSHU_SCRUB_CORPUS").is_some();
    let mut found = Vec::new();
    let mut scanned = 0usize;
    for target in std::fs::read_dir(corpus_root()).expect("fuzz/corpus is in the repository") {
        let target = target.expect("a corpus directory entry").path();
        if !target.is_dir() {
            continue;
        }
        for input in std::fs::read_dir(&target).expect("a target's corpus") {
            let input = input.expect("a corpus entry").path();
            if is_regression(&input) {
                continue;
            }
            scanned += 1;
            let bytes = std::fs::read(&input).expect("a corpus input");
            if holds_a_my_number(&bytes) {
                if scrub && grown_by_the_fuzzer(&input) {
                    std::fs::remove_file(&input).expect("remove the input");
                } else {
                    found.push(input);
                }
            }
        }
    }
    assert!(scanned > 0, "the committed corpus was not found");
    assert!(
        found.is_empty(),
        "fuzz inputs holding a valid My Number (scripts/fuzz.sh drops grown ones): {found:?}"
    );
}

#[test]
fn the_scan_sees_numbers_in_either_encoding_and_ignores_wrong_check_digits() {
    assert!(holds_a_my_number(b"x,123456789018,y"));
    assert!(!holds_a_my_number(b"x,123456789010,y"));
    // "１２３４５６７８９０１８" in Shift_JIS.
    let sjis: Vec<u8> = "123456789018"
        .bytes()
        .flat_map(|d| [0x82, 0x4F + (d - b'0')])
        .collect();
    assert!(holds_a_my_number(&sjis));
    assert!(holds_a_my_number("１２３４５６７８９０１８".as_bytes()));
}
