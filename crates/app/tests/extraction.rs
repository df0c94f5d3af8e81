//! Ad-hoc extraction (EUC) at the application layer, on both backends (issue 18, F12): the
//! conditions select exactly the doses a hand count gives; no choice of columns writes a My
//! Number or a protected person's address; a cell that starts like a formula stays text; the
//! conditions, row count and persons are audited; whoever lacks export.run, or asks another
//! municipality, gets nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use sesshu_app::doses::DoseChange;
use sesshu_app::extraction::{Column, CsvEncoding, ExtractionRequest};
use sesshu_app::{App, AppError, today_in_japan};
use sesshu_crypto::Keyring;
use sesshu_domain::dose::Dose;
use sesshu_domain::{MunicipalityCode, Person, PersonName, ResidentStatus};
use sesshu_store::{RoutineFilter, Store};

struct World {
    app: App,
    store: Store,
    tenant: MunicipalityCode,
    people: Vec<Person>,
}

/// Four children: two in 原町田一丁目 (one of them protected), one in 原町田二丁目, one in
/// 金森; the first named like a formula and with a character Shift_JIS lacks.
async fn world(url: &str) -> World {
    let (store, tenant) = common::machida_and_sapporo(url).await;
    let keyring = Keyring::generate();
    let mut people = sesshu_testkit::town(40, 21);
    let today = today_in_japan();
    let addresses = [
        "東京都町田市原町田一丁目2番3号",
        "東京都町田市原町田一丁目5番1号",
        "東京都町田市原町田二丁目1番1号",
        "東京都町田市金森3丁目4番5号",
    ];
    for (i, p) in people.iter_mut().take(4).enumerate() {
        p.birth_date = today - chrono::Days::new(400 + i as u64);
        p.status = ResidentStatus::Resident;
        p.protected = i == 1;
        p.address = Some(addresses[i].into());
        assert!(p.my_number.is_some());
    }
    people[0].name = PersonName::parse("=HYPERLINK(\"x\") 𠮷子").unwrap();
    common::import(&store, &keyring, tenant, &people).await;
    let app = common::app(&store, keyring);
    let w = World {
        app,
        store,
        tenant,
        people,
    };
    let clerk = common::actor("132098", "clerk", "role:clerk");
    let give = |i: usize, product: &str, ordinal: u32, day: u64, lot: &str| {
        let p = &w.people[i];
        let mut dose = Dose::given(product, ordinal, p.birth_date + chrono::Days::new(day));
        dose.institution_code = Some(if i == 3 { "1310000002" } else { "1310000001" }.into());
        dose.lot = Some(lot.into());
        (p.address_number.to_string(), dose)
    };
    for (i, product, ordinal, day, lot) in [
        (0, "mr", 1, 370, "=1+1"),
        (1, "mr", 1, 371, "A1"),
        (2, "mr", 1, 372, "A2"),
        (3, "mr", 1, 373, "A3"),
        // Given at 0 years old: outside an age filter of 1.
        (0, "hepb", 1, 60, "B1"),
        // A second MR dose a day after the first: recorded as 要確認.
        (2, "mr", 2, 373, "A4"),
    ] {
        let (a, dose) = give(i, product, ordinal, day, lot);
        w.app
            .add_dose(
                &clerk,
                tenant,
                &a,
                DoseChange {
                    dose,
                    confirmed: true,
                },
            )
            .await
            .unwrap();
    }
    w
}

fn all_columns() -> Vec<Column> {
    Column::ALL.to_vec()
}

fn lines(csv: &[u8]) -> Vec<String> {
    String::from_utf8(csv.to_vec())
        .unwrap()
        .trim_start_matches('\u{feff}')
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_conditions_select_what_a_hand_count_gives_and_no_my_number_is_written() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let me = common::actor("132098", "exporter", "role:exporter");
        let go = |req: ExtractionRequest| {
            let (app, me) = (&w.app, &me);
            async move { app.extract(me, t, &req).await.unwrap() }
        };

        // Every MR dose, every column.
        let all = go(ExtractionRequest {
            products: vec!["mr".into()],
            columns: all_columns(),
            ..ExtractionRequest::default()
        })
        .await;
        assert_eq!((all.rows, all.persons), (5, 4), "{name}");
        let text = lines(&all.csv).join("\n");
        assert!(
            !sesshu_testkit::leaks_my_number(&text),
            "{name}: a My Number was written"
        );
        assert!(!text.contains("個人番号"), "{name}");
        for p in &w.people[..4] {
            let n = p.my_number.as_ref().unwrap().to_string();
            assert!(!text.contains(&n), "{name}");
        }
        // The protected person's address and district are not written; the formula stays text.
        assert!(!text.contains("原町田一丁目5番1号"), "{name}");
        assert!(text.contains("(支援措置対象のため表示しません)"), "{name}");
        assert!(text.contains("\"'=1+1\""), "{name}: {text}");
        assert!(text.contains("\"'=HYPERLINK"), "{name}");
        assert!(text.contains("\"要確認\""), "{name}");

        // The district, as a prefix: 原町田 finds the two persons not protected there.
        let district = go(ExtractionRequest {
            products: vec!["mr".into()],
            district: Some("原町田".into()),
            columns: vec![Column::AddressNumber, Column::District],
            ..ExtractionRequest::default()
        })
        .await;
        let mut found: Vec<String> = lines(&district.csv)[1..].to_vec();
        found.sort();
        let a = |i: usize| w.people[i].address_number.to_string();
        assert_eq!(
            found,
            vec![
                format!("\"{}\",\"原町田一丁目\"", a(0)),
                format!("\"{}\",\"原町田二丁目\"", a(2)),
                format!("\"{}\",\"原町田二丁目\"", a(2)),
            ],
            "{name}"
        );

        // Age at the dose, routine only, one institution.
        let aged = go(ExtractionRequest {
            age_from: Some(1),
            age_to: Some(1),
            routine: RoutineFilter::Routine,
            institution: Some("1310000001".into()),
            columns: vec![Column::AddressNumber, Column::Product, Column::AgeAtDose],
            ..ExtractionRequest::default()
        })
        .await;
        assert_eq!(aged.rows, 3, "{name}: {:?}", lines(&aged.csv));
        let flagged = go(ExtractionRequest {
            routine: RoutineFilter::Flagged,
            columns: vec![Column::AddressNumber, Column::Ordinal],
            ..ExtractionRequest::default()
        })
        .await;
        assert_eq!(
            lines(&flagged.csv)[1],
            format!("\"{}\",\"2\"", a(2)),
            "{name}"
        );
        let dated = go(ExtractionRequest {
            given_from: Some(w.people[0].birth_date + chrono::Days::new(371)),
            given_to: Some(w.people[0].birth_date + chrono::Days::new(371)),
            columns: vec![Column::AddressNumber],
            ..ExtractionRequest::default()
        })
        .await;
        // Person 2's second MR dose, a day after everyone's first, is the only dose that day.
        assert_eq!(dated.rows, 1, "{name}: {:?}", lines(&dated.csv));

        // Shift_JIS: 𠮷 has no code there and is written 〓, counted.
        let sjis = go(ExtractionRequest {
            products: vec!["hepb".into()],
            columns: vec![Column::Name],
            encoding: CsvEncoding::ShiftJis,
            ..ExtractionRequest::default()
        })
        .await;
        let (decoded, _, bad) = encoding_rs::SHIFT_JIS.decode(&sjis.csv);
        assert!(!bad, "{name}");
        assert!(
            decoded.contains("〓子") && decoded.starts_with("\"氏名\""),
            "{name}: {decoded}"
        );
        assert_eq!(sjis.unmappable, 1, "{name}");

        // The audit log keeps the conditions, the columns, the row count and the persons.
        let entries = common::entries(&w.store, t, "export.run").await;
        let first = entries
            .iter()
            .find(|e| e.detail.contains("\"rows\":5"))
            .unwrap();
        assert!(first.detail.contains("\"products\":[\"mr\"]"), "{name}");
        assert!(first.detail.contains("\"address_number\""), "{name}");
        assert_eq!(first.actor, "user:exporter");
        assert!(first.persons_shown.contains(&a(3)), "{name}");
    }
}

#[tokio::test]
async fn bad_conditions_are_shown_beside_their_fields_and_others_are_refused() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let me = common::actor("132098", "exporter", "role:exporter");
        let r = w
            .app
            .extract(
                &me,
                t,
                &ExtractionRequest {
                    products: vec!["nope".into()],
                    age_from: Some(5),
                    age_to: Some(2),
                    ..ExtractionRequest::default()
                },
            )
            .await;
        let Err(AppError::Fields(fields)) = r else {
            panic!("{name}: {r:?}")
        };
        let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec!["columns", "products", "age_to"], "{name}");
        assert!(Column::parse("my_number").is_err());

        let req = ExtractionRequest {
            columns: all_columns(),
            ..ExtractionRequest::default()
        };
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let r = w.app.extract(&clerk, t, &req).await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{name}");
        let sapporo = common::actor("011002", "exporter", "role:exporter");
        let r = w.app.extract(&sapporo, t, &req).await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}");
        let refused = common::entries(&w.store, t, "export.run").await;
        assert!(
            refused
                .iter()
                .any(|e| e.outcome == "refused" && e.actor == "user:clerk"),
            "{name}"
        );
    }
}
