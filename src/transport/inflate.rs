//! gzip bodies inflated whole with libdeflate, into a caller's (pooled) buffer.
//!
//! A page body is read compressed in full first, then inflated in one call: libdeflate's
//! whole-buffer decoder is much faster than a streaming one (no window copies, no buffer
//! refills), and the output is sized from the gzip trailer (ISIZE), so a page is written once
//! into one allocation. ISIZE is only a hint (a sender can lie, and it is the size mod 2^32):
//! the first reservation is capped, and a too-small buffer is grown and the member re-inflated.

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE as INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS as SUCCESS,
};

/// Deflate expands at most 1032:1; an ISIZE beyond that for the whole input is a lie.
const MAX_RATIO: usize = 1032;
/// The largest first reservation from a hint; beyond it the buffer grows as the data proves.
const MAX_FIRST_RESERVE: usize = 64 * 1024 * 1024;

struct Decompressor(*mut libdeflate_decompressor);

impl Decompressor {
    fn new() -> Result<Decompressor, String> {
        // SAFETY: no preconditions; a null return (out of memory) is checked.
        let d = unsafe { libdeflate_alloc_decompressor() };
        if d.is_null() {
            return Err("out of memory allocating the gzip decoder".into());
        }
        Ok(Decompressor(d))
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor, freed once.
        unsafe { libdeflate_free_decompressor(self.0) }
    }
}

/// The uncompressed size announced by the last gzip member's trailer, if the input is long
/// enough to have one.
pub fn isize_hint(gz: &[u8]) -> Option<usize> {
    let t: [u8; 4] = gz.get(gz.len().checked_sub(4)?..)?.try_into().ok()?;
    Some(u32::from_le_bytes(t) as usize)
}

/// Inflates the gzip stream `gz` (one member or several concatenated, as RFC 1952 allows; bytes
/// after a member that do not start another are ignored, as streaming decoders do) into `out`,
/// replacing its contents. Fails on corrupt data, or output beyond `limit` bytes.
pub fn gunzip_into(gz: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), String> {
    out.clear();
    if gz.is_empty() {
        return Ok(());
    }
    let first = isize_hint(gz)
        .unwrap_or(0)
        .min(gz.len().saturating_mul(MAX_RATIO))
        .min(MAX_FIRST_RESERVE)
        .min(limit)
        .max(gz.len().min(limit));
    out.reserve(first);
    let d = Decompressor::new()?;
    let mut pos = 0;
    while pos < gz.len() {
        if pos > 0 && !gz[pos..].starts_with(&[0x1f, 0x8b]) {
            break;
        }
        let input = &gz[pos..];
        loop {
            let (mut used_in, mut used_out) = (0usize, 0usize);
            let spare = out.capacity() - out.len();
            // SAFETY: `input` is valid for reads of its length; the output pointer is the spare
            // capacity of `out`, valid for writes of `spare` bytes (libdeflate only writes
            // there, never reads uninitialised bytes); both counts are written by the call.
            let r = unsafe {
                libdeflate_gzip_decompress_ex(
                    d.0,
                    input.as_ptr().cast(),
                    input.len(),
                    out.as_mut_ptr().add(out.len()).cast(),
                    spare,
                    &mut used_in,
                    &mut used_out,
                )
            };
            if r == SUCCESS {
                // SAFETY: libdeflate wrote `used_out` bytes into the spare capacity.
                unsafe { out.set_len(out.len() + used_out) };
                pos += used_in.max(1);
                break;
            }
            if r != INSUFFICIENT_SPACE {
                return Err(format!("the gzip body is corrupt (at compressed byte {pos} of {})", gz.len()));
            }
            if out.capacity() >= limit {
                return Err(format!("the gzip body inflates to more than {limit} bytes"));
            }
            let grown = out.capacity().saturating_mul(2).max(64 * 1024).min(limit);
            out.reserve(grown - out.len());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn sample(n: usize) -> Vec<u8> {
        let line = b"{\"id\":\"abc\",\"action\":\"user_login\"}\n";
        (0..n).map(|i| line[i % line.len()] ^ (i / 977) as u8).collect()
    }

    #[test]
    fn round_trips_and_replaces_contents() {
        let data = sample(300_000);
        let mut out = b"old".to_vec();
        gunzip_into(&gzip(&data), &mut out, 1 << 30).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn lying_trailer_is_corrupt_data() {
        let data = sample(500_000);
        let mut gz = gzip(&data);
        // ISIZE claims 10 bytes; the CRC still covers the real data, so only the size lies.
        let n = gz.len();
        gz[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        let mut out = Vec::new();
        // libdeflate checks ISIZE too: a lying trailer is corrupt data, never a short buffer.
        let r = gunzip_into(&gz, &mut out, 1 << 30);
        assert!(r.is_err(), "a wrong ISIZE is reported as corrupt: {r:?}");
    }

    #[test]
    fn huge_trailer_claim_does_not_reserve_it() {
        let data = sample(1000);
        let mut gz = gzip(&data);
        let n = gz.len();
        gz[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut out = Vec::new();
        assert!(gunzip_into(&gz, &mut out, 1 << 30).is_err());
        assert!(out.capacity() <= gz.len() * MAX_RATIO, "reserved {} for {} bytes", out.capacity(), gz.len());
    }

    #[test]
    fn small_buffer_grows_for_concatenated_members() {
        // The hint is the last member's size only: the first member needs the buffer to grow.
        let (a, b) = (sample(400_000), sample(100));
        let mut gz = gzip(&a);
        gz.extend_from_slice(&gzip(&b));
        let mut out = Vec::new();
        gunzip_into(&gz, &mut out, 1 << 30).unwrap();
        assert_eq!(out.len(), a.len() + b.len());
        assert_eq!(&out[..a.len()], &a[..]);
        assert_eq!(&out[a.len()..], &b[..]);
    }

    #[test]
    fn trailing_garbage_after_a_member_is_ignored() {
        let data = sample(1000);
        let mut gz = gzip(&data);
        gz.extend_from_slice(b"\0\0\0\0\0\0\0\0");
        let mut out = Vec::new();
        gunzip_into(&gz, &mut out, 1 << 30).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn limit_and_corruption_are_errors() {
        let data = sample(200_000);
        let gz = gzip(&data);
        let mut out = Vec::new();
        let e = gunzip_into(&gz, &mut out, 100_000).unwrap_err();
        assert!(e.contains("more than 100000 bytes"), "{e}");
        let mut bad = gz.clone();
        bad[20] ^= 0xff;
        bad[21] ^= 0x55;
        assert!(gunzip_into(&bad, &mut out, 1 << 30).unwrap_err().contains("corrupt"));
        assert!(gunzip_into(b"not gzip at all", &mut out, 1 << 30).is_err());
    }
}
