//! The token as the user gives it: an argument, or standard input for `-`,
//! possibly pasted with its `Bearer ` scheme or a whole header line.

use std::io::Read;

/// Largest input read from standard input.
const MAX_INPUT: u64 = 1024 * 1024;

/// The token text: the argument, or standard input (at most [`MAX_INPUT`]
/// bytes of UTF-8) for `-`.
pub fn read_token(arg: &str) -> Result<String, String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut bytes = Vec::new();
    // One byte more than the limit, to tell a long input from one that fits.
    std::io::stdin()
        .lock()
        .take(MAX_INPUT.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > MAX_INPUT) {
        return Err(format!(
            "standard input is longer than {MAX_INPUT} bytes: not an access token"
        ));
    }
    String::from_utf8(bytes).map_err(|_| "standard input is not UTF-8 text".to_owned())
}

/// `s` without a case-insensitive ASCII `prefix`.
pub fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// The bare token: trimmed, without an `Authorization:` header name and
/// without the `Bearer` / `DPoP` scheme.
pub fn clean_token(raw: &str) -> &str {
    let mut token = raw.trim();
    if let Some(rest) = strip_prefix_ci(token, "authorization:") {
        token = rest.trim_start();
    }
    for scheme in ["bearer ", "dpop "] {
        if let Some(rest) = strip_prefix_ci(token, scheme) {
            token = rest.trim_start();
            break;
        }
    }
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_and_header_name_are_removed() {
        assert_eq!(clean_token("  Bearer abc \n"), "abc");
        assert_eq!(clean_token("dpop abc"), "abc");
        assert_eq!(clean_token("Authorization: Bearer abc"), "abc");
        assert_eq!(clean_token("abc"), "abc");
        assert_eq!(clean_token("Bé"), "Bé");
    }
}
