//! Text from the server made safe to draw, and fitted to columns by display width.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Control characters and bidi controls become visible escapes (`\x1b`, `\u{202e}`), so server
/// text can neither drive the terminal nor disguise itself. Newlines and tabs are kept only
/// when `multiline` (descriptions); tabs then become spaces.
pub fn sanitize(s: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\n' if multiline => out.push('\n'),
            '\t' if multiline => out.push_str("    "),
            c if crate::validate::is_forbidden(c) || is_invisible(c) => {
                if (c as u32) < 0x100 {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                } else {
                    out.push_str(&format!("\\u{{{:x}}}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Zero-width characters that would make two different names look the same.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Display width in terminal cells.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Cuts `s` to at most `max` cells, ending with `…` when something was cut. Never splits a wide
/// character: if it would straddle the edge it is dropped.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in s.chars() {
        let w = ch.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        used += w;
        out.push(ch);
    }
    out.push('…');
    out
}

/// Pads with spaces to exactly `cols` cells (after truncating).
pub fn fit(s: &str, cols: usize) -> String {
    let mut t = truncate(s, cols);
    let w = width(&t);
    t.extend(std::iter::repeat_n(' ', cols.saturating_sub(w)));
    t
}

/// How many rows `s` takes when word-wrapped to `cols` cells (greedy, as ratatui's wrapping
/// does; a word longer than a row is broken). For sizing boxes around wrapped text, so their
/// last line (often the keys) is never cut off.
pub fn wrapped_rows(s: &str, cols: usize) -> usize {
    if cols == 0 {
        return 1;
    }
    let mut rows = 1;
    let mut used = 0;
    for word in s.split(' ') {
        let w = width(word);
        let need = if used == 0 { w } else { used + 1 + w };
        if need <= cols {
            used = need;
        } else if w <= cols {
            rows += 1;
            used = w;
        } else {
            // Broken across rows, continuing after whatever the row already holds.
            let start = if used == 0 { 0 } else { used + 1 };
            let total = start + w;
            rows += (total - 1) / cols;
            used = (total - 1) % cols + 1;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_become_visible() {
        assert_eq!(sanitize("evil\x1b[31mred", false), "evil\\x1b[31mred");
        assert_eq!(sanitize("abc\u{202E}gpj.exe", false), "abc\\u{202e}gpj.exe");
        assert_eq!(sanitize("a\u{9b}b\u{200B}", false), "a\\x9bb\\u{200b}");
        assert_eq!(sanitize("one\ntwo", false), "one\\x0atwo");
        assert_eq!(sanitize("one\ntwo\tx", true), "one\ntwo    x");
        assert_eq!(sanitize("CJK 名前", false), "CJK 名前");
    }

    #[test]
    fn truncation_counts_cells_not_bytes() {
        assert_eq!(truncate("プロビジョニング", 7), "プロビ…");
        assert_eq!(
            width(&truncate("プロビジョニング", 8)),
            7,
            "a wide char never straddles the edge"
        );
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(fit("名前", 6), "名前  ");
        assert_eq!(width(&fit("とても長いアプリ名", 9)), 9);
    }

    #[test]
    fn wrapped_rows_counts_word_wrapped_rows() {
        assert_eq!(wrapped_rows("", 10), 1);
        assert_eq!(wrapped_rows("one two", 7), 1);
        assert_eq!(wrapped_rows("one two", 6), 2);
        assert_eq!(wrapped_rows("one two three", 8), 2);
        assert_eq!(wrapped_rows("abcdefghijkl", 5), 3);
        assert_eq!(wrapped_rows("名前名前名前", 4), 3);
    }
}
