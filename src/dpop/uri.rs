//! `htu` comparison (RFC 9449 §4.3 check 9): the URI of the request without
//! its query and fragment, compared after syntax- and scheme-based
//! normalisation (RFC 3986 §6.2.2, §6.2.3): scheme and host in lower case,
//! the default port dropped, an empty path as `/`, percent-encodings in
//! upper case and those of unreserved characters decoded, dot segments
//! removed.

/// The normalised form of an absolute `http` or `https` URI, without its
/// query and fragment; `None` for anything else (a relative reference,
/// another scheme, user information, a bad port or percent-encoding).
pub(crate) fn normalize(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port: u16 = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    // Query and fragment are ignored (RFC 9449 §4.3).
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = split_port(authority)?;
    if !valid_host(host) {
        return None;
    }
    let mut out = String::with_capacity(uri.len());
    out.push_str(&scheme);
    out.push_str("://");
    // Decoded first, then in lower case: `%41` is `A`, which is `a`.
    out.push_str(&decode_unreserved(host)?.to_ascii_lowercase());
    if let Some(port) = port
        && port != default_port
    {
        out.push(':');
        out.push_str(&port.to_string());
    }
    let path = decode_unreserved(path)?;
    if path.is_empty() {
        out.push('/');
    } else {
        out.push_str(&remove_dot_segments(&path));
    }
    Some(out)
}

/// Host and port of an authority (`[v6]:port` included); an empty port
/// counts as none (RFC 3986 §6.2.3).
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        // An IP literal: `[` … `]`, then nothing or `:port`.
        let end = authority.find(']')?;
        let (host, after) = authority.split_at(end.checked_add(1)?);
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            // One colon at most outside an IP literal.
            Some((_, p)) if p.contains(':') => return None,
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// A host (RFC 3986 §3.2.2): an IP literal in brackets (hex digits,
/// colons, dots), or a reg-name / IPv4 address of unreserved characters,
/// percent-encodings and sub-delims.
fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
    }
    !host.is_empty()
        && host.bytes().all(|b| {
            is_unreserved(b)
                || matches!(
                    b,
                    b'%' | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                )
        })
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodings of unreserved characters decoded, the others in upper
/// case; `None` for a `%` not followed by two hex digits or bytes that a
/// URI cannot hold (controls, spaces, non-ASCII).
fn decode_unreserved(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i.checked_add(1)?..i.checked_add(3)?)?;
            let text = std::str::from_utf8(hex).ok()?;
            let value = u8::from_str_radix(text, 16).ok()?;
            if is_unreserved(value) {
                out.push(char::from(value));
            } else {
                out.push('%');
                out.push_str(&text.to_ascii_uppercase());
            }
            i = i.checked_add(3)?;
        } else if b.is_ascii_graphic() {
            out.push(char::from(b));
            i = i.checked_add(1)?;
        } else {
            return None;
        }
    }
    Some(out)
}

/// RFC 3986 §5.2.4, on a path that starts with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = path.split('/').skip(1).peekable();
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        match part {
            "." => {
                if last {
                    segments.push("");
                }
            }
            ".." => {
                segments.pop();
                if last {
                    segments.push("");
                }
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn equivalent_uris_normalise_alike() {
        let n = |s: &str| normalize(s).unwrap();
        let base = n("https://api.example.com/orders/1");
        for same in [
            "HTTPS://API.Example.COM/orders/1",
            "https://api.example.com:443/orders/1",
            "https://api.example.com:/orders/1",
            "https://api.example.com/orders/1?x=1",
            "https://api.example.com/orders/1#frag",
            "https://api.example.com/%6Frders/1",
            "https://api.example.com/orders/./1",
            "https://api.example.com/a/../orders/1",
        ] {
            assert_eq!(n(same), base, "{same}");
        }
        assert_eq!(n("http://h"), "http://h/");
        assert_eq!(n("http://h:80"), "http://h/");
        assert_eq!(n("http://h:8080/x"), "http://h:8080/x");
        assert_eq!(n("http://h:08080/x"), "http://h:8080/x");
        assert_eq!(n("http://h/a%2fb"), "http://h/a%2Fb");
        assert_eq!(n("http://[::1]:80/x"), "http://[::1]/x");
        assert_eq!(
            n("https://%41pi.Example.com/x"),
            "https://api.example.com/x"
        );
    }

    #[test]
    fn different_uris_stay_different() {
        let n = |s: &str| normalize(s).unwrap();
        assert_ne!(n("https://h/x"), n("http://h/x"));
        assert_ne!(n("https://h/x"), n("https://h:8443/x"));
        assert_ne!(n("https://h/x"), n("https://h/X"));
        assert_ne!(n("https://h/x"), n("https://h/x/"));
        assert_ne!(n("https://h/a%2Fb"), n("https://h/a/b"));
    }

    #[test]
    fn what_is_not_an_absolute_http_uri_is_refused() {
        for bad in [
            "/orders",
            "ftp://h/x",
            "https://",
            "https://user@h/x",
            "https://h:99999/x",
            "https://h:port/x",
            "https://h/%zz",
            "https://h/%4",
            "https://h/a b",
            "https://h/é",
            "https://[::1/x",
            "https://h:8443:443/x",
            "https://[zz]/x",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }
}
