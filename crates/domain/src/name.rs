//! Names as written (kanji and kana kept exactly as given) and the normalised kana key used to
//! match and search them.

use std::fmt;

use crate::digits::trim_spaces;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("氏名が空です")]
    Empty,
    #[error("氏と名の間は空白1つで区切ってください")]
    Separator,
    #[error("氏名カナにカタカナ以外の文字があります: {0}")]
    NotKana(char),
    #[error("氏名が長すぎます (最大{0}文字)")]
    TooLong(usize),
}

const MAX_NAME_CHARS: usize = 60;

/// Splits "family given" on one half- or full-width space. A name without a space is kept whole
/// as the family part: some foreign residents' names are registered that way.
fn split(input: &str) -> Result<(String, String), NameError> {
    let s = trim_spaces(input);
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong(MAX_NAME_CHARS));
    }
    match s.split_once([' ', '\u{3000}']) {
        None => Ok((s.to_owned(), String::new())),
        Some((family, given)) => {
            if family.is_empty() || given.is_empty() || given.contains([' ', '\u{3000}']) {
                return Err(NameError::Separator);
            }
            Ok((family.to_owned(), given.to_owned()))
        }
    }
}

/// 氏名 (kanji or whatever script the register holds), kept as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName {
    pub family: String,
    pub given: String,
}

impl PersonName {
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let (family, given) = split(input)?;
        Ok(Self { family, given })
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.given.is_empty() {
            f.write_str(&self.family)
        } else {
            write!(f, "{}\u{3000}{}", self.family, self.given)
        }
    }
}

/// 氏名カナ, kept as given (full- or half-width katakana).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KanaName {
    pub family: String,
    pub given: String,
}

impl KanaName {
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let (family, given) = split(input)?;
        if let Some(bad) = family
            .chars()
            .chain(given.chars())
            .find(|c| !is_kana_name_char(*c))
        {
            return Err(NameError::NotKana(bad));
        }
        Ok(Self { family, given })
    }

    /// The matching key: full-width katakana, no spaces, voiced marks folded, small kana made
    /// large, so ｻﾄｳ, サトウ and さとう all match.
    pub fn key(&self) -> String {
        let mut k = kana_key(&self.family);
        k.push_str(&kana_key(&self.given));
        k
    }
}

impl fmt::Display for KanaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.given.is_empty() {
            f.write_str(&self.family)
        } else {
            write!(f, "{}\u{3000}{}", self.family, self.given)
        }
    }
}

/// A character a 氏名カナ may hold (what a resident file's kana column is checked against).
pub fn is_kana_name_char(c: char) -> bool {
    matches!(c,
        '\u{30A1}'..='\u{30FC}' // full-width katakana and ー
        | '\u{FF65}'..='\u{FF9F}' // half-width katakana with marks
        | '\u{3041}'..='\u{3096}' // hiragana, seen from some keying vendors
        | '＝' | '=' | '-' | '－'
    )
}

/// Normalises kana for matching: half-width → full-width, hiragana → katakana, voiced and
/// semi-voiced marks dropped (ガ→カ, パ→ハ), small kana enlarged, separators removed.
pub fn kana_key(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        if let Some(full) = half_to_full(c) {
            out.push(fold(full));
        } else if matches!(c, '\u{FF9E}' | '\u{FF9F}' | '\u{309B}' | '\u{309C}') {
            // Stand-alone voicing marks (half-width ﾞﾟ or ゛゜) carry no base letter.
        } else if ('\u{3041}'..='\u{3096}').contains(&c) {
            out.push(fold(char::from_u32(c as u32 + 0x60).unwrap_or(c)));
        } else if ('\u{30A1}'..='\u{30FA}').contains(&c) || c == 'ー' {
            out.push(fold(c));
        } else if c.is_alphanumeric() {
            // Found by fuzzing: some letters upper-case to a letter and a combining mark
            // (ᾶ → Α + U+0342), which a second folding dropped, so a key did not fold to itself.
            out.extend(c.to_uppercase().filter(|u| u.is_alphanumeric()));
        }
    }
    out
}

/// Normalises a name as written for search: compatibility forms made plain (full-width Latin
/// letters, compatibility ideographs such as 隆 U+F9DC), variation selectors and spaces dropped,
/// Latin letters upper-cased and the 異体字 of [`VARIANTS`] folded, so 髙橋, 高橋 and 髙橋 with an
/// ideographic variation sequence all find each other. The name itself is kept as given.
pub fn name_key(input: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    input
        .nfkc()
        .filter(|c| !c.is_whitespace() && !is_variation_selector(*c))
        .flat_map(char::to_uppercase)
        .map(|c| {
            VARIANTS
                .iter()
                .find(|(variant, _)| *variant == c)
                .map_or(c, |(_, plain)| *plain)
        })
        .collect()
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// 異体字 that a clerk types as the common form: (as registered, as typed). Kept as data: a
/// city that finds another pair adds a line. Characters that are one another's NFKC forms (塚
/// U+FA10) need no line. 斉/齊/齋/斎 are distinct characters but one family name to the person
/// at the counter, so a search for one finds all four; the result line shows which it is.
pub const VARIANTS: &[(char, char)] = &[
    ('髙', '高'),
    ('﨑', '崎'),
    ('嵜', '崎'),
    ('碕', '崎'),
    ('邊', '辺'),
    ('邉', '辺'),
    ('齋', '斎'),
    ('齊', '斎'),
    ('斉', '斎'),
    ('濱', '浜'),
    ('澤', '沢'),
    ('櫻', '桜'),
    ('廣', '広'),
    ('國', '国'),
    ('眞', '真'),
    ('嶋', '島'),
    ('嶌', '島'),
    ('槗', '橋'),
    ('德', '徳'),
    ('惠', '恵'),
    ('條', '条'),
    ('瀨', '瀬'),
    ('冨', '富'),
    ('淵', '渕'),
    ('曻', '昇'),
    ('實', '実'),
    ('龍', '竜'),
    ('舘', '館'),
    ('萬', '万'),
    ('榮', '栄'),
    ('會', '会'),
    ('圓', '円'),
    ('壽', '寿'),
    ('彌', '弥'),
    ('與', '与'),
    ('藏', '蔵'),
    ('縣', '県'),
    ('𠮷', '吉'),
    ('栁', '柳'),
    ('峯', '峰'),
    ('恆', '恒'),
    ('增', '増'),
    ('靜', '静'),
    ('瀧', '滝'),
    ('禮', '礼'),
    ('亞', '亜'),
    ('檜', '桧'),
    ('埜', '野'),
    ('嶽', '岳'),
    ('籠', '篭'),
    ('塲', '場'),
    ('藪', '薮'),
    ('稻', '稲'),
    ('兒', '児'),
    ('黑', '黒'),
    ('拔', '抜'),
];

/// Kana as staff read it: half-width katakana (ｻﾄｳ ﾊﾅｺ, as some resident files carry it) in
/// full width with the voicing marks joined (ｶﾞ → ガ, ﾊﾟ → パ). The name is stored as given; this
/// is for showing it.
pub fn full_width_kana(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        let (join, alone): (fn(char) -> Option<char>, char) = match c {
            '\u{FF9E}' => (voiced, '゛'),
            '\u{FF9F}' => (semi_voiced, '゜'),
            _ => {
                out.push(
                    (c as u32)
                        .checked_sub(0xFF61)
                        .and_then(|i| HALF_TO_FULL.get(i as usize).copied())
                        .unwrap_or(c),
                );
                continue;
            }
        };
        match out.pop() {
            Some(prev) => match join(prev) {
                Some(joined) => out.push(joined),
                None => {
                    out.push(prev);
                    out.push(alone);
                }
            },
            None => out.push(alone),
        }
    }
    out
}

/// The voiced form (カ → ガ, ウ → ヴ), where there is one.
fn voiced(c: char) -> Option<char> {
    match c {
        'ウ' => Some('ヴ'),
        'カ' | 'キ' | 'ク' | 'ケ' | 'コ' | 'サ' | 'シ' | 'ス' | 'セ' | 'ソ' | 'タ' | 'チ'
        | 'ツ' | 'テ' | 'ト' | 'ハ' | 'ヒ' | 'フ' | 'ヘ' | 'ホ' => {
            char::from_u32(c as u32 + 1)
        }
        _ => None,
    }
}

/// The semi-voiced form (ハ → パ), where there is one.
fn semi_voiced(c: char) -> Option<char> {
    match c {
        'ハ' | 'ヒ' | 'フ' | 'ヘ' | 'ホ' => char::from_u32(c as u32 + 2),
        _ => None,
    }
}

/// Folds voiced, semi-voiced and small katakana to their plain large form.
fn fold(c: char) -> char {
    match c {
        'ガ' | 'ヵ' => 'カ',
        'ギ' => 'キ',
        'グ' => 'ク',
        'ゲ' | 'ヶ' => 'ケ',
        'ゴ' => 'コ',
        'ザ' => 'サ',
        'ジ' => 'シ',
        'ズ' => 'ス',
        'ゼ' => 'セ',
        'ゾ' => 'ソ',
        'ダ' => 'タ',
        'ヂ' => 'チ',
        'ヅ' | 'ッ' => 'ツ',
        'デ' => 'テ',
        'ド' => 'ト',
        'バ' | 'パ' => 'ハ',
        'ビ' | 'ピ' => 'ヒ',
        'ブ' | 'プ' => 'フ',
        'ベ' | 'ペ' => 'ヘ',
        'ボ' | 'ポ' => 'ホ',
        'ヴ' | 'ゥ' => 'ウ',
        'ァ' => 'ア',
        'ィ' => 'イ',
        'ェ' => 'エ',
        'ォ' => 'オ',
        'ャ' => 'ヤ',
        'ュ' => 'ユ',
        'ョ' => 'ヨ',
        'ヮ' => 'ワ',
        other => other,
    }
}

/// Full-width katakana for U+FF61..=U+FF9D, indexed from U+FF61.
const HALF_TO_FULL: [char; 61] = [
    '。', '「', '」', '、', '・', 'ヲ', 'ァ', 'ィ', 'ゥ', 'ェ', 'ォ', 'ャ', 'ュ', 'ョ', 'ッ', 'ー',
    'ア', 'イ', 'ウ', 'エ', 'オ', 'カ', 'キ', 'ク', 'ケ', 'コ', 'サ', 'シ', 'ス', 'セ', 'ソ', 'タ',
    'チ', 'ツ', 'テ', 'ト', 'ナ', 'ニ', 'ヌ', 'ネ', 'ノ', 'ハ', 'ヒ', 'フ', 'ヘ', 'ホ', 'マ', 'ミ',
    'ム', 'メ', 'モ', 'ヤ', 'ユ', 'ヨ', 'ラ', 'リ', 'ル', 'レ', 'ロ', 'ワ', 'ン',
];

fn half_to_full(c: char) -> Option<char> {
    let i = (c as u32).checked_sub(0xFF61)? as usize;
    let full = *HALF_TO_FULL.get(i)?;
    // Punctuation is not part of a name key.
    if matches!(full, '。' | '「' | '」' | '、' | '・') {
        None
    } else {
        Some(full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_on_one_space_and_keep_their_characters() {
        let n = PersonName::parse(" 髙橋\u{3000}𠮷子 ").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((n.family.as_str(), n.given.as_str()), ("髙橋", "𠮷子"));
        assert_eq!(n.to_string(), "髙橋\u{3000}𠮷子");
        assert_eq!(
            PersonName::parse("山田 太郎").map(|n| n.given),
            Ok("太郎".into())
        );
        assert_eq!(PersonName::parse("山田  太郎"), Err(NameError::Separator));
        assert_eq!(PersonName::parse("   "), Err(NameError::Empty));
        assert!(PersonName::parse("JOHN").is_ok());
    }

    #[test]
    fn kana_names_accept_half_width_and_refuse_kanji() {
        let k = KanaName::parse("ﾔﾏﾀﾞ ﾀﾛｳ").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(k.family, "ﾔﾏﾀﾞ");
        assert_eq!(k.key(), "ヤマタタロウ");
        assert_eq!(
            KanaName::parse("山田 タロウ"),
            Err(NameError::NotKana('山'))
        );
    }

    #[test]
    fn name_key_finds_variant_forms_as_the_common_one() {
        assert_eq!(name_key("髙橋 花子"), name_key("高橋花子"));
        assert_eq!(name_key("山﨑"), name_key("山崎"));
        assert_eq!(name_key("渡邉"), name_key("渡辺"));
        assert_eq!(name_key("齋藤"), name_key("斉藤"));
        assert_eq!(name_key("𠮷田"), "吉田");
        // 葛 with an ideographic variation selector, and a compatibility ideograph (隆 U+F9DC).
        assert_eq!(name_key("葛\u{E0100}西"), "葛西");
        assert_eq!(name_key("\u{F9DC}"), "隆");
        assert_eq!(name_key("ＳＭＩＴＨ　Ｊｏｈｎ"), "SMITHJOHN");
        assert_ne!(name_key("佐藤"), name_key("佐東"));
    }

    #[test]
    fn every_variant_folds_to_a_character_that_is_not_itself_a_variant() {
        for (variant, plain) in VARIANTS {
            assert_ne!(variant, plain);
            assert!(
                VARIANTS.iter().all(|(v, _)| v != plain),
                "{plain} is folded again"
            );
            assert_eq!(
                VARIANTS.iter().filter(|(v, _)| v == variant).count(),
                1,
                "{variant} twice"
            );
        }
    }

    #[test]
    fn half_width_kana_is_shown_in_full_width_with_its_marks_joined() {
        assert_eq!(full_width_kana("ｻﾄｳ ﾊﾅｺ"), "サトウ ハナコ");
        assert_eq!(full_width_kana("ｶﾞｯｺｳ"), "ガッコウ");
        assert_eq!(full_width_kana("ﾊﾟﾝﾀﾞ"), "パンダ");
        assert_eq!(full_width_kana("ｳﾞｨｸﾄﾙ"), "ヴィクトル");
        // A mark with nothing to join stays a mark; full-width input is unchanged.
        assert_eq!(full_width_kana("ﾞｱﾟ"), "゛ア゜");
        assert_eq!(full_width_kana("サトウ　ハナコ"), "サトウ　ハナコ");
    }

    #[test]
    fn a_kana_key_folds_to_itself_even_from_letters_with_marks() {
        for text in ["ᾶ", "ᾉ", "ǅ", "ﾔﾏﾀﾞ ᾶZ", "ゃZ"] {
            let key = kana_key(text);
            assert_eq!(kana_key(&key), key, "{text:?}");
        }
    }

    #[test]
    fn kana_key_is_width_and_voicing_insensitive() {
        assert_eq!(kana_key("ガッコウ"), kana_key("ｶﾞｯｺｳ"));
        assert_eq!(kana_key("ガッコウ"), "カツコウ");
        assert_eq!(kana_key("ぱんだ"), kana_key("ハンタ"));
        assert_eq!(kana_key("キョウコ"), "キヨウコ");
        assert_eq!(kana_key("サトウ　ハナコ"), "サトウハナコ");
    }
}
