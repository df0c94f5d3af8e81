//! 評価の裏付け (issue 19, F14) on both backends: the assessment's figures counted from the
//! register, placed in its bands, a warning where a band was left, and refusals for whoever may
//! not read them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use sesshu_app::AppError;
use sesshu_app::assessment::Declared;
use sesshu_crypto::Keyring;

#[tokio::test]
async fn the_assessments_figures_come_from_the_register_and_warn_when_a_band_is_left() {
    for db in sesshu_testkit::backends().await {
        let name = db.name;
        let (store, t) = common::machida_and_sapporo(&db.url).await;
        let keyring = Keyring::generate();
        let people = sesshu_testkit::town(40, 5);
        common::import(&store, &keyring, t, &people).await;
        let app = common::app(&store, keyring);
        let auditor = common::actor("132098", "kansa", "role:auditor");

        // A clerk may not read them (and the refusal is itself counted below).
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let r = app.assessment_facts(&clerk, t, &Declared::default()).await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{name}: {r:?}");
        let sapporo = common::actor("011002", "kansa", "role:auditor");
        let r = app
            .assessment_facts(&sapporo, t, &Declared::default())
            .await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");

        let declared = Declared {
            persons: Some("1,000人以上1万人未満".into()),
            users: Some("10人未満".into()),
            items: None,
        };
        let f = app.assessment_facts(&auditor, t, &declared).await.unwrap();
        let persons = &f.facts[0];
        assert_eq!(
            (persons.item, persons.value, persons.band, persons.crossed),
            ("対象人数", 40, "1,000人未満", true),
            "{name}"
        );
        let with_my_number = people.iter().filter(|p| p.my_number.is_some()).count() as i64;
        assert_eq!(f.with_my_number, with_my_number, "{name}");
        let users = &f.facts[1];
        assert_eq!((users.value, users.crossed), (0, false), "{name}");
        assert_eq!(f.warnings.len(), 1, "{name}: {:?}", f.warnings);
        assert!(f.warnings[0].contains("対象人数"), "{name}");
        // Record items from the catalogue: what is recorded, not how it is kept.
        let items = &f.facts[2];
        assert_eq!(items.value, f.record_items.len() as i64, "{name}");
        for kept in [
            "person.birth_date",
            "person.address",
            "dose.lot",
            "dose.given_on",
        ] {
            assert!(f.record_items.iter().any(|i| i == kept), "{name}: {kept}");
        }
        for bookkeeping in [
            "person.my_number_index",
            "person.content_hash",
            "dose.recorded_by",
        ] {
            assert!(
                !f.record_items.iter().any(|i| i == bookkeeping),
                "{name}: {bookkeeping}"
            );
        }
        assert!(f.refused >= 1, "{name}: the clerk's refusal is counted");

        // A declared band in words the assessment does not use is shown beside its field.
        let wrong = Declared {
            persons: Some("40人".into()),
            ..Declared::default()
        };
        let r = app.assessment_facts(&auditor, t, &wrong).await;
        let Err(AppError::Fields(f)) = r else {
            panic!("{name}: {r:?}")
        };
        assert_eq!(f[0].0, "persons", "{name}");
    }
}
