//! PEM (RFC 7468): the first `-----BEGIN label-----` … `-----END label-----`
//! block of a text, its base64 body decoded strictly; and the encoding.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The longest label accepted (`ENCRYPTED PRIVATE KEY` is 21).
const MAX_LABEL: usize = 64;

/// A decoded PEM block.
#[derive(Debug)]
pub(crate) struct Pem {
    pub(crate) label: String,
    pub(crate) der: Vec<u8>,
}

/// The first PEM block of `input` (text before it is ignored, RFC 7468 §5.2);
/// `None` unless it is complete, its END label matches and its body is
/// non-empty standard base64 (whitespace aside).
pub(crate) fn parse(input: &[u8]) -> Option<Pem> {
    let text = std::str::from_utf8(input).ok()?;
    let start = text.find("-----BEGIN ")?;
    let rest = text.get(start..)?.strip_prefix("-----BEGIN ")?;
    let (label, rest) = rest.split_once("-----")?;
    if label.len() > MAX_LABEL || label.chars().any(|c| c.is_control()) {
        return None;
    }
    let (body, _) = rest.split_once(&format!("-----END {label}-----"))?;
    let b64: String = body.split_ascii_whitespace().collect();
    let der = STANDARD.decode(b64).ok()?;
    if der.is_empty() {
        return None;
    }
    Some(Pem {
        label: label.to_owned(),
        der,
    })
}

/// `der` as a PEM block labelled `label`, 64 characters a line.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at_checked(64).unwrap_or((rest, ""));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_text_around_the_block() {
        let der: Vec<u8> = (0..=255).collect();
        let text = format!(
            "a comment\r\n{}trailing",
            encode("PUBLIC KEY", &der).replace('\n', "\r\n")
        );
        let pem = parse(text.as_bytes()).unwrap();
        assert_eq!(pem.label, "PUBLIC KEY");
        assert_eq!(pem.der, der);
        assert!(encode("X", &der).lines().all(|l| l.len() <= 64));
    }

    #[test]
    fn refuses_broken_blocks() {
        for bad in [
            "",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\n\n-----END PUBLIC KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\nA*AA\n-----END PUBLIC KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\nAAA\n-----END PUBLIC KEY-----\n",
        ] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        assert!(parse(&[0xff, 0xfe]).is_none());
    }
}
