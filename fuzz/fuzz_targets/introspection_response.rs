//! RFC 7662 response parsing: any body is read as an active token (through
//! the claim checks), an inactive or refused one, or an invalid response —
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bearer_guard::fuzz_introspection_response(data);
});
