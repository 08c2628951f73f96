//! Encoder throughput on one full page (9,999 realistic audit entries), against plain serde_json
//! validation (`from_slice::<IgnoredAny>`) of the same bytes.
//!
//! Run: `cargo bench --bench encode`. Prints a table and writes `target/bench-encode.json`.
//! Targets: Fluent Bit records at most 3.0x, NDJSON at most 2.0x the validation time.

use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use slack_audit::format::encode::{fluent_bit_record, ndjson_line};
use std::hint::black_box;
use std::time::{Duration, Instant};

const ENTRIES: usize = 9_999;
const RUNS: usize = 21;

/// splitmix64: deterministic, so every run measures the same page.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn id(&mut self, prefix: char) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut s = String::from(prefix);
        for _ in 0..10 {
            s.push(ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char);
        }
        s
    }
}

const ACTIONS: &[&str] = &[
    "user_login",
    "user_logout",
    "file_downloaded",
    "file_uploaded",
    "public_channel_created",
    "private_channel_created",
    "user_channel_join",
    "app_installed",
    "role_assigned",
    "pref_sso_setting_changed",
];
const NAMES: &[&str] =
    &["Ada Lovelace", "Grace Hopper", "Jürgen Müller", "Søren Kierkegaard", "山田 太郎", "Zoë O'Brien"];
const AGENTS: &[&str] = &[
    r"Mozilla\/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit\/537.36 Slack\/4.41.105",
    r"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36",
    "com.tinyspeck.chatlyio/24.11.10 (iPhone; iOS 18.1.1; Scale/3.00)",
];

fn entry(rng: &mut Rng, n: usize) -> String {
    let uuid = format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        rng.next() as u32,
        rng.next() as u16,
        rng.next() as u16,
        rng.next() as u16,
        rng.next() & 0xffff_ffff_ffff
    );
    let name = rng.pick(NAMES);
    let login = name.split(' ').next().unwrap_or("user").to_lowercase();
    let action = rng.pick(ACTIONS);
    let (entity_type, entity) = match n % 3 {
        0 => (
            "channel",
            format!(
                r#"{{"id":"{}","privacy":"{}","name":"proj-{}","is_shared":false,"is_org_shared":{}}}"#,
                rng.id('C'),
                if n % 2 == 0 { "public" } else { "private" },
                rng.below(5000),
                n % 5 == 0
            ),
        ),
        1 => (
            "file",
            format!(
                r#"{{"id":"{}","name":"report-{}.pdf","filetype":"pdf","title":"Quarterly report \"Q{}\""}}"#,
                rng.id('F'),
                rng.below(100_000),
                rng.below(4) + 1
            ),
        ),
        _ => (
            "user",
            format!(
                r#"{{"id":"{}","name":"{}","email":"{}@example.com","team":"{}"}}"#,
                rng.id('U'),
                name,
                login,
                rng.id('T')
            ),
        ),
    };
    format!(
        concat!(
            r#"{{"id":"{uuid}","date_create":{date},"action":"{action}","#,
            r#""actor":{{"type":"user","user":{{"id":"{uid}","name":"{name}","email":"{login}@example.com","team":"{team}"}}}},"#,
            r#""entity":{{"type":"{etype}","{etype}":{entity}}},"#,
            r#""context":{{"location":{{"type":"enterprise","id":"{eid}","name":"Example Corp","domain":"example-corp"}},"#,
            r#""ua":"{ua}","ip_address":"10.{a}.{b}.{c}","session_id":{session}}},"#,
            r#""details":{{"is_internal_integration":{internal},"scopes":["chat:write"],"#,
            r#""previous_value":{{"enabled":false,"ttl_seconds":{ttl}}},"new_value":{{"enabled":true,"ttl_seconds":{ttl2},"ratio":{ratio}}}}}}}"#
        ),
        uuid = uuid,
        date = 1_700_000_000 + rng.below(30_000_000),
        action = action,
        uid = rng.id('W'),
        name = name,
        login = login,
        team = rng.id('T'),
        etype = entity_type,
        entity = entity,
        eid = rng.id('E'),
        ua = rng.pick(AGENTS),
        a = rng.below(256),
        b = rng.below(256),
        c = rng.below(256),
        session = 1_000_000_000_000u64 + rng.below(9_000_000_000_000),
        internal = n % 7 == 0,
        ttl = rng.below(100_000),
        ttl2 = rng.below(100_000),
        ratio = rng.below(1000) as f64 / 7.0,
    )
}

fn page() -> String {
    let mut rng = Rng(0x5eed);
    let entries: Vec<String> = (0..ENTRIES).map(|n| entry(&mut rng, n)).collect();
    format!(
        r#"{{"ok":true,"entries":[{}],"response_metadata":{{"next_cursor":"dXNlcjpVMEc5V0ZYTlo="}}}}"#,
        entries.join(",")
    )
}

#[derive(serde::Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    entries: Vec<&'a RawValue>,
}

/// Best and median of `RUNS` runs (the best is the least disturbed by a busy machine).
fn measure(mut f: impl FnMut()) -> (Duration, Duration) {
    f();
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[0], times[RUNS / 2])
}

fn main() {
    let page = page();
    let parsed: Page = serde_json::from_str(&page).expect("generated page parses");
    let entries: Vec<&[u8]> = parsed.entries.iter().map(|e| e.get().as_bytes()).collect();
    let entry_bytes: usize = entries.iter().map(|e| e.len()).sum();
    let mut out = Vec::with_capacity(entry_bytes * 2);

    let cases: Vec<(&str, (Duration, Duration))> = vec![
        (
            "serde_json IgnoredAny, whole page",
            measure(|| {
                black_box(serde_json::from_slice::<IgnoredAny>(black_box(page.as_bytes())).unwrap());
            }),
        ),
        (
            "serde_json IgnoredAny, per entry",
            measure(|| {
                for e in &entries {
                    black_box(serde_json::from_slice::<IgnoredAny>(black_box(e)).unwrap());
                }
            }),
        ),
        (
            "ndjson_line",
            measure(|| {
                out.clear();
                for e in &entries {
                    ndjson_line(&mut out, e);
                }
                black_box(&out);
            }),
        ),
        (
            "fluent_bit_record",
            measure(|| {
                out.clear();
                for e in &entries {
                    fluent_bit_record(&mut out, 1_700_000_000, 0, &[("source", "slack_audit")], e).unwrap();
                }
                black_box(&out);
            }),
        ),
    ];

    let baseline = cases[0].1 .0.as_secs_f64();
    let mb = entry_bytes as f64 / 1e6;
    println!(
        "page: {ENTRIES} entries, {entry_bytes} bytes of entries ({:.0} bytes each), {} bytes total; best of {RUNS} runs (median in parentheses)",
        entry_bytes as f64 / ENTRIES as f64,
        page.len()
    );
    println!("{:<36} {:>10} {:>10} {:>14} {:>14}", "case", "ms", "MB/s", "events/s", "x IgnoredAny");
    let mut json = String::from("{\n");
    json.push_str(&format!(
        "  \"entries\": {ENTRIES},\n  \"entry_bytes\": {entry_bytes},\n  \"runs\": {RUNS},\n  \"cases\": [\n"
    ));
    for (i, (name, (best, median))) in cases.iter().enumerate() {
        let secs = best.as_secs_f64();
        let ratio = secs / baseline;
        println!(
            "{:<36} {:>10.3} {:>10.0} {:>14.0} {:>14.2}   (median {:.3} ms)",
            name,
            secs * 1e3,
            mb / secs,
            ENTRIES as f64 / secs,
            ratio,
            median.as_secs_f64() * 1e3
        );
        json.push_str(&format!(
            "    {{\"name\": \"{name}\", \"best_ms\": {:.4}, \"median_ms\": {:.4}, \"mb_per_s\": {:.1}, \"events_per_s\": {:.0}, \"ratio_to_ignored_any\": {:.3}}}{}\n",
            secs * 1e3,
            median.as_secs_f64() * 1e3,
            mb / secs,
            ENTRIES as f64 / secs,
            ratio,
            if i + 1 < cases.len() { "," } else { "" }
        ));
    }
    json.push_str("  ]\n}\n");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join("bench-encode.json");
    match std::fs::write(&path, json) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
