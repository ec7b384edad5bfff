//! SHA-256 of tokens: introspection answers are cached by it (the token
//! itself is never kept there), DPoP's `ath` is one. A leaf module.

#[cfg(test)]
thread_local! {
    /// SHA-256s computed on this thread, for tests that count them.
    pub(crate) static COMPUTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The SHA-256 digest of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    #[cfg(test)]
    COMPUTED.with(|n| n.set(n.get() + 1));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    for (o, i) in out.iter_mut().zip(digest.as_ref()) {
        *o = *i;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_of_abc_is_the_fips_180_2_vector() {
        let hex: String = super::sha256(b"abc")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
