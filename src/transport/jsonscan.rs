//! The one JSON scanner: the lexical primitives every reader of JSON bytes in the crate uses,
//! and the one pass over an audit page built from them.
//!
//! Primitives: whitespace ([`ws`]), literals ([`literal`]), number spans ([`number`]), strings
//! (the 16-byte class scan [`special`] / [`quote_or_backslash`], [`string_run`] with its UTF-8
//! check, [`escape`], the checking [`string`] and the locating [`string_end`]) and whole values
//! (the checking [`value`], with an explicit stack, and the locating [`skip_value`], with a
//! depth limit). Two strengths, on purpose:
//! - *checking* (`string`, `value`, `scan_page`, and `string_run`/`escape`/`number` that the
//!   msgpack transcoder in [`crate::format::encode`] builds on): RFC 8259 and UTF-8, byte offsets of
//!   what is wrong;
//! - *locating* (`string_end`, `skip_value`): for text already checked (an entry of a page
//!   [`scan_page`] accepted); they only find where a string or value ends, and never panic or
//!   read out of bounds on any input (the ECS and audit key readers hand whatever they cannot
//!   read to serde_json).
//!
//! [`scan_page`] is the collector's hot path: serde_json checked the structure, then each
//! entry's bytes were checked again as UTF-8 (RawValue needs a `&str`); here the UTF-8 check is
//! part of the string scan, which looks at 16 bytes at a time for the bytes that end or
//! complicate a string (`"`, `\`, controls, and non-ASCII, which is then checked as one UTF-8
//! sequence). Nesting is followed with an explicit stack, so depth costs no call stack.
//!
//! Anything `scan_page` rejects is rejected by serde_json too, except input serde_json reads
//! loosely (invalid UTF-8 inside a string it ignores, a page or `response_metadata` given as an
//! array); the caller asks serde_json for its message when this fails.

/// Where things are in a page, as byte ranges of the body.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PageScan {
    /// How many `entries` (each was given to `on_entry`); `None` when absent or `null`.
    pub entries: Option<usize>,
    /// The `next_cursor` string of `response_metadata` (quotes included: it may hold escapes).
    pub next_cursor: Option<(usize, usize)>,
    /// `ok`, when a boolean.
    pub ok: Option<bool>,
    /// The `error` string (quotes included).
    pub error: Option<(usize, usize)>,
    /// Whether a raw `\n` or `\r` appears anywhere (in accepted JSON that is whitespace between
    /// tokens: strings cannot hold raw controls). Without one, every entry is already one line.
    pub line_breaks: bool,
}

/// Why a body is not a page: the byte offset where reading stopped.
#[derive(Debug, PartialEq, Eq)]
pub struct ScanError(pub usize);

type Res<T> = Result<T, ScanError>;

/// Reads a whole page body; see [`PageScan`]. Duplicate known keys are refused (as serde's
/// derived readers do); unknown keys are checked and skipped. `on_entry` sees each entry's span
/// right after it was checked, while its bytes are still in the CPU's cache (a page is larger
/// than the cache: reading entries again afterwards waits for memory once per entry).
pub fn scan_page(t: &[u8], mut on_entry: impl FnMut(usize, usize)) -> Res<PageScan> {
    let mut page = PageScan::default();
    let mut breaks = false;
    let lb = &mut breaks;
    let mut stack = Vec::new();
    let mut seen_meta = false;
    let mut p = ws_lb(t, lb, 0);
    expect(t, p, b'{')?;
    p = ws_lb(t, lb, p + 1);
    if t.get(p) == Some(&b'}') {
        p += 1;
    } else {
        let mut seen_entries = false;
        let mut seen_ok = false;
        let mut seen_error = false;
        loop {
            let (ks, ke) = key(t, p)?;
            p = ws_lb(t, lb, ke);
            expect(t, p, b':')?;
            p = ws_lb(t, lb, p + 1);
            match &t[ks..ke] {
                b"\"entries\"" => {
                    if std::mem::replace(&mut seen_entries, true) {
                        return Err(ScanError(ks));
                    }
                    if let Some(e) = null(t, p) {
                        p = e;
                    } else {
                        let (n, e) = elements(t, p, &mut stack, &mut on_entry, lb)?;
                        page.entries = Some(n);
                        p = e;
                    }
                }
                b"\"response_metadata\"" => {
                    if std::mem::replace(&mut seen_meta, true) {
                        return Err(ScanError(ks));
                    }
                    p = match null(t, p) {
                        Some(e) => e,
                        None => metadata(t, p, &mut stack, &mut page.next_cursor, lb)?,
                    };
                }
                b"\"ok\"" => {
                    if std::mem::replace(&mut seen_ok, true) {
                        return Err(ScanError(ks));
                    }
                    p = if let Some(e) = literal(t, p, b"true") {
                        page.ok = Some(true);
                        e
                    } else if let Some(e) = literal(t, p, b"false") {
                        page.ok = Some(false);
                        e
                    } else {
                        null(t, p).ok_or(ScanError(p))?
                    };
                }
                b"\"error\"" => {
                    if std::mem::replace(&mut seen_error, true) {
                        return Err(ScanError(ks));
                    }
                    p = match null(t, p) {
                        Some(e) => e,
                        None => {
                            expect(t, p, b'"')?;
                            let e = string(t, p)?;
                            page.error = Some((p, e));
                            e
                        }
                    };
                }
                _ => p = value(t, p, &mut stack, lb)?,
            }
            p = ws_lb(t, lb, p);
            match t.get(p) {
                Some(b',') => p = ws_lb(t, lb, p + 1),
                Some(b'}') => {
                    p += 1;
                    break;
                }
                _ => return Err(ScanError(p)),
            }
        }
    }
    p = ws_lb(t, lb, p);
    if p != t.len() {
        return Err(ScanError(p));
    }
    page.line_breaks = breaks;
    Ok(page)
}

/// `response_metadata`: an object whose `next_cursor` (a string or null) is kept.
fn metadata(
    t: &[u8],
    mut p: usize,
    stack: &mut Vec<u8>,
    cursor: &mut Option<(usize, usize)>,
    lb: &mut bool,
) -> Res<usize> {
    expect(t, p, b'{')?;
    p = ws_lb(t, lb, p + 1);
    if t.get(p) == Some(&b'}') {
        return Ok(p + 1);
    }
    let mut seen = false;
    loop {
        let (ks, ke) = key(t, p)?;
        p = ws_lb(t, lb, ke);
        expect(t, p, b':')?;
        p = ws_lb(t, lb, p + 1);
        if &t[ks..ke] == b"\"next_cursor\"" {
            if std::mem::replace(&mut seen, true) {
                return Err(ScanError(ks));
            }
            if let Some(e) = null(t, p) {
                p = e;
            } else {
                expect(t, p, b'"')?;
                let e = string(t, p)?;
                *cursor = Some((p, e));
                p = e;
            }
        } else {
            p = value(t, p, stack, lb)?;
        }
        p = ws_lb(t, lb, p);
        match t.get(p) {
            Some(b',') => p = ws_lb(t, lb, p + 1),
            Some(b'}') => return Ok(p + 1),
            _ => return Err(ScanError(p)),
        }
    }
}

/// An array at `t[p]`: each element's span (no surrounding space) goes to `on_element`; the
/// count and the position after the array.
fn elements(
    t: &[u8],
    mut p: usize,
    stack: &mut Vec<u8>,
    on_element: &mut impl FnMut(usize, usize),
    lb: &mut bool,
) -> Res<(usize, usize)> {
    expect(t, p, b'[')?;
    let mut n = 0;
    p = ws_lb(t, lb, p + 1);
    if t.get(p) == Some(&b']') {
        return Ok((n, p + 1));
    }
    loop {
        let e = value(t, p, stack, lb)?;
        on_element(p, e);
        n += 1;
        p = ws_lb(t, lb, e);
        match t.get(p) {
            Some(b',') => p = ws_lb(t, lb, p + 1),
            Some(b']') => return Ok((n, p + 1)),
            _ => return Err(ScanError(p)),
        }
    }
}

fn expect(t: &[u8], p: usize, c: u8) -> Res<()> {
    if t.get(p) == Some(&c) {
        Ok(())
    } else {
        Err(ScanError(p))
    }
}

/// A key at `t[p]`: its span, quotes included.
#[inline(always)]
fn key(t: &[u8], p: usize) -> Res<(usize, usize)> {
    expect(t, p, b'"')?;
    Ok((p, string(t, p)?))
}

fn null(t: &[u8], p: usize) -> Option<usize> {
    literal(t, p, b"null")
}

// ---------------------------------------------------------------------------------------------
// Lexical primitives

/// The position after `word` (`true`, `false`, `null`) if it is at `t[p]`.
#[inline]
pub fn literal(t: &[u8], p: usize, word: &[u8]) -> Option<usize> {
    t.get(p..p + word.len()).filter(|w| *w == word).map(|_| p + word.len())
}

/// The first position at or after `p` that is not JSON whitespace.
#[inline]
pub fn ws(t: &[u8], mut p: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = t.get(p) {
        p += 1;
    }
    p
}

/// [`ws`] that also notes a raw line break in `lb`. Compact JSON (Slack's) has no whitespace:
/// one compare (every whitespace byte is at most `' '`) settles the common case.
#[inline(always)]
fn ws_lb(t: &[u8], lb: &mut bool, p: usize) -> usize {
    match t.get(p) {
        Some(&c) if c > b' ' => p,
        _ => ws_lb_run(t, lb, p),
    }
}

#[inline(never)]
fn ws_lb_run(t: &[u8], lb: &mut bool, mut p: usize) -> usize {
    while let Some(&c @ (b' ' | b'\n' | b'\r' | b'\t')) = t.get(p) {
        *lb |= c == b'\n' || c == b'\r';
        p += 1;
    }
    p
}

/// The position after the JSON value that starts at `t[p]` (no leading space), checked whole:
/// RFC 8259 and UTF-8. Nesting is followed on `stack` (cleared first), not on the call stack,
/// so any depth is read; the caller bounds the input's size. A raw line break in the whitespace
/// sets `lb`.
pub fn value(t: &[u8], mut p: usize, stack: &mut Vec<u8>, lb: &mut bool) -> Res<usize> {
    stack.clear();
    'value: loop {
        match t.get(p) {
            Some(b'"') => p = string(t, p)?,
            Some(b'{') => {
                p = ws_lb(t, lb, p + 1);
                if t.get(p) == Some(&b'}') {
                    p += 1;
                } else {
                    stack.push(b'}');
                    p = member_key(t, p, lb)?;
                    continue 'value;
                }
            }
            Some(b'[') => {
                p = ws_lb(t, lb, p + 1);
                if t.get(p) == Some(&b']') {
                    p += 1;
                } else {
                    stack.push(b']');
                    continue 'value;
                }
            }
            Some(b'-' | b'0'..=b'9') => p = number(t, p)?,
            Some(b't') => p = literal(t, p, b"true").ok_or(ScanError(p))?,
            Some(b'f') => p = literal(t, p, b"false").ok_or(ScanError(p))?,
            Some(b'n') => p = literal(t, p, b"null").ok_or(ScanError(p))?,
            _ => return Err(ScanError(p)),
        }
        // After a value: close containers until one continues.
        loop {
            let Some(&close) = stack.last() else {
                return Ok(p);
            };
            p = ws_lb(t, lb, p);
            match t.get(p) {
                Some(b',') => {
                    p = ws_lb(t, lb, p + 1);
                    if close == b'}' {
                        p = member_key(t, p, lb)?;
                    }
                    continue 'value;
                }
                Some(&c) if c == close => {
                    stack.pop();
                    p += 1;
                }
                _ => return Err(ScanError(p)),
            }
        }
    }
}

/// `"key" :` at `t[p]`, and the space after the colon: the position of the member's value.
#[inline(always)]
fn member_key(t: &[u8], p: usize, lb: &mut bool) -> Res<usize> {
    let (_, e) = key(t, p)?;
    let p = ws_lb(t, lb, e);
    expect(t, p, b':')?;
    Ok(ws_lb(t, lb, p + 1))
}

/// The position just after the value at `t[p]` in text that was checked already (an entry of a
/// page [`scan_page`] accepted), or `None` when the value is not there or nests deeper than
/// `max_depth`. It only locates: strings by their closing quote, scalars up to the next
/// delimiter, containers by counting brackets (checked text pairs them, so a count is the whole
/// stack). On unchecked text it may accept what is not JSON, but never panics or reads out of
/// bounds.
pub fn skip_value(t: &[u8], mut p: usize, max_depth: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match *t.get(p)? {
            b'"' => p = string_end(t, p)?.0 + 1,
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return None;
                }
                p += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                p += 1;
            }
            _ if depth == 0 => {
                // A scalar: up to the next delimiter.
                let n = t[p..].iter().position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'));
                return Some(n.map_or(t.len(), |n| p + n));
            }
            _ => p += 1,
        }
        if depth == 0 {
            return Some(p);
        }
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` at `t[p]`: the position after it, or where
/// a digit was expected.
#[inline]
pub fn number(t: &[u8], mut p: usize) -> Res<usize> {
    if t.get(p) == Some(&b'-') {
        p += 1;
    }
    match t.get(p) {
        Some(b'0') => p += 1,
        Some(b'1'..=b'9') => p = digits(t, p + 1),
        _ => return Err(ScanError(p)),
    }
    if t.get(p) == Some(&b'.') {
        let e = digits(t, p + 1);
        if e == p + 1 {
            return Err(ScanError(e));
        }
        p = e;
    }
    if let Some(b'e' | b'E') = t.get(p) {
        p += 1;
        if let Some(b'+' | b'-') = t.get(p) {
            p += 1;
        }
        let e = digits(t, p);
        if e == p {
            return Err(ScanError(e));
        }
        p = e;
    }
    Ok(p)
}

/// The first position at or after `p` that is not an ASCII digit.
#[inline]
pub fn digits(t: &[u8], mut p: usize) -> usize {
    while let Some(b'0'..=b'9') = t.get(p) {
        p += 1;
    }
    p
}

/// Which bytes are hexadecimal digits (of a `\uXXXX` escape).
const HEX_DIGIT: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = (c as u8).is_ascii_hexdigit();
        c += 1;
    }
    t
};

/// The string opening at `t[p]` (a `"`): the position after its closing quote. Checks escapes,
/// that no control character is raw, and that the bytes are UTF-8; the error is at the first
/// byte that is wrong (the input's length when it ends inside the string).
#[inline(always)]
pub fn string(t: &[u8], p: usize) -> Res<usize> {
    let mut p = p + 1;
    loop {
        // `string_run` with the stop byte looked at once: most strings end at their first stop.
        p += special(t.get(p..).unwrap_or_default());
        match t.get(p) {
            Some(b'"') => return Ok(p + 1),
            // A one-character escape (Slack writes every `/` as `\/`) needs no decoding here.
            Some(b'\\') => match t.get(p + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => p += 2,
                // `\uXXXX` (Slack's non-ASCII names, `\u00e9`): four table looks, no decoding.
                Some(b'u') if t.get(p + 2..p + 6).is_some_and(|h| h.iter().all(|&c| HEX_DIGIT[c as usize])) => p += 6,
                _ => p = escape(t, p)?.1,
            },
            Some(0x80..) => p = string_run(t, p)?,
            Some(_) => return Err(ScanError(p)),
            None => return Err(ScanError(t.len())),
        }
    }
}

/// Inside a string, from `t[p]`: the position of the first `"`, `\` or control character (or
/// the end), with every non-ASCII byte on the way checked as UTF-8 (the error is at the first
/// byte of a bad sequence). Everything before it is the string's text as it is.
#[inline(always)]
pub fn string_run(t: &[u8], mut p: usize) -> Res<usize> {
    loop {
        p += special(t.get(p..).unwrap_or_default());
        match t.get(p) {
            Some(&c) if c >= 0x80 => {
                p += utf8_sequence(&t[p..]).ok_or(ScanError(p))?;
                // Runs of non-ASCII text: the next sequence usually follows at once.
                while let Some(0x80..) = t.get(p) {
                    p += utf8_sequence(&t[p..]).ok_or(ScanError(p))?;
                }
            }
            _ => return Ok(p),
        }
    }
}

/// What an escape stands for: a byte (`\n`, `\"`, ...) or the UTF-16 unit of a `\uXXXX`
/// (pairing surrogates is the caller's concern: a check needs none, a decoder does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    Byte(u8),
    Unit(u16),
}

/// The escape whose backslash is at `t[p]`: what it stands for and the position after it. The
/// error is at the byte after the backslash that is wrong (a bad hex digit: that digit), or the
/// input's length when the escape is cut short.
#[inline]
pub fn escape(t: &[u8], p: usize) -> Res<(Escape, usize)> {
    let byte = match t.get(p + 1) {
        None => return Err(ScanError(t.len())),
        Some(&c @ (b'"' | b'\\' | b'/')) => c,
        Some(b'b') => 0x08,
        Some(b'f') => 0x0c,
        Some(b'n') => b'\n',
        Some(b'r') => b'\r',
        Some(b't') => b'\t',
        Some(b'u') => {
            let mut unit = 0u16;
            for i in p + 2..p + 6 {
                let digit = match t.get(i) {
                    Some(c @ b'0'..=b'9') => c - b'0',
                    Some(c @ b'a'..=b'f') => c - b'a' + 10,
                    Some(c @ b'A'..=b'F') => c - b'A' + 10,
                    Some(_) => return Err(ScanError(i)),
                    None => return Err(ScanError(t.len())),
                };
                unit = unit << 4 | u16::from(digit);
            }
            return Ok((Escape::Unit(unit), p + 6));
        }
        Some(_) => return Err(ScanError(p + 1)),
    };
    Ok((Escape::Byte(byte), p + 2))
}

/// The string opening at `t[p]` (a `"`) in text that was checked already: the index of its
/// closing quote, and whether it holds an escape. `None` when it does not end. Only `"` and `\`
/// are looked for (16 bytes at a time), so it is faster than [`string`] and checks nothing.
#[inline]
pub fn string_end(t: &[u8], p: usize) -> Option<(usize, bool)> {
    let mut q = p + 1;
    let mut escaped = false;
    loop {
        q += quote_or_backslash(t.get(q..)?);
        match t.get(q)? {
            b'"' => return Some((q, escaped)),
            _ => {
                escaped = true;
                q += 2;
            }
        }
    }
}

/// The length of the UTF-8 sequence of more than one byte at the start of `s` (whose first byte
/// is >= 0x80), if it is valid (the table of RFC 3629 section 4: no overlong forms, no
/// surrogates, nothing above U+10FFFF).
#[inline]
fn utf8_sequence(s: &[u8]) -> Option<usize> {
    let cont = |i: usize| s.get(i).is_some_and(|b| (0x80..=0xbf).contains(b));
    let second = |lo: u8, hi: u8| s.get(1).is_some_and(|b| (lo..=hi).contains(b));
    match s[0] {
        0xc2..=0xdf => cont(1).then_some(2),
        0xe0 => (second(0xa0, 0xbf) && cont(2)).then_some(3),
        0xe1..=0xec | 0xee..=0xef => (cont(1) && cont(2)).then_some(3),
        0xed => (second(0x80, 0x9f) && cont(2)).then_some(3),
        0xf0 => (second(0x90, 0xbf) && cont(2) && cont(3)).then_some(4),
        0xf1..=0xf3 => (cont(1) && cont(2) && cont(3)).then_some(4),
        0xf4 => (second(0x80, 0x8f) && cont(2) && cont(3)).then_some(4),
        _ => None,
    }
}

/// The index of the first byte of `s` that is `"`, `\`, below 0x20 or above 0x7f (`s.len()` if
/// none): everything else in a string needs no look.
#[inline(always)]
pub fn special(s: &[u8]) -> usize {
    find::<true>(s)
}

/// The index of the first `"` or `\` in `s` (`s.len()` if none): where a string of checked text
/// ends or has an escape.
#[inline(always)]
pub fn quote_or_backslash(s: &[u8]) -> usize {
    find::<false>(s)
}

/// The first byte of `s` that is `"` or `\`, or (when `STRICT`) below 0x20 or above 0x7f; 16
/// bytes at a time with SSE2 (part of the x86_64 baseline), [`find_portable`] elsewhere and for
/// the tail.
#[inline(always)]
fn find<const STRICT: bool>(s: &[u8]) -> usize {
    #[allow(unused_mut)]
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline; every load reads 16 bytes inside `s`
        // (i + 16 <= s.len()), unaligned loads are allowed by _mm_loadu_si128.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            // As signed bytes, controls (0..0x1f) and non-ASCII (0x80..) are both below 0x20.
            let space = _mm_set1_epi8(0x20);
            while i + 16 <= s.len() {
                let v = _mm_loadu_si128(s.as_ptr().add(i) as *const __m128i);
                let mut hit = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
                if STRICT {
                    hit = _mm_or_si128(hit, _mm_cmplt_epi8(v, space));
                }
                let mask = _mm_movemask_epi8(hit) as u32;
                if mask != 0 {
                    return i + mask.trailing_zeros() as usize;
                }
                i += 16;
            }
        }
    }
    i + find_portable::<STRICT>(&s[i..])
}

/// [`find`] a byte at a time: other targets, the last 15 bytes, and the reference the SSE2 path
/// is tested against.
#[inline(always)]
fn find_portable<const STRICT: bool>(s: &[u8]) -> usize {
    s.iter().position(|&c| c == b'"' || c == b'\\' || (STRICT && !(0x20..0x80).contains(&c))).unwrap_or(s.len())
}

// ---------------------------------------------------------------------------------------------
// A checked body

/// A page body that [`Body::scan_page`] accepted, so valid UTF-8 as a whole (outside strings
/// JSON is ASCII; inside, every byte was checked). The bytes cannot be changed once checked
/// (except by [`Body::end_lines_at`], which only turns ASCII separators into ASCII line breaks):
/// they are read through `Deref<Target = [u8]>` and only given back whole by [`Body::into_vec`].
/// A body made from unchecked bytes (`From<Vec<u8>>`) is read with a UTF-8 check instead.
#[derive(Debug, Default)]
pub struct Body {
    bytes: Vec<u8>,
    /// Only this module sets it, and only after `scan_page` accepted `bytes`.
    utf8: bool,
    /// `scan_page` saw a raw line break (whitespace between tokens).
    line_breaks: bool,
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body { bytes, utf8: false, line_breaks: true }
    }
}

impl std::ops::Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Body {
    /// [`scan_page`] over `bytes`, keeping them as a checked body; `on_entry` gets the bytes and
    /// each entry's span. On failure the bytes come back with the error.
    pub fn scan_page(
        bytes: Vec<u8>,
        mut on_entry: impl FnMut(&[u8], usize, usize),
    ) -> Result<(Body, PageScan), (Vec<u8>, ScanError)> {
        match scan_page(&bytes, |s, e| on_entry(&bytes, s, e)) {
            Ok(scan) => Ok((Body { bytes, utf8: true, line_breaks: scan.line_breaks }, scan)),
            Err(e) => Err((bytes, e)),
        }
    }

    /// The text at `range` of the body, or `""` when the range is not text of it (out of
    /// bounds, not on character boundaries, or not UTF-8 in an unchecked body). A checked
    /// body is not checked again: ids are read this way several times per entry.
    #[inline]
    pub fn text(&self, range: std::ops::Range<usize>) -> &str {
        if self.utf8 {
            // SAFETY: `utf8` is only true for bytes `scan_page` accepted, which are UTF-8 as a
            // whole, and `bytes` cannot change afterwards but by ASCII for ASCII (private, no
            // `&mut` access; `end_lines_at`), which keeps them UTF-8. `get`
            // then checks the range's bounds and character boundaries, so whatever range a
            // caller passes, the result is UTF-8.
            unsafe { std::str::from_utf8_unchecked(&self.bytes) }.get(range).unwrap_or("")
        } else {
            self.bytes.get(range).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
        }
    }

    /// Whether an entry of this body may hold a raw line break: false only for a checked body
    /// without one (so each entry is one line as it is, and NDJSON needs no compacting).
    #[inline]
    pub fn may_hold_line_breaks(&self) -> bool {
        !self.utf8 || self.line_breaks
    }

    /// Puts a line break right after each span that ends at one of `ends` (exclusive ends of
    /// entries), in place of the separator there, so that an entry and its break are one NDJSON
    /// line of the body's own bytes (`body[start..end + 1]`), and the lines of consecutive
    /// entries are one contiguous run: a host writes them without copying them first.
    ///
    /// `ends` must be ends of entries `scan_page` reported for these bytes. Only for a checked
    /// body without raw line breaks, and only where the byte there is a separator between array
    /// elements (`,`, `]` or a blank): otherwise, or for an end out of bounds, nothing is changed
    /// and false is returned. Such bytes lie outside every entry
    /// and are ASCII, as is the break: the body stays UTF-8 and every entry's bytes (ids, texts)
    /// are the same; the body is no longer the page's JSON, which nothing reads again.
    pub fn end_lines_at(&mut self, ends: impl Iterator<Item = usize> + Clone) -> bool {
        if self.may_hold_line_breaks() {
            return false;
        }
        let separator = |c: &u8| matches!(c, b',' | b']' | b' ' | b'\t');
        if !ends.clone().all(|e| self.bytes.get(e).is_some_and(separator)) {
            return false;
        }
        for e in ends {
            self.bytes[e] = b'\n';
        }
        true
    }

    /// The bytes, to be read into again.
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &[u8]) -> bool {
        scan_page(s, |_, _| {}).is_ok()
    }

    #[test]
    fn reads_a_page_and_its_spans() {
        let body = br#" {"ok":true,"entries":[ {"id":"a","n":[1,2.5e-3,{"x":null}]} , "s\u00e9\n", -0 ],"response_metadata":{"next_cursor":"c\/d="} } "#;
        let mut e: Vec<&[u8]> = Vec::new();
        let p = scan_page(body, |a, b| e.push(&body[a..b])).unwrap();
        assert_eq!(p.entries, Some(3));
        assert_eq!(e, [&br#"{"id":"a","n":[1,2.5e-3,{"x":null}]}"#[..], br#""s\u00e9\n""#, b"-0"]);
        let (a, b) = p.next_cursor.unwrap();
        assert_eq!(&body[a..b], br#""c\/d=""#);
        assert_eq!(p.ok, Some(true));
        assert_eq!(p.error, None);
        let empty = scan_page(b"{}", |_, _| {}).unwrap();
        assert_eq!(empty, PageScan::default());
        let nulls =
            scan_page(br#"{"entries":null,"response_metadata":null,"ok":null,"error":null}"#, |_, _| {}).unwrap();
        assert_eq!(nulls, PageScan::default());
        let err = scan_page(br#"{"ok":false,"error":"invalid_auth"}"#, |_, _| {}).unwrap();
        assert_eq!((err.ok, err.error.map(|(a, b)| b - a)), (Some(false), Some(14)));
    }

    /// A raw line break is seen wherever whitespace may hold one, and only there: an escaped
    /// `\n` inside a string is not one. A body the scanner did not check may hold one.
    #[test]
    fn lines_end_in_place_only_after_entries_of_a_checked_body() {
        let page = br#"{"ok":true,"entries":[{"a":"x,y"},{"b":1} ,{"c":[2]}]}"#.to_vec();
        let mut spans = Vec::new();
        let (mut body, _) = Body::scan_page(page.clone(), |_, s, e| spans.push((s, e))).unwrap();
        let ends = || spans.iter().map(|&(_, e)| e);
        assert!(body.end_lines_at(ends()));
        let lines: Vec<&[u8]> = spans.iter().map(|&(s, e)| &body[s..e + 1]).collect();
        assert_eq!(lines, [&b"{\"a\":\"x,y\"}\n"[..], b"{\"b\":1}\n", b"{\"c\":[2]}\n"]);
        assert!(!body.may_hold_line_breaks(), "the entries still hold no line break");
        // A byte that is no separator (the `e` of `true`), or past the end: refused, and nothing
        // is changed, not even at the good ends given with it.
        let (mut body, _) = Body::scan_page(page.clone(), |_, _, _| {}).unwrap();
        assert!(!body.end_lines_at([spans[0].1, 9].into_iter()), "9 is inside `true`");
        assert!(!body.end_lines_at([page.len()].into_iter()));
        assert_eq!(&body[..], &page[..]);
        // Unchecked bytes are never changed.
        let mut raw = Body::from(page.clone());
        assert!(!raw.end_lines_at(ends()));
        assert_eq!(&raw[..], &page[..]);
    }

    #[test]
    fn raw_line_breaks_are_noted() {
        let breaks = |b: &[u8]| scan_page(b, |_, _| {}).unwrap().line_breaks;
        assert!(!breaks(br#"{"entries":[{"a":"x\ny\r","b":[1, 2]}],"ok":true}"#));
        for page in [
            &b"{\"entries\":[{\"a\":1,\n\"b\":2}]}"[..],
            b"{\"entries\":[{\"a\":[1\r]}]}",
            b"{\"entries\":[{\"a\" :\n1}]}",
            b"{\"entries\":[1]\n,\"ok\":true}",
            b"{\"response_metadata\":{\"next_cursor\":\n\"\"}}",
            b"{\"entries\":[1]}\n",
        ] {
            assert!(breaks(page), "{:?}", String::from_utf8_lossy(page));
        }
        let (body, _) = Body::scan_page(br#"{"entries":[{"a":"x\ny"}]}"#.to_vec(), |_, _, _| {}).unwrap();
        assert!(!body.may_hold_line_breaks());
        assert!(Body::from(b"{}".to_vec()).may_hold_line_breaks());
    }

    #[test]
    fn refuses_what_is_not_json_or_not_utf8() {
        for bad in [
            &b""[..],
            b"[]",
            b"{",
            b"{}x",
            b"{} {}",
            br#"{"entries":[1,]}"#,
            br#"{"entries":[01]}"#,
            br#"{"entries":[1.]}"#,
            br#"{"entries":[1e]}"#,
            br#"{"entries":[-]}"#,
            br#"{"entries":[+1]}"#,
            br#"{"entries":[tru]}"#,
            br#"{"entries":[{"a" 1}]}"#,
            br#"{"entries":[{"a":1,}]}"#,
            br#"{"entries":[{1:1}]}"#,
            br#"{"entries":[{"a":1]}"#,
            br#"{"entries":["a\x"]}"#,
            br#"{"entries":["\u12G4"]}"#,
            b"{\"entries\":[\"tab\there\"]}",
            b"{\"entries\":[\"\xff\"]}",
            b"{\"entries\":[\"\xc0\xaf\"]}",
            b"{\"entries\":[\"\xed\xa0\x80\"]}",
            b"{\"entries\":[\"\xf4\x90\x80\x80\"]}",
            b"{\"entries\":[\"\xe2\x82\"]}",
            b"{\"x\":\"\xff\"}",
            br#"{"entries":[],"entries":[]}"#,
            br#"{"ok":1}"#,
            br#"{"error":5}"#,
            br#"{"response_metadata":{"next_cursor":1}}"#,
            br#"{"response_metadata":{"next_cursor":"a","next_cursor":"b"}}"#,
            br#"{"response_metadata":[]}"#,
            br#"{"entries":{}}"#,
        ] {
            assert!(!ok(bad), "accepted {:?}", String::from_utf8_lossy(bad));
        }
        assert!(ok("{\"entries\":[\"Jürgen 山田 😀 \\\"q\\\" \\\\\"]}".as_bytes()));
    }

    #[test]
    fn deep_nesting_needs_no_call_stack() {
        let n = 200_000;
        let body = format!("{{\"entries\":[{}{}]}}", "[".repeat(n), "]".repeat(n));
        assert_eq!(scan_page(body.as_bytes(), |_, _| {}).unwrap().entries, Some(1));
        let unbalanced = format!("{{\"entries\":[{}{}]}}", "[".repeat(n), "]".repeat(n - 1));
        assert!(!ok(unbalanced.as_bytes()));
    }

    /// Every prefix, every single-byte change and every one-byte deletion of a page: accepted
    /// exactly when serde_json accepts the text (as UTF-8), with the same entry spans.
    #[test]
    fn agrees_with_serde_json() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Page<'a> {
            #[serde(borrow)]
            entries: Option<Vec<&'a serde_json::value::RawValue>>,
            response_metadata: Option<Meta>,
            ok: Option<bool>,
            error: Option<String>,
        }
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Meta {
            next_cursor: Option<String>,
        }
        let page = "{\"ok\": true, \"entries\": [{\"id\":\"0a1\",\"date_create\":17,\"action\":\"user_login\",\"x\":[1.5,-2e+3,true,false,null,\"J\\u00fcrgen \\\"\\/\\\\ 山田 😀\"],\"y\":{}},\n\t{\"id\":\"2\",\"z\":[[]]}], \"response_metadata\": {\"next_cursor\": \"dXNlcjo=\", \"n\": 0}}";
        let base = page.as_bytes();
        let oracle = |b: &[u8]| -> Option<Vec<(usize, usize)>> {
            let s = std::str::from_utf8(b).ok()?;
            // A page given as an array is read by serde's derived reader; it is not JSON we accept.
            if !s.trim_start().starts_with('{') {
                return None;
            }
            let p: Page = serde_json::from_str(s).ok()?;
            let at = |r: &serde_json::value::RawValue| r.get().as_ptr() as usize - s.as_ptr() as usize;
            Some(p.entries.unwrap_or_default().iter().map(|r| (at(r), at(r) + r.get().len())).collect())
        };
        let mine = |b: &[u8]| {
            let mut spans = Vec::new();
            let p = scan_page(b, |s, e| spans.push((s, e))).ok()?;
            assert_eq!(p.entries.unwrap_or(0), spans.len());
            Some(spans)
        };
        let mut checked = 0;
        let mut cases: Vec<Vec<u8>> = (0..base.len()).map(|n| base[..n].to_vec()).collect();
        let alphabet = b"{}[]\":,\\ -+.0123456789eEtrufalsn\x00\x1f\x7f\x80\xbf\xc3\xe5\xf0\xff/ubx";
        for i in 0..base.len() {
            for &c in alphabet {
                let mut m = base.to_vec();
                m[i] = c;
                cases.push(m);
            }
            let mut m = base.to_vec();
            m.remove(i);
            cases.push(m);
        }
        for c in &cases {
            // `response_metadata` as an array is also read by serde; skip those few mutations.
            let key = b"\"response_metadata\":";
            if let Some(at) = c.windows(key.len()).position(|w| w == key) {
                if c[at + key.len()..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
                    continue;
                }
            }
            assert_eq!(mine(c), oracle(c), "{:?}", String::from_utf8_lossy(c));
            checked += 1;
        }
        assert!(checked > 5_000, "{checked}");
    }
    /// `string_end`'s search, as the ECS reader used it (its own copy, now this one).
    fn string_end_from(t: &[u8], from: usize) -> Option<usize> {
        let n = quote_or_backslash(&t[from..]);
        (from + n < t.len()).then_some(from + n)
    }

    #[test]
    fn quote_search_finds_the_first_quote_or_backslash() {
        // Every placement of a hit (and of a second one after it) in texts of 0 to 40 bytes,
        // with bytes either side of '"' and '\\' that a sloppy bit trick could confuse.
        for len in 0..40 {
            for first in 0..=len {
                for (hit, second) in [(b'"', b'\\'), (b'\\', b'"'), (b'"', b'"')] {
                    let mut t: Vec<u8> = (0..len).map(|i| [b'!', b'#', b'[', b']', 0x01, 0xff, b'a'][i % 7]).collect();
                    if first < len {
                        t[first] = hit;
                        if first + 3 < len {
                            t[first + 3] = second;
                        }
                    }
                    for from in 0..=len {
                        let naive = t[from..].iter().position(|&c| c == b'"' || c == b'\\').map(|n| from + n);
                        assert_eq!(string_end_from(&t, from), naive, "{t:?} from {from}");
                    }
                }
            }
        }
    }

    /// The SSE2 search and the byte-at-a-time one agree on every byte value, at every position
    /// of texts of 0 to 40 bytes (so in the 16-byte blocks and in the tail), in both strengths.
    #[test]
    fn sse2_and_portable_searches_agree_on_every_byte() {
        for len in 0..40 {
            for at in 0..len {
                for c in 0..=255u8 {
                    let mut t = vec![b'a'; len];
                    t[at] = c;
                    let strict = if c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c) { at } else { len };
                    let loose = if c == b'"' || c == b'\\' { at } else { len };
                    assert_eq!((special(&t), find_portable::<true>(&t)), (strict, strict), "{c:#x} at {at} of {len}");
                    assert_eq!(
                        (quote_or_backslash(&t), find_portable::<false>(&t)),
                        (loose, loose),
                        "{c:#x} at {at} of {len}"
                    );
                }
            }
        }
    }

    /// The string run the msgpack transcoder copies: up to `"`, `\` or a control, non-ASCII
    /// checked on the way (moved here with the transcoder's own scan, which it replaces).
    #[test]
    fn string_runs_end_at_the_first_quote_backslash_or_control() {
        let text = b"abcdefgh\"ijklmnop\\";
        assert_eq!(string_run(text, 0), Ok(8));
        assert_eq!(string_run(text, 9), Ok(17));
        assert_eq!(string_run("é\u{1}".as_bytes(), 0), Ok(2));
        assert_eq!(string_run("山田 太郎 ok\"".as_bytes(), 0), Ok(16));
        assert_eq!(string_run(b"abc", 0), Ok(3));
        assert_eq!(string_run(b"ab\xc3\x28", 0), Err(ScanError(2)));
        assert_eq!(string_run(b"0123456789abcdef\xe2\x82", 0), Err(ScanError(16)));
    }

    #[test]
    fn escapes_are_decoded_and_errors_placed_on_the_wrong_byte() {
        assert_eq!(escape(br#"\n"#, 0), Ok((Escape::Byte(b'\n'), 2)));
        assert_eq!(escape(br#"x\/"#, 1), Ok((Escape::Byte(b'/'), 3)));
        assert_eq!(escape(br#"\u00e9z"#, 0), Ok((Escape::Unit(0xe9), 6)));
        assert_eq!(escape(br#"\uD83D"#, 0), Ok((Escape::Unit(0xd83d), 6)));
        assert_eq!(escape(br#"\x"#, 0), Err(ScanError(1)));
        assert_eq!(escape(br#"\u12G4"#, 0), Err(ScanError(4)));
        assert_eq!(escape(br#"\u12"#, 0), Err(ScanError(4)));
        assert_eq!(escape(br#"\"#, 0), Err(ScanError(1)));
    }

    /// The locating skip: where each value ends in checked text, `None` past the depth limit or
    /// when the text ends first.
    #[test]
    fn values_are_skipped_in_checked_text() {
        let t = br#"{"a":"x\"}","b":[1,{"c":[]}]} , -1.5e3,true "s\\" [[[]]]"#;
        assert_eq!(skip_value(t, 0, usize::MAX), Some(29));
        assert_eq!(skip_value(t, 32, usize::MAX), Some(38));
        assert_eq!(skip_value(t, 39, usize::MAX), Some(43));
        assert_eq!(skip_value(t, 44, usize::MAX), Some(49));
        assert_eq!(skip_value(t, 50, usize::MAX), Some(56));
        assert_eq!(skip_value(t, 50, 3), Some(56));
        assert_eq!(skip_value(t, 50, 2), None);
        assert_eq!(skip_value(br#"{"a":[1"#, 0, usize::MAX), None);
        assert_eq!(skip_value(br#""abc"#, 0, usize::MAX), None);
        assert_eq!(string_end(br#""a\"b" "#, 0), Some((5, true)));
        assert_eq!(string_end(br#""ab""#, 0), Some((3, false)));
    }

    /// A checked body's text is read without a second UTF-8 check, yet any range gives UTF-8:
    /// one off a character boundary or out of bounds gives "".
    #[test]
    fn a_checked_body_reads_text_at_any_range_safely() {
        let page = r#"{"entries":[{"id":"é山","x":1}]}"#.as_bytes().to_vec();
        let mut spans = Vec::new();
        let (body, scan) = Body::scan_page(page, |_, s, e| spans.push((s, e))).unwrap();
        assert_eq!(scan.entries, Some(1));
        let id = body.windows(2).position(|w| w == "é".as_bytes()).unwrap();
        assert_eq!(body.text(id..id + 5), "é山");
        assert_eq!(body.text(id + 1..id + 5), "");
        assert_eq!(body.text(id..body.len() + 1), "");
        let unchecked = Body::from(b"a\xffb".to_vec());
        assert_eq!((unchecked.text(0..1), unchecked.text(0..2)), ("a", ""));
        let (bytes, err) = Body::scan_page(b"{\"x\":\"\xff\"}".to_vec(), |_, _, _| {}).unwrap_err();
        assert_eq!((bytes.len(), err), (9, ScanError(6)));
    }
}
