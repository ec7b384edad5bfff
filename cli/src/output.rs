//! Everything the command prints goes through here: nothing from a token
//! reaches the terminal raw.
//!
//! Every line is escaped on its way in (control characters, C0, DEL and
//! C1, line breaks included, and bidi controls, as `\u001b`): whatever the
//! token holds, and whichever code path prints it, it cannot move the
//! cursor, retitle the window or reorder a line. Text already escaped (by
//! [`quote`]) holds none of these and is unchanged.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

use bearer_guard::keys::{Algorithm, AlgorithmSet};
use serde_json::Value;

/// Standard output, buffered and written once: a closed pipe (`| head`) is
/// not a reason to panic, as `println!` would.
#[derive(Default)]
pub struct Out(String);

impl Out {
    /// One line.
    pub fn line(&mut self, text: impl fmt::Display) {
        escape_into(&mut self.0, &text.to_string());
        self.0.push('\n');
    }

    /// Several lines: `text`'s own line breaks (`\n`) kept, each line
    /// escaped as by [`Out::line`].
    pub fn lines(&mut self, text: &str) {
        for line in text.split('\n') {
            self.line(line);
        }
    }

    pub fn blank(&mut self) {
        self.0.push('\n');
    }

    pub fn print(&self) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(self.0.as_bytes());
        let _ = stdout.flush();
    }
}

/// One line on standard error; write failures are ignored.
pub fn complain(text: impl fmt::Display) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "bearer-guard: {}", one_line(&text.to_string()));
}

/// A usage error: one line on standard error, exit status 2.
pub fn usage_error(text: impl fmt::Display) -> ExitCode {
    complain(format_args!("{text} (see bearer-guard --help)"));
    ExitCode::from(2)
}

/// The bidirectional formatting characters (they reorder what follows on
/// the line), and the Unicode line and paragraph separators.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Whether `c` must not reach the terminal as it is: a control character
/// (C0, DEL, C1) or a bidi control.
fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// Appends `c` as `\uXXXX`.
fn push_escape(out: &mut String, c: char) {
    use fmt::Write as _;
    let _ = write!(out, "\\u{:04x}", u32::from(c));
}

/// Appends `s` with its unsafe characters escaped.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        if is_unsafe(c) {
            push_escape(out, c);
        } else {
            out.push(c);
        }
    }
}

/// A string from the token, quoted, with control and bidi characters
/// escaped (a claim cannot move the cursor or reorder the line).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_unsafe(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text that must stay on one line (control characters escaped).
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// A member name from the token: as it is when it is plain ASCII (`alg`,
/// `x5t#S256`), else quoted, so that an odd name cannot pass for another.
pub fn name_text(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | ':'));
    if plain { name.to_owned() } else { quote(name) }
}

/// A header's `alg` in running text: the algorithm's name when it is one,
/// else the token's value quoted.
pub fn alg_text(alg: Option<&str>) -> String {
    match alg {
        None => "no alg".to_owned(),
        Some(alg) => match alg.parse::<Algorithm>() {
            Ok(a) => a.as_str().to_owned(),
            Err(_) => quote(alg),
        },
    }
}

/// A claim value on one line: strings quoted, anything else as JSON.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        other => one_line(&other.to_string()),
    }
}

/// `"a", "b"`, or `none`.
pub fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let list: Vec<String> = items.into_iter().map(quote).collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// `RS256, ES256`.
pub fn algorithm_list(set: AlgorithmSet) -> String {
    let names: Vec<&str> = set.iter().map(Algorithm::as_str).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_output_line_is_escaped() {
        let mut out = Out::default();
        out.line("a\u{1b}]0;t\u{7}\u{9b}\u{7f}\r\nb\u{202e}\u{2066}\u{200f}\u{61c}c");
        out.lines("{\n  \"k\u{85}\": 1\n}");
        assert_eq!(
            out.0,
            "a\\u001b]0;t\\u0007\\u009b\\u007f\\u000d\\u000ab\\u202e\\u2066\\u200f\\u061cc\n\
             {\n  \"k\\u0085\": 1\n}\n"
        );
        // Text already quoted is unchanged.
        let mut out = Out::default();
        out.line(quote("\u{1b}"));
        assert_eq!(out.0, "\"\\u001b\"\n");
    }

    #[test]
    fn odd_member_names_are_quoted() {
        assert_eq!(name_text("x5t#S256"), "x5t#S256");
        assert_eq!(name_text(""), "\"\"");
        assert_eq!(name_text("a b"), "\"a b\"");
        assert_eq!(name_text("alg: RS256"), "\"alg: RS256\"");
        assert_eq!(name_text("\u{1b}[2J"), "\"\\u001b[2J\"");
        assert_eq!(alg_text(Some("ES256")), "ES256");
        assert_eq!(alg_text(Some("\u{7}")), "\"\\u0007\"");
        assert_eq!(alg_text(None), "no alg");
    }

    #[test]
    fn quoting_escapes_controls() {
        assert_eq!(
            quote("a\"b\n\u{1b}[2J\u{202e}"),
            "\"a\\\"b\\u000a\\u001b[2J\\u202e\""
        );
    }
}
