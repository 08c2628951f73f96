//! A stable 64-bit hash (FNV-1a) for file names and row ids: std's hasher is not stable across
//! releases, and these values are stored in state files. Pure.

/// FNV-1a of `s`'s bytes.
pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        // The reference values of FNV-1a 64: the hash must never change (it names state files).
        assert_eq!(super::fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
