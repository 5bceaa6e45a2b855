//! Printing for people: plain text tables, and text from the daemon made safe for a terminal.
//!
//! Message texts and chat names come from anyone who writes to a linked number. Printed raw,
//! an escape sequence in one could retitle the terminal, hide lines, forge a hyperlink or, on
//! some terminals, type into the shell; a line break could forge an event line. So every
//! escape sequence (CSI, OSC, DCS, SOS, PM, APC and the short ones, in their 7-bit and C1
//! forms) and every other C0, DEL and C1 control character is removed. A tab stays, and a line
//! break (`\n` or `\r\n`) is shown as `⏎`, so one event stays one line.

use serde_json::Value;

/// A JSON value as a table cell: strings bare and [`printable`], null as `-`.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => printable(s),
        other => other.to_string(),
    }
}

/// Bytes as MiB, for memory columns.
pub fn mib(v: &Value) -> String {
    v.as_u64()
        .map_or_else(|| "-".into(), |b| format!("{} MiB", b >> 20))
}

pub fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Text from the daemon made safe to print on a terminal.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push('\t'),
            '\n' => out.push('⏎'),
            '\x1b' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // The short ones: intermediates, then one final character.
                Some('\x20'..='\x2f') => {
                    while chars.next_if(|c| matches!(c, '\x20'..='\x2f')).is_some() {}
                    chars.next_if(|c| matches!(c, '\x30'..='\x7e'));
                }
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// After `CSI`: parameter and intermediate bytes, then the final byte.
fn skip_csi(chars: &mut Chars<'_>) {
    while chars.next_if(|c| matches!(c, '\x20'..='\x3f')).is_some() {}
    chars.next_if(|c| matches!(c, '\x40'..='\x7e'));
}

/// After `OSC`, `DCS` and the like: everything up to the string terminator (`ST`, as `ESC \`
/// or C1, or the `BEL` that xterm also takes), or to the end of the text.
fn skip_string(chars: &mut Chars<'_>) {
    while let Some(c) = chars.next() {
        match c {
            '\x07' | '\u{9c}' => return,
            '\x1b' => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_control_characters_are_stripped() {
        for (raw, shown) in [
            ("plain ñandú 🙂", "plain ñandú 🙂"),
            ("\x1b[31mred\x1b[0m", "red"),
            ("\x1b[2J\x1b[1;1Hcleared", "cleared"),
            ("\x1b]0;owned title\x07after", "after"),
            ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),
            ("\x1bPq#0;2;0;0;0\x1b\\sixel", "sixel"),
            ("\x1bcreset", "reset"),
            ("\x1b(0box", "box"),
            ("\u{9b}31mc1 csi", "c1 csi"),
            ("\u{9d}0;t\u{9c}c1 osc", "c1 osc"),
            (
                "bell\x07 back\x08 cr\r del\x7f nul\0 c1\u{85}",
                "bell back cr del nul c1",
            ),
            ("tab\tkept", "tab\tkept"),
            ("two\nlines\r\nthree", "two⏎lines⏎three"),
            ("unterminated \x1b[31", "unterminated "),
            ("unterminated \x1b]0;title", "unterminated "),
        ] {
            assert_eq!(printable(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn a_cell_is_printable() {
        assert_eq!(cell(&Value::String("\x1b[31mx".into())), "x");
    }
}
