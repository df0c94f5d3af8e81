//! Who may do what: the permission catalogue, roles as named bundles, separation of duties and
//! the password policy (REQUIREMENTS §3, P1–P4). Checked on the server side at every boundary;
//! this module only says what the rules are.

use std::collections::BTreeSet;
use std::fmt;

/// One function a user may be granted (権限).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    PersonRead,
    PersonWrite,
    DoseRead,
    DoseWrite,
    /// 個人番号事務実施者: reveal, search by and receive My Numbers. Off by default.
    MyNumberUse,
    ImportRun,
    NoticeRun,
    /// Issue, re-issue and revoke 予防接種済証 / 証明書 at the counter.
    CertificateIssue,
    ExportRun,
    ScheduleRead,
    UserAdmin,
    AuditRead,
    KeysAdmin,
    /// Aggregate statistics only: never a person, never a My Number (the prefecture's right).
    StatsRead,
    /// 医療機関向け接種前確認: a clinic reads what is due for the person before it (issue 21),
    /// nothing else; held alone, by an account bound to one institution, with a second factor.
    ClinicCheck,
    /// 委託料: prices, institutions' accounts, payment runs, their approval by a second holder
    /// and the bank's transfer file (F10).
    PaymentRun,
    /// 実費徴収の免除: decide, per person and fiscal year, whether a B類 dose is free to them
    /// (F7). The decision rests on tax and welfare facts, so it is nobody else's to read.
    CostExemption,
    /// 健康被害救済: relief cases — the harm, its medical facts, the benefit and where it is paid
    /// (F8). Health facts of the gravest kind, so they are nobody else's to read.
    ReliefCase,
    /// 保存期間: plan, approve and carry out the deletion of persons whose retention period
    /// after death or move-out has passed (P10). Granted alone, to whoever the city names.
    RegisterPurge,
}

impl Permission {
    pub const ALL: [Permission; 19] = [
        Permission::PersonRead,
        Permission::PersonWrite,
        Permission::DoseRead,
        Permission::DoseWrite,
        Permission::MyNumberUse,
        Permission::ImportRun,
        Permission::NoticeRun,
        Permission::CertificateIssue,
        Permission::ExportRun,
        Permission::ScheduleRead,
        Permission::UserAdmin,
        Permission::AuditRead,
        Permission::KeysAdmin,
        Permission::StatsRead,
        Permission::ClinicCheck,
        Permission::PaymentRun,
        Permission::CostExemption,
        Permission::ReliefCase,
        Permission::RegisterPurge,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Permission::PersonRead => "person.read",
            Permission::PersonWrite => "person.write",
            Permission::DoseRead => "dose.read",
            Permission::DoseWrite => "dose.write",
            Permission::MyNumberUse => "mynumber.use",
            Permission::ImportRun => "import.run",
            Permission::NoticeRun => "notice.run",
            Permission::CertificateIssue => "certificate.issue",
            Permission::ExportRun => "export.run",
            Permission::ScheduleRead => "schedule.read",
            Permission::UserAdmin => "user.admin",
            Permission::AuditRead => "audit.read",
            Permission::KeysAdmin => "keys.admin",
            Permission::StatsRead => "stats.read",
            Permission::ClinicCheck => "clinic.check",
            Permission::PaymentRun => "payment.run",
            Permission::CostExemption => "exemption.decide",
            Permission::ReliefCase => "relief.case",
            Permission::RegisterPurge => "register.purge",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Permission::PersonRead => "宛名の閲覧",
            Permission::PersonWrite => "宛名の更新",
            Permission::DoseRead => "接種記録の閲覧",
            Permission::DoseWrite => "接種記録の登録・訂正",
            Permission::MyNumberUse => "個人番号の利用 (個人番号事務実施者)",
            Permission::ImportRun => "ファイルの取込",
            Permission::NoticeRun => "通知・接種券の作成",
            Permission::CertificateIssue => "証明書の発行",
            Permission::ExportRun => "データの抽出",
            Permission::ScheduleRead => "接種予定の集計",
            Permission::UserAdmin => "利用者の管理",
            Permission::AuditRead => "操作ログの閲覧",
            Permission::KeysAdmin => "暗号鍵の管理",
            Permission::StatsRead => "集計値の閲覧",
            Permission::ClinicCheck => "接種前確認 (医療機関)",
            Permission::PaymentRun => "委託料の支払",
            Permission::CostExemption => "実費徴収の免除決定",
            Permission::ReliefCase => "健康被害救済の事務",
            Permission::RegisterPurge => "保存期間を過ぎた記録の削除",
        }
    }

    pub fn parse(code: &str) -> Result<Self, AccessError> {
        Self::ALL
            .into_iter()
            .find(|p| p.code() == code)
            .ok_or_else(|| AccessError::UnknownPermission(code.to_owned()))
    }

    /// Permissions that make an account an administrator (second factor required).
    pub fn is_admin(self) -> bool {
        matches!(self, Permission::UserAdmin | Permission::KeysAdmin)
    }

    /// Permissions whose holder must sign in with a second factor: the administrator's, My
    /// Number use, and a clinic's check, whose account is used outside the city's network.
    pub fn needs_second_factor(self) -> bool {
        self.is_admin() || matches!(self, Permission::MyNumberUse | Permission::ClinicCheck)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A named bundle of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub name: &'static str,
    pub label: &'static str,
    pub permissions: &'static [Permission],
}

/// The roles every deployment has. A grant names a role or a single permission.
pub const ROLES: [Role; 11] = [
    Role {
        name: "clerk",
        label: "予防接種事務担当",
        permissions: &[
            Permission::PersonRead,
            Permission::DoseRead,
            Permission::DoseWrite,
            Permission::ScheduleRead,
            Permission::ImportRun,
            Permission::NoticeRun,
            Permission::CertificateIssue,
        ],
    },
    Role {
        name: "viewer",
        label: "閲覧のみ",
        permissions: &[
            Permission::PersonRead,
            Permission::DoseRead,
            Permission::ScheduleRead,
        ],
    },
    Role {
        name: "mynumber_officer",
        label: "個人番号事務実施者",
        permissions: &[Permission::PersonRead, Permission::MyNumberUse],
    },
    Role {
        name: "exporter",
        label: "データ抽出担当",
        permissions: &[Permission::ExportRun, Permission::ScheduleRead],
    },
    Role {
        name: "administrator",
        label: "システム管理者",
        permissions: &[Permission::UserAdmin, Permission::KeysAdmin],
    },
    Role {
        name: "auditor",
        label: "監査担当",
        permissions: &[Permission::AuditRead],
    },
    Role {
        name: "statistics",
        label: "集計値の閲覧 (都道府県など)",
        permissions: &[Permission::StatsRead],
    },
    Role {
        name: "payments",
        label: "委託料支払担当",
        permissions: &[Permission::PaymentRun, Permission::DoseRead],
    },
    Role {
        name: "cost_collection",
        label: "実費徴収の免除担当",
        permissions: &[Permission::PersonRead, Permission::CostExemption],
    },
    Role {
        name: "relief",
        label: "健康被害救済担当",
        permissions: &[
            Permission::PersonRead,
            Permission::DoseRead,
            Permission::ReliefCase,
        ],
    },
    Role {
        name: "clinic",
        label: "医療機関 (接種前確認)",
        permissions: &[Permission::ClinicCheck],
    },
];

pub fn role(name: &str) -> Option<&'static Role> {
    ROLES.iter().find(|r| r.name == name)
}

/// The Japanese name of a grant for pages, CSVs and messages: the role's label for `role:clerk`,
/// the permission's for `dose.write`, and the grant as stored when it names neither.
pub fn grant_label(grant: &str) -> String {
    match grant.strip_prefix("role:") {
        Some(name) => role(name).map_or_else(|| grant.to_owned(), |r| r.label.to_owned()),
        None => {
            Permission::parse(grant).map_or_else(|_| grant.to_owned(), |p| p.label().to_owned())
        }
    }
}

/// Whether a grant hands over the keys — My Number use or an administrator's permission — and so
/// needs a second administrator (four-eyes) and may never be given to oneself.
pub fn is_sensitive_grant(grant: &str) -> bool {
    expand(grant).is_ok_and(|ps| {
        ps.iter()
            .any(|p| p.is_admin() || *p == Permission::MyNumberUse)
    })
}

/// What a grant names: a role (`role:clerk`) or one permission (`dose.write`).
pub fn expand(grant: &str) -> Result<Vec<Permission>, AccessError> {
    match grant.strip_prefix("role:") {
        Some(name) => role(name)
            .map(|r| r.permissions.to_vec())
            .ok_or_else(|| AccessError::UnknownRole(name.to_owned())),
        None => Ok(vec![Permission::parse(grant)?]),
    }
}

/// Separation of duties (on by default): whoever administers accounts or can grant My Number
/// use must not read the audit log that records it, and the auditor must not administer. A
/// clinic's account, used outside the city by someone who is not its staff, holds its check
/// and nothing else.
pub fn separation_conflict(permissions: &BTreeSet<Permission>) -> Option<AccessError> {
    if permissions.contains(&Permission::ClinicCheck) && permissions.len() > 1 {
        return Some(AccessError::ClinicAlone);
    }
    let administers = permissions.contains(&Permission::UserAdmin);
    let audits = permissions.contains(&Permission::AuditRead);
    (administers && audits).then_some(AccessError::SeparationOfDuties)
}

/// The city's password policy (P2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    /// At least one letter and one digit.
    pub letters_and_digits: bool,
    /// The last N passwords may not be reused.
    pub history: usize,
    /// Days before a password expires and must be changed (0: never).
    pub max_age_days: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            letters_and_digits: true,
            history: 5,
            max_age_days: 90,
        }
    }
}

impl PasswordPolicy {
    /// Checks a new password's form (reuse is checked against the stored hashes by the store).
    pub fn check(&self, login: &str, password: &str) -> Result<(), AccessError> {
        if password.chars().count() < self.min_length {
            return Err(AccessError::Password(format!(
                "{}文字以上にしてください",
                self.min_length
            )));
        }
        if self.letters_and_digits
            && !(password.chars().any(|c| c.is_ascii_alphabetic())
                && password.chars().any(|c| c.is_ascii_digit()))
        {
            return Err(AccessError::Password(
                "英字と数字を両方含めてください".into(),
            ));
        }
        if password.to_lowercase().contains(&login.to_lowercase()) {
            return Err(AccessError::Password(
                "ログイン名を含むパスワードは使えません".into(),
            ));
        }
        let mut distinct: Vec<char> = password.chars().collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < MIN_DISTINCT_CHARS {
            return Err(AccessError::Password(format!(
                "同じ文字の繰り返しが多すぎます ({MIN_DISTINCT_CHARS}種類以上の文字を使ってください)"
            )));
        }
        // The letters with the digits and marks taken out: "Password2026!", "p@ssw0rd1" and
        // "qwerty123" are one guess each in any attacker's list.
        let letters: String = password
            .chars()
            .filter(char::is_ascii_alphabetic)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if COMMON_WORDS.contains(&letters.as_str()) {
            return Err(AccessError::Password(
                "よく使われる語 (password, qwerty など) と数字だけのパスワードは使えません".into(),
            ));
        }
        Ok(())
    }
}

/// Fewer different characters than this is a pattern, not a password (`aaaaaaa1`).
const MIN_DISTINCT_CHARS: usize = 5;

/// The letter parts that head every list of leaked passwords, in the forms they take once the
/// digits and marks of `p@ssw0rd1` are taken out.
const COMMON_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passwrd",
    "psswrd",
    "pssword",
    "pass",
    "passw",
    "qwerty",
    "qwert",
    "qwertyuiop",
    "asdf",
    "asdfgh",
    "asdfghjkl",
    "zxcv",
    "zxcvbn",
    "abc",
    "abcd",
    "abcde",
    "abcdef",
    "abcdefg",
    "admin",
    "administrator",
    "root",
    "login",
    "user",
    "guest",
    "test",
    "welcome",
    "letmein",
    "iloveyou",
    "monkey",
    "dragon",
    "master",
    "secret",
    "changeme",
    "hello",
    "sesshu",
    "qazwsx",
    "trustno",
];

/// A login name: 3–32 of `a-z 0-9 . _ -`, starting with a letter.
pub fn parse_login(input: &str) -> Result<String, AccessError> {
    let s = input.trim().to_ascii_lowercase();
    let ok = (3..=32).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(s) } else { Err(AccessError::Login) }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("権限「{0}」はありません")]
    UnknownPermission(String),
    #[error("役割「{0}」はありません")]
    UnknownRole(String),
    #[error("職務分離のため、利用者の管理と操作ログの閲覧を同じ利用者に与えることはできません")]
    SeparationOfDuties,
    #[error(
        "医療機関の利用者には接種前確認 (clinic.check) だけを付与します。ほかの権限とは組み合わせられません"
    )]
    ClinicAlone,
    #[error(
        "接種前確認はトークンでは行えません: 医療機関の利用者 (二要素認証) でログインして使います"
    )]
    ClinicToken,
    #[error("パスワードが規則に合いません: {0}")]
    Password(String),
    #[error("ログイン名は英小文字で始まる3〜32文字 (英小文字・数字・. _ -) です")]
    Login,
    #[error(
        "接続元「{0}」は IP アドレスかネットワーク (例: 10.0.0.5, 192.168.1.0/24) ではありません"
    )]
    Source(String),
    #[error(
        "個人番号の利用か管理者の権限を持つトークンは、接続元を限り (--allow-from)、有効期間を{SENSITIVE_TOKEN_DAYS}日以内にしてください"
    )]
    SensitiveToken,
}

/// The longest a token holding [`is_sensitive_grant`] permissions may live.
pub const SENSITIVE_TOKEN_DAYS: i64 = 30;

/// The addresses a token may be used from: IP addresses or networks. Empty is anywhere — which
/// a token holding My Number use or an administrator's permission may not be (see
/// [`SENSITIVE_TOKEN_DAYS`]): such a token has no second factor, so where it may come from and
/// how long it lives stand in for one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedSources(Vec<ipnet::IpNet>);

impl AllowedSources {
    /// From `10.0.0.5`, `192.168.1.0/24`, `::1` (an address alone is a network of one).
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, AccessError> {
        let mut nets = Vec::new();
        for item in items {
            for text in item.as_ref().split([' ', ',']).filter(|t| !t.is_empty()) {
                let net = text
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| AccessError::Source(text.to_owned()))?;
                nets.push(net.trunc());
            }
        }
        Ok(Self(nets))
    }

    pub fn is_anywhere(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a request from `source` (the client's address as the server saw it) may use it.
    /// A source that is not an address (a test's `local`) passes only an unrestricted token.
    pub fn allows(&self, source: &str) -> bool {
        if self.0.is_empty() {
            return true;
        }
        source
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| self.0.iter().any(|n| n.contains(&ip)))
    }

    /// As stored and listed: the networks separated by spaces.
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether a token with these grants, sources and lifetime may be made.
pub fn token_policy(
    grants: &[String],
    sources: &AllowedSources,
    days: i64,
) -> Result<(), AccessError> {
    let clinic = grants
        .iter()
        .any(|g| expand(g).is_ok_and(|ps| ps.contains(&Permission::ClinicCheck)));
    if clinic {
        return Err(AccessError::ClinicToken);
    }
    let sensitive = grants.iter().any(|g| is_sensitive_grant(g));
    if sensitive && (sources.is_anywhere() || days > SENSITIVE_TOKEN_DAYS) {
        return Err(AccessError::SensitiveToken);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_used_only_from_where_it_may_be() {
        let s = AllowedSources::parse(&["10.0.0.5", "192.168.1.0/24, ::1"]).unwrap();
        assert_eq!(s.to_text(), "10.0.0.5/32 192.168.1.0/24 ::1/128");
        for ok in ["10.0.0.5", "192.168.1.200", "::1"] {
            assert!(s.allows(ok), "{ok}");
        }
        for no in ["10.0.0.6", "192.168.2.1", "local", ""] {
            assert!(!s.allows(no), "{no}");
        }
        assert!(AllowedSources::default().allows("local"));
        assert!(AllowedSources::parse(&["10.0.0.0/33"]).is_err());
        assert!(AllowedSources::parse(&["example.jp"]).is_err());
        let mn = vec!["mynumber.use".to_owned()];
        assert!(token_policy(&mn, &AllowedSources::default(), 7).is_err());
        assert!(token_policy(&mn, &s, SENSITIVE_TOKEN_DAYS + 1).is_err());
        assert!(token_policy(&mn, &s, SENSITIVE_TOKEN_DAYS).is_ok());
        let viewer = vec!["role:viewer".to_owned()];
        assert!(token_policy(&viewer, &AllowedSources::default(), 3650).is_ok());
        let clinic = vec!["role:clinic".to_owned()];
        assert_eq!(
            token_policy(&clinic, &s, 7),
            Err(AccessError::ClinicToken),
            "a clinic signs in with its second factor; a token has none"
        );
    }

    #[test]
    fn every_permission_round_trips_and_roles_name_real_permissions() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.code()), Ok(p));
        }
        assert!(Permission::parse("person.delete").is_err());
        assert_eq!(expand("role:auditor"), Ok(vec![Permission::AuditRead]));
        assert_eq!(grant_label("role:clerk"), "予防接種事務担当");
        assert_eq!(grant_label("dose.write"), "接種記録の登録・訂正");
        assert_eq!(grant_label("role:nobody"), "role:nobody");
        assert!(expand("role:nobody").is_err());
        assert!(
            !role("clerk")
                .unwrap()
                .permissions
                .contains(&Permission::MyNumberUse)
        );
    }

    #[test]
    fn administering_and_auditing_do_not_mix() {
        let admin: BTreeSet<_> = expand("role:administrator").unwrap().into_iter().collect();
        assert!(separation_conflict(&admin).is_none());
        let mut both = admin.clone();
        both.insert(Permission::AuditRead);
        assert_eq!(
            separation_conflict(&both),
            Some(AccessError::SeparationOfDuties)
        );
    }

    #[test]
    fn a_clinic_holds_its_check_alone_and_signs_in_with_a_second_factor() {
        let clinic: BTreeSet<_> = expand("role:clinic").unwrap().into_iter().collect();
        assert_eq!(clinic, BTreeSet::from([Permission::ClinicCheck]));
        assert!(separation_conflict(&clinic).is_none());
        for other in [
            Permission::PersonRead,
            Permission::DoseWrite,
            Permission::StatsRead,
        ] {
            let mut mixed = clinic.clone();
            mixed.insert(other);
            assert_eq!(
                separation_conflict(&mixed),
                Some(AccessError::ClinicAlone),
                "{other}"
            );
        }
        assert!(Permission::ClinicCheck.needs_second_factor());
        assert!(Permission::MyNumberUse.needs_second_factor());
        assert!(!Permission::PersonRead.needs_second_factor());
        assert!(
            !is_sensitive_grant("role:clinic"),
            "no four-eyes: it reveals one person at a time"
        );
    }

    #[test]
    fn the_default_password_policy() {
        let p = PasswordPolicy::default();
        assert!(p.check("tanaka", "short1").is_err());
        assert!(p.check("tanaka", "onlyletters").is_err());
        assert!(p.check("tanaka", "12345678").is_err());
        assert!(
            p.check("tanaka", "Tanaka2026x").is_err(),
            "contains the login"
        );
        assert!(p.check("tanaka", "sakura2026").is_ok());
        for guessable in [
            "aaaaaaa1",
            "a1a1a1a1a1",
            "Password2026",
            "p@ssw0rd1",
            "qwerty123",
            "admin2026",
        ] {
            assert!(p.check("tanaka", guessable).is_err(), "{guessable}");
        }
        for fine in ["kanagawa77", "tk1234567", "demo1432342"] {
            assert!(p.check("tanaka", fine).is_ok(), "{fine}");
        }
        assert_eq!(parse_login("Tanaka.H"), Ok("tanaka.h".into()));
        assert!(parse_login("1abc").is_err());
        assert!(parse_login("ab").is_err());
    }
}
