//! The 47 prefectures by their JIS X 0401 code (the first two digits of a municipality code),
//! for letters addressed to a prefecture (the 進達 of a relief case goes through it).

const NAMES: [&str; 47] = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];

/// The prefecture a municipality belongs to, by its code (`132098` → 東京都).
pub fn prefecture_of(municipality: crate::MunicipalityCode) -> Option<&'static str> {
    let code = municipality.as_string();
    let n: usize = code.get(..2)?.parse().ok()?;
    NAMES.get(n.checked_sub(1)?).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_municipality_code_names_its_prefecture() {
        let p = |c: &str| prefecture_of(crate::MunicipalityCode::parse(c).unwrap());
        assert_eq!(p("132098"), Some("東京都"));
        assert_eq!(p("011002"), Some("北海道"));
        assert_eq!(p("472018"), Some("沖縄県"));
    }
}
