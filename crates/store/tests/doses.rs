//! Doses on every backend: the screening-form import, corrections that keep the old version,
//! and the municipality boundary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use sesshu_crypto::{Keyring, TenantCrypto};
use sesshu_domain::{Dose, DoseJudgement, MunicipalityCode, Person};
use sesshu_formats::{
    DoseReadOptions, DoseSubject, DoseWriter, ReadOptions, RowError, TextEncoding,
};
use sesshu_schedule::{Engine, RuleBook};
use std::collections::BTreeMap;

use sesshu_store::PersonFacts;
use sesshu_store::{
    DoseImportOptions, DoseImportSummary, ImportMode, ImportOptions, ImportStatus, Judged, Store,
    StoreError,
};
use sesshu_testkit::{as_of, backends, day, feed, town};

const MACHIDA: &str = "132098";
const SAPPORO: &str = "011002";

fn code(s: &str) -> MunicipalityCode {
    MunicipalityCode::parse(s).unwrap()
}

fn engine() -> Engine {
    Engine::new(RuleBook::builtin().unwrap())
}

/// A store with both municipalities and this town's residents in Machida.
async fn stores(people: &[Person]) -> Vec<(Store, &'static str, sesshu_testkit::TestDb)> {
    let mut out = Vec::new();
    for db in backends().await {
        let store = Store::connect(&db.url).await.unwrap();
        store
            .create_municipality(code(MACHIDA), "町田市")
            .await
            .unwrap();
        store
            .create_municipality(code(SAPPORO), "札幌市")
            .await
            .unwrap();
        residents(&store, code(MACHIDA), people).await;
        out.push((store, db.name, db));
    }
    out
}

async fn residents(store: &Store, tenant: MunicipalityCode, people: &[Person]) {
    let crypto = Arc::new(TenantCrypto::derive(&Keyring::generate(), tenant).unwrap());
    let summary = store
        .import_residents(
            tenant,
            crypto,
            std::io::Cursor::new(feed(people, TextEncoding::Utf8)),
            ImportOptions {
                mode: ImportMode::Full,
                all_or_nothing: true,
                max_identity_changes: None,
                dry_run: false,
                file_name: "town.csv".into(),
                operator: "test".into(),
                read: ReadOptions::default(),
            },
            |_| {},
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(summary.status, ImportStatus::Applied);
}

fn dose(product: &str, ordinal: u32, given_on: &str) -> Dose {
    Dose {
        product: product.into(),
        ordinal,
        given_on: day(given_on),
        judgement: DoseJudgement::Given,
        institution_code: Some("1310000011".into()),
        institution_name: Some("さくら小児科クリニック".into()),
        doctor: None,
        lot: Some("A123".into()),
        manufacturer: None,
        amount_ml: Some("0.5".into()),
        screened_on: None,
        billing_month: None,
        subsidy_yen: None,
        ticket_number: None,
        notes: None,
        given_elsewhere: false,
        antibody_result: None,
    }
}

fn subject(p: &Person) -> DoseSubject {
    DoseSubject {
        address_number: Some(p.address_number.clone()),
        name: Some(p.name.to_string()),
        kana: Some(p.kana.clone()),
        birth_date: p.birth_date,
        sex: Some(p.sex),
    }
}

fn file(rows: &[(DoseSubject, Dose)]) -> Vec<u8> {
    let mut w = DoseWriter::new(Vec::new()).unwrap();
    for (s, d) in rows {
        w.write(s, d).unwrap();
    }
    w.finish().unwrap()
}

async fn import(
    store: &Store,
    tenant: &str,
    bytes: Vec<u8>,
    all_or_nothing: bool,
) -> (DoseImportSummary, Vec<RowError>) {
    let book = RuleBook::builtin().unwrap();
    let mut errors = Vec::new();
    let summary = store
        .import_doses(
            code(tenant),
            &engine(),
            std::io::Cursor::new(bytes),
            DoseImportOptions {
                all_or_nothing,
                dry_run: false,
                file_name: "doses.csv".into(),
                operator: "test".into(),
                read: DoseReadOptions {
                    today: Some(as_of()),
                    products: book.product_codes(),
                    tests: book.test_codes(),
                    ..DoseReadOptions::default()
                },
                today: as_of(),
            },
            |e| errors.push(e.clone()),
            |_| {},
        )
        .await
        .unwrap();
    (summary, errors)
}

/// A baby born in this town after 2025-04 (Hib and PCV targets as of 2026-04-01).
fn babies(people: &[Person]) -> Vec<&Person> {
    people
        .iter()
        .filter(|p| p.birth_date >= day("2025-05-01") && p.birth_date <= day("2025-10-01"))
        .collect()
}

#[tokio::test]
async fn dose_import_records_flags_refuses_and_is_idempotent() {
    let people = town(1500, 21);
    let babies = babies(&people);
    assert!(babies.len() >= 3, "the town needs babies");
    let (a, b) = (babies[0], babies[1]);
    let hib1 = a.birth_date + chrono::Days::new(70);
    let too_soon = hib1 + chrono::Days::new(10);
    let mut unknown = subject(a);
    unknown.address_number = Some(sesshu_domain::AddressNumber::parse("999999").unwrap());
    let mut wrong_birth = subject(b);
    wrong_birth.birth_date = day("2000-01-01");
    let mut by_kana = subject(b);
    by_kana.address_number = None;
    let rows = vec![
        (subject(a), dose("hib", 1, &hib1.to_string())),
        // Too soon after the first: recorded, flagged.
        (subject(a), dose("hib", 2, &too_soon.to_string())),
        (unknown, dose("hib", 1, &hib1.to_string())),
        (wrong_birth, dose("pcv20", 1, &hib1.to_string())),
        (
            by_kana,
            dose(
                "hepb",
                1,
                &(b.birth_date + chrono::Days::new(65)).to_string(),
            ),
        ),
        // The same dose twice in one file.
        (subject(a), dose("hib", 1, &hib1.to_string())),
    ];
    let bytes = file(&rows);
    for (store, backend, _db) in stores(&people).await {
        let (s, errors) = import(&store, MACHIDA, bytes.clone(), false).await;
        assert_eq!(s.status, ImportStatus::Partial, "{backend}");
        assert_eq!(
            (s.inserted, s.flagged, s.duplicate, s.rejected),
            (3, 1, 1, 2),
            "{backend}: {errors:?}"
        );
        let lines: Vec<(u64, Option<&str>)> = errors
            .iter()
            .map(|e| (e.line, e.column.as_deref()))
            .collect();
        assert_eq!(
            lines,
            vec![
                (4, Some("宛名番号")),
                (5, Some("生年月日")),
                (7, Some("接種日"))
            ],
            "{backend}"
        );
        let doses = store
            .doses_of(code(MACHIDA), a.address_number.as_str())
            .await
            .unwrap();
        assert_eq!(doses.len(), 2, "{backend}");
        assert_eq!(doses[0].routine, Some(true));
        assert_eq!(
            doses[1].routine,
            Some(false),
            "{backend}: flagged, not refused"
        );
        assert!(
            doses[1].evaluation.as_deref().unwrap().contains("27日以上"),
            "{backend}: {:?}",
            doses[1].evaluation
        );
        let by_kana = store
            .doses_of(code(MACHIDA), b.address_number.as_str())
            .await
            .unwrap();
        assert_eq!(
            by_kana.len(),
            1,
            "{backend}: matched by kana and birth date"
        );

        // The same file again changes nothing.
        let (again, _) = import(&store, MACHIDA, bytes.clone(), false).await;
        assert_eq!((again.inserted, again.status), (0, ImportStatus::Applied));
        assert!(again.message.unwrap().contains("取込済み"));
        assert_eq!(
            store
                .doses_of(code(MACHIDA), a.address_number.as_str())
                .await
                .unwrap()
                .len(),
            2
        );
        // A different file holding a dose already recorded: that row is a duplicate.
        let (dup, dup_errors) = import(&store, MACHIDA, file(&rows[..1]), false).await;
        assert_eq!((dup.inserted, dup.duplicate), (0, 1), "{backend}");
        assert_eq!(dup_errors[0].line, 2);

        let runs = store.import_runs(code(MACHIDA), 10).await.unwrap();
        let first = runs.iter().find(|r| r.import_id == s.import_id).unwrap();
        assert_eq!(
            (first.kind.as_str(), first.flagged, first.duplicate),
            ("doses", 1, 1)
        );
    }
}

#[tokio::test]
async fn all_or_nothing_and_bad_files_change_nothing() {
    let people = town(1500, 22);
    let a = babies(&people)[0];
    let hib1 = (a.birth_date + chrono::Days::new(70)).to_string();
    let mut bad = dose("hib", 1, &hib1);
    bad.product = "nosuchvaccine".into();
    let bytes = file(&[(subject(a), dose("hib", 1, &hib1)), (subject(a), bad)]);
    for (store, backend, _db) in stores(&people).await {
        let (s, errors) = import(&store, MACHIDA, bytes.clone(), true).await;
        assert_eq!(
            (s.status, s.inserted),
            (ImportStatus::Refused, 0),
            "{backend}"
        );
        assert_eq!(errors[0].column.as_deref(), Some("ワクチン"));
        assert!(errors[0].reason.contains("不明なワクチンコード"));
        assert!(
            store
                .doses_of(code(MACHIDA), a.address_number.as_str())
                .await
                .unwrap()
                .is_empty(),
            "{backend}"
        );
        let truncated = b"\xe5\x8c\xbb\xe7\x99\x82\xe6\xa9\x9f\xe9\x96\xa2\xe3\x82\xb3\xe3\x83\xbc\xe3\x83\x89,\xe7\x94\x9f\xe5\xb9\xb4\xe6\x9c\x88\xe6\x97\xa5\n".to_vec();
        let (s, _) = import(&store, MACHIDA, truncated, false).await;
        assert_eq!(
            s.status,
            ImportStatus::Refused,
            "{backend}: missing columns"
        );
        assert!(s.message.unwrap().contains("必須の列"));
    }
}

#[tokio::test]
async fn corrections_and_deletions_keep_every_version() {
    let people = town(1500, 23);
    let a = babies(&people)[0];
    for (store, backend, _db) in stores(&people).await {
        let t = code(MACHIDA);
        let id = store
            .record_dose(
                t,
                a.address_number.as_str(),
                dose(
                    "bcg",
                    1,
                    &(a.birth_date + chrono::Days::new(160)).to_string(),
                ),
                None,
                Judged::default(),
                "clerk-1",
            )
            .await
            .unwrap();
        let mut fixed = dose(
            "bcg",
            1,
            &(a.birth_date + chrono::Days::new(161)).to_string(),
        );
        fixed.lot = Some("B777".into());
        let err = store
            .correct_dose(t, id, fixed.clone(), Judged::default(), "clerk-2", " ")
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Invalid(_)),
            "{backend}: a reason is required"
        );
        let now = store
            .correct_dose(
                t,
                id,
                fixed,
                Judged::default(),
                "clerk-2",
                "ロット番号の誤記",
            )
            .await
            .unwrap();
        assert_eq!((now.version, now.dose.lot.as_deref()), (2, Some("B777")));
        let deleted = store
            .delete_dose(t, id, "clerk-3", "他人の記録を誤って登録")
            .await
            .unwrap();
        assert!(deleted.deleted);
        assert!(
            store
                .doses_of(t, a.address_number.as_str())
                .await
                .unwrap()
                .is_empty()
        );
        let versions = store.dose_versions(t, id).await.unwrap();
        assert_eq!(versions.len(), 2, "{backend}");
        assert_eq!(versions[0].row.dose.lot.as_deref(), Some("A123"));
        assert_eq!(versions[0].row.recorded_by, "clerk-1");
        assert_eq!(versions[0].superseded_by, "clerk-2");
        assert_eq!(
            versions[1].row.change_reason.as_deref(),
            Some("ロット番号の誤記")
        );
        let current = store.dose(t, id).await.unwrap().unwrap();
        assert_eq!(
            current.change_reason.as_deref(),
            Some("他人の記録を誤って登録")
        );
        assert!(
            store
                .correct_dose(
                    t,
                    id,
                    dose("bcg", 1, "2025-10-01"),
                    Judged::default(),
                    "x",
                    "y"
                )
                .await
                .is_err(),
            "{backend}: a deleted dose stays deleted"
        );

        // The database itself refuses to rewrite history or remove a dose.
        for sql in [
            "UPDATE dose_history SET lot = 'X'",
            "DELETE FROM dose_history",
            "DELETE FROM dose",
        ] {
            assert!(
                store.raw_execute_for_tests(sql).await.is_err(),
                "{backend}: {sql} must be refused"
            );
        }
    }
}

#[tokio::test]
async fn another_municipality_cannot_read_or_change_doses() {
    let people = town(1500, 24);
    let a = babies(&people)[0];
    for (store, backend, _db) in stores(&people).await {
        let id = store
            .record_dose(
                code(MACHIDA),
                a.address_number.as_str(),
                dose(
                    "bcg",
                    1,
                    &(a.birth_date + chrono::Days::new(160)).to_string(),
                ),
                None,
                Judged::default(),
                "clerk",
            )
            .await
            .unwrap();
        let other = code(SAPPORO);
        assert!(
            store
                .doses_of(other, a.address_number.as_str())
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.dose(other, id).await.unwrap().is_none(), "{backend}");
        assert!(matches!(
            store
                .correct_dose(
                    other,
                    id,
                    dose("bcg", 1, "2025-10-01"),
                    Judged::default(),
                    "x",
                    "y"
                )
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.delete_dose(other, id, "x", "y").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(
            matches!(
                store
                    .record_dose(
                        other,
                        a.address_number.as_str(),
                        dose("bcg", 1, "2025-10-01"),
                        None,
                        Judged::default(),
                        "x"
                    )
                    .await,
                Err(StoreError::NotFound(_))
            ),
            "{backend}: Sapporo cannot record a dose for Machida's resident"
        );
        // Importing Machida's file into Sapporo matches nobody.
        let bytes = file(&[(
            subject(a),
            dose(
                "hib",
                1,
                &(a.birth_date + chrono::Days::new(70)).to_string(),
            ),
        )]);
        let (s, errors) = import(&store, SAPPORO, bytes, false).await;
        assert_eq!((s.inserted, s.rejected), (0, 1), "{backend}");
        assert_eq!(errors[0].column.as_deref(), Some("宛名番号"));
        assert!(store.dose(code(MACHIDA), id).await.unwrap().is_some());
    }
}

/// Every lookup by a secondary key seeks its index on SQLite, whatever the data: a plan that
/// walks the municipality made each dose-file row matched by kana a full scan.
#[tokio::test]
async fn sqlite_lookups_seek_their_indexes() {
    let db = sesshu_testkit::sqlite().await;
    let store = Store::connect(&db.url).await.unwrap();
    for (sql, index) in [
        (
            "SELECT address_number FROM person WHERE municipality_code = '1' AND kana_key = 'x' AND birth_date = '2020-01-01'",
            "person_kana",
        ),
        (
            "SELECT * FROM person WHERE municipality_code = '1' AND household_number = 'x'",
            "person_household",
        ),
        (
            "SELECT address_number FROM person WHERE municipality_code = '1' AND my_number_index = x'00' AND my_number_key_version = 1",
            "person_my_number",
        ),
        (
            "SELECT * FROM dose WHERE municipality_code = '1' AND address_number = '2' AND deleted = 0 ORDER BY given_on, dose_id",
            "dose_person",
        ),
        (
            "SELECT d.product, COUNT(*) FROM dose d WHERE d.municipality_code = '1' AND d.deleted = 0 AND d.routine = 1 AND d.given_on >= '2025-04-01' AND d.given_on <= '2026-03-31' GROUP BY d.product",
            "dose_given",
        ),
    ] {
        let plan = store.sqlite_plan_for_tests(sql).await.unwrap().join(" / ");
        assert!(plan.contains(index), "{sql}: {plan}");
    }
}

type Seen = BTreeMap<String, (String, u8, u8, bool, Vec<Dose>)>;

fn seen(p: PersonFacts, d: Vec<Dose>) -> (String, (String, u8, u8, bool, Vec<Dose>)) {
    (
        p.address_number,
        (
            p.birth_date.to_string(),
            p.sex.code(),
            p.status.code(),
            p.protected,
            d,
        ),
    )
}

/// The two ways the register hands persons with their doses to a computation give the same
/// answer: the pool's ordered streams, and (on a SQLite file) the parallel reads outside the
/// pool with each person's doses folded into one column. A recall's selection and its second
/// check rest on this.
#[tokio::test]
async fn parallel_and_streamed_reads_hand_over_the_same_persons_and_doses() {
    let (machida, sapporo) = (code(MACHIDA), code(SAPPORO));
    let people = town(600, 11);
    let histories = |people: &[Person]| {
        let rows: Vec<(DoseSubject, Dose)> = people
            .iter()
            .flat_map(|p| {
                sesshu_synth::doses::history(p, as_of(), 7)
                    .into_iter()
                    .map(|d| (subject(p), d))
            })
            .collect();
        file(&rows)
    };
    for (store, name, _db) in stores(&people).await {
        assert_eq!(
            store.reads_file_directly_for_tests(),
            name == "sqlite",
            "{name}"
        );
        import(&store, MACHIDA, histories(&people), false).await;
        // Another municipality with persons under the same numbers: never handed over.
        let others = town(200, 11);
        residents(&store, sapporo, &others).await;
        import(&store, SAPPORO, histories(&others), false).await;
        // A deleted dose is history, not a dose.
        let with_doses = people
            .iter()
            .find(|p| p.birth_date > day("2020-01-01"))
            .unwrap();
        let rows = store
            .doses_of(machida, with_doses.address_number.as_str())
            .await
            .unwrap();
        assert!(rows.len() > 3, "{name}: a child with a history");
        store
            .delete_dose(machida, rows[1].dose_id, "test", "二重登録")
            .await
            .unwrap();

        let mut streamed = Seen::new();
        store
            .for_each_person_with_doses(machida, |p, d| {
                let (k, v) = seen(p, d);
                streamed.insert(k, v);
            })
            .await
            .unwrap();
        assert_eq!(streamed.len(), people.len(), "{name}");
        assert_eq!(
            streamed[with_doses.address_number.as_str()].4.len(),
            rows.len() - 1,
            "{name}: the deleted dose was handed over"
        );
        assert!(
            streamed.values().map(|v| v.4.len()).sum::<usize>() > people.len(),
            "{name}: histories"
        );

        let everyone: Seen = store
            .judge_persons_born(machida, None, seen)
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(everyone, streamed, "{name}: everyone");

        let (lo, hi) = (day("1990-04-02"), day("2021-03-31"));
        let band: Seen = store
            .judge_persons_born(machida, Some((lo, hi)), seen)
            .await
            .unwrap()
            .into_iter()
            .collect();
        let expected: Seen = streamed
            .iter()
            .filter(|(_, v)| v.0.as_str() >= "1990-04-02" && v.0.as_str() <= "2021-03-31")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert!(!expected.is_empty() && expected.len() < streamed.len());
        assert_eq!(band, expected, "{name}: born {lo}..{hi}");

        // By address number, over more than one statement's worth, with one not registered.
        let mut wanted: Vec<&str> = streamed.keys().map(String::as_str).collect();
        wanted.push("999999999");
        let at: Seen = store
            .judge_persons_at(machida, &wanted, seen)
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(at, streamed, "{name}: by address number");
    }
}
