//! Issue 5, hostile input: seeded property/fuzz tests of every parser that reads bytes from
//! outside (Slack's pages, config, state files, the msgpack encoder). No panic, no stack
//! overflow, bounded memory. `SLACK_AUDIT_FUZZ_ITERS` sets the mutation count (`make fuzz`
//! runs many); `SLACK_AUDIT_SEED` replays a run.

mod common;

use common::{seed, Rng};
use slack_audit::config::Config;
use slack_audit::format::encode::json_to_msgpack;
use slack_audit::source::audit::parse_audit_page;
use slack_audit::store::state::parse_state_file;
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Counts live heap bytes and their peak, to bound the memory a parser may use.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            if new >= l.size() {
                let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Tests of this file run one at a time so the peak measures one parser.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Heap bytes `f` needed above what was live when it started (its result included).
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    (r, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

fn iters(default: usize) -> usize {
    std::env::var("SLACK_AUDIT_FUZZ_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Bytes that make JSON parsers work hard: structure, escapes, numbers, non-UTF-8.
const SPICE: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b"\\u",
    b"\\ud800",
    b",",
    b":",
    b"null",
    b"-",
    b"1e999",
    b"0.",
    b"\xff",
    b"\xc3",
    b"\x00",
    b"\n",
    b"99999999999999999999",
    b"\"id\"",
    b"\"date_create\"",
    b"\"schema\"",
    b"true",
];

/// One random mutation: flip, insert, delete, duplicate a slice, truncate, or splice in spice.
fn mutate(rng: &mut Rng, doc: &[u8]) -> Vec<u8> {
    let mut d = doc.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(d.len() + 1);
        match rng.below(6) {
            0 if !d.is_empty() => {
                let i = at.min(d.len() - 1);
                d[i] ^= 1 << rng.below(8);
            }
            1 => d.insert(at, rng.next() as u8),
            2 if at < d.len() => {
                let n = rng.below(16).min(d.len() - at);
                d.drain(at..at + n);
            }
            3 if at < d.len() => {
                let n = rng.below(64).min(d.len() - at);
                let s = d[at..at + n].to_vec();
                d.splice(at..at, s);
            }
            4 => d.truncate(at),
            _ => {
                let s = SPICE[rng.below(SPICE.len())];
                d.splice(at..at, s.iter().copied());
            }
        }
    }
    d
}

fn entry(i: usize, date: i64) -> String {
    format!(
        r#"{{"id":"0000-{i:08}","date_create":{date},"action":"user_login","actor":{{"type":"user","user":{{"id":"W{i}","name":"n","email":"e@x","team":"T1"}}}},"entity":{{"type":"user","user":{{"id":"W2","name":"m"}}}},"context":{{"location":{{"type":"enterprise","id":"E1","name":"org","domain":"org"}},"ua":"ua","ip_address":"","session_id":1}},"details":{{"k":[1,2.5,"s",null,true]}}}}"#
    )
}

fn page(n: usize) -> Vec<u8> {
    let entries: Vec<String> = (0..n).map(|i| entry(i, 1_700_000_000 - i as i64)).collect();
    format!(r#"{{"entries":[{}],"response_metadata":{{"next_cursor":"dXNlcjpVMEc5V0ZYTlo="}}}}"#, entries.join(","))
        .into_bytes()
}

/// `f` on a thread with a 1 MiB stack: a parser that recursed per nesting level would overflow.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(1 << 20).spawn(f).unwrap().join().expect("parser panicked")
}

/// A 50 000-entry page parses completely with memory bounded by a small multiple of its size.
#[test]
fn huge_page_parses_with_bounded_memory() {
    let _g = serial();
    let body = page(50_000);
    let len = body.len();
    let (r, peak) = peak_of(|| parse_audit_page(body));
    let p = r.expect("a valid page");
    assert_eq!(p.entries.len(), 50_000);
    eprintln!("huge page: {} MB body, {} MB peak heap while parsing", len >> 20, peak >> 20);
    // The body is kept (entries are byte ranges into it) plus one small index per entry.
    assert!(peak < 2 * len + (16 << 20), "parsing a {len}-byte page used {peak} bytes");
    let mut out = Vec::new();
    let (r, peak) = peak_of(|| json_to_msgpack(&mut out, p.entry_bytes(&p.entries[0])));
    r.unwrap();
    assert!(peak < 1 << 16, "{peak}");
}

/// 10 000 levels of nesting in `details`, at the top level and in a state or config file are
/// handled without stack overflow: a deep `details` passes through (skipped iteratively), the
/// rest are errors.
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let _g = serial();
    let deep = |open: &str, close: &str| format!("{}1{}", open.repeat(10_000), close.repeat(10_000));
    for details in [deep("[", "]"), deep(r#"{"a":"#, "}")] {
        let body = format!(
            r#"{{"entries":[{{"id":"x","date_create":1,"details":{details}}}],"response_metadata":{{"next_cursor":""}}}}"#
        );
        // serde_json's recursion limit does NOT apply here: RawValue and ignored fields are
        // skipped iteratively, so the page parses (on a small stack) and the entry passes through.
        let b = body.clone().into_bytes();
        let r = small_stack(move || parse_audit_page(b).map(|p| p.entries.len()));
        assert_eq!(r, Ok(1), "a deep `details` is valid JSON and must not lose the entry");
        let b = details.clone().into_bytes();
        let r = small_stack(move || parse_audit_page(b).map(|p| p.entries.len()));
        assert!(r.is_err());
        let b = body.clone().into_bytes();
        let r = small_stack(move || parse_state_file(&b, Path::new("/x/audit.json"), "audit").map(|_| ()));
        assert!(r.is_err());
        let r = small_stack(move || Config::from_json(&body, &[]).map(|_| ()));
        assert!(r.is_err());
        let b = details.into_bytes();
        let r = small_stack(move || json_to_msgpack(&mut Vec::new(), &b));
        assert!(r.is_err(), "msgpack encoder accepted 10 000 levels");
    }
}

/// Wrong types for `id`/`date_create`, missing fields and non-UTF-8 bytes are errors, and
/// tolerated shapes (date as string or float) read the right second.
#[test]
fn wrong_types_missing_fields_and_non_utf8_are_errors() {
    let _g = serial();
    let wrap = |e: &str| format!(r#"{{"entries":[{e}],"response_metadata":{{"next_cursor":""}}}}"#).into_bytes();
    for bad in [
        r#"{"id":1,"date_create":1}"#,
        r#"{"id":null,"date_create":1}"#,
        r#"{"id":{"a":1},"date_create":1}"#,
        r#"{"id":"","date_create":1}"#,
        r#"{"id":"a","date_create":{"s":1}}"#,
        r#"{"id":"a","date_create":[1]}"#,
        r#"{"id":"a","date_create":true}"#,
        r#"{"id":"a","date_create":null}"#,
        r#"{"id":"a","date_create":"soon"}"#,
        r#"{"id":"a","date_create":-5}"#,
        r#"{"id":"a","date_create":1e300}"#,
        r#"{"id":"a","date_create":"NaN"}"#,
        r#"{"id":"a"}"#,
        r#"{"date_create":1}"#,
        "[]",
        "7",
        "\"s\"",
    ] {
        let r = parse_audit_page(wrap(bad));
        // 1e300 and -5 fit no second: they must be refused or at least not wrap around.
        match r {
            Err(_) => {}
            Ok(p) => assert!(p.entries.iter().all(|e| e.time >= 0), "{bad}: negative second accepted"),
        }
    }
    for (ok, want) in [
        (r#"{"id":"a","date_create":"1700000000"}"#, 1_700_000_000),
        (r#"{"id":"a","date_create":1700000000.9}"#, 1_700_000_000),
    ] {
        let p = parse_audit_page(wrap(ok)).expect(ok);
        assert_eq!(p.entries[0].time, want);
    }
    for body in
        [&b"{\"entries\":[{\"id\":\"\xff\xfe\",\"date_create\":1}]}"[..], b"\xef\xbb\xbf{}", b"", b"{\"entries\":null}"]
    {
        assert!(parse_audit_page(body.to_vec()).is_err(), "{}", String::from_utf8_lossy(body));
    }
    assert!(parse_state_file(b"{\"schema\":1,\"stream\":\"\xff\"}", Path::new("s"), "audit").is_err());
    assert!(json_to_msgpack(&mut Vec::new(), b"{\"a\":\"\xff\"}").is_err());
    assert!(Config::from_json("{\"limit\": \"\u{0}\"}", &[]).is_err());
}

/// Random byte mutations of valid documents never panic any parser; whatever a parser accepts
/// is consistent (page entries lie inside the body; msgpack output is produced only on success).
#[test]
fn random_mutations_never_panic() {
    let _g = serial();
    let seed = seed();
    let n = iters(4_000);
    eprintln!("hostile input: seed {seed}, {n} mutations per parser (SLACK_AUDIT_SEED / SLACK_AUDIT_FUZZ_ITERS)");
    let mut rng = Rng(seed);
    let page = page(3);
    // a real state file, written by the store itself
    let tmp = tempfile::tempdir().unwrap();
    let state_vec = {
        let (store, _) = slack_audit::store::state::open_stream(tmp.path(), "audit", "audit").unwrap();
        let st = slack_audit::source::StreamState {
            delivered_total: 99,
            ..slack_audit::source::StreamState::audit(slack_audit::source::audit::window::AuditState {
                checkpoint: Some(1_700_000_000),
                ..Default::default()
            })
        };
        store.save(&st).unwrap();
        std::fs::read(store.path()).unwrap()
    };
    let state = &state_vec[..];
    let config = br#"{"token":"xoxp-1","api_url":"http://127.0.0.1:9/audit/v1","sources":"audit,access","actions":"user_login","since":"30d","limit":500,"lag":5,"overlap":"600","max_calls_per_minute":30,"tls_insecure":false,"state_dir":"/tmp/x"}"#;
    // the unmutated documents are valid, so mutations start from something each parser accepts
    assert!(parse_audit_page(page.clone()).is_ok());
    parse_state_file(state, Path::new("/s/audit.json"), "audit").expect("base state document");
    Config::from_json(std::str::from_utf8(config).unwrap(), &[]).expect("base config document");
    let (mut accepted, mut total) = ([0usize; 4], 0usize);
    for _ in 0..n {
        total += 1;
        let m = mutate(&mut rng, &page);
        let len = m.len();
        if let Ok(p) = parse_audit_page(m) {
            accepted[0] += 1;
            assert!(p.entries.iter().all(|e| e.start <= e.end && e.end <= len));
        }
        if parse_state_file(&mutate(&mut rng, state), Path::new("/s/audit.json"), "audit").is_ok() {
            accepted[1] += 1;
        }
        let c = mutate(&mut rng, config);
        if Config::from_json(&String::from_utf8_lossy(&c), &[]).is_ok() {
            accepted[2] += 1;
        }
        let mut out = vec![0xAA];
        let j = mutate(&mut rng, entry(1, 5).as_bytes());
        match json_to_msgpack(&mut out, &j) {
            Ok(()) => {
                accepted[3] += 1;
                assert!(out.len() > 1);
            }
            Err(_) => assert_eq!(out, vec![0xAA], "a failed encode left bytes behind"),
        }
        // pairs with random keys and values
        let key = ["limit", "lag", "since", "api_url", "sources", "overlap", "interval", "nope", ""][rng.below(9)];
        let val = String::from_utf8_lossy(&mutate(&mut rng, b"30d")).into_owned();
        let _ = Config::from_pairs([(key.to_string(), val)]);
    }
    eprintln!(
        "hostile input: {total} rounds; accepted page {}, state {}, config {}, msgpack {}",
        accepted[0], accepted[1], accepted[2], accepted[3]
    );
}

/// An entry nested deeper than msgpack's limit (valid JSON, which Slack may send) still reaches
/// a Fluent Bit host: the batch encodes instead of failing, which would stall the stream.
#[test]
fn deeply_nested_entry_still_encodes_for_fluent_bit() {
    use slack_audit::ffi::*;
    use std::ffi::CString;
    let _g = serial();
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let now = slack_audit::config::now_unix();
    let body = format!(
        r#"{{"ok":true,"entries":[{{"id":"deep-1","date_create":{},"action":"x","details":{deep}}},{{"id":"flat-2","date_create":{},"action":"y"}}],"response_metadata":{{"next_cursor":""}}}}"#,
        now - 100,
        now - 200
    );
    let server = common::Scripted::start(vec![common::Reply::json(200, &body)]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({
        "token": "xoxp-t", "api_url": format!("{}/audit/v1", server.url), "state_dir": dir.path(),
        "lag": 0, "since": (now - 3600).to_string(), "interval": 3600,
    });
    let cfg = CString::new(cfg.to_string()).unwrap();
    let mut err = [0 as std::ffi::c_char; 512];
    let msg = |e: &[std::ffi::c_char]| unsafe { std::ffi::CStr::from_ptr(e.as_ptr()) }.to_string_lossy().into_owned();
    let mut h = std::ptr::null_mut();
    assert_eq!(
        slack_audit_new(cfg.as_ptr(), &mut h, err.as_mut_ptr(), err.len()),
        SlackAuditStatus::SLACK_AUDIT_OK,
        "{}",
        msg(&err)
    );
    let t0 = std::time::Instant::now();
    let batch = loop {
        assert!(t0.elapsed() < std::time::Duration::from_secs(30), "no batch");
        let mut b = std::ptr::null_mut();
        let st = slack_audit_collect(h, 500, &mut b, err.as_mut_ptr(), err.len());
        if st == SlackAuditStatus::SLACK_AUDIT_OK && !b.is_null() {
            break b;
        }
    };
    assert_eq!(slack_audit_batch_len(batch), 2);
    let (mut data, mut len) = (std::ptr::null(), 0usize);
    let st = slack_audit_batch_msgpack(batch, &mut data, &mut len, err.as_mut_ptr(), err.len());
    assert_eq!(st, SlackAuditStatus::SLACK_AUDIT_OK, "msgpack of a batch with a deep entry: {}", msg(&err));
    assert!(len > 0);
    // SAFETY: valid until the batch is freed.
    let bytes = unsafe { std::slice::from_raw_parts(data, len) };
    let text = String::from_utf8_lossy(bytes);
    assert!(text.contains("deep-1") && text.contains("flat-2"), "both entries are handed over");
    assert_eq!(slack_audit_ack(h, batch, err.as_mut_ptr(), err.len()), SlackAuditStatus::SLACK_AUDIT_OK);
    slack_audit_batch_free(batch);
    slack_audit_shutdown(h);
}
