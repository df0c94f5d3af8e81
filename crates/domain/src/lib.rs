//! Pure types and rules of the immunization register.
//!
//! Nothing here does IO. Every identifier is a newtype that validates in its constructor, so a
//! value of the type is proof that it was checked; the My Number type never prints its digits.

pub mod access;
pub mod age;
pub mod digits;
pub mod district;
pub mod dose;
pub mod era;
pub mod ids;
pub mod municipality;
pub mod my_number;
pub mod name;
pub mod person;
pub mod prefecture;
pub mod time;

pub use age::{FiscalYear, age_on, date_reaching_age, school_entry_date};
pub use dose::{AntibodyResult, Dose, DoseJudgement};
pub use era::{Era, format_wareki, parse_date};
pub use ids::{AddressNumber, HouseholdNumber, IntegratedAddressNumber};
pub use municipality::MunicipalityCode;
pub use my_number::MyNumber;
pub use name::{KanaName, PersonName, full_width_kana, kana_key, name_key};
pub use person::{
    ChangeReason, Guardian, Person, PostalCode, ResidentStatus, Sex, infer_guardians,
};
pub use time::{japan_minutes, japan_seconds};

/// A civil date in Japan. Birth dates and dose dates are calendar days, never instants, so no
/// time-zone arithmetic ever touches them.
pub type CivilDate = chrono::NaiveDate;
