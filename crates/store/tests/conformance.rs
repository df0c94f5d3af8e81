//! One conformance suite, run against every backend (SQLite file and PostgreSQL).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use sesshu_crypto::{Keyring, TenantCrypto};
use sesshu_domain::{AddressNumber, MunicipalityCode, Person, ResidentStatus};
use sesshu_formats::{ReadOptions, RowError, TextEncoding};
use sesshu_store::{ImportMode, ImportOptions, ImportStatus, ImportSummary, PersonQuery, Store};
use sesshu_synth::{ChangeKind, Town, TownSpec};
use sesshu_testkit::{as_of, backends, feed, town};

const MACHIDA: &str = "132098";
const SAPPORO: &str = "011002";

fn code(s: &str) -> MunicipalityCode {
    MunicipalityCode::parse(s).unwrap()
}

struct Env {
    store: Store,
    keyring: Keyring,
    backend: &'static str,
    db: sesshu_testkit::TestDb,
}

impl Env {
    fn crypto(&self, tenant: &str) -> Arc<TenantCrypto> {
        Arc::new(TenantCrypto::derive(&self.keyring, code(tenant)).unwrap())
    }

    async fn import(
        &self,
        tenant: &str,
        bytes: Vec<u8>,
        mode: ImportMode,
        all_or_nothing: bool,
    ) -> (ImportSummary, Vec<RowError>) {
        self.import_with(tenant, bytes, mode, all_or_nothing, false)
            .await
    }

    async fn import_with(
        &self,
        tenant: &str,
        bytes: Vec<u8>,
        mode: ImportMode,
        all_or_nothing: bool,
        dry_run: bool,
    ) -> (ImportSummary, Vec<RowError>) {
        let mut errors = Vec::new();
        let options = import_options(mode, all_or_nothing, dry_run);
        let summary = self
            .store
            .import_residents(
                code(tenant),
                self.crypto(tenant),
                std::io::Cursor::new(bytes),
                options,
                |e| errors.push(e.clone()),
                |_| {},
            )
            .await
            .unwrap();
        (summary, errors)
    }
}

async fn envs() -> Vec<Env> {
    let mut out = Vec::new();
    for db in backends().await {
        let store = Store::connect(&db.url)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", db.name));
        store
            .create_municipality(code(MACHIDA), "町田市")
            .await
            .unwrap();
        store
            .create_municipality(code(SAPPORO), "札幌市")
            .await
            .unwrap();
        out.push(Env {
            store,
            keyring: Keyring::generate(),
            backend: db.name,
            db,
        });
    }
    out
}

fn import_options(mode: ImportMode, all_or_nothing: bool, dry_run: bool) -> ImportOptions {
    ImportOptions {
        mode,
        all_or_nothing,
        max_identity_changes: None,
        dry_run,
        file_name: "feed.csv".into(),
        operator: "test".into(),
        read: ReadOptions {
            today: Some(as_of()),
            ..ReadOptions::default()
        },
    }
}

fn addr(s: &str) -> AddressNumber {
    AddressNumber::parse(s).unwrap()
}

#[tokio::test]
async fn full_import_then_reimport_changes_nothing() {
    let people = town(1500, 11);
    let bytes = feed(&people, TextEncoding::ShiftJis);
    for env in envs().await {
        let (first, errors) = env
            .import(MACHIDA, bytes.clone(), ImportMode::Full, false)
            .await;
        assert!(errors.is_empty(), "{}: {errors:?}", env.backend);
        assert_eq!(
            (first.status, first.inserted, first.rejected),
            (ImportStatus::Applied, 1500, 0),
            "{}",
            env.backend
        );
        assert_eq!(first.encoding, Some("Shift_JIS"));
        assert_eq!(env.store.count_persons(code(MACHIDA)).await.unwrap(), 1500);

        let (second, _) = env
            .import(MACHIDA, bytes.clone(), ImportMode::Full, false)
            .await;
        assert_eq!(
            (second.inserted, second.updated, second.unchanged),
            (0, 0, 1500),
            "{}",
            env.backend
        );
        assert_eq!(second.file_sha256, first.file_sha256);
        let p = &people[0];
        let row = env
            .store
            .person(code(MACHIDA), &p.address_number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.version, 1,
            "{}: a re-import must not bump versions",
            env.backend
        );
        assert!(
            env.store
                .person_history(code(MACHIDA), &p.address_number)
                .await
                .unwrap()
                .is_empty()
        );

        // What was stored is what the feed said, the My Number included once opened.
        let mut stored = row.person.clone();
        stored.my_number = row.open_my_number(&env.crypto(MACHIDA)).unwrap();
        assert_eq!(&stored, p, "{}", env.backend);
        let runs = env.store.import_runs(code(MACHIDA), 10).await.unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(
            runs.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
            ["applied", "applied"]
        );
    }
}

async fn full_import(
    store: &Store,
    env: &Env,
    tenant: &str,
    bytes: &[u8],
) -> Result<ImportSummary, sesshu_store::StoreError> {
    store
        .import_residents(
            code(tenant),
            env.crypto(tenant),
            std::io::Cursor::new(bytes.to_vec()),
            import_options(ImportMode::Full, false, false),
            |_| {},
            |_| {},
        )
        .await
}

/// A server writes beside an import from the command line (two processes, two pools): neither is
/// refused. A re-import that read first and wrote its run record last was, on SQLite, whenever
/// the other had committed in between (found by bench/soak.py).
#[tokio::test]
async fn imports_beside_another_writer_are_not_refused() {
    let machida = feed(&town(3000, 21), TextEncoding::Utf8);
    let sapporo = feed(&town(20, 22), TextEncoding::Utf8);
    for env in envs().await {
        env.import(MACHIDA, machida.clone(), ImportMode::Full, false)
            .await;
        env.import(SAPPORO, sapporo.clone(), ImportMode::Full, false)
            .await;
        let other = Store::connect(&env.db.url).await.unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        let reimports = async {
            let mut out = Vec::new();
            for _ in 0..3 {
                out.push(full_import(&env.store, &env, MACHIDA, &machida).await);
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            out
        };
        let writer = async {
            let mut out = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                out.push(full_import(&other, &env, SAPPORO, &sapporo).await);
            }
            out
        };
        let (reimports, writes) = tokio::join!(reimports, writer);
        for r in reimports.iter().chain(&writes) {
            let summary = r
                .as_ref()
                .unwrap_or_else(|e| panic!("{}: refused: {e}", env.backend));
            assert_eq!(summary.status, ImportStatus::Applied, "{}", env.backend);
        }
        assert!(!writes.is_empty(), "{}", env.backend);
        let runs = env.store.import_runs(code(MACHIDA), 10).await.unwrap();
        assert_eq!(
            runs.len(),
            4,
            "{}: every re-import is on record",
            env.backend
        );
    }
}

#[tokio::test]
async fn a_diff_updates_persons_and_keeps_their_history() {
    let spec = TownSpec {
        persons: 2000,
        seed: 5,
        as_of: as_of(),
    };
    let people: Vec<Person> = Town::new(spec.clone()).collect();
    let changes: Vec<(ChangeKind, Person)> = Town::changes(spec, 200, 9).collect();
    let births = changes
        .iter()
        .filter(|(k, _)| *k == ChangeKind::Birth)
        .count() as u64;
    let diff: Vec<Person> = changes.iter().map(|(_, p)| p.clone()).collect();
    for env in envs().await {
        env.import(
            MACHIDA,
            feed(&people, TextEncoding::Utf8),
            ImportMode::Full,
            false,
        )
        .await;
        let (summary, errors) = env
            .import(
                MACHIDA,
                feed(&diff, TextEncoding::Utf8),
                ImportMode::Diff,
                false,
            )
            .await;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(summary.inserted, births, "{}", env.backend);
        assert_eq!(
            summary.updated + summary.unchanged,
            200 - births,
            "{}",
            env.backend
        );
        assert!(summary.updated > 150, "{}: {summary:?}", env.backend);
        // Absence from a diff changes nothing.
        assert_eq!(
            env.store.count_persons(code(MACHIDA)).await.unwrap() as u64,
            2000 + births
        );

        let (kind, moved) = changes
            .iter()
            .find(|(k, _)| *k == ChangeKind::MoveOut)
            .unwrap();
        assert_eq!(*kind, ChangeKind::MoveOut);
        let before = people
            .iter()
            .find(|p| p.address_number == moved.address_number)
            .unwrap();
        let now = env
            .store
            .person(code(MACHIDA), &moved.address_number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.person.status, ResidentStatus::MovedOut);
        assert_eq!(now.version, 2);
        let history = env
            .store
            .person_history(code(MACHIDA), &moved.address_number)
            .await
            .unwrap();
        assert_eq!(history.len(), 1, "{}", env.backend);
        assert_eq!(history[0].version, 1);
        assert_eq!(history[0].person.status, before.status);
        assert_eq!(history[0].person.address, before.address);
        assert_eq!(
            history[0].superseded_by_import.as_deref(),
            Some(summary.import_id.as_str())
        );

        let (_, renamed) = changes
            .iter()
            .find(|(k, _)| *k == ChangeKind::NameChange)
            .unwrap();
        let history = env
            .store
            .person_history(code(MACHIDA), &renamed.address_number)
            .await
            .unwrap();
        let old = people
            .iter()
            .find(|p| p.address_number == renamed.address_number)
            .unwrap();
        assert_eq!(
            history[0].person.name, old.name,
            "{}: the old name is kept",
            env.backend
        );

        // The same diff again: nothing changes.
        let (again, _) = env
            .import(
                MACHIDA,
                feed(&diff, TextEncoding::Utf8),
                ImportMode::Diff,
                false,
            )
            .await;
        assert_eq!(
            (again.inserted, again.updated, again.unchanged),
            (0, 0, 200),
            "{}",
            env.backend
        );
    }
}

fn bad_feed() -> (Vec<u8>, usize) {
    let people = town(5, 3);
    let mut text = String::from_utf8(feed(&people, TextEncoding::Utf8)).unwrap();
    text.push_str("999001,,,,,山田 太郎,ヤマダ タロウ,2025-02-30,1,,,,,,,1,,,,,,\r\n");
    text.push_str("999002,,,,,山田 花子,ヤマダ ハナコ,20200101,2,,,,,,,7,,,,,,\r\n");
    (text.into_bytes(), 5)
}

#[tokio::test]
async fn bad_rows_are_rejected_and_good_rows_apply_or_nothing_does() {
    let (bytes, good) = bad_feed();
    for env in envs().await {
        let (refused, errors) = env
            .import(MACHIDA, bytes.clone(), ImportMode::Diff, true)
            .await;
        assert_eq!(refused.status, ImportStatus::Refused, "{}", env.backend);
        assert_eq!(errors.len(), 2);
        assert_eq!(
            env.store.count_persons(code(MACHIDA)).await.unwrap(),
            0,
            "{}: nothing half-applies",
            env.backend
        );
        let runs = env.store.import_runs(code(MACHIDA), 5).await.unwrap();
        assert_eq!(runs[0].status, "refused");
        assert_eq!(runs[0].inserted, 0);

        let (partial, errors) = env
            .import(MACHIDA, bytes.clone(), ImportMode::Diff, false)
            .await;
        assert_eq!(partial.status, ImportStatus::Partial);
        assert_eq!(
            (partial.inserted, partial.rejected),
            (good as u64, 2),
            "{}",
            env.backend
        );
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![7, 8]
        );
        let stored = env
            .store
            .import_errors(code(MACHIDA), &partial.import_id)
            .await
            .unwrap();
        assert_eq!(
            stored, errors,
            "{}: the report is kept with the import",
            env.backend
        );
    }
}

#[tokio::test]
async fn a_truncated_file_changes_nothing() {
    let people = town(300, 4);
    let bytes = feed(&people, TextEncoding::ShiftJis);
    let cut = bytes[..bytes.len() - 30].to_vec();
    for env in envs().await {
        let (summary, _) = env
            .import(MACHIDA, cut.clone(), ImportMode::Full, false)
            .await;
        assert_eq!(summary.status, ImportStatus::Refused, "{}", env.backend);
        assert!(
            summary
                .message
                .as_deref()
                .unwrap_or("")
                .contains("途中で切れて"),
            "{:?}",
            summary.message
        );
        assert_eq!(
            env.store.count_persons(code(MACHIDA)).await.unwrap(),
            0,
            "{}",
            env.backend
        );
    }
}

/// A first load (on SQLite straight into the file, with the indexes dropped and rebuilt when the
/// whole register is empty) ends with the same schema and the same rows as any other import,
/// or with nothing at all: refused, dry run, or applied.
#[tokio::test]
async fn a_first_load_commits_everything_or_nothing_and_keeps_every_index() {
    let people = town(400, 12);
    let bytes = feed(&people, TextEncoding::ShiftJis);
    let cut = bytes[..bytes.len() - 30].to_vec();
    let indexes = "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'person' \
                   AND sql IS NOT NULL ORDER BY name";
    let statistics =
        "SELECT idx || ' ' || stat FROM sqlite_stat1 WHERE tbl = 'person' ORDER BY idx";
    for env in envs().await {
        let sqlite = env.backend == "sqlite";
        if sqlite {
            assert!(env.store.reads_file_directly_for_tests());
        }
        let schema = if sqlite {
            let mut schema = env.store.raw_texts_for_tests(indexes).await.unwrap();
            // The planner statistics go with the indexes: without them SQLite walks the whole
            // municipality for a kana or My Number lookup.
            schema.extend(env.store.raw_texts_for_tests(statistics).await.unwrap());
            schema
        } else {
            Vec::new()
        };
        assert!(!sqlite || schema.len() >= 8, "{schema:?}");
        let same_schema = || async {
            if sqlite {
                let mut now = env.store.raw_texts_for_tests(indexes).await.unwrap();
                now.extend(env.store.raw_texts_for_tests(statistics).await.unwrap());
                assert_eq!(now, schema);
            }
        };
        let (refused, _) = env
            .import(MACHIDA, cut.clone(), ImportMode::Full, false)
            .await;
        assert_eq!(refused.status, ImportStatus::Refused, "{}", env.backend);
        let (dry, _) = env
            .import_with(MACHIDA, bytes.clone(), ImportMode::Full, false, true)
            .await;
        assert_eq!(dry.inserted, 400, "{}: the dry run counts", env.backend);
        assert_eq!(env.store.count_persons(code(MACHIDA)).await.unwrap(), 0);
        same_schema().await;
        let runs = env.store.import_runs(code(MACHIDA), 10).await.unwrap();
        assert_eq!(
            runs.len(),
            1,
            "{}: only the refusal is recorded",
            env.backend
        );

        let (first, _) = env
            .import(MACHIDA, bytes.clone(), ImportMode::Full, false)
            .await;
        assert_eq!((first.status, first.inserted), (ImportStatus::Applied, 400));
        same_schema().await;
        // Another municipality's first load, into a register that is no longer empty.
        let (other, _) = env
            .import(SAPPORO, bytes.clone(), ImportMode::Full, false)
            .await;
        assert_eq!(other.inserted, 400, "{}", env.backend);
        same_schema().await;
        let runs = env.store.import_runs(code(MACHIDA), 10).await.unwrap();
        assert_eq!(
            runs.len(),
            2,
            "{}: the load is recorded with it",
            env.backend
        );
        let (again, _) = env
            .import(MACHIDA, bytes.clone(), ImportMode::Full, false)
            .await;
        assert_eq!(
            (again.unchanged, again.inserted, again.missing),
            (400, 0, 0),
            "{}: what was loaded is what the next import compares against",
            env.backend
        );
        let p = &people[17];
        let found = env
            .store
            .search_persons(
                code(MACHIDA),
                &PersonQuery {
                    kana: Some(p.kana.family.clone()),
                    birth_date: Some(p.birth_date),
                    limit: 100,
                    ..PersonQuery::default()
                },
            )
            .await
            .unwrap()
            .rows;
        assert!(found.iter().any(|s| s.address_number == p.address_number));
        if let Some(number) = &people.iter().find_map(|p| p.my_number.clone()) {
            let crypto = env.crypto(MACHIDA);
            let holders = env
                .store
                .find_by_my_number(code(MACHIDA), &crypto, number)
                .await
                .unwrap();
            assert_eq!(holders.len(), 1, "{}", env.backend);
        }
    }
}

#[tokio::test]
async fn duplicate_rows_in_one_file_are_rejected_after_the_first() {
    let people = town(10, 8);
    let mut twice = people.clone();
    let mut dup = people[3].clone();
    dup.phone = Some("000-0000-0000".into());
    twice.push(dup);
    for env in envs().await {
        let (summary, errors) = env
            .import(
                MACHIDA,
                feed(&twice, TextEncoding::Utf8),
                ImportMode::Full,
                false,
            )
            .await;
        assert_eq!(
            (summary.inserted, summary.rejected),
            (10, 1),
            "{}",
            env.backend
        );
        assert_eq!(errors[0].line, 12);
        let p = env
            .store
            .person(code(MACHIDA), &people[3].address_number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            p.person.phone, people[3].phone,
            "{}: the first row wins",
            env.backend
        );
    }
}

/// One My Number, one person in a municipality: a second holder in the same file, or a newcomer
/// given a number the register holds for someone else, is a row error naming who has it — and
/// the number itself appears nowhere in the errors. The database refuses it too.
#[tokio::test]
async fn two_persons_never_share_a_my_number_in_a_municipality() {
    let people = town(12, 21);
    let holder = people
        .iter()
        .position(|p| p.my_number.is_some())
        .expect("someone has a number");
    let number = people[holder].my_number.clone();
    let shown = String::from_utf8_lossy(&number.as_ref().unwrap().expose()).into_owned();
    let mut twin = people[(holder + 1) % people.len()].clone();
    twin.address_number = addr("990001");
    twin.my_number = number.clone();
    let mut in_file = people.clone();
    in_file.push(twin.clone());
    for env in envs().await {
        let (summary, errors) = env
            .import(
                MACHIDA,
                feed(&in_file, TextEncoding::Utf8),
                ImportMode::Full,
                false,
            )
            .await;
        assert_eq!(
            (summary.inserted, summary.rejected),
            (12, 1),
            "{}: {errors:?}",
            env.backend
        );
        assert_eq!(errors[0].column.as_deref(), Some("個人番号"));
        assert_eq!(errors[0].address_number.as_deref(), Some("990001"));
        assert!(
            errors[0].reason.contains(&format!("{} 行目", holder + 2)),
            "{errors:?}"
        );
        // Later, against the register: the newcomer is refused, naming the holder.
        let mut later = twin.clone();
        later.address_number = addr("990002");
        let (summary, errors) = env
            .import(
                MACHIDA,
                feed(&[later], TextEncoding::Utf8),
                ImportMode::Diff,
                false,
            )
            .await;
        assert_eq!(summary.rejected, 1, "{}: {errors:?}", env.backend);
        assert!(
            errors[0]
                .reason
                .contains(people[holder].address_number.as_str()),
            "{errors:?}"
        );
        assert!(
            env.store
                .person(code(MACHIDA), &addr("990002"))
                .await
                .unwrap()
                .is_none()
        );
        // The holder giving his number up and the newcomer taking it in one file is allowed.
        let mut gives = people[holder].clone();
        gives.my_number = None;
        let mut takes = twin.clone();
        takes.address_number = addr("990003");
        let (summary, errors) = env
            .import(
                MACHIDA,
                feed(&[gives, takes], TextEncoding::Utf8),
                ImportMode::Diff,
                false,
            )
            .await;
        assert_eq!(summary.rejected, 0, "{}: {errors:?}", env.backend);
        // The same number in another municipality is another person's business.
        let (summary, _) = env
            .import(
                SAPPORO,
                feed(&[twin.clone()], TextEncoding::Utf8),
                ImportMode::Diff,
                false,
            )
            .await;
        assert_eq!(summary.inserted, 1, "{}", env.backend);
        for e in &errors {
            assert!(!format!("{e:?}").contains(&shown));
        }
        // The database's own rule, whatever writes to it.
        let dup = env
            .store
            .raw_execute_for_tests(&format!(
                "UPDATE person SET my_number_index = (SELECT my_number_index FROM person \
                 WHERE municipality_code = '{MACHIDA}' AND address_number = '990003') \
                 WHERE municipality_code = '{MACHIDA}' AND address_number = '{}'",
                people[(holder + 2) % people.len()].address_number.as_str()
            ))
            .await;
        assert!(dup.is_err(), "{}: the unique index refuses", env.backend);
    }
}

#[tokio::test]
async fn a_full_file_reports_missing_persons_without_deleting_them() {
    let people = town(100, 2);
    for env in envs().await {
        env.import(
            MACHIDA,
            feed(&people, TextEncoding::Utf8),
            ImportMode::Full,
            false,
        )
        .await;
        let (summary, _) = env
            .import(
                MACHIDA,
                feed(&people[..90], TextEncoding::Utf8),
                ImportMode::Full,
                false,
            )
            .await;
        assert_eq!(summary.missing, 10, "{}", env.backend);
        assert_eq!(summary.missing_sample.len(), 10);
        assert_eq!(env.store.count_persons(code(MACHIDA)).await.unwrap(), 100);
    }
}

#[tokio::test]
async fn my_numbers_are_stored_only_sealed_and_found_by_blind_index() {
    let people = town(200, 21);
    let numbers: Vec<String> = people
        .iter()
        .filter_map(|p| {
            p.my_number
                .as_ref()
                .map(|n| String::from_utf8(n.expose().to_vec()).unwrap())
        })
        .collect();
    assert!(numbers.len() > 150);
    for env in envs().await {
        env.import(
            MACHIDA,
            feed(&people, TextEncoding::Utf8),
            ImportMode::Full,
            false,
        )
        .await;
        let with_number = people.iter().find(|p| p.my_number.is_some()).unwrap();
        let found = env
            .store
            .find_by_my_number(
                code(MACHIDA),
                &env.crypto(MACHIDA),
                with_number.my_number.as_ref().unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            found,
            vec![with_number.address_number.clone()],
            "{}",
            env.backend
        );
        // Another municipality's keys find nothing, even where the same person exists there.
        env.import(
            SAPPORO,
            feed(&people, TextEncoding::Utf8),
            ImportMode::Full,
            false,
        )
        .await;
        let elsewhere = env
            .store
            .find_by_my_number(
                code(MACHIDA),
                &env.crypto(SAPPORO),
                with_number.my_number.as_ref().unwrap(),
            )
            .await
            .unwrap();
        assert!(elsewhere.is_empty(), "{}", env.backend);

        let haystack: Vec<u8> = match env.db.sqlite_path() {
            Some(path) => {
                env.store.close().await;
                let mut bytes = std::fs::read(&path).unwrap();
                for ext in ["-wal", "-shm"] {
                    bytes.extend(
                        std::fs::read(format!("{}{ext}", path.display())).unwrap_or_default(),
                    );
                }
                bytes
            }
            None => {
                let dump = sqlx_dump(&env.db.url).await;
                dump.into_bytes()
            }
        };
        assert!(haystack.len() > 10_000);
        let text = String::from_utf8_lossy(&haystack);
        for n in &numbers {
            assert!(
                !haystack.windows(12).any(|w| w == n.as_bytes()),
                "{}: plaintext My Number in the database",
                env.backend
            );
            let hex: String = n.bytes().map(|b| format!("{b:02x}")).collect();
            assert!(
                !text.contains(&hex),
                "{}: hex-encoded My Number in the database",
                env.backend
            );
        }
    }
}

/// Every row of every table of a PostgreSQL database as text (bytea shown as hex).
async fn sqlx_dump(url: &str) -> String {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let mut out = String::new();
    for table in [
        "person",
        "person_history",
        "import_run",
        "import_row_error",
        "municipality",
    ] {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT t::text AS t FROM {table} t"
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for r in rows {
            out.push_str(&r.get::<String, _>("t"));
            out.push('\n');
        }
    }
    out
}

#[tokio::test]
async fn tenants_do_not_see_each_other() {
    let people = town(50, 13);
    for env in envs().await {
        env.import(
            MACHIDA,
            feed(&people, TextEncoding::Utf8),
            ImportMode::Full,
            false,
        )
        .await;
        let a = &people[0].address_number;
        assert!(env.store.person(code(MACHIDA), a).await.unwrap().is_some());
        assert!(
            env.store.person(code(SAPPORO), a).await.unwrap().is_none(),
            "{}",
            env.backend
        );
        let q = PersonQuery {
            kana: Some(people[0].kana.family.clone()),
            limit: 50,
            ..PersonQuery::default()
        };
        assert!(
            !env.store
                .search_persons(code(MACHIDA), &q)
                .await
                .unwrap()
                .rows
                .is_empty()
        );
        assert!(
            env.store
                .search_persons(code(SAPPORO), &q)
                .await
                .unwrap()
                .rows
                .is_empty(),
            "{}",
            env.backend
        );
        assert_eq!(env.store.count_persons(code(SAPPORO)).await.unwrap(), 0);
        assert!(
            env.store
                .import_runs(code(SAPPORO), 10)
                .await
                .unwrap()
                .is_empty()
        );
        // A sealed number copied to another tenant's row does not open there.
        let row = env
            .store
            .person(
                code(MACHIDA),
                &people
                    .iter()
                    .find(|p| p.my_number.is_some())
                    .unwrap()
                    .address_number,
            )
            .await
            .unwrap()
            .unwrap();
        assert!(row.open_my_number(&env.crypto(SAPPORO)).is_err());
        // An unregistered municipality cannot import.
        let unknown = MunicipalityCode::parse("131016").unwrap();
        let err = env
            .store
            .import_residents(
                unknown,
                env.crypto(MACHIDA),
                std::io::Cursor::new(Vec::new()),
                ImportOptions {
                    mode: ImportMode::Full,
                    all_or_nothing: false,
                    max_identity_changes: None,
                    dry_run: false,
                    file_name: "x".into(),
                    operator: "t".into(),
                    read: ReadOptions::default(),
                },
                |_| {},
                |_| {},
            )
            .await;
        assert!(err.is_err());
    }
}

#[tokio::test]
async fn search_is_width_and_voicing_insensitive_and_hides_protected_addresses() {
    let mut people = town(300, 17);
    people[0].protected = true;
    people[0].kana.family = "ヤマザキ".into();
    people[1].kana.family = "ヤマサキ".into();
    for env in envs().await {
        env.import(
            MACHIDA,
            feed(&people, TextEncoding::Utf8),
            ImportMode::Full,
            false,
        )
        .await;
        let q = PersonQuery {
            kana: Some("ﾔﾏｻﾞｷ".into()),
            limit: 100,
            ..PersonQuery::default()
        };
        let hits = env
            .store
            .search_persons(code(MACHIDA), &q)
            .await
            .unwrap()
            .rows;
        let ids: Vec<&str> = hits.iter().map(|h| h.address_number.as_str()).collect();
        assert!(
            ids.contains(&people[0].address_number.as_str()),
            "{}: {ids:?}",
            env.backend
        );
        assert!(
            ids.contains(&people[1].address_number.as_str()),
            "{}",
            env.backend
        );
        let protected = hits
            .iter()
            .find(|h| h.address_number == people[0].address_number)
            .unwrap();
        assert!(
            protected.protected && protected.address.is_none(),
            "{}",
            env.backend
        );
        let by_birth = PersonQuery {
            birth_date: Some(people[5].birth_date),
            limit: 500,
            ..PersonQuery::default()
        };
        let hits = env
            .store
            .search_persons(code(MACHIDA), &by_birth)
            .await
            .unwrap()
            .rows;
        assert!(hits.iter().all(|h| h.birth_date == people[5].birth_date) && !hits.is_empty());
        if let Some(h) = &people[5].household_number {
            let members = env.store.household(code(MACHIDA), h).await.unwrap();
            assert!(
                members
                    .iter()
                    .any(|m| m.address_number == people[5].address_number)
            );
        }
        assert!(
            env.store
                .person(code(MACHIDA), &addr("1"))
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn history_is_append_only_in_the_database() {
    for env in envs().await {
        with_history(&env, 100, 1).await;
        let url = env.db.url.clone();
        let store = Store::connect(&url).await.unwrap();
        // Every column but the three a key rotation re-seals, each refused by the trigger itself
        // (not by a type error): a column added later is covered or this test fails.
        let mut statements = vec!["DELETE FROM person_history".to_owned()];
        for column in store.raw_columns_for_tests("person_history").await.unwrap() {
            let changed = match column.as_str() {
                "my_number_sealed" | "my_number_index" => continue,
                "version"
                | "my_number_key_version"
                | "sex"
                | "resident_status"
                | "change_reason"
                | "protected" => format!("COALESCE({column}, 0) + 1"),
                "content_hash" if env.backend == "postgres" => "'\\x00'::bytea".to_owned(),
                "content_hash" => "X'00'".to_owned(),
                _ => format!("COALESCE({column}, '') || 'x'"),
            };
            statements.push(format!("UPDATE person_history SET {column} = {changed}"));
        }
        // A re-seal may only move onto a newer key version and never drop the number.
        statements.push(
            "UPDATE person_history SET my_number_key_version = my_number_key_version - 1 \
             WHERE my_number_key_version IS NOT NULL"
                .to_owned(),
        );
        statements.push(
            "UPDATE person_history SET my_number_sealed = NULL, my_number_key_version = \
             my_number_key_version + 1 WHERE my_number_key_version IS NOT NULL"
                .to_owned(),
        );
        assert!(statements.len() > 30, "{}", env.backend);
        for sql in &statements {
            let result = store.raw_execute_for_tests(sql).await;
            let error = format!("{:?}", result.expect_err(sql));
            assert!(
                error.contains("append-only"),
                "{}: {sql} must be refused by the trigger, got {error}",
                env.backend
            );
        }
    }
}

/// Imports a town and then a diff of changes to it, so that history holds superseded versions.
async fn with_history(env: &Env, persons: usize, seed: u64) -> Vec<Person> {
    let spec = TownSpec {
        persons,
        seed,
        as_of: as_of(),
    };
    let people: Vec<Person> = Town::new(spec.clone()).collect();
    let diff: Vec<Person> = Town::changes(spec, persons / 4, 2)
        .map(|(_, p)| p)
        .collect();
    let full = feed(&people, TextEncoding::Utf8);
    env.import(MACHIDA, full, ImportMode::Full, false).await;
    let diff = feed(&diff, TextEncoding::Utf8);
    env.import(MACHIDA, diff, ImportMode::Diff, false).await;
    people
}

/// After a rotation nothing — register, history or account key — is left under the old version:
/// with the old master key destroyed, every number still opens and every login still works.
#[tokio::test]
async fn a_rotated_version_can_be_retired_without_losing_anything() {
    for mut env in envs().await {
        let people = with_history(&env, 300, 4).await;
        let tenant = code(MACHIDA);
        let account_secret = b"totp-secret-0123456".to_vec();
        let account = sesshu_store::NewAccount {
            login: "kanri".into(),
            display_name: "管理 太郎".into(),
            shared: false,
            shared_with: None,
            valid_from: sesshu_domain::parse_date("2026-04-01").unwrap(),
            valid_until: None,
        };
        let policy = sesshu_domain::access::PasswordPolicy::default();
        env.store
            .create_account(tenant, &account, "kanagawa7777", &policy, "admin")
            .await
            .unwrap();
        let sealed_secret = sesshu_crypto::signing::seal_account_secret(
            &env.keyring,
            tenant,
            "kanri",
            &account_secret,
        )
        .unwrap();
        env.store
            .enroll_totp(tenant, "kanri", &sealed_secret, &[])
            .await
            .unwrap();
        let held_v1 = env.store.sealed_under(tenant, 1..2).await.unwrap();
        let with_numbers = people.iter().filter(|p| p.my_number.is_some()).count() as u64;
        assert!(
            held_v1 > with_numbers,
            "{}: history holds numbers too ({held_v1})",
            env.backend
        );

        env.keyring.add_generated();
        let crypto = env.crypto(MACHIDA);
        let rotation = env
            .store
            .rotate_my_numbers(tenant, &crypto, 64, None)
            .await
            .unwrap();
        assert_eq!(
            (rotation.resealed, rotation.remaining),
            (held_v1, 0),
            "{}",
            env.backend
        );
        assert_eq!(
            env.store
                .reseal_account_secrets(&env.keyring)
                .await
                .unwrap(),
            1,
            "{}",
            env.backend
        );
        assert_eq!(env.store.sealed_under(tenant, 1..2).await.unwrap(), 0);
        assert_eq!(env.store.account_secrets_under(1).await.unwrap(), 0);

        let mut retired = env.keyring.clone();
        retired.retire(1).unwrap();
        let only_v2 = TenantCrypto::derive(&retired, tenant).unwrap();
        let mut opened_history = 0;
        for p in people.iter().filter(|p| p.my_number.is_some()) {
            let row = env
                .store
                .person(tenant, &p.address_number)
                .await
                .unwrap()
                .unwrap();
            assert!(row.open_my_number(&only_v2).unwrap().is_some());
            for h in env
                .store
                .person_history(tenant, &p.address_number)
                .await
                .unwrap()
            {
                if let Some(sealed) = &h.sealed_my_number {
                    assert_eq!(sealed.key_version, 2, "{}", env.backend);
                    let aad = sesshu_crypto::MyNumberAad {
                        table: "person",
                        row_key: p.address_number.as_str(),
                    };
                    only_v2.open(sealed, aad).unwrap();
                    opened_history += 1;
                }
            }
        }
        assert!(opened_history > 0, "{}", env.backend);
        let sealed_now = env
            .store
            .totp_secret(tenant, "kanri")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            sesshu_crypto::signing::open_account_secret(&retired, tenant, "kanri", &sealed_now)
                .unwrap(),
            account_secret
        );
        // A second pass finds nothing more to do.
        assert_eq!(
            env.store
                .rotate_my_numbers(tenant, &crypto, 64, None)
                .await
                .unwrap(),
            sesshu_store::Rotation::default()
        );
    }
}

/// Key rotation: every My Number re-sealed under the new version, still the same number, still
/// found by it, resumable, and invisible to the next import.
#[tokio::test]
async fn key_rotation_reseals_resumably_and_changes_nothing_else() {
    let people = town(1200, 31);
    let bytes = feed(&people, TextEncoding::Utf8);
    for mut env in envs().await {
        let (first, _) = env
            .import(MACHIDA, bytes.clone(), ImportMode::Full, true)
            .await;
        assert_eq!(first.status, ImportStatus::Applied);
        env.keyring.add_generated();
        let crypto = env.crypto(MACHIDA);
        assert_eq!(crypto.current_version(), 2);
        let with_numbers = people.iter().filter(|p| p.my_number.is_some()).count() as u64;
        let part = env
            .store
            .rotate_my_numbers(code(MACHIDA), &crypto, 100, Some(250))
            .await
            .unwrap();
        assert_eq!(part.resealed, 250, "{}", env.backend);
        assert_eq!(
            part.remaining,
            with_numbers - 250,
            "{}: an interrupted rotation",
            env.backend
        );
        let rest = env
            .store
            .rotate_my_numbers(code(MACHIDA), &crypto, 100, None)
            .await
            .unwrap();
        assert_eq!(
            (rest.resealed, rest.remaining),
            (with_numbers - 250, 0),
            "{}: resumed",
            env.backend
        );

        for p in people.iter().filter(|p| p.my_number.is_some()).take(50) {
            let row = env
                .store
                .person(code(MACHIDA), &p.address_number)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.sealed_my_number.as_ref().unwrap().key_version, 2);
            let opened = row.open_my_number(&crypto).unwrap().unwrap();
            assert_eq!(opened.expose(), p.my_number.as_ref().unwrap().expose());
            let found = env
                .store
                .find_by_my_number(code(MACHIDA), &crypto, p.my_number.as_ref().unwrap())
                .await
                .unwrap();
            assert_eq!(found, vec![p.address_number.clone()]);
        }
        // The same feed again: nothing changed, so no update and no history.
        let (again, _) = env
            .import(MACHIDA, bytes.clone(), ImportMode::Full, true)
            .await;
        assert_eq!(
            (again.updated, again.unchanged),
            (0, people.len() as u64),
            "{}: rotation must not look like a change",
            env.backend
        );
    }
}

/// The name key of persons imported before migration 0015 is filled in the first time the
/// program opens the database (and only then): a search by name finds them like new ones.
#[tokio::test]
async fn persons_from_before_the_name_key_are_found_by_name_after_the_next_start() {
    let mut people = town(1200, 5);
    people[3].name = sesshu_domain::PersonName::parse("髙橋 美咲").unwrap();
    let bytes = feed(&people, TextEncoding::Utf8);
    for env in envs().await {
        env.import(MACHIDA, bytes.clone(), ImportMode::Full, false)
            .await;
        let by_name = PersonQuery {
            name: Some("高橋 美".into()),
            limit: 100,
            ..PersonQuery::default()
        };
        let found = |hits: sesshu_store::PersonHits| {
            hits.rows
                .iter()
                .any(|h| h.address_number == people[3].address_number)
        };
        assert!(
            found(
                env.store
                    .search_persons(code(MACHIDA), &by_name)
                    .await
                    .unwrap()
            ),
            "{}: a new import keys the name",
            env.backend
        );
        // As a database migrated from 0014 holds them: no key, and the backfill pending.
        env.store
            .raw_execute_for_tests("UPDATE person SET name_key = ''")
            .await
            .unwrap();
        env.store
            .raw_execute_for_tests("INSERT INTO pending_backfill (name) VALUES ('person.name_key')")
            .await
            .unwrap();
        assert!(
            !found(
                env.store
                    .search_persons(code(MACHIDA), &by_name)
                    .await
                    .unwrap()
            ),
            "{}",
            env.backend
        );
        let reopened = Store::connect(&env.db.url).await.unwrap();
        assert!(
            found(
                reopened
                    .search_persons(code(MACHIDA), &by_name)
                    .await
                    .unwrap()
            ),
            "{}: keyed on opening",
            env.backend
        );
        let empty = reopened
            .raw_texts_for_tests("SELECT address_number FROM person WHERE name_key = ''")
            .await
            .unwrap();
        assert!(
            empty.is_empty(),
            "{}: {} left without a key",
            env.backend,
            empty.len()
        );
        let pending = reopened
            .raw_texts_for_tests("SELECT name FROM pending_backfill")
            .await
            .unwrap();
        assert!(pending.is_empty(), "{}: {pending:?}", env.backend);
    }
}
