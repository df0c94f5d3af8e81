//! SQL text helpers. `QueryBuilder<Any>` emits `?`, which PostgreSQL refuses, so placeholders
//! are numbered here.

/// `($start, $start+1, …)` groups for `rows` rows of `cols` values each.
pub fn values_groups(rows: usize, cols: usize, start: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    let mut n = start;
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            s.push('$');
            s.push_str(&n.to_string());
            n += 1;
        }
        s.push(')');
    }
    s
}

/// `$start, …, $start+count-1` for an `IN (…)` list.
pub fn placeholders(count: usize, start: usize) -> String {
    (start..start + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The smallest string greater than every string starting with `prefix`, for index-friendly
/// prefix ranges (`col >= prefix AND col < upper`). `None` means "no upper bound".
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(values_groups(2, 2, 3), "($3,$4),($5,$6)");
        assert_eq!(placeholders(3, 2), "$2,$3,$4");
        assert_eq!(prefix_upper_bound("サト").as_deref(), Some("サド"));
    }
}
