//! Households, an age pyramid, births, moves, deaths and protected persons.

use chrono::{Datelike, Days};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sesshu_domain::{
    AddressNumber, ChangeReason, CivilDate, HouseholdNumber, IntegratedAddressNumber, KanaName,
    MyNumber, Person, PersonName, PostalCode, ResidentStatus, Sex,
};

use crate::names::{BUILDINGS, DISTRICTS, ELSEWHERE, FAMILY, FEMALE, MALE};

/// What to generate.
#[derive(Debug, Clone)]
pub struct TownSpec {
    pub persons: usize,
    pub seed: u64,
    /// The day the feed describes; ages and recent changes are relative to it.
    pub as_of: CivilDate,
}

/// First 宛名番号 of a town; persons are numbered upward from here.
const FIRST_ADDRESS_NUMBER: u64 = 100_001;

/// The town as a stream of persons.
pub struct Town {
    spec: TownSpec,
    rng: ChaCha8Rng,
    emitted: usize,
    household_seq: u64,
    queue: std::vec::IntoIter<Person>,
}

impl Town {
    pub fn new(spec: TownSpec) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(spec.seed);
        Self {
            spec,
            rng,
            emitted: 0,
            household_seq: 0,
            queue: Vec::new().into_iter(),
        }
    }

    fn next_address_number(&self, offset: usize) -> u64 {
        FIRST_ADDRESS_NUMBER + (self.emitted + offset) as u64
    }

    fn household(&mut self) -> Vec<Person> {
        self.household_seq += 1;
        let as_of = self.spec.as_of;
        let rng = &mut self.rng;
        let kind = rng.gen_range(0..100);
        let (family, family_kana) = *FAMILY.choose(rng).unwrap_or(&FAMILY[0]);
        // Ages of members with their relationship and sex (None = random).
        let mut members: Vec<(u32, &str, Option<Sex>)> = Vec::new();
        match kind {
            0..=41 => members.push((adult_age(rng, 20, 95), "世帯主", None)),
            42..=67 => {
                let head = adult_age(rng, 25, 95);
                members.push((head, "世帯主", Some(Sex::Male)));
                members.push((spouse_age(rng, head), "妻", Some(Sex::Female)));
            }
            68..=85 => {
                let head = rng.gen_range(27..66);
                members.push((head, "世帯主", Some(Sex::Male)));
                members.push((spouse_age(rng, head), "妻", Some(Sex::Female)));
                let max_child = (head - 24).min(32);
                for _ in 0..child_count(rng) {
                    members.push((child_age(rng, max_child), "子", None));
                }
            }
            86..=92 => {
                let head = rng.gen_range(25..56);
                members.push((head, "世帯主", Some(Sex::Female)));
                for _ in 0..rng.gen_range(1..=2) {
                    members.push((child_age(rng, (head - 22).min(26)), "子", None));
                }
            }
            _ => {
                let head = rng.gen_range(60..91);
                members.push((head, "世帯主", Some(Sex::Male)));
                members.push((spouse_age(rng, head), "妻", Some(Sex::Female)));
                let son = rng.gen_range(30..(head - 22).clamp(31, 51));
                members.push((son, "子", Some(Sex::Male)));
                members.push((spouse_age(rng, son), "子の妻", Some(Sex::Female)));
                for _ in 0..rng.gen_range(1..=2) {
                    members.push((child_age(rng, (son - 24).min(20)), "孫", None));
                }
            }
        }
        let district = *DISTRICTS.choose(rng).unwrap_or(&DISTRICTS[0]);
        let street = format!(
            "さくら市{}{}丁目{}番{}号",
            district.0,
            rng.gen_range(1..6),
            rng.gen_range(1..31),
            rng.gen_range(1..21)
        );
        let building = rng.gen_bool(0.3).then(|| {
            format!(
                "{}{}",
                BUILDINGS.choose(rng).unwrap_or(&BUILDINGS[0]),
                rng.gen_range(1..5) * 100 + rng.gen_range(1..9)
            )
        });
        let phone = format!(
            "0{}-{}-{:04}",
            rng.gen_range(40..50),
            rng.gen_range(200..999),
            rng.gen_range(0..10_000)
        );
        let protected = rng.gen_ratio(2, 1000);
        let moved_in = rng.gen_ratio(8, 100);
        let moved_out = rng.gen_ratio(2, 100);
        let household_number =
            HouseholdNumber::parse(&format!("{:010}", 1_000_000 + self.household_seq)).ok();

        let mut out = Vec::with_capacity(members.len());
        for (i, (age, relationship, sex)) in members.into_iter().enumerate() {
            let sex = sex.unwrap_or(if rng.gen_bool(0.5) {
                Sex::Male
            } else {
                Sex::Female
            });
            let (given, given_kana) = *match sex {
                Sex::Male => MALE.choose(rng).unwrap_or(&MALE[0]),
                Sex::Female => FEMALE.choose(rng).unwrap_or(&FEMALE[0]),
            };
            let birth_date = birth_for_age(rng, as_of, age);
            let address_number = FIRST_ADDRESS_NUMBER + (self.emitted + i) as u64;
            let mut person = Person {
                address_number: id(AddressNumber::parse(&address_number.to_string())),
                integrated_address_number: IntegratedAddressNumber::parse(&format!(
                    "{}",
                    9_000_000_000_000 + address_number
                ))
                .ok(),
                my_number: rng
                    .gen_ratio(97, 100)
                    .then(|| town_my_number(rng, address_number))
                    .flatten(),
                household_number: household_number.clone(),
                relationship: Some(relationship.to_owned()),
                name: PersonName {
                    family: family.to_owned(),
                    given: given.to_owned(),
                },
                kana: KanaName {
                    family: family_kana.to_owned(),
                    given: given_kana.to_owned(),
                },
                birth_date,
                sex,
                postal_code: PostalCode::parse(district.1).ok(),
                address: Some(street.clone()),
                address_detail: building.clone(),
                district_code: Some(format!(
                    "{:02}",
                    DISTRICTS
                        .iter()
                        .position(|d| d.0 == district.0)
                        .unwrap_or(0)
                        + 1
                )),
                school_district: Some(district.2.to_owned()),
                phone: (i == 0).then(|| phone.clone()),
                status: ResidentStatus::Resident,
                change_reason: None,
                changed_on: None,
                notified_on: None,
                previous_address: None,
                next_address: None,
                protected,
            };
            if age == 0 {
                person.change_reason = Some(ChangeReason::Birth);
                person.changed_on = Some(birth_date);
                person.notified_on = birth_date
                    .checked_add_days(Days::new(rng.gen_range(1..14)))
                    .map(|d| d.min(as_of));
            } else if moved_in {
                let on = recent(rng, as_of, 700).max(birth_date);
                person.change_reason = Some(ChangeReason::MoveIn);
                person.changed_on = Some(on);
                person.notified_on = Some(on);
                person.previous_address = ELSEWHERE.choose(rng).map(|s| (*s).to_owned());
            }
            if moved_out {
                let on = recent(rng, as_of, 300).max(birth_date);
                person.status = ResidentStatus::MovedOut;
                person.change_reason = Some(ChangeReason::MoveOut);
                person.changed_on = Some(on);
                person.notified_on = Some(on);
                person.next_address = ELSEWHERE.choose(rng).map(|s| (*s).to_owned());
            } else if age >= 70 && rng.gen_ratio(age.saturating_sub(60), 1200) {
                let on = recent(rng, as_of, 500).max(birth_date);
                person.status = ResidentStatus::Deceased;
                person.change_reason = Some(ChangeReason::Death);
                person.changed_on = Some(on);
                person.notified_on = Some(on);
            }
            out.push(person);
        }
        // 住登外者: now and then a person registered from paper, outside any household.
        if self.rng.gen_ratio(1, 200) {
            let n = self.next_address_number(out.len());
            let rng = &mut self.rng;
            let age = adult_age(rng, 20, 80);
            let sex = if rng.gen_bool(0.5) {
                Sex::Male
            } else {
                Sex::Female
            };
            let (given, given_kana) = *match sex {
                Sex::Male => MALE.choose(rng).unwrap_or(&MALE[0]),
                Sex::Female => FEMALE.choose(rng).unwrap_or(&FEMALE[0]),
            };
            let (fam, fam_kana) = *FAMILY.choose(rng).unwrap_or(&FAMILY[0]);
            out.push(Person {
                address_number: id(AddressNumber::parse(&n.to_string())),
                integrated_address_number: None,
                my_number: None,
                household_number: None,
                relationship: None,
                name: PersonName {
                    family: fam.to_owned(),
                    given: given.to_owned(),
                },
                kana: KanaName {
                    family: fam_kana.to_owned(),
                    given: given_kana.to_owned(),
                },
                birth_date: birth_for_age(rng, as_of, age),
                sex,
                postal_code: None,
                address: ELSEWHERE.choose(rng).map(|s| (*s).to_owned()),
                address_detail: None,
                district_code: None,
                school_district: None,
                phone: None,
                status: ResidentStatus::NonResident,
                change_reason: Some(ChangeReason::Other),
                changed_on: Some(recent(rng, as_of, 1000)),
                notified_on: None,
                previous_address: None,
                next_address: None,
                protected: false,
            });
        }
        out
    }

    /// Changes against the town of the same spec: `count` persons (births among them) as a diff
    /// feed would list them. Deterministic for `(spec, count, change_seed)`.
    pub fn changes(
        spec: TownSpec,
        count: usize,
        change_seed: u64,
    ) -> impl Iterator<Item = (ChangeKind, Person)> {
        let total = spec.persons;
        let as_of = spec.as_of;
        let mut pick = ChaCha8Rng::seed_from_u64(change_seed ^ 0x5E55_5EED);
        let mut needed = count.min(total);
        let mut seen = 0usize;
        let mut births = 0u64;
        Town::new(spec).filter_map(move |mut p| {
            let remaining = total - seen;
            seen += 1;
            // Selection sampling: exactly `count` persons, uniformly, in one pass.
            if needed == 0 || pick.gen_range(0..remaining) >= needed {
                return None;
            }
            needed -= 1;
            let on = recent(&mut pick, as_of, 30);
            let age = sesshu_domain::age_on(p.birth_date, as_of).unwrap_or(0);
            let roll = pick.gen_range(0..100);
            p.changed_on = Some(on.max(p.birth_date));
            p.notified_on = p.changed_on;
            let kind = if p.status != ResidentStatus::Resident {
                p.change_reason = Some(ChangeReason::AddressChange);
                p.address_detail = Some(format!("{}号室", pick.gen_range(100..999)));
                ChangeKind::AddressChange
            } else if roll < 12 && (20..46).contains(&age) && p.household_number.is_some() {
                births += 1;
                let number = FIRST_ADDRESS_NUMBER + total as u64 + births;
                let sex = if pick.gen_bool(0.5) {
                    Sex::Male
                } else {
                    Sex::Female
                };
                let (given, kana) = *match sex {
                    Sex::Male => MALE.choose(&mut pick).unwrap_or(&MALE[0]),
                    Sex::Female => FEMALE.choose(&mut pick).unwrap_or(&FEMALE[0]),
                };
                p.address_number = id(AddressNumber::parse(&number.to_string()));
                p.integrated_address_number =
                    IntegratedAddressNumber::parse(&(9_000_000_000_000 + number).to_string()).ok();
                p.my_number = town_my_number(&mut pick, number);
                p.relationship = Some("子".into());
                p.name.given = given.to_owned();
                p.kana.given = kana.to_owned();
                p.sex = sex;
                p.birth_date = on;
                p.phone = None;
                p.change_reason = Some(ChangeReason::Birth);
                p.previous_address = None;
                ChangeKind::Birth
            } else if roll < 40 {
                p.address = Some(format!(
                    "さくら市中央{}丁目{}番{}号",
                    pick.gen_range(1..6),
                    pick.gen_range(1..31),
                    pick.gen_range(1..21)
                ));
                p.change_reason = Some(ChangeReason::MoveWithin);
                ChangeKind::MoveWithin
            } else if roll < 60 {
                p.status = ResidentStatus::MovedOut;
                p.change_reason = Some(ChangeReason::MoveOut);
                p.next_address = ELSEWHERE.choose(&mut pick).map(|s| (*s).to_owned());
                ChangeKind::MoveOut
            } else if roll < 75 && age >= 60 {
                p.status = ResidentStatus::Deceased;
                p.change_reason = Some(ChangeReason::Death);
                ChangeKind::Death
            } else if roll < 90 && p.sex == Sex::Female && (20..60).contains(&age) {
                let (fam, kana) = *FAMILY.choose(&mut pick).unwrap_or(&FAMILY[0]);
                p.name.family = fam.to_owned();
                p.kana.family = kana.to_owned();
                p.change_reason = Some(ChangeReason::NameChange);
                ChangeKind::NameChange
            } else {
                p.phone = Some(format!(
                    "090-{}-{:04}",
                    pick.gen_range(1000..9999),
                    pick.gen_range(0..10_000)
                ));
                p.change_reason = Some(ChangeReason::AddressChange);
                ChangeKind::AddressChange
            };
            Some((kind, p))
        })
    }
}

/// What a generated change did, for tests and benchmark summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Birth,
    MoveWithin,
    MoveOut,
    Death,
    NameChange,
    AddressChange,
}

impl Iterator for Town {
    type Item = Person;

    fn next(&mut self) -> Option<Person> {
        if self.emitted >= self.spec.persons {
            return None;
        }
        if let Some(p) = self.queue.next() {
            self.emitted += 1;
            return Some(p);
        }
        self.queue = self.household().into_iter();
        let p = self.queue.next()?;
        self.emitted += 1;
        Some(p)
    }
}

fn id<T>(r: Result<T, sesshu_domain::ids::IdError>) -> T {
    match r {
        Ok(v) => v,
        // Generated numbers are at most 13 digits: the parse cannot fail.
        Err(e) => unreachable!("generated id invalid: {e}"),
    }
}

/// A My Number no one else in the town has: the first eleven digits are a bijection of the
/// 宛名番号 (`a·x + b mod 10¹¹`, `a` prime to 10), so they look random but never repeat —
/// eleven random digits for each of 1,000,000 persons repeat about five times (n²/2·10¹¹), and
/// the register rightly refuses a file where two persons share one. The eleven digits are still
/// drawn, so that a seed writes the same town (names, dates) as before.
fn town_my_number(rng: &mut ChaCha8Rng, address_number: u64) -> Option<MyNumber> {
    const M: u128 = 100_000_000_000;
    const A: u128 = 7_919_000_003;
    for _ in 0..11 {
        let _: u8 = rng.gen_range(0..10);
    }
    let mut x = (u128::from(address_number) * A + 4_205_550_617) % M;
    let mut first = [0u8; 11];
    for d in first.iter_mut().rev() {
        // x % 10 < 10: the cast cannot truncate.
        *d = (x % 10) as u8;
        x /= 10;
    }
    MyNumber::from_first_eleven(first)
}

/// Japan's population by 5-year band (2020s, in hundred-thousands), 20–99.
const ADULT_BANDS: [(u32, u32); 16] = [
    (20, 63),
    (25, 63),
    (30, 64),
    (35, 71),
    (40, 79),
    (45, 93),
    (50, 94),
    (55, 80),
    (60, 74),
    (65, 76),
    (70, 90),
    (75, 74),
    (80, 60),
    (85, 40),
    (90, 20),
    (95, 6),
];

fn adult_age(rng: &mut ChaCha8Rng, min: u32, max: u32) -> u32 {
    let bands: Vec<&(u32, u32)> = ADULT_BANDS
        .iter()
        .filter(|(a, _)| *a + 4 >= min && *a <= max)
        .collect();
    let total: u32 = bands.iter().map(|(_, w)| w).sum();
    let mut r = rng.gen_range(0..total.max(1));
    for (start, w) in bands {
        if r < *w {
            return (start + rng.gen_range(0..5)).clamp(min, max);
        }
        r -= w;
    }
    min
}

fn spouse_age(rng: &mut ChaCha8Rng, head: u32) -> u32 {
    (head as i32 + rng.gen_range(-5..3)).clamp(18, 100) as u32
}

fn child_age(rng: &mut ChaCha8Rng, max: u32) -> u32 {
    rng.gen_range(0..=max.max(1))
}

fn child_count(rng: &mut ChaCha8Rng) -> u32 {
    match rng.gen_range(0..100) {
        0..=44 => 1,
        45..=84 => 2,
        _ => 3,
    }
}

fn birth_for_age(rng: &mut ChaCha8Rng, as_of: CivilDate, age: u32) -> CivilDate {
    let year_start = as_of.with_year(as_of.year() - age as i32).unwrap_or(as_of);
    let back = rng.gen_range(0..365);
    year_start
        .checked_sub_days(Days::new(back))
        .unwrap_or(year_start)
        .min(as_of)
}

fn recent(rng: &mut ChaCha8Rng, as_of: CivilDate, within_days: u64) -> CivilDate {
    as_of
        .checked_sub_days(Days::new(rng.gen_range(0..within_days.max(1))))
        .unwrap_or(as_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_day() -> CivilDate {
        chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap_or_default()
    }

    fn spec(n: usize, seed: u64) -> TownSpec {
        TownSpec {
            persons: n,
            seed,
            as_of: reference_day(),
        }
    }

    #[test]
    fn no_two_persons_of_a_town_share_a_my_number() {
        let mut seen = std::collections::HashSet::new();
        for p in Town::new(spec(200_000, 1)) {
            if let Some(n) = p.my_number {
                assert!(seen.insert(n.expose().to_vec()), "{}", p.address_number);
            }
        }
        assert!(seen.len() > 190_000);
    }

    #[test]
    fn same_seed_same_town_and_exact_size() {
        let a: Vec<Person> = Town::new(spec(3000, 7)).collect();
        let b: Vec<Person> = Town::new(spec(3000, 7)).collect();
        let c: Vec<Person> = Town::new(spec(3000, 8)).collect();
        assert_eq!(a.len(), 3000);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut ids: Vec<_> = a.iter().map(|p| p.address_number.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 3000, "address numbers are unique");
    }

    #[test]
    fn the_town_looks_like_a_japanese_town() {
        let town: Vec<Person> = Town::new(spec(20_000, 1)).collect();
        let as_of = reference_day();
        let age = |p: &Person| sesshu_domain::age_on(p.birth_date, as_of).unwrap_or(0);
        let share = |f: &dyn Fn(&Person) -> bool| {
            town.iter().filter(|p| f(p)).count() as f64 / town.len() as f64
        };
        let children = share(&|p| age(p) < 15);
        let elderly = share(&|p| age(p) >= 65);
        assert!((0.08..0.20).contains(&children), "children {children}");
        eprintln!("children {children:.3} elderly {elderly:.3}");
        assert!((0.20..0.40).contains(&elderly), "elderly {elderly}");
        assert!(share(&|p| age(p) == 0) > 0.003, "infants for the schedule");
        assert!(town.iter().any(|p| p.status == ResidentStatus::Deceased));
        assert!(town.iter().any(|p| p.status == ResidentStatus::MovedOut));
        assert!(town.iter().any(|p| p.status == ResidentStatus::NonResident));
        assert!(town.iter().any(|p| p.protected));
        assert!(
            town.iter()
                .any(|p| p.change_reason == Some(ChangeReason::Birth))
        );
        assert!(town.iter().all(|p| p.birth_date <= as_of));
        assert!(share(&|p| p.my_number.is_some()) > 0.9);
    }

    #[test]
    fn changes_are_exact_in_number_and_mix_kinds() {
        let changes: Vec<(ChangeKind, Person)> = Town::changes(spec(5000, 3), 500, 1).collect();
        assert_eq!(changes.len(), 500);
        for kind in [
            ChangeKind::Birth,
            ChangeKind::MoveWithin,
            ChangeKind::MoveOut,
            ChangeKind::NameChange,
        ] {
            assert!(changes.iter().any(|(k, _)| *k == kind), "{kind:?}");
        }
        let again: Vec<(ChangeKind, Person)> = Town::changes(spec(5000, 3), 500, 1).collect();
        assert_eq!(changes, again);
        let births: Vec<&Person> = changes
            .iter()
            .filter(|(k, _)| *k == ChangeKind::Birth)
            .map(|(_, p)| p)
            .collect();
        assert!(
            births
                .iter()
                .all(|p| p.address_number.as_str().parse::<u64>().unwrap_or(0) > 105_001)
        );
    }
}
