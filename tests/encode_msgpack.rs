//! JSON → msgpack transcoding and Fluent Bit records, checked through an independent, strict
//! msgpack decoder written here (no msgpack crate is available).

use serde_json::{Map, Number, Value};
use slack_audit::format::encode::{fluent_bit_record, json_to_msgpack, EncodeError};

/// The nesting limit the encoder documents (`encode::MAX_DEPTH`, crate-private so that cbindgen
/// does not see it): 128 levels are accepted, the 129th is an error.
const MAX_DEPTH: usize = 128;

// ---------------------------------------------------------------------------------------------
// A strict msgpack decoder: checks every length, rejects trailing bytes, non-minimal headers and
// anything the encoder must never write (ext types, bin, non-string keys).

struct Decoder<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.i.checked_add(n).ok_or("length overflow")?;
        let s = self.b.get(self.i..end).ok_or_else(|| format!("truncated: need {n} bytes at {}", self.i))?;
        self.i = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn be(&mut self, n: usize) -> Result<u64, String> {
        Ok(self.take(n)?.iter().fold(0u64, |a, &c| a << 8 | c as u64))
    }
    fn minimal(ok: bool, what: &str) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!("non-minimal {what}"))
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        let m = self.u8()?;
        Ok(match m {
            0x00..=0x7f => Value::from(m as u64),
            0xe0..=0xff => Value::from(m as i8 as i64),
            0x80..=0x8f => self.map((m & 0x0f) as usize)?,
            0x90..=0x9f => self.array((m & 0x0f) as usize)?,
            0xa0..=0xbf => self.str((m & 0x1f) as usize)?,
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xcb => {
                let f = f64::from_bits(self.be(8)?);
                Value::Number(Number::from_f64(f).ok_or("non-finite float")?)
            }
            0xcc => {
                let v = self.be(1)?;
                Self::minimal(v >= 0x80, "uint8")?;
                Value::from(v)
            }
            0xcd => {
                let v = self.be(2)?;
                Self::minimal(v > 0xff, "uint16")?;
                Value::from(v)
            }
            0xce => {
                let v = self.be(4)?;
                Self::minimal(v > 0xffff, "uint32")?;
                Value::from(v)
            }
            0xcf => {
                let v = self.be(8)?;
                Self::minimal(v > 0xffff_ffff, "uint64")?;
                Value::from(v)
            }
            0xd0 => {
                let v = self.be(1)? as u8 as i8 as i64;
                Self::minimal(v < -32, "int8")?;
                Value::from(v)
            }
            0xd1 => {
                let v = self.be(2)? as u16 as i16 as i64;
                Self::minimal(v < i8::MIN as i64, "int16")?;
                Value::from(v)
            }
            0xd2 => {
                let v = self.be(4)? as u32 as i32 as i64;
                Self::minimal(v < i16::MIN as i64, "int32")?;
                Value::from(v)
            }
            0xd3 => {
                let v = self.be(8)? as i64;
                Self::minimal(v < i32::MIN as i64, "int64")?;
                Value::from(v)
            }
            0xd9 => {
                let n = self.be(1)? as usize;
                Self::minimal(n >= 32, "str8")?;
                self.str(n)?
            }
            0xda => {
                let n = self.be(2)? as usize;
                Self::minimal(n > 0xff, "str16")?;
                self.str(n)?
            }
            0xdb => {
                let n = self.be(4)? as usize;
                Self::minimal(n > 0xffff, "str32")?;
                self.str(n)?
            }
            0xdc => {
                let n = self.be(2)? as usize;
                Self::minimal(n >= 16, "array16")?;
                self.array(n)?
            }
            0xdd => {
                let n = self.be(4)? as usize;
                Self::minimal(n > 0xffff, "array32")?;
                self.array(n)?
            }
            0xde => {
                let n = self.be(2)? as usize;
                Self::minimal(n >= 16, "map16")?;
                self.map(n)?
            }
            0xdf => {
                let n = self.be(4)? as usize;
                Self::minimal(n > 0xffff, "map32")?;
                self.map(n)?
            }
            _ => return Err(format!("unexpected marker {m:#04x} at {}", self.i - 1)),
        })
    }
    fn str(&mut self, n: usize) -> Result<Value, String> {
        let s = std::str::from_utf8(self.take(n)?).map_err(|e| e.to_string())?;
        Ok(Value::String(s.to_owned()))
    }
    fn array(&mut self, n: usize) -> Result<Value, String> {
        (0..n).map(|_| self.value()).collect::<Result<_, _>>().map(Value::Array)
    }
    fn map(&mut self, n: usize) -> Result<Value, String> {
        let mut m = Map::new();
        for _ in 0..n {
            let Value::String(k) = self.value()? else {
                return Err("non-string key".into());
            };
            let v = self.value()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

fn decode(b: &[u8]) -> Result<Value, String> {
    let mut d = Decoder { b, i: 0 };
    let v = d.value()?;
    if d.i != b.len() {
        return Err(format!("{} trailing bytes", b.len() - d.i));
    }
    Ok(v)
}

fn transcode(json: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    json_to_msgpack(&mut out, json).map(|()| out)
}

/// Equality with floats compared as f64, allowing a few units in the last place: serde_json
/// without its `float_roundtrip` feature is not always correctly rounded (2 ULP seen), while the
/// encoder uses `str::parse`. Exactness against `str::parse` is checked separately, for every
/// generated float (`random_documents_round_trip`) and for hard cases
/// (`floats_are_parsed_exactly`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x.to_bits() as i64 - y.to_bits() as i64).abs() <= 4
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn assert_round_trip(json: &[u8]) {
    let expected: Value = serde_json::from_slice(json)
        .unwrap_or_else(|e| panic!("test input must be valid JSON ({e}): {}", String::from_utf8_lossy(json)));
    let packed =
        transcode(json).unwrap_or_else(|e| panic!("transcode failed ({e}): {}", String::from_utf8_lossy(json)));
    let decoded = decode(&packed)
        .unwrap_or_else(|e| panic!("decoder rejected output ({e}) for {}", String::from_utf8_lossy(json)));
    assert!(
        same(&decoded, &expected),
        "mismatch for {}\n got {decoded}\nwant {expected}",
        String::from_utf8_lossy(json)
    );
}

// ---------------------------------------------------------------------------------------------
// Seeded random JSON.

struct Rng {
    state: u64,
    /// Every non-integer number text generated, to check each bit-exactly.
    floats: Vec<String>,
}

impl Rng {
    fn new(seed: u64) -> Self {
        Rng { state: seed, floats: Vec::new() }
    }
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn ws(&mut self, s: &mut String) {
        if self.below(4) == 0 {
            s.push_str([" ", "\n", "\t", "\r\n  "][self.below(4) as usize]);
        }
    }
}

fn gen_string(rng: &mut Rng, s: &mut String) {
    s.push('"');
    let pieces = rng.below(12);
    for _ in 0..pieces {
        match rng.below(10) {
            0 => s.push_str(["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"][rng.below(8) as usize]),
            1 => s.push_str(&format!("\\u{:04x}", rng.below(0x80))),
            2 => {
                // Any BMP scalar value, escaped.
                let c = loop {
                    let c = rng.below(0x10000) as u32;
                    if !(0xd800..0xe000).contains(&c) {
                        break c;
                    }
                };
                s.push_str(&format!("\\u{c:04X}"));
            }
            3 => {
                // An astral character as an escaped surrogate pair.
                let c = 0x10000 + rng.below(0x100000) as u32;
                let mut units = [0u16; 2];
                char::from_u32(c).unwrap().encode_utf16(&mut units);
                s.push_str(&format!("\\u{:04x}\\u{:04x}", units[0], units[1]));
            }
            4 => s.push_str(["é", "中文", "😀", "ß", "\u{7f}", "\u{ffff}", "𝄞"][rng.below(7) as usize]),
            5 => {
                let c = char::from_u32(0x80 + rng.below(0x10ff00) as u32).unwrap_or('x');
                s.push(c);
            }
            _ => {
                for _ in 0..rng.below(40) {
                    match (b' ' + rng.below(95) as u8) as char {
                        '"' | '\\' => s.push('_'),
                        c => s.push(c),
                    }
                }
            }
        }
    }
    s.push('"');
}

fn gen_number(rng: &mut Rng, s: &mut String) {
    let kind = rng.below(9);
    let text = match kind {
        0 => {
            let edges: [i128; 24] = [
                0,
                1,
                -1,
                31,
                -32,
                -33,
                127,
                128,
                -128,
                -129,
                255,
                256,
                32767,
                -32768,
                -32769,
                65535,
                65536,
                i32::MIN as i128,
                i32::MIN as i128 - 1,
                u32::MAX as i128,
                u32::MAX as i128 + 1,
                i64::MIN as i128,
                i64::MAX as i128,
                u64::MAX as i128,
            ];
            edges[rng.below(24) as usize].to_string()
        }
        1 => (rng.next() as i64).to_string(),
        2 => rng.next().to_string(),
        3 => (rng.next() >> rng.below(64)).to_string(),
        4 => format!("-{}", rng.next() >> rng.below(64)),
        5 => {
            // Too big for any integer type.
            let mut t = String::from(["", "-"][rng.below(2) as usize]);
            t.push_str(&(1 + rng.below(9)).to_string());
            for _ in 0..(20 + rng.below(20)) {
                t.push((b'0' + rng.below(10) as u8) as char);
            }
            t
        }
        6 => loop {
            let f = f64::from_bits(rng.next());
            if f.is_finite() {
                break format!("{f:?}");
            }
        },
        7 => format!(
            "{}{}.{}e{}{}",
            ["", "-"][rng.below(2) as usize],
            rng.below(1000),
            rng.below(1_000_000),
            ["", "+", "-"][rng.below(3) as usize],
            rng.below(300)
        ),
        _ => ["0.0", "-0.0", "-0", "1E2", "1e-7", "0.1", "5e-324", "1.7976931348623157e308"][rng.below(8) as usize]
            .to_owned(),
    };
    s.push_str(&text);
    if kind >= 5 {
        rng.floats.push(text);
    }
}

fn gen_value(rng: &mut Rng, s: &mut String, depth: usize) {
    rng.ws(s);
    // Wide near the top, thin below (expected children per value < 1), so documents stay small.
    let container = depth < 40 && rng.below(10) < if depth < 3 { 4 } else { 1 };
    if container {
        let n = match (depth, rng.below(8)) {
            (0..=2, 0) => 14 + rng.below(6),
            (0..=2, _) => rng.below(5),
            _ => rng.below(3),
        };
        let map = rng.below(2) == 0;
        s.push(if map { '{' } else { '[' });
        for k in 0..n {
            if k > 0 {
                rng.ws(s);
                s.push(',');
            }
            if map {
                rng.ws(s);
                gen_string(rng, s);
                rng.ws(s);
                s.push(':');
            }
            gen_value(rng, s, depth + 1);
        }
        rng.ws(s);
        s.push(if map { '}' } else { ']' });
    } else {
        match rng.below(6) {
            0 => s.push_str(["true", "false", "null"][rng.below(3) as usize]),
            1 | 2 => gen_string(rng, s),
            _ => gen_number(rng, s),
        }
    }
    rng.ws(s);
}

// ---------------------------------------------------------------------------------------------
// Round trips

#[test]
fn hand_written_documents_round_trip() {
    let docs = [
        "0",
        "-0",
        "-0.0",
        "1.5",
        "1e2",
        "1E+2",
        "-1e-2",
        "123456789012345678901234567890",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "9223372036854775808",
        "5e-324",
        "1.7976931348623157e308",
        "true",
        "false",
        "null",
        r#""""#,
        r#""plain""#,
        r#""\"\\\/\b\f\n\r\t""#,
        r#""\u0000\u001f\u007F\u00e9\uFFFF""#,
        r#""\ud83d\ude00 and \uD834\uDD1E""#,
        r#""héllo 中文 😀""#,
        "[]",
        "{}",
        "[[]]",
        "[{}]",
        r#"{"":""}"#,
        r#"{"a":{"b":{"c":[1,2,3,{"d":null}]}}}"#,
        " \t\r\n [ 1 , \"x\" , { \"k\" : [ ] } ] \n ",
        r#"{"dup":1,"dup":2}"#,
        r#"{"id":"0123-abcd","date_create":1700000000,"action":"user_login","actor":{"type":"user","user":{"id":"W123","name":"Zoë","email":"z@example.com","team":"T1"}},"entity":{"type":"user","user":{"id":"W1"}},"context":{"location":{"type":"enterprise","id":"E1","name":"Corp","domain":"corp"},"ua":"Mozilla\/5.0","ip_address":"","session_id":2847539875},"details":{"x":[1.5,-2,{"y":"z"}]}}"#,
    ];
    for doc in docs {
        assert_round_trip(doc.as_bytes());
    }
}

#[test]
fn random_documents_round_trip() {
    let mut rng = Rng::new(0x0123_4567_89ab_cdef);
    for _ in 0..3000 {
        let mut s = String::new();
        gen_value(&mut rng, &mut s, 0);
        // One document in ten is wrapped in up to 80 more levels (the generator stops at 40,
        // so this stays within serde_json's limit of 127).
        if rng.below(10) == 0 {
            for _ in 0..rng.below(81) {
                s = if rng.below(2) == 0 { format!("{{\"k\":{s}}}") } else { format!("[{s},\"\\u00e9\",-1.5]") };
            }
        }
        assert_round_trip(s.as_bytes());
    }
    assert!(rng.floats.len() > 1000);
    for text in &rng.floats {
        assert_float_exact(text);
    }
}

fn assert_float_exact(text: &str) {
    let packed = transcode(text.as_bytes()).unwrap();
    assert_eq!(packed.len(), 9, "{text} must be a float64");
    assert_eq!(packed[0], 0xcb, "{text} must be a float64");
    let bits = u64::from_be_bytes(packed[1..9].try_into().unwrap());
    assert_eq!(bits, text.parse::<f64>().unwrap().to_bits(), "{text}");
}

#[test]
fn floats_are_parsed_exactly() {
    let texts = [
        "2.2250738585072011e-308",
        "2.2250738585072012e-308",
        "0.1",
        "0.30000000000000004",
        "9007199254740993.0",
        "1e23",
        "8.98846567431158e307",
        "4.9406564584124654e-324",
        "123456789012345678901234567890",
        "-18446744073709551616",
        "1.00000000000000011102230246251565404236316680908203125",
        "7.038531e-26",
    ];
    for text in texts {
        assert_float_exact(text);
    }
}

#[test]
fn container_and_string_size_boundaries_round_trip_with_minimal_headers() {
    for n in [15usize, 16, 31, 32, 255, 256, 65535, 65536, 70_000] {
        let s = format!("\"{}\"", "a".repeat(n));
        assert_round_trip(s.as_bytes());
        // The same length reached through escapes (the slow path shifts its header).
        let escaped = format!("\"{}\"", "\\/".repeat(n));
        assert_round_trip(escaped.as_bytes());
        let arr = format!("[{}]", vec!["1"; n].join(","));
        assert_round_trip(arr.as_bytes());
        let map = format!("{{{}}}", (0..n).map(|i| format!("\"k{i}\":[{i}]")).collect::<Vec<_>>().join(","));
        assert_round_trip(map.as_bytes());
    }
    // Headers (the decoder also rejects non-minimal ones).
    assert_eq!(transcode(format!("\"{}\"", "a".repeat(31)).as_bytes()).unwrap()[0], 0xbf);
    assert_eq!(&transcode(format!("\"{}\"", "\\n".repeat(32)).as_bytes()).unwrap()[..2], [0xd9, 32]);
    assert_eq!(&transcode(format!("[{}]", vec!["0"; 16].join(",")).as_bytes()).unwrap()[..3], [0xdc, 0, 16]);
    let big_map = format!("{{{}}}", (0..65536).map(|i| format!("\"{i}\":0")).collect::<Vec<_>>().join(","));
    assert_eq!(&transcode(big_map.as_bytes()).unwrap()[..5], [0xdf, 0, 1, 0, 0]);
}

#[test]
fn nested_large_containers_keep_their_contents_when_headers_widen() {
    // Inner containers widen first, then the outer one shifts everything again.
    let inner = format!("[{}]", (0..300).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
    let row = format!("{{{}}}", (0..20).map(|i| format!("\"k{i}\":{inner}")).collect::<Vec<_>>().join(","));
    let doc = format!("[{}]", vec![row.as_str(); 17].join(","));
    assert_round_trip(doc.as_bytes());
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn depth_limit_is_128() {
    // serde_json itself accepts up to 127 levels.
    assert_round_trip(nested(127).as_bytes());
    let packed = transcode(nested(MAX_DEPTH).as_bytes()).unwrap();
    let mut expected = Value::Array(vec![]);
    for _ in 1..MAX_DEPTH {
        expected = Value::Array(vec![expected]);
    }
    assert_eq!(decode(&packed).unwrap(), expected);
    let objects = format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
    assert!(transcode(objects.as_bytes()).is_ok());

    let err = transcode(nested(MAX_DEPTH + 1).as_bytes()).unwrap_err();
    assert_eq!(err.offset, MAX_DEPTH);
    assert!(err.message.contains("nesting"), "{err}");
    let objects = format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH + 1), "}".repeat(MAX_DEPTH + 1));
    assert!(transcode(objects.as_bytes()).is_err());
}

#[test]
fn hostile_nesting_is_an_error_not_a_stack_overflow() {
    let open = "[".repeat(1_000_000);
    assert_eq!(transcode(open.as_bytes()).unwrap_err().offset, MAX_DEPTH);
    let mixed = "{\"a\":[".repeat(500_000);
    assert!(transcode(mixed.as_bytes()).is_err());
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn invalid_documents_are_rejected_like_serde_json_does() {
    let cases: &[(&[u8], usize)] = &[
        (b"", 0),
        (b"   ", 3),
        (b"{\"a\":1", 6),
        (b"[1,2", 4),
        (b"\"abc", 4),
        (b"\"ab\\", 4),
        (b"\"\\u12", 5),
        (b"[1,2]x", 5),
        (b"1 2", 2),
        (b"{} {}", 3),
        (b"\"\xff\"", 1),
        (b"\"ok\\n\xc3\x28\"", 5),
        (b"{\"\xe2\x82\":1}", 2),
        (b"\"a\x01\"", 2),
        (b"\"0123456789abc\x1fdef\"", 14),
        (b"\"0123456789\\n012345678\x00\"", 22),
        (b"[\"0123456789abcdef\n0123\"]", 18),
        (b"\"a\\n\tb\"", 4),
        (b"\"\\x\"", 2),
        (b"\"\\u12G4\"", 5),
        (b"01", 1),
        (b"1.", 2),
        (b"1.e5", 2),
        (b"-", 1),
        (b"-a", 1),
        (b"1e", 2),
        (b"1e+", 3),
        (b"+1", 0),
        (b".5", 0),
        (b"tru", 0),
        (b"nul", 0),
        (b"True", 0),
        (b"[1,]", 3),
        (b"[,1]", 1),
        (b"{\"a\" 1}", 5),
        (b"{1:2}", 1),
        (b"{\"a\":1,}", 7),
        (b"{\"a\":1]", 6),
        (b"[1}", 2),
        (b"1e400", 0),
        (b"-1e400", 0),
    ];
    for &(json, offset) in cases {
        let shown = String::from_utf8_lossy(json);
        assert!(serde_json::from_slice::<Value>(json).is_err(), "serde_json accepts {shown}");
        let mut out = b"keep".to_vec();
        let err = json_to_msgpack(&mut out, json).expect_err(&shown);
        assert_eq!(err.offset, offset, "offset for {shown}: {err}");
        assert_eq!(out, b"keep", "output changed after error on {shown}");
        assert!(err.to_string().contains(&format!("byte {offset}")));
    }
}

#[test]
fn every_truncation_of_a_document_is_an_error() {
    let doc = br#"{"a":[1,-2.5e3,true,false,null,"x\u00e9\"y",{"b":{}}],"c":"\ud83d\ude00"}"#;
    assert_round_trip(doc);
    for cut in 0..doc.len() {
        let mut out = Vec::new();
        let err = json_to_msgpack(&mut out, &doc[..cut]).expect_err(&cut.to_string());
        assert!(out.is_empty());
        assert!(err.offset <= cut, "offset {} past cut {cut}", err.offset);
    }
}

#[test]
fn unpaired_surrogates_become_replacement_characters() {
    let cases: &[(&str, &str)] = &[
        (r#""\ud800""#, "\u{fffd}"),
        (r#""\udc00""#, "\u{fffd}"),
        (r#""a\ud800b""#, "a\u{fffd}b"),
        (r#""\ud800\u0041""#, "\u{fffd}A"),
        (r#""\ud800\n""#, "\u{fffd}\n"),
        (r#""\udfff\ud800""#, "\u{fffd}\u{fffd}"),
        (r#""\ud800\ud83d\ude00""#, "\u{fffd}😀"),
        (r#""\ude00\ud83d\ude00\ud83d""#, "\u{fffd}😀\u{fffd}"),
    ];
    for &(json, want) in cases {
        let packed = transcode(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(decode(&packed).unwrap(), Value::String(want.into()), "{json}");
    }
    // A broken second escape is still an error.
    assert!(transcode(br#""\ud800\u12""#).is_err());
}

// ---------------------------------------------------------------------------------------------
// Fluent Bit records

fn event_time(secs: u32, nanos: u32) -> Vec<u8> {
    let mut v = vec![0xd7, 0x00];
    v.extend_from_slice(&secs.to_be_bytes());
    v.extend_from_slice(&nanos.to_be_bytes());
    v
}

#[test]
fn record_without_metadata_is_eventtime_then_body() {
    let mut out = Vec::new();
    fluent_bit_record(&mut out, 0x6553_f100, 123_456_789, &[], br#"{"a":1}"#).unwrap();
    let mut want = vec![0x92];
    want.extend(event_time(0x6553_f100, 123_456_789));
    want.extend_from_slice(&[0x81, 0xa1, b'a', 0x01]);
    assert_eq!(out, want);
    // Exact EventTime bytes: ext type 0, big-endian, never the timestamp ext -1.
    assert_eq!(&out[1..11], [0xd7, 0x00, 0x65, 0x53, 0xf1, 0x00, 0x07, 0x5b, 0xcd, 0x15]);
}

#[test]
fn record_with_metadata_nests_eventtime_and_metadata_map() {
    let mut out = Vec::new();
    let body = br#" {"id":"x","n":[1,2]} "#;
    fluent_bit_record(&mut out, 1, 2, &[("source", "slack"), ("k", "")], body).unwrap();
    let mut want = vec![0x92, 0x92];
    want.extend(event_time(1, 2));
    want.push(0x82);
    for s in ["source", "slack", "k", ""] {
        want.push(0xa0 | s.len() as u8);
        want.extend_from_slice(s.as_bytes());
    }
    let body_start = want.len();
    assert_eq!(&out[..body_start], want);
    assert_eq!(decode(&out[body_start..]).unwrap(), serde_json::json!({"id":"x","n":[1,2]}));
}

#[test]
fn records_concatenate_and_large_metadata_uses_map16() {
    let meta: Vec<(String, String)> = (0..20).map(|i| (format!("k{i}"), "v".repeat(i * 20))).collect();
    let meta_refs: Vec<(&str, &str)> = meta.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut out = Vec::new();
    for i in 0..3u32 {
        fluent_bit_record(&mut out, i, u32::MAX, &meta_refs, format!(r#"{{"i":{i}}}"#).as_bytes()).unwrap();
    }
    // Walk the three records with the strict decoder, reading the EventTime by hand.
    let mut d = Decoder { b: &out, i: 0 };
    for i in 0..3u32 {
        assert_eq!(d.take(2).unwrap(), [0x92, 0x92]);
        assert_eq!(d.take(10).unwrap(), event_time(i, u32::MAX));
        assert_eq!(d.take(3).unwrap(), [0xde, 0, 20]);
        let Value::Object(_) = d.map(0).unwrap() else { unreachable!() };
        for (k, v) in &meta {
            assert_eq!(d.value().unwrap(), Value::String(k.clone()));
            assert_eq!(d.value().unwrap(), Value::String(v.clone()));
        }
        assert_eq!(d.value().unwrap(), serde_json::json!({ "i": i }));
    }
    assert_eq!(d.i, out.len());
}

#[test]
fn record_errors_leave_the_buffer_unchanged() {
    let bodies: &[&[u8]] = &[
        b"[1,2]",
        b"\"str\"",
        b"42",
        b"",
        b"{\"a\":",
        b"{\"a\":1} x",
        b"{\"a\":\"\xff\"}",
        b"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1",
    ];
    let mut out = Vec::new();
    fluent_bit_record(&mut out, 5, 6, &[], b"{}").unwrap();
    let before = out.clone();
    for body in bodies {
        for meta in [&[][..], &[("a", "b")][..]] {
            let r = fluent_bit_record(&mut out, 7, 8, meta, body);
            assert!(r.is_err(), "{}", String::from_utf8_lossy(body));
            assert_eq!(out, before);
        }
    }
}
