//! NDJSON lines: one entry is always exactly one line, and compact entries are copied as is.

use serde_json::Value;
use slack_audit::format::encode::ndjson_line;

fn line(entry: &[u8]) -> Vec<u8> {
    let mut out = b"prev\n".to_vec();
    ndjson_line(&mut out, entry);
    assert!(out.starts_with(b"prev\n"), "existing output must be kept");
    out.split_off(5)
}

fn assert_one_line_same_value(entry: &[u8]) -> Vec<u8> {
    let out = line(entry);
    assert_eq!(out.last(), Some(&b'\n'));
    let body = &out[..out.len() - 1];
    assert!(!body.contains(&b'\n') && !body.contains(&b'\r'), "{}", String::from_utf8_lossy(&out));
    let want: Value = serde_json::from_slice(entry).unwrap();
    let got: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(got, want);
    out
}

#[test]
fn compact_entries_are_copied_unchanged() {
    let entries: &[&[u8]] = &[
        br#"{"id":"a","details":{"x":[1,2.50,"\u00e9"]}}"#,
        br#"{ "spaced" : "kept as sent",	"tab" : 1 }"#,
        b"{\"ua\":\"Mozilla\\/5.0\",\"s\":\"line\\nbreak \\r\"}",
        "{\"name\":\"Zoë 中文\"}".as_bytes(),
        b"1",
        b"",
    ];
    for &e in entries {
        let mut want = e.to_vec();
        want.push(b'\n');
        assert_eq!(line(e), want);
    }
    // Long input, so the block-wise check is exercised beyond its tail loop.
    let long = format!("{{\"k\":\"{}\"}}", "x".repeat(1000));
    assert_eq!(line(long.as_bytes()), format!("{long}\n").into_bytes());
}

#[test]
fn pretty_printed_entries_become_one_line() {
    let value = serde_json::json!({
        "id": "6b7d-11ee",
        "date_create": 1700000000,
        "actor": {"type": "user", "user": {"id": "W1", "name": "Ada  Lovelace"}},
        "details": {"list": [1, -2.5, true, null, {}, []], "text": "a\nb\r\n \"c\" \\ d\t"},
    });
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    assert!(pretty.contains('\n'));
    let out = assert_one_line_same_value(pretty.as_bytes());
    // Whitespace outside strings is gone; inside strings it is untouched.
    let compact = serde_json::to_string(&value).unwrap();
    assert_eq!(out, format!("{compact}\n").into_bytes());

    let crlf = pretty.replace('\n', "\r\n");
    assert_one_line_same_value(crlf.as_bytes());
    let cr_only = pretty.replace('\n', "\r");
    assert_one_line_same_value(cr_only.as_bytes());
}

#[test]
fn escaped_newlines_and_quotes_in_strings_are_untouched() {
    let entry = b"{\n  \"msg\": \"first\\nsecond \\\" still string\\\\\",\n  \"x\": \"a  b\"\n}";
    let out = assert_one_line_same_value(entry);
    assert_eq!(out, b"{\"msg\":\"first\\nsecond \\\" still string\\\\\",\"x\":\"a  b\"}\n");
}

#[test]
fn raw_line_breaks_inside_strings_are_escaped_to_keep_one_line() {
    // Not valid JSON, but the line promise must hold anyway.
    let out = line(b"{\"a\":\"x\ny\rz\"}");
    assert_eq!(out, b"{\"a\":\"x\\ny\\rz\"}\n");
}

#[test]
fn line_break_anywhere_in_a_long_entry_triggers_compaction() {
    let body = format!("\"k\":\"{}\"}}", "y".repeat(120));
    for pad in [0usize, 1, 30, 31, 32, 33, 63, 64, 100] {
        let leading = format!("{{{}\n{body}", " ".repeat(pad));
        let out = assert_one_line_same_value(leading.as_bytes());
        assert_eq!(out, format!("{{{body}\n").into_bytes());
        let trailing = format!("{{{}{body}\r", " ".repeat(pad));
        assert_one_line_same_value(trailing.as_bytes());
    }
}
