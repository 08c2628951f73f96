//! Output encoders: NDJSON lines and Fluent Bit msgpack records.
//!
//! Both work on the exact bytes of one entry as Slack sent it (a `RawValue` borrowed from the
//! page), so an entry is never turned into a `serde_json::Value` tree on the way out.
//!
//! - [`ndjson_line`] copies the entry and a `'\n'`; only an entry that holds a raw line break
//!   (pretty-printed JSON) is compacted first, so that one entry is always one line.
//! - [`json_to_msgpack`] transcodes JSON to msgpack in one pass. Element counts are not known
//!   until a container closes, so each container gets a one-byte header (fixmap/fixarray) that
//!   is patched on close; a container with more than 15 elements widens its header in place
//!   (one shift of its contents). Strings without escapes are validated and copied with one
//!   memcpy. Nesting is tracked on an explicit stack, limited to [`MAX_DEPTH`].
//! - [`fluent_bit_record`] wraps a body in Fluent Bit's event shape with an EventTime (ext 0).
//!
//! Every encoding written is the smallest msgpack allows (fixint..int64, fixstr..str32,
//! fixmap/fixarray..32-bit), except that every non-integer number is a float64.

use crate::transport::jsonscan::{self, ws as skip_ws, Escape, ScanError};
use std::fmt;

/// Deepest nesting of arrays and objects accepted: 128 levels are fine, the 129th is an error.
/// (serde_json's own limit rejects the 128th level, so everything it accepts is accepted here.)
pub(crate) const MAX_DEPTH: usize = 128;

/// Error for input that is not one valid JSON value (with byte offset and what was expected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// Byte offset in the input where the problem was found (the input length for a truncation).
    pub offset: usize,
    /// What was wrong or what was expected there.
    pub message: String,
}

impl EncodeError {
    fn new(offset: usize, message: &str) -> Self {
        EncodeError { offset, message: message.to_owned() }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for EncodeError {}

// ---------------------------------------------------------------------------------------------
// NDJSON

/// Appends `entry` (the exact bytes of one JSON value as Slack sent it) plus '\n'. Copies the
/// bytes unchanged when they hold no raw '\n' or '\r' (the common case, checked quickly);
/// otherwise writes a compacted copy (whitespace outside strings removed; strings untouched), so
/// that one entry is always exactly one line.
///
/// The input is not validated (it was parsed when the page was read). Should a string hold a raw
/// line break anyway (invalid JSON), it is written as the escape `\n` or `\r`, so the promise of
/// one line per entry holds for any input.
pub fn ndjson_line(out: &mut Vec<u8>, entry: &[u8]) {
    if has_line_break(entry) {
        compact_into(out, entry);
    } else {
        out.extend_from_slice(entry);
    }
    out.push(b'\n');
}

/// Appends `entry` and '\n', for an entry known to hold no raw line break (one of a checked
/// page whose scan saw none: [`crate::jsonscan::Body::may_hold_line_breaks`]).
#[inline]
pub fn ndjson_line_as_is(out: &mut Vec<u8>, entry: &[u8]) {
    out.reserve(entry.len() + 1);
    out.extend_from_slice(entry);
    out.push(b'\n');
}

/// Whether `bytes` holds a '\n' or '\r'. Works on 32-byte blocks without early exit inside a
/// block, which the compiler turns into vector compares.
fn has_line_break(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        let hits = block.iter().fold(0u8, |acc, &c| acc | u8::from(c == b'\n') | u8::from(c == b'\r'));
        if hits != 0 {
            return true;
        }
    }
    blocks.remainder().iter().any(|&c| c == b'\n' || c == b'\r')
}

/// Copies `json` without the whitespace outside strings. Strings are found with the scanner's
/// locating search (their bytes are copied as they are, a raw line break escaped); one that
/// does not end runs to the end of the input.
fn compact_into(out: &mut Vec<u8>, json: &[u8]) {
    out.reserve(json.len());
    let mut p = 0;
    while let Some(&c) = json.get(p) {
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => p += 1,
            b'"' => {
                let end = jsonscan::string_end(json, p).map_or(json.len(), |(q, _)| q + 1);
                for &c in &json[p..end] {
                    match c {
                        b'\n' => out.extend_from_slice(b"\\n"),
                        b'\r' => out.extend_from_slice(b"\\r"),
                        _ => out.push(c),
                    }
                }
                p = end;
            }
            _ => {
                out.push(c);
                p += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fluent Bit records

/// Appends one Fluent Bit record: `[[EventTime, {metadata}], {body}]` when `metadata` is
/// non-empty, else `[EventTime, {body}]`. EventTime is msgpack fixext8 with ext type 0 (bytes
/// d7 00, then seconds and nanoseconds as big-endian u32), never the standard timestamp ext type
/// -1. `body_json` must be a JSON object; on error nothing is appended (`out` is truncated back).
pub fn fluent_bit_record(
    out: &mut Vec<u8>,
    secs: u32,
    nanos: u32,
    metadata: &[(&str, &str)],
    body_json: &[u8],
) -> Result<(), EncodeError> {
    let start = skip_ws(body_json, 0);
    if body_json.get(start) != Some(&b'{') {
        return Err(EncodeError::new(start, "expected a JSON object as the record body"));
    }
    let len_before = out.len();
    out.reserve(body_json.len() + 16);
    out.push(0x92);
    if metadata.is_empty() {
        write_event_time(out, secs, nanos);
    } else {
        out.push(0x92);
        write_event_time(out, secs, nanos);
        write_container_header(out, metadata.len(), MAP_HEADERS);
        for (key, value) in metadata {
            write_str(out, key.as_bytes());
            write_str(out, value.as_bytes());
        }
    }
    transcode(out, body_json).inspect_err(|_| out.truncate(len_before))
}

fn write_event_time(out: &mut Vec<u8>, secs: u32, nanos: u32) {
    out.extend_from_slice(&[0xd7, 0x00]);
    out.extend_from_slice(&secs.to_be_bytes());
    out.extend_from_slice(&nanos.to_be_bytes());
}

// ---------------------------------------------------------------------------------------------
// JSON → msgpack

/// Appends the msgpack encoding of one JSON value, transcoded in ONE pass straight from the JSON
/// bytes, without building a serde_json::Value tree.
///
/// Accepts exactly one RFC 8259 value with optional surrounding whitespace. Integers that fit
/// i64 or u64 get the smallest int encoding; other numbers (fraction, exponent, too big, and
/// `-0`, as serde_json does) become float64 via `str::parse::<f64>`; a number beyond f64's range
/// is an error, as in serde_json. An unpaired surrogate escape becomes U+FFFD. Invalid UTF-8, a
/// raw control character in a string, nesting deeper than [`MAX_DEPTH`] and trailing characters
/// are errors. On error nothing is appended. (The shipped paths encode whole records with
/// [`fluent_bit_record`]; this is the same transcoder, for tests.)
#[cfg(any(test, feature = "internals"))]
pub fn json_to_msgpack(out: &mut Vec<u8>, json: &[u8]) -> Result<(), EncodeError> {
    let len_before = out.len();
    out.reserve(json.len() + 8);
    transcode(out, json).inspect_err(|_| out.truncate(len_before))
}

/// Header bytes of one container family: (fix base, 16-bit marker, 32-bit marker).
type Headers = (u8, u8, u8);
const MAP_HEADERS: Headers = (0x80, 0xde, 0xdf);
const ARRAY_HEADERS: Headers = (0x90, 0xdc, 0xdd);

/// An open container: where its one-byte header placeholder sits in `out`, elements so far.
struct Frame {
    header: usize,
    count: usize,
    is_map: bool,
}

fn transcode(out: &mut Vec<u8>, json: &[u8]) -> Result<(), EncodeError> {
    let mut p = Parser { b: json, i: 0 };
    let mut stack: Vec<Frame> = Vec::new();
    'value: loop {
        p.i = skip_ws(json, p.i);
        match p.peek() {
            Some(open @ (b'{' | b'[')) => {
                if stack.len() == MAX_DEPTH {
                    return Err(p.error("nesting deeper than 128 levels"));
                }
                p.i += 1;
                let is_map = open == b'{';
                stack.push(Frame { header: out.len(), count: 0, is_map });
                out.push(0);
                p.i = skip_ws(json, p.i);
                let close = if is_map { b'}' } else { b']' };
                if p.peek() == Some(close) {
                    p.i += 1;
                    stack.pop();
                    *out.last_mut().expect("header just pushed") = if is_map { 0x80 } else { 0x90 };
                } else {
                    if is_map {
                        p.key(out)?;
                    }
                    continue 'value;
                }
            }
            Some(b'"') => {
                p.i += 1;
                p.string(out)?;
            }
            Some(b'-' | b'0'..=b'9') => p.number(out)?,
            Some(b't') => p.literal(out, b"true", 0xc3)?,
            Some(b'f') => p.literal(out, b"false", 0xc2)?,
            Some(b'n') => p.literal(out, b"null", 0xc0)?,
            Some(_) => return Err(p.error("expected a JSON value")),
            None => return Err(p.error("unexpected end of input, expected a JSON value")),
        }
        // A value is complete: continue its container, or close containers until one continues.
        loop {
            let Some(top) = stack.last_mut() else {
                p.i = skip_ws(json, p.i);
                if p.i != json.len() {
                    return Err(p.error("trailing characters after the JSON value"));
                }
                return Ok(());
            };
            top.count += 1;
            let is_map = top.is_map;
            p.i = skip_ws(json, p.i);
            match p.peek() {
                Some(b',') => {
                    p.i += 1;
                    if is_map {
                        p.i = skip_ws(json, p.i);
                        p.key(out)?;
                    }
                    continue 'value;
                }
                Some(b'}') if is_map => {}
                Some(b']') if !is_map => {}
                _ if is_map => return Err(p.error("expected ',' or '}' in object")),
                _ => return Err(p.error("expected ',' or ']' in array")),
            }
            p.i += 1;
            let frame = stack.pop().expect("stack checked non-empty");
            let headers = if frame.is_map { MAP_HEADERS } else { ARRAY_HEADERS };
            if frame.count > u32::MAX as usize {
                return Err(p.error("container with more than 2^32-1 elements"));
            }
            patch_container_header(out, frame.header, frame.count, headers);
        }
    }
}

/// Writes the final header over the one-byte placeholder at `at`, widening it if needed.
fn patch_container_header(out: &mut Vec<u8>, at: usize, count: usize, (fix, m16, m32): Headers) {
    if count < 16 {
        out[at] = fix | count as u8;
        return;
    }
    let mut header = [0u8; 5];
    let len = if count <= 0xffff {
        header[0] = m16;
        header[1..3].copy_from_slice(&(count as u16).to_be_bytes());
        3
    } else {
        header[0] = m32;
        header[1..5].copy_from_slice(&(count as u32).to_be_bytes());
        5
    };
    let end = out.len();
    out.resize(end + len - 1, 0);
    out.copy_within(at + 1..end, at + len);
    out[at..at + len].copy_from_slice(&header[..len]);
}

fn write_container_header(out: &mut Vec<u8>, count: usize, headers: Headers) {
    out.push(0);
    let at = out.len() - 1;
    patch_container_header(out, at, count, headers);
}

/// The smallest msgpack str header for `len` bytes, and how many of its bytes are used.
#[inline]
fn str_header(len: usize) -> ([u8; 5], usize) {
    let mut h = [0u8; 5];
    if len < 32 {
        h[0] = 0xa0 | len as u8;
        (h, 1)
    } else if len <= 0xff {
        h[0] = 0xd9;
        h[1] = len as u8;
        (h, 2)
    } else if len <= 0xffff {
        h[0] = 0xda;
        h[1..3].copy_from_slice(&(len as u16).to_be_bytes());
        (h, 3)
    } else {
        h[0] = 0xdb;
        h[1..5].copy_from_slice(&(len as u32).to_be_bytes());
        (h, 5)
    }
}

/// Writes a msgpack str. Callers guarantee `s.len() <= u32::MAX` (checked for JSON strings;
/// metadata is short by construction).
#[inline]
fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    let (h, n) = str_header(s.len());
    out.extend_from_slice(&h[..n]);
    out.extend_from_slice(s);
}

fn write_uint(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(v as u8);
    } else if v <= 0xff {
        out.extend_from_slice(&[0xcc, v as u8]);
    } else if v <= 0xffff {
        out.push(0xcd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= 0xffff_ffff {
        out.push(0xce);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Writes a negative integer (`v < 0`).
fn write_negative(out: &mut Vec<u8>, v: i64) {
    if v >= -32 {
        out.push(v as u8);
    } else if v >= i8::MIN as i64 {
        out.extend_from_slice(&[0xd0, v as u8]);
    } else if v >= i16::MIN as i64 {
        out.push(0xd1);
        out.extend_from_slice(&(v as i16).to_be_bytes());
    } else if v >= i32::MIN as i64 {
        out.push(0xd2);
        out.extend_from_slice(&(v as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn write_f64(out: &mut Vec<u8>, v: f64) {
    out.push(0xcb);
    out.extend_from_slice(&v.to_be_bytes());
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn error(&self, message: &str) -> EncodeError {
        EncodeError::new(self.i, message)
    }

    /// An error of the scanner's, at its offset.
    fn at(e: ScanError, message: &str) -> EncodeError {
        EncodeError::new(e.0, message)
    }

    /// The end of the string text that starts at the current position (up to a `"`, `\` or
    /// control), its UTF-8 checked by the scanner.
    #[inline(always)]
    fn run(&self) -> Result<usize, EncodeError> {
        jsonscan::string_run(self.b, self.i).map_err(|e| Self::at(e, "invalid UTF-8 in string"))
    }

    /// Parses `"key":` at the current position (whitespace before the key already skipped).
    fn key(&mut self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a string key in object"));
        }
        self.i += 1;
        self.string(out)?;
        self.i = skip_ws(self.b, self.i);
        if self.peek() != Some(b':') {
            return Err(self.error("expected ':' after object key"));
        }
        self.i += 1;
        Ok(())
    }

    fn literal(&mut self, out: &mut Vec<u8>, word: &[u8], code: u8) -> Result<(), EncodeError> {
        self.i = jsonscan::literal(self.b, self.i, word).ok_or_else(|| self.error("expected a JSON value"))?;
        out.push(code);
        Ok(())
    }

    /// Parses a string whose opening quote was consumed; writes it as a msgpack str.
    fn string(&mut self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = self.i;
        let end = self.run()?;
        if self.b.get(end) == Some(&b'"') {
            if end - start > u32::MAX as usize {
                return Err(self.error("string longer than 2^32-1 bytes"));
            }
            write_str(out, &self.b[start..end]);
            self.i = end + 1;
            return Ok(());
        }
        self.string_with_escapes(out, start, end)
    }

    /// The slow path: the decoded length is only known at the end, so write behind a 5-byte
    /// header placeholder and shift the text back once when a shorter header suffices.
    fn string_with_escapes(
        &mut self,
        out: &mut Vec<u8>,
        mut run_start: usize,
        mut run_end: usize,
    ) -> Result<(), EncodeError> {
        let header_at = out.len();
        out.extend_from_slice(&[0; 5]);
        loop {
            out.extend_from_slice(&self.b[run_start..run_end]);
            self.i = run_end;
            match self.peek() {
                Some(b'"') => break,
                Some(b'\\') => self.escape(out)?,
                Some(_) => return Err(self.error("control character in string (must be escaped)")),
                None => return Err(self.error("unexpected end of input in string")),
            }
            run_start = self.i;
            run_end = self.run()?;
        }
        self.i += 1;
        let text_len = out.len() - header_at - 5;
        if text_len > u32::MAX as usize {
            return Err(self.error("string longer than 2^32-1 bytes"));
        }
        let (h, n) = str_header(text_len);
        if n < 5 {
            out.copy_within(header_at + 5.., header_at + n);
            out.truncate(out.len() - (5 - n));
        }
        out[header_at..header_at + n].copy_from_slice(&h[..n]);
        Ok(())
    }

    /// Decodes the escape whose backslash is at the current position (lexed by the scanner);
    /// a `\\u` high surrogate is paired with a `\\u` low one that follows, an unpaired
    /// surrogate becomes U+FFFD.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let unit = match self.lex_escape()? {
            Escape::Byte(c) => {
                out.push(c);
                return Ok(());
            }
            Escape::Unit(u) => u32::from(u),
        };
        let ch = match unit {
            0xd800..=0xdbff => {
                let after_high = self.i;
                let low = if self.b[self.i..].starts_with(b"\\u") {
                    match self.lex_escape()? {
                        Escape::Unit(u) => u32::from(u),
                        Escape::Byte(_) => 0,
                    }
                } else {
                    0
                };
                if (0xdc00..=0xdfff).contains(&low) {
                    let code = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                    char::from_u32(code).expect("valid surrogate pair")
                } else {
                    // Not a pair: let the next escape (if any) be decoded on its own.
                    self.i = after_high;
                    char::REPLACEMENT_CHARACTER
                }
            }
            0xdc00..=0xdfff => char::REPLACEMENT_CHARACTER,
            _ => char::from_u32(unit).expect("not a surrogate"),
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    /// One escape at the current position, through the scanner; the error says what was wrong.
    fn lex_escape(&mut self) -> Result<Escape, EncodeError> {
        let at = self.i;
        let (escape, end) = jsonscan::escape(self.b, at).map_err(|e| {
            let unicode = self.b.get(at + 1) == Some(&b'u');
            let message = match (e.0 == self.b.len(), unicode) {
                (true, true) => "unexpected end of input in \\u escape",
                (true, false) => "unexpected end of input in string escape",
                (false, true) => "invalid hex digit in \\u escape",
                (false, false) => "invalid escape in string",
            };
            Self::at(e, message)
        })?;
        self.i = end;
        Ok(escape)
    }

    fn number(&mut self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = self.i;
        let end = jsonscan::number(self.b, start).map_err(|e| Self::at(e, "expected a digit in number"))?;
        self.i = end;
        let negative = self.b[start] == b'-';
        let int_start = start + usize::from(negative);
        let int_end = jsonscan::digits(self.b, int_start);
        if int_end == end {
            // An integer: the smallest encoding when it fits i64 or u64.
            let magnitude = self.b[int_start..int_end]
                .iter()
                .try_fold(0u64, |m, &c| m.checked_mul(10)?.checked_add(u64::from(c - b'0')));
            match (magnitude, negative) {
                (Some(m), false) => {
                    write_uint(out, m);
                    return Ok(());
                }
                // -0 stays a float (-0.0), as in serde_json; -2^63 still fits i64.
                (Some(m), true) if m != 0 && m <= 1 << 63 => {
                    write_negative(out, (m as i64).wrapping_neg());
                    return Ok(());
                }
                _ => {}
            }
        }
        let text = std::str::from_utf8(&self.b[start..end]).expect("number text is ASCII");
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => {
                write_f64(out, v);
                Ok(())
            }
            _ => Err(EncodeError::new(start, "number out of range")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp(json: &str) -> Vec<u8> {
        let mut out = Vec::new();
        json_to_msgpack(&mut out, json.as_bytes()).unwrap();
        out
    }

    #[test]
    fn scalars_use_the_smallest_encoding() {
        assert_eq!(mp("0"), [0x00]);
        assert_eq!(mp("127"), [0x7f]);
        assert_eq!(mp("128"), [0xcc, 0x80]);
        assert_eq!(mp("256"), [0xcd, 0x01, 0x00]);
        assert_eq!(mp("65536"), [0xce, 0, 1, 0, 0]);
        assert_eq!(mp("4294967296"), [0xcf, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(mp("-1"), [0xff]);
        assert_eq!(mp("-32"), [0xe0]);
        assert_eq!(mp("-33"), [0xd0, 0xdf]);
        assert_eq!(mp("-129"), [0xd1, 0xff, 0x7f]);
        assert_eq!(mp("-9223372036854775808"), {
            let mut v = vec![0xd3];
            v.extend_from_slice(&i64::MIN.to_be_bytes());
            v
        });
        assert_eq!(mp("-0"), {
            let mut v = vec![0xcb];
            v.extend_from_slice(&(-0.0f64).to_be_bytes());
            v
        });
        assert_eq!(mp(" true "), [0xc3]);
        assert_eq!(mp("false"), [0xc2]);
        assert_eq!(mp("null"), [0xc0]);
        assert_eq!(mp(r#""ab""#), [0xa2, b'a', b'b']);
        assert_eq!(mp(r#""a\/b""#), [0xa3, b'a', b'/', b'b']);
        assert_eq!(mp("[]"), [0x90]);
        assert_eq!(mp("{}"), [0x80]);
        assert_eq!(mp(r#"{"a":[1,{}]}"#), [0x81, 0xa1, b'a', 0x92, 0x01, 0x80]);
    }

    /// Invalid input keeps the one-line promise too: a raw line break right after a backslash
    /// inside a string (the old compactor copied it raw, as the escaped character).
    #[test]
    fn a_raw_line_break_after_a_backslash_is_escaped_too() {
        for entry in [&b"{\"a\":\"x\\\ny\"}\n"[..], b"{ \"a\" : \"x\\\r\n", b"\"\\\n\n"] {
            let mut out = Vec::new();
            ndjson_line(&mut out, entry);
            assert!(!out[..out.len() - 1].iter().any(|&c| c == b'\n' || c == b'\r'), "{out:?}");
        }
    }

    #[test]
    fn line_break_check_sees_every_position() {
        for len in 0..80 {
            for at in 0..len {
                for brk in [b'\n', b'\r'] {
                    let mut v = vec![b'a'; len];
                    v[at] = brk;
                    assert!(has_line_break(&v), "len {len} at {at}");
                }
            }
            assert!(!has_line_break(&vec![b'a'; len]));
        }
    }
}
