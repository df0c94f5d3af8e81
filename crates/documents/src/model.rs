//! What the templates print, already formatted: dates in 和暦 (with 西暦 where a form asks for
//! both), names as registered, numbers as printed. A template reads these fields from
//! `/data.json` as `d.letterhead` and `d.records`.

use serde::{Deserialize, Serialize};

/// The sender block every document carries, from the city's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Letterhead {
    pub municipality_code: String,
    pub municipality_name: String,
    /// e.g. 健康福祉部 保健予防課
    pub department: String,
    /// Who issues certificates, e.g. 町田市長
    pub issuer: String,
    pub address: String,
    pub phone: String,
    /// Opening hours or any other line under the contact.
    pub note: String,
    /// A file name in the city's template directory (PNG or SVG), printed at the top.
    pub logo: Option<String>,
}

/// Who a letter is addressed to. `withheld` is set for a protected person (支援措置) whose
/// address may not be printed: the template then shows `withheld_text` instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addressee {
    pub postal_code: Option<String>,
    pub address: Option<String>,
    pub address_detail: Option<String>,
    pub name: String,
    pub withheld: bool,
}

/// One 勧奨通知.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeRecord {
    /// The notice number, printed top right and in the vendor CSV.
    pub number: String,
    pub issued_on: String,
    pub addressee: Addressee,
    /// 保護者 when the letter goes to a guardian, else empty.
    pub addressed_as: String,
    pub person_name: String,
    pub person_kana: String,
    pub birth_date: String,
    pub series_name: String,
    pub stage: String,
    pub window: String,
    pub standard_window: Option<String>,
    /// 再勧奨: the person was notified before and no dose has been recorded since.
    pub recall: bool,
    pub reissue: bool,
}

/// One 接種券.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRecord {
    pub ticket_number: String,
    /// The 18-digit line of national tickets, see [`number_line`].
    pub number_line: String,
    pub number_line_qr_svg: String,
    pub issued_on: String,
    pub addressee: Addressee,
    pub person_name: String,
    pub person_kana: String,
    pub birth_date: String,
    pub series_name: String,
    pub stage: String,
    pub valid_from: String,
    pub valid_until: String,
    pub reissue: bool,
}

/// One pre-filled 予診票.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormRecord {
    pub number: String,
    pub person_name: String,
    pub person_kana: String,
    pub birth_date: String,
    pub age: String,
    pub sex: String,
    pub address: String,
    pub guardian: String,
    pub series_name: String,
    pub stage: String,
    pub ticket_number: Option<String>,
}

/// A dose line of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateDose {
    pub vaccine: String,
    pub stage: String,
    pub date: String,
    pub date_iso: String,
    pub lot: String,
    pub clinic: String,
}

/// Passport data entered at issue for the travel version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Travel {
    pub romanised_name: String,
    pub nationality: String,
    pub passport_number: String,
}

/// One 予防接種済証, or with `travel` the 予防接種証明書 for travel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    pub certificate_id: String,
    pub issued_on: String,
    pub issued_on_iso: String,
    pub person_name: String,
    pub person_kana: String,
    pub birth_date: String,
    pub birth_date_iso: String,
    pub sex: String,
    pub travel: Option<Travel>,
    pub doses: Vec<CertificateDose>,
    pub qr_svg: String,
    pub key_id: String,
    pub reissue: bool,
}

/// A table of a disclosure: its heading, column names, rows, and what to say when it has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureSection {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub empty: String,
}

/// 保有個人情報の開示: everything held about one person, as sections the application builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureRecord {
    pub request_id: String,
    pub issued_on: String,
    pub preface: String,
    pub facts: Vec<(String, String)>,
    pub sections: Vec<DisclosureSection>,
}

/// A letter of a relief case: to the applicant (受付, 認定・否認, 支給) or to the prefecture
/// (進達). The application writes its words; the template lays them out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReliefLetter {
    /// e.g. 救済第12号
    pub reference: String,
    pub issued_on: String,
    pub addressee: String,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub facts: Vec<(String, String)>,
}

/// A file's worth of documents of one kind.
#[derive(Debug, Clone, Serialize)]
pub struct Batch<'a, T> {
    pub letterhead: &'a Letterhead,
    pub records: &'a [T],
}

/// The 18-digit number line of a ticket: kind (1) + dose (1) + municipality code (6) + ticket
/// number (10). `None` when a part does not fit its width.
pub fn number_line(
    kind: u8,
    dose: u32,
    municipality_code: &str,
    ticket_number: u64,
) -> Option<String> {
    (kind <= 9
        && (1..=9).contains(&dose)
        && municipality_code.len() == 6
        && municipality_code.bytes().all(|b| b.is_ascii_digit())
        && ticket_number < 10_000_000_000)
        .then(|| format!("{kind}{dose}{municipality_code}{ticket_number:010}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_line_is_eighteen_digits_in_the_national_order() {
        assert_eq!(
            number_line(4, 1, "132098", 42).as_deref(),
            Some("411320980000000042")
        );
        assert_eq!(
            number_line(4, 1, "132098", 9_999_999_999).map(|s| s.len()),
            Some(18)
        );
        assert_eq!(
            number_line(4, 0, "132098", 1),
            None,
            "dose 0 does not exist"
        );
        assert_eq!(
            number_line(4, 10, "132098", 1),
            None,
            "one digit for the dose"
        );
        assert_eq!(number_line(4, 1, "13209", 1), None, "the 6-digit code only");
        assert_eq!(number_line(4, 1, "132098", 10_000_000_000), None);
    }
}
