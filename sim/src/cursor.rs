//! Audit cursors: standard base64 of a position, never of the query.
//!
//! Layout (25 bytes, so the base64 form always ends in `==`):
//! `salt, version, instance_lo, FB FF BF, date (i64 BE), idx (u32 BE), serial (u32 BE),
//! instance_hi, check (u16 BE)`. The three marker bytes encode as `+/+/`, so every cursor
//! carries the characters a client must percent-encode; the salt varies the rest, and the
//! payload (date .. instance_hi) is masked with a keystream derived from seed and salt so that
//! cursors look opaque, as Slack's do.

use crate::data::h3;

const VERSION: u8 = 1;
const MARKER: [u8; 3] = [0xFB, 0xFF, 0xBF];
const LEN: usize = 25;

/// What a cursor carries: where the next page starts, plus the id of its issue record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub date: i64,
    pub idx: u32,
    pub serial: u32,
    pub instance: u16,
}

fn check(seed: u64, bytes: &[u8]) -> u16 {
    let mut acc = 0u64;
    for (i, &b) in bytes.iter().enumerate() {
        acc = h3(seed, acc ^ b as u64, i as u64);
    }
    acc as u16
}

/// XORs the payload bytes 6..23 with a keystream of (seed, salt); its own inverse.
fn mask(seed: u64, b: &mut [u8; LEN]) {
    let k1 = h3(seed, u64::from(b[0]), 0xC0);
    let k2 = h3(seed, u64::from(b[0]), 0xC1);
    let key: Vec<u8> = k1.to_le_bytes().into_iter().chain(k2.to_le_bytes()).chain([k1 as u8 ^ 0x5A]).collect();
    for (byte, k) in b[6..23].iter_mut().zip(key) {
        *byte ^= k;
    }
}

pub(crate) fn encode(seed: u64, d: Decoded, salt: u8) -> String {
    let mut b = [0u8; LEN];
    b[0] = salt;
    b[1] = VERSION;
    b[2] = d.instance as u8;
    b[3..6].copy_from_slice(&MARKER);
    b[6..14].copy_from_slice(&d.date.to_be_bytes());
    b[14..18].copy_from_slice(&d.idx.to_be_bytes());
    b[18..22].copy_from_slice(&d.serial.to_be_bytes());
    b[22] = (d.instance >> 8) as u8;
    mask(seed, &mut b);
    let c = check(seed, &b[..23]);
    b[23..25].copy_from_slice(&c.to_be_bytes());
    base64_encode(&b)
}

pub(crate) fn decode(seed: u64, s: &str) -> Option<Decoded> {
    let mut b: [u8; LEN] = base64_decode(s)?.try_into().ok()?;
    if b[1] != VERSION || b[3..6] != MARKER {
        return None;
    }
    if check(seed, &b[..23]).to_be_bytes() != b[23..25] {
        return None;
    }
    mask(seed, &mut b);
    Some(Decoded {
        date: i64::from_be_bytes(b[6..14].try_into().ok()?),
        idx: u32::from_be_bytes(b[14..18].try_into().ok()?),
        serial: u32::from_be_bytes(b[18..22].try_into().ok()?),
        instance: u16::from(b[2]) | (u16::from(b[22]) << 8),
    })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Strict standard base64 with padding; anything else (spaces, URL-safe alphabet) is `None`.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.is_empty() || s.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (ci, chunk) in s.chunks(4).enumerate() {
        let last = ci == s.len() / 4 - 1;
        let mut n = 0u32;
        let mut pad = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' if last && i >= 2 => {
                    pad += 1;
                    0
                }
                _ => return None,
            };
            if pad > 0 && c != b'=' {
                return None;
            }
            n = (n << 6) | u32::from(v);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_shape() {
        for salt in 0..=255u8 {
            let d = Decoded {
                date: 1_700_000_000 + salt as i64,
                idx: 12345 * salt as u32,
                serial: salt as u32,
                instance: 0xBEEF,
            };
            let s = encode(9, d, salt);
            assert!(s.contains('+') && s.contains('/') && s.ends_with("=="), "{s}");
            assert_eq!(decode(9, &s), Some(d));
            assert_eq!(decode(10, &s), None, "another seed's cursor");
            assert_eq!(decode(9, &s.replace('+', " ")), None);
        }
        assert_eq!(base64_decode("aGk="), Some(b"hi".to_vec()));
        assert_eq!(base64_encode(b"hi"), "aGk=");
    }
}
