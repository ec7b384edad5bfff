//! Server-provided DPoP nonces (RFC 9449 §9): stateless, so that any
//! replica sharing the secret accepts a nonce another one issued. A nonce
//! is `base64url(slot || HMAC-SHA256(secret, slot)[..16])`, where the slot
//! is the time divided by the nonce lifetime; the current and the previous
//! slot are accepted, so a nonce lives between one and two lifetimes.

use aws_lc_rs::{constant_time, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Issues and checks nonces.
pub(crate) struct Nonces {
    key: hmac::Key,
    lifetime: i64,
}

impl Nonces {
    pub(crate) fn new(secret: &[u8], lifetime: i64) -> Self {
        Nonces {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            lifetime: lifetime.max(1),
        }
    }

    fn slot(&self, now: i64) -> i64 {
        now.div_euclid(self.lifetime)
    }

    fn mac(&self, slot: i64) -> [u8; 16] {
        let tag = hmac::sign(&self.key, &slot.to_be_bytes());
        let mut out = [0u8; 16];
        for (o, t) in out.iter_mut().zip(tag.as_ref()) {
            *o = *t;
        }
        out
    }

    /// The nonce to hand out now.
    pub(crate) fn current(&self, now: i64) -> String {
        let slot = self.slot(now);
        let mut bytes = [0u8; 24];
        for (o, i) in bytes
            .iter_mut()
            .zip(slot.to_be_bytes().iter().chain(self.mac(slot).iter()))
        {
            *o = *i;
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` was issued (by a holder of the secret) in this slot
    /// or the one before.
    pub(crate) fn accepts(&self, nonce: &str, now: i64) -> bool {
        if nonce.len() != 32 {
            return false;
        }
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let (Some(slot), Some(mac)) = (bytes.get(..8), bytes.get(8..)) else {
            return false;
        };
        let mut slot_bytes = [0u8; 8];
        for (o, i) in slot_bytes.iter_mut().zip(slot) {
            *o = *i;
        }
        let slot = i64::from_be_bytes(slot_bytes);
        let current = self.slot(now);
        (slot == current || Some(slot) == current.checked_sub(1))
            && constant_time::verify_slices_are_equal(&self.mac(slot), mac).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_lives_one_to_two_lifetimes_and_needs_the_secret() {
        let nonces = Nonces::new(b"0123456789abcdef0123456789abcdef", 300);
        let nonce = nonces.current(1200);
        assert!(nonces.accepts(&nonce, 1200));
        assert!(nonces.accepts(&nonce, 1799));
        assert!(!nonces.accepts(&nonce, 1800));
        assert!(!nonces.accepts(&nonce, 1199));
        let other = Nonces::new(b"another secret, of the same size", 300);
        assert!(!other.accepts(&nonce, 1200));
        // A replica with the same secret accepts it.
        let replica = Nonces::new(b"0123456789abcdef0123456789abcdef", 300);
        assert!(replica.accepts(&nonce, 1300));
    }

    #[test]
    fn malformed_nonces_are_refused() {
        let nonces = Nonces::new(b"secret", 300);
        let good = nonces.current(0);
        for bad in ["", "x", "é", &good[1..], &format!("{good}A")] {
            assert!(!nonces.accepts(bad, 0), "{bad}");
        }
        let mut tampered = good.clone().into_bytes();
        tampered[31] = if tampered[31] == b'A' { b'B' } else { b'A' };
        assert!(!nonces.accepts(std::str::from_utf8(&tampered).unwrap(), 0));
        assert!(!nonces.accepts(&nonces.current(i64::MIN), i64::MAX));
    }
}
