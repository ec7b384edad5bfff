//! JWKS parsing: any document gives a key set (with refusals) or an error,
//! never a panic; the key-count limit holds.
#![no_main]

use bearer_guard::keys::KeySet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = KeySet::from_jwks_with_limit(data, 100) {
        assert!(set.len() + set.rejected().len() <= 100);
        for key in set.iter() {
            assert!(!key.algorithms().is_empty());
        }
    }
});
