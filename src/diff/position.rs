//! Columns in the encodings editors speak. Findings carry 1-based character
//! (Unicode scalar) columns; LSP wants UTF-16 code units by default, UTF-8
//! bytes when negotiated. Conversions clamp to the line instead of failing.

/// A position encoding negotiated with the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    Utf8,
    #[default]
    Utf16,
    Utf32,
}

/// Converts a 0-based character index within `line` to a column in `enc`.
pub fn char_to_col(line: &str, char_idx: usize, enc: Encoding) -> u32 {
    let mut col = 0u32;
    for c in line.chars().take(char_idx) {
        col += match enc {
            Encoding::Utf8 => c.len_utf8() as u32,
            Encoding::Utf16 => c.len_utf16() as u32,
            Encoding::Utf32 => 1,
        };
    }
    col
}

/// Converts a column in `enc` to a 0-based character index within `line`,
/// clamped to the line's length. A column inside a surrogate pair or a
/// multi-byte sequence rounds down to the character that holds it.
pub fn col_to_char(line: &str, col: u32, enc: Encoding) -> usize {
    let mut acc = 0u32;
    for (i, c) in line.chars().enumerate() {
        let w = match enc {
            Encoding::Utf8 => c.len_utf8() as u32,
            Encoding::Utf16 => c.len_utf16() as u32,
            Encoding::Utf32 => 1,
        };
        if acc + w > col {
            return i;
        }
        acc += w;
    }
    line.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_takes_two_utf16_units_and_four_bytes() {
        let line = "a😀b";
        assert_eq!(char_to_col(line, 2, Encoding::Utf16), 3);
        assert_eq!(char_to_col(line, 2, Encoding::Utf8), 5);
        assert_eq!(col_to_char(line, 3, Encoding::Utf16), 2);
        assert_eq!(col_to_char(line, 2, Encoding::Utf16), 1, "inside the pair");
        assert_eq!(col_to_char(line, 99, Encoding::Utf16), 3, "clamped");
    }
}
