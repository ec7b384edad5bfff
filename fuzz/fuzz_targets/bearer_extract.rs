//! Bearer extraction: any bytes as an `Authorization` header value (and as
//! a URI query) must give a token, "no token" or a request error — never a
//! panic — and an extracted token must be a valid b64token.
#![no_main]

use bearer_guard::extract::{bearer_token, is_b64token, query_token};
use http::{HeaderMap, HeaderValue, Uri, header::AUTHORIZATION};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.clone());
        if let Ok(Some(token)) = bearer_token(&headers) {
            assert!(is_b64token(token));
        }
        headers.append(AUTHORIZATION, value);
        assert!(bearer_token(&headers).is_err());
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(uri) = format!("/p?{text}").parse::<Uri>()
        && let Ok(Some(token)) = query_token(&uri)
    {
        assert!(is_b64token(&token));
    }
});
