//! 町丁目 from an address as the register writes it (`東京都町田市原町田一丁目2番3号` →
//! `原町田一丁目`): the statistics' and extractions' district. The prefecture and the
//! municipality are dropped (the first 市, 区, 町 or 村 after an optional 都道府県, so 町田市 is
//! not cut at its 町); the district runs to 丁目, or to the first number when there is none.
//! A heuristic, good for the addresses the resident feed carries; what it cannot read is `None`.

/// The 町丁目 of an address, when it reads as one.
pub fn of_address(address: &str) -> Option<String> {
    let a = address.trim();
    let after_prefecture = ["都", "道", "府", "県"]
        .iter()
        .filter_map(|m| a.find(m).map(|i| i + m.len()))
        .filter(|&i| i <= 12)
        .min()
        .map_or(a, |i| &a[i..]);
    let rest = strip_municipality(after_prefecture)?;
    let end = match rest.find("丁目") {
        Some(i) => i + "丁目".len(),
        None => rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || ('０'..='９').contains(c))
            .map_or(rest.len(), |(i, _)| i),
    };
    let district = rest[..end].trim();
    (!district.is_empty()).then(|| district.to_owned())
}

fn strip_municipality(s: &str) -> Option<&str> {
    // 郡 comes before its 町/村; a ward (区) may follow a city (市).
    let s = s.find('郡').map_or(s, |i| &s[i + '郡'.len_utf8()..]);
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(c, '市' | '区' | '町' | '村') {
            // 四日市市: the municipality ends at the last of a run of 市.
            if chars.peek().is_some_and(|(_, n)| *n == c) {
                continue;
            }
            // 町田市: a 町 or 村 followed by more name up to 市 is part of the name.
            let rest = &s[i + c.len_utf8()..];
            if matches!(c, '町' | '村') && rest.chars().take(3).any(|n| n == '市') {
                continue;
            }
            let rest = match rest.find('区') {
                Some(j) if c == '市' && j <= 9 => &rest[j + '区'.len_utf8()..],
                _ => rest,
            };
            return Some(rest);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_district_is_read_from_the_address() {
        let d = |s: &str| of_address(s);
        assert_eq!(
            d("東京都町田市原町田一丁目2番3号"),
            Some("原町田一丁目".into())
        );
        assert_eq!(d("さくら市南台2丁目9番19号"), Some("南台2丁目".into()));
        assert_eq!(d("三重県四日市市諏訪町1番5号"), Some("諏訪町".into()));
        assert_eq!(
            d("神奈川県横浜市青葉区美しが丘3丁目1番"),
            Some("美しが丘3丁目".into())
        );
        assert_eq!(
            d("北海道虻田郡倶知安町北1条西2丁目"),
            Some("北1条西2丁目".into())
        );
        assert_eq!(d("町田市玉川学園５－１"), Some("玉川学園".into()));
        assert_eq!(d(""), None);
    }
}
