//! The synthetic organization and its audit entries.
//!
//! Nothing here holds rendered entries: an entry is a pure function of `(seed, idx, date_create)`
//! and is written straight into the response buffer. The pools (users, channels, apps, ...) are
//! small and pre-rendered as JSON fragments, so rendering an entry is mostly `memcpy`.

use std::collections::HashSet;

pub use crate::config::Dataset;

/// Stateless 64-bit mixer (splitmix64's finalizer).
#[inline]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of (seed, index, salt): the only source of randomness for the dataset.
#[inline]
pub(crate) fn h3(seed: u64, idx: u64, salt: u64) -> u64 {
    mix(seed ^ mix(idx.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ salt.wrapping_mul(0xA076_1D64_78BD_642F)))
}

/// A small deterministic generator for per-request decisions.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Formatting helpers (no allocation, no serde).

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

pub(crate) fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

pub(crate) fn push_hex(out: &mut Vec<u8>, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (i * 4)) & 0xf) as usize]);
    }
}

/// Writes `s` as the inside of a JSON string (escaping quotes, backslashes and controls).
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                push_hex(out, b as u64, 2);
            }
            _ => out.push(b),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Actions.

/// What an action acts on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    User,
    Channel,
    File,
    App,
    Workspace,
    Enterprise,
    Message,
    Workflow,
    Role,
    Usergroup,
    Barrier,
    Huddle,
    /// The `varied` dataset only (see `varied.rs`).
    WorkflowV2,
    AccountTypeRole,
    List,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Channel => "channel",
            Kind::File => "file",
            Kind::App => "app",
            Kind::Workspace => "workspace",
            Kind::Enterprise => "enterprise",
            Kind::Message => "message",
            Kind::Workflow => "workflow",
            Kind::Role => "role",
            Kind::Usergroup => "usergroup",
            Kind::Barrier => "barrier",
            Kind::Huddle => "huddle",
            Kind::WorkflowV2 => "workflow_v2",
            Kind::AccountTypeRole => "account_type_role",
            Kind::List => "list",
        }
    }
}

pub(crate) struct Action {
    pub name: &'static str,
    pub category: &'static str,
    pub kind: Kind,
    /// Relative frequency in the generated dataset.
    pub weight: u32,
}

const fn act(name: &'static str, category: &'static str, kind: Kind, weight: u32) -> Action {
    Action { name, category, kind, weight }
}

/// The categories of `/actions`, in Slack's order.
pub(crate) const CATEGORIES: &[&str] = &["workspace_or_org", "user", "file", "channel", "app", "other"];

/// Audit action names as Slack spells them (a realistic subset).
pub(crate) static ACTIONS: &[Action] = &[
    act("workspace_created", "workspace_or_org", Kind::Workspace, 1),
    act("workspace_deleted", "workspace_or_org", Kind::Workspace, 1),
    act("organization_created", "workspace_or_org", Kind::Enterprise, 1),
    act("pref_sso_setting_changed", "workspace_or_org", Kind::Workspace, 2),
    act("pref_two_factor_auth_changed", "workspace_or_org", Kind::Workspace, 2),
    act("pref_session_duration_changed", "workspace_or_org", Kind::Enterprise, 2),
    act("manual_export_started", "workspace_or_org", Kind::Workspace, 1),
    act("manual_export_completed", "workspace_or_org", Kind::Workspace, 1),
    act("ekm_enrolled", "workspace_or_org", Kind::Enterprise, 1),
    act("user_created", "user", Kind::User, 4),
    act("user_deactivated", "user", Kind::User, 3),
    act("user_reactivated", "user", Kind::User, 1),
    act("role_change_to_admin", "user", Kind::User, 1),
    act("role_change_to_owner", "user", Kind::User, 1),
    act("role_change_to_user", "user", Kind::User, 1),
    act("user_email_updated", "user", Kind::User, 2),
    act("user_login", "user", Kind::User, 60),
    act("user_logout", "user", Kind::User, 25),
    act("user_login_failed", "user", Kind::User, 6),
    act("guest_created", "user", Kind::User, 2),
    act("user_session_reset_by_admin", "user", Kind::User, 1),
    act("role_assigned", "user", Kind::Role, 2),
    act("role_removed", "user", Kind::Role, 1),
    act("file_downloaded", "file", Kind::File, 40),
    act("file_uploaded", "file", Kind::File, 20),
    act("file_public_link_created", "file", Kind::File, 3),
    act("file_public_link_revoked", "file", Kind::File, 1),
    act("file_shared", "file", Kind::File, 10),
    act("file_downloaded_blocked", "file", Kind::File, 1),
    act("channel_created", "channel", Kind::Channel, 3),
    act("public_channel_created", "channel", Kind::Channel, 3),
    act("private_channel_created", "channel", Kind::Channel, 3),
    act("channel_deleted", "channel", Kind::Channel, 1),
    act("public_channel_archive", "channel", Kind::Channel, 1),
    act("user_channel_join", "channel", Kind::Channel, 15),
    act("user_channel_leave", "channel", Kind::Channel, 6),
    act("channel_moved", "channel", Kind::Channel, 1),
    act("app_installed", "app", Kind::App, 3),
    act("app_uninstalled", "app", Kind::App, 1),
    act("app_scopes_expanded", "app", Kind::App, 2),
    act("app_resources_added", "app", Kind::App, 1),
    act("app_approved", "app", Kind::App, 1),
    act("app_restricted", "app", Kind::App, 1),
    act("bot_token_upgraded", "app", Kind::App, 1),
    act("workflow_created", "other", Kind::Workflow, 2),
    act("workflow_published", "other", Kind::Workflow, 2),
    act("message_tombstoned", "other", Kind::Message, 2),
    act("message_restored", "other", Kind::Message, 1),
    act("usergroup_created", "other", Kind::Usergroup, 1),
    act("information_barrier_created", "other", Kind::Barrier, 1),
    act("huddle_started", "other", Kind::Huddle, 3),
    act("anomaly", "other", Kind::User, 1),
];

/// Object types listed by `/schemas`.
pub(crate) const SCHEMA_TYPES: &[&str] = &[
    "workspace",
    "enterprise",
    "user",
    "file",
    "channel",
    "app",
    "message",
    "workflow",
    "role",
    "usergroup",
    "barrier",
    "huddle",
];

// ---------------------------------------------------------------------------------------------
// Pools.

/// First names as (JSON-escaped display form, ASCII form for e-mails). Some carry non-ASCII
/// characters, raw or escaped, so encoders see both.
const FIRST: &[(&str, &str)] = &[
    ("Alice", "alice"),
    ("Bob", "bob"),
    ("Carol", "carol"),
    ("Dmitri", "dmitri"),
    ("Zo\\u00eb", "zoe"),
    ("Jos\\u00e9", "jose"),
    ("Ren\u{e9}e", "renee"),
    ("Kenji", "kenji"),
    ("Aisha", "aisha"),
    ("Mar\u{ed}a", "maria"),
    ("Li", "li"),
    ("Oluwaseun", "oluwaseun"),
    ("S\u{f8}ren", "soren"),
    ("Priya", "priya"),
    ("Grace", "grace"),
    ("Tom\\u00e1s", "tomas"),
];

const LAST: &[(&str, &str)] = &[
    ("Smith", "smith"),
    ("M\u{fc}ller", "muller"),
    ("Garc\\u00eda", "garcia"),
    ("Tanaka \u{7530}\u{4e2d}", "tanaka"),
    ("O'Brien", "obrien"),
    ("Nguyen", "nguyen"),
    ("Kowalski", "kowalski"),
    ("Okafor", "okafor"),
    ("Johansson", "johansson"),
    ("Patel", "patel"),
    ("\\\"Doc\\\" Brown", "brown"),
    ("Rossi", "rossi"),
];

const WORKSPACES: &[(&str, &str)] = &[
    ("Acme Engineering", "acme-eng"),
    ("Acme Sales", "acme-sales"),
    ("Acme Support", "acme-support"),
    ("Acme M\u{fc}nchen GmbH", "acme-muenchen"),
    ("Acme \u{6771}\u{4eac}", "acme-tokyo"),
];

const CHANNELS: &[&str] = &[
    "general",
    "random",
    "eng-backend",
    "eng-frontend",
    "sec-alerts",
    "incident-response",
    "sales-emea",
    "support-tier2",
    "design",
    "announcements",
    "proj-launch",
    "caf\u{e9}-talk",
];

const FILES: &[(&str, &str, &str)] = &[
    ("Q3 report.pdf", "pdf", "Q3 report"),
    ("diagram.png", "png", "Architecture \\\"v2\\\""),
    ("customers.csv", "csv", "Customer export"),
    ("offsite-plan.docx", "docx", "Offsite plan \u{1f3d6}\u{fe0f}"),
    ("budget.xlsx", "xlsx", "Budget\\nfinal"),
    ("r\u{e9}sum\u{e9}.pdf", "pdf", "R\\u00e9sum\\u00e9"),
    ("screenshot.jpg", "jpg", "Screenshot"),
];

const APPS: &[&str] = &[
    "Google Drive",
    "Jira Cloud",
    "Zoom",
    "GitHub",
    "PagerDuty",
    "Salesforce",
    "Polly",
    "\u{dc}nicode Bot \u{1f916}",
    "Workflow Builder",
    "Okta",
];

const SCOPE_SETS: &[&str] = &[
    r#"["channels:read","chat:write"]"#,
    r#"["files:read","files:write","users:read"]"#,
    r#"["commands","incoming-webhook"]"#,
    r#"["admin.conversations:read","channels:history","groups:history"]"#,
];

const ROLES: &[&str] = &[
    "Channels Admin",
    "Users Admin",
    "Roles Admin",
    "Conversation Admin",
    "Audit Reader",
    "Security \u{2014} Incident Lead",
];

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.36.140 Chrome/120.0.6099.291 Electron/28.2.6 Safari/537.36 Sonic Slack_SSB/4.36.140",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "com.tinyspeck.chatlyio/24.03.10 (iPhone; iOS 17.3.1; Scale/3.00)",
    "Slack/24.03.10.0 (Android 14; Pixel 8)",
    "SlackAPI/python-slack-sdk 3.27.1 Python/3.11.8",
    "",
];

const REASONS: &[&str] = &[
    r#"Approved by Zo\u00eb \u2014 \"quarterly review\"\nticket SEC-42 \ud83d\ude80"#,
    "Caf\u{e9} \u{1f510} policy update (raw UTF-8)",
    r#"line one\nline two\ttabbed \\ backslash"#,
    r#"requested via \/admin, see <https://example.com/a?b=1&c=2>"#,
    "",
];

/// One pre-rendered pool member.
pub(crate) struct Ent {
    pub id: String,
    /// The object's JSON, braces included.
    pub json: Vec<u8>,
}

/// The synthetic organization: immutable after construction.
pub(crate) struct World {
    pub seed: u64,
    pub enterprise_id: String,
    pub(crate) enterprise: Ent,
    pub(crate) enterprise_loc: Vec<u8>,
    pub workspaces: Vec<Ent>,
    pub(crate) workspace_locs: Vec<Vec<u8>>,
    pub users: Vec<Ent>,
    /// Workspace index of each user.
    pub(crate) user_team: Vec<usize>,
    /// (display name, email) of each user, for the Web API.
    pub user_names: Vec<(String, String)>,
    pub(crate) channels: Vec<Ent>,
    pub(crate) files: Vec<Ent>,
    pub apps: Vec<Ent>,
    pub app_names: Vec<String>,
    pub(crate) workflows: Vec<Ent>,
    pub(crate) roles: Vec<Ent>,
    pub(crate) usergroups: Vec<Ent>,
    pub(crate) barriers: Vec<Ent>,
    pub(crate) huddles: Vec<Ent>,
    pub(crate) workflows_v2: Vec<Ent>,
    pub(crate) account_type_roles: Vec<Ent>,
    pub(crate) lists: Vec<Ent>,
    pub(crate) slack_user: Vec<u8>,
    /// The dataset's action table: [`ACTIONS`] or `varied::ACTIONS`.
    pub(crate) actions: &'static [Action],
    pub(crate) dataset: Dataset,
    pub(crate) action_cumulative: Vec<u32>,
    pub(crate) action_total: u32,
}

pub(crate) const SLACK_USER: u32 = u32::MAX;

/// Parsed filters of a `/logs` request, resolved against the pools once per request.
#[derive(Default)]
pub(crate) struct Filter {
    /// Allowed action indices (None = any). An unknown name matches nothing.
    pub actions: Option<Vec<usize>>,
    /// Actor user index; `Some(None)` = an actor that does not exist.
    pub actor: Option<Option<u32>>,
    /// (kind, pool index) candidates; empty vec = matches nothing.
    pub entity: Option<Vec<(Kind, u32)>>,
}

impl Filter {
    pub(crate) fn is_empty(&self) -> bool {
        self.actions.is_none() && self.actor.is_none() && self.entity.is_none()
    }
}

/// The derived attributes of entry `idx`.
#[derive(Clone, Copy)]
pub(crate) struct Attrs {
    pub action: usize,
    pub actor: u32,
    pub ent: u32,
    pub h: u64,
}

pub(crate) fn slack_id(seed: u64, prefix: &str, kind: u64, n: u64, taken: &mut HashSet<String>) -> String {
    const B36: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut attempt = 0u64;
    loop {
        let mut v = h3(seed, n, kind * 1000 + attempt);
        let mut s = String::from(prefix);
        for _ in 0..9 {
            s.push(B36[(v % 36) as usize] as char);
            v /= 36;
        }
        if taken.insert(s.clone()) {
            return s;
        }
        attempt += 1;
    }
}

/// An object whose values are already JSON (quoted strings, numbers, arrays); both datasets.
pub(crate) fn obj(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(b'{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(v.as_bytes());
    }
    out.push(b'}');
    out
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

fn qe(s: &str) -> String {
    let mut v = Vec::new();
    push_json_str(&mut v, s);
    format!("\"{}\"", String::from_utf8(v).expect("utf8"))
}

impl World {
    /// The world of `dataset`: the classic one below, or `varied::build`'s.
    pub(crate) fn with_dataset(seed: u64, dataset: Dataset) -> World {
        match dataset {
            Dataset::Classic => World::new(seed),
            Dataset::Varied => crate::varied::build(seed),
        }
    }

    pub(crate) fn new(seed: u64) -> World {
        let mut taken = HashSet::new();
        let enterprise_id = slack_id(seed, "E", 1, 0, &mut taken);
        let enterprise = Ent {
            json: obj(&[("id", &q(&enterprise_id)), ("name", "\"Acme Corp\""), ("domain", "\"acme-corp\"")]),
            id: enterprise_id.clone(),
        };
        let enterprise_loc = obj(&[
            ("type", "\"enterprise\""),
            ("id", &q(&enterprise_id)),
            ("name", "\"Acme Corp\""),
            ("domain", "\"acme-corp\""),
        ]);
        let mut workspaces = Vec::new();
        let mut workspace_locs = Vec::new();
        for (i, (name, domain)) in WORKSPACES.iter().enumerate() {
            let id = slack_id(seed, "T", 2, i as u64, &mut taken);
            workspaces.push(Ent {
                json: obj(&[("id", &q(&id)), ("name", &q(name)), ("domain", &q(domain))]),
                id: id.clone(),
            });
            workspace_locs.push(obj(&[
                ("type", "\"workspace\""),
                ("id", &q(&id)),
                ("name", &q(name)),
                ("domain", &q(domain)),
            ]));
        }
        let mut users = Vec::new();
        let mut user_team = Vec::new();
        let mut user_names = Vec::new();
        for i in 0..300u64 {
            let id = slack_id(seed, "W", 3, i, &mut taken);
            let h = h3(seed, i, 31);
            let (f, fa) = FIRST[(h % FIRST.len() as u64) as usize];
            let (l, la) = LAST[((h >> 8) % LAST.len() as u64) as usize];
            let team = ((h >> 16) % workspaces.len() as u64) as usize;
            let name = format!("{f} {l}");
            let email = format!("{fa}.{la}{i}@acme.example");
            users.push(Ent {
                json: obj(&[
                    ("id", &q(&id)),
                    ("name", &q(&name)),
                    ("email", &q(&email)),
                    ("team", &q(&workspaces[team].id)),
                ]),
                id,
            });
            user_team.push(team);
            let plain: String = serde_json::from_str(&format!("\"{name}\"")).expect("valid JSON name");
            user_names.push((plain, email));
        }
        let slack_user =
            obj(&[("id", "\"USLACKUSER\""), ("name", "\"Slack\""), ("email", "\"\""), ("team", &q(&enterprise_id))]);
        let mut channels = Vec::new();
        for i in 0..120u64 {
            let id = slack_id(seed, "C", 4, i, &mut taken);
            let h = h3(seed, i, 41);
            let name = format!("{}-{i}", CHANNELS[(h % CHANNELS.len() as u64) as usize]);
            let private = h & 0x100 != 0;
            let shared = h & 0x1e00 == 0;
            let mut fields = vec![
                ("id", q(&id)),
                ("name", q(&name)),
                ("privacy", q(if private { "private" } else { "public" })),
                ("is_shared", shared.to_string()),
                ("is_org_shared", (h & 0x2000 != 0).to_string()),
            ];
            if shared {
                fields.push(("teams_shared_with", format!("[{}]", q(&workspaces[1].id))));
            }
            let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            channels.push(Ent { json: obj(&refs), id });
        }
        let mut files = Vec::new();
        for i in 0..2000u64 {
            let id = slack_id(seed, "F", 5, i, &mut taken);
            let (name, ft, title) = FILES[(h3(seed, i, 51) % FILES.len() as u64) as usize];
            files.push(Ent {
                json: obj(&[("id", &q(&id)), ("name", &q(name)), ("filetype", &q(ft)), ("title", &q(title))]),
                id,
            });
        }
        let mut apps = Vec::new();
        let mut app_names = Vec::new();
        for (i, name) in APPS.iter().enumerate() {
            let i = i as u64;
            let id = slack_id(seed, "A", 6, i, &mut taken);
            let h = h3(seed, i, 61);
            apps.push(Ent {
                json: obj(&[
                    ("id", &q(&id)),
                    ("name", &q(name)),
                    ("is_distributed", &(h & 1 == 0).to_string()),
                    ("is_directory_approved", &(h & 2 == 0).to_string()),
                    ("is_workflow_app", "false"),
                    ("scopes", SCOPE_SETS[((h >> 4) % SCOPE_SETS.len() as u64) as usize]),
                ]),
                id,
            });
            app_names.push(name.to_string());
        }
        let mut workflows = Vec::new();
        for i in 0..40u64 {
            let id = slack_id(seed, "Wf", 7, i, &mut taken);
            workflows.push(Ent { json: obj(&[("id", &q(&id)), ("name", &qe(&format!("Onboarding flow #{i}")))]), id });
        }
        let mut roles = Vec::new();
        for (i, name) in ROLES.iter().enumerate() {
            let id = slack_id(seed, "Rl", 8, i as u64, &mut taken);
            roles.push(Ent { json: obj(&[("id", &q(&id)), ("name", &q(name)), ("type", "\"system\"")]), id });
        }
        let mut usergroups = Vec::new();
        for i in 0..20u64 {
            let id = slack_id(seed, "S", 9, i, &mut taken);
            usergroups.push(Ent { json: obj(&[("id", &q(&id)), ("name", &q(&format!("team-{i}")))]), id });
        }
        let mut barriers = Vec::new();
        for i in 0..4u64 {
            let id = slack_id(seed, "Ba", 10, i, &mut taken);
            let primary = q(&usergroups[i as usize].id);
            let from = format!("[{}]", q(&usergroups[(i + 4) as usize].id));
            barriers.push(Ent {
                json: obj(&[
                    ("id", &q(&id)),
                    ("primary_usergroup", &primary),
                    ("barriered_from_usergroups", &from),
                    ("restricted_subjects", r#"["call","im","mpim"]"#),
                ]),
                id,
            });
        }
        let mut huddles = Vec::new();
        for i in 0..50u64 {
            let id = slack_id(seed, "R", 11, i, &mut taken);
            let h = h3(seed, i, 111);
            let a = q(&users[(h % 300) as usize].id);
            let b = q(&users[((h >> 10) % 300) as usize].id);
            huddles.push(Ent {
                json: obj(&[
                    ("id", &q(&id)),
                    ("channel", &q(&channels[((h >> 20) % 120) as usize].id)),
                    ("participants", &format!("[{a},{b}]")),
                ]),
                id,
            });
        }
        let mut action_cumulative = Vec::with_capacity(ACTIONS.len());
        let mut total = 0;
        for a in ACTIONS {
            total += a.weight;
            action_cumulative.push(total);
        }
        World {
            seed,
            enterprise_id,
            enterprise,
            enterprise_loc,
            workspaces,
            workspace_locs,
            users,
            user_team,
            user_names,
            channels,
            files,
            apps,
            app_names,
            workflows,
            roles,
            usergroups,
            barriers,
            huddles,
            workflows_v2: Vec::new(),
            account_type_roles: Vec::new(),
            lists: Vec::new(),
            slack_user,
            action_cumulative,
            action_total: total,
            actions: ACTIONS,
            dataset: Dataset::Classic,
        }
    }

    /// The object types `/schemas` lists for this world's dataset.
    pub(crate) fn schema_types(&self) -> &'static [&'static str] {
        match self.dataset {
            Dataset::Classic => SCHEMA_TYPES,
            Dataset::Varied => crate::varied::SCHEMA_TYPES,
        }
    }

    /// The index of action `name` in this world's action table.
    pub(crate) fn action_index(&self, name: &str) -> Option<usize> {
        self.actions.iter().position(|a| a.name == name)
    }

    /// Cumulative weights of `actions`, for [`World::attrs`].
    pub(crate) fn set_actions(&mut self, actions: &'static [Action]) {
        self.actions = actions;
        self.action_cumulative.clear();
        let mut total = 0;
        for a in actions {
            total += a.weight;
            self.action_cumulative.push(total);
        }
        self.action_total = total;
    }

    pub(crate) fn pool(&self, kind: Kind) -> &[Ent] {
        match kind {
            Kind::User => &self.users,
            Kind::Channel => &self.channels,
            Kind::File => &self.files,
            Kind::App => &self.apps,
            Kind::Workspace => &self.workspaces,
            Kind::Enterprise => std::slice::from_ref(&self.enterprise),
            Kind::Message => &[],
            Kind::Workflow => &self.workflows,
            Kind::Role => &self.roles,
            Kind::Usergroup => &self.usergroups,
            Kind::Barrier => &self.barriers,
            Kind::Huddle => &self.huddles,
            Kind::WorkflowV2 => &self.workflows_v2,
            Kind::AccountTypeRole => &self.account_type_roles,
            Kind::List => &self.lists,
        }
    }

    #[inline]
    pub(crate) fn attrs(&self, idx: u32) -> Attrs {
        let h = h3(self.seed, idx as u64, 0);
        let w = (h % self.action_total as u64) as u32;
        let action = self.action_cumulative.partition_point(|&c| c <= w);
        let h2 = mix(h);
        let actor = if (h2 & 0x1f) == 0 { SLACK_USER } else { ((h2 >> 8) % self.users.len() as u64) as u32 };
        let kind = self.actions[action].kind;
        let ent = if kind == Kind::User && actor != SLACK_USER && self.actions[action].name.starts_with("user_log") {
            actor
        } else {
            let n = self.pool(kind).len().max(1) as u64;
            ((h2 >> 24) % n) as u32
        };
        Attrs { action, actor, ent, h: mix(h2) }
    }

    /// Resolves request filters once; `actions` are already split.
    pub(crate) fn filter(&self, actions: Option<&[String]>, actor: Option<&str>, entity: Option<&str>) -> Filter {
        let actions = actions.map(|names| names.iter().filter_map(|n| self.action_index(n)).collect());
        let actor = actor.map(|id| {
            if id == "USLACKUSER" {
                Some(SLACK_USER)
            } else {
                self.users.iter().position(|u| u.id == id).map(|i| i as u32)
            }
        });
        let entity = entity.map(|id| {
            let mut v = Vec::new();
            for kind in [
                Kind::User,
                Kind::Channel,
                Kind::File,
                Kind::App,
                Kind::Workspace,
                Kind::Enterprise,
                Kind::Workflow,
                Kind::Role,
                Kind::Usergroup,
                Kind::Barrier,
                Kind::Huddle,
                Kind::WorkflowV2,
                Kind::AccountTypeRole,
                Kind::List,
            ] {
                if let Some(i) = self.pool(kind).iter().position(|e| e.id == id) {
                    v.push((kind, i as u32));
                }
            }
            v
        });
        Filter { actions, actor, entity }
    }

    #[inline]
    pub(crate) fn matches(&self, f: &Filter, idx: u32) -> bool {
        if f.is_empty() {
            return true;
        }
        let a = self.attrs(idx);
        if let Some(actions) = &f.actions {
            if !actions.contains(&a.action) {
                return false;
            }
        }
        if let Some(actor) = &f.actor {
            if *actor != Some(a.actor) {
                return false;
            }
        }
        if let Some(ents) = &f.entity {
            let kind = self.actions[a.action].kind;
            if !ents.iter().any(|&(k, i)| k == kind && i == a.ent) {
                return false;
            }
        }
        true
    }

    /// Writes the UUID of entry `idx`. Unique per idx: the last 48 bits are a bijection of idx
    /// (xor, multiplication by an odd number and xor-shift are all invertible modulo 2^48).
    pub(crate) fn write_id(&self, out: &mut Vec<u8>, idx: u32) {
        const M48: u64 = 0xffff_ffff_ffff;
        let h1 = h3(self.seed, idx as u64, 1);
        let mut node = (idx as u64 ^ h3(self.seed, 0, 2)) & M48;
        node = node.wrapping_mul(0x9E37_79B9_7F4B) & M48;
        node ^= node >> 23;
        node = node.wrapping_mul(0xC2B2_AE3D_27D5) & M48;
        node ^= node >> 21;
        push_hex(out, h1 >> 32, 8);
        out.push(b'-');
        push_hex(out, (h1 >> 16) & 0xffff, 4);
        out.push(b'-');
        push_hex(out, 0x4000 | (h1 & 0x0fff), 4);
        out.push(b'-');
        push_hex(out, 0x8000 | ((h1 >> 12) & 0x3fff), 4);
        out.push(b'-');
        push_hex(out, node, 12);
    }

    pub(crate) fn id_string(&self, idx: u32) -> String {
        let mut v = Vec::with_capacity(36);
        self.write_id(&mut v, idx);
        String::from_utf8(v).expect("hex")
    }

    /// Appends the start every entry of both datasets shares, in Slack's key order: `id`,
    /// `date_create`, `action`, `actor`, and `entity` up to its object (`{"type":KIND,"KIND":`).
    pub(crate) fn render_head(&self, out: &mut Vec<u8>, idx: u32, date: i64, action: &str, actor: u32, kind: Kind) {
        out.extend_from_slice(b"{\"id\":\"");
        self.write_id(out, idx);
        out.extend_from_slice(b"\",\"date_create\":");
        push_i64(out, date);
        out.extend_from_slice(b",\"action\":\"");
        out.extend_from_slice(action.as_bytes());
        out.extend_from_slice(b"\",\"actor\":{\"type\":\"user\",\"user\":");
        if actor == SLACK_USER {
            out.extend_from_slice(&self.slack_user);
        } else {
            out.extend_from_slice(&self.users[actor as usize].json);
        }
        out.extend_from_slice(b"},\"entity\":{\"type\":\"");
        let kind = kind.name().as_bytes();
        out.extend_from_slice(kind);
        out.extend_from_slice(b"\",\"");
        out.extend_from_slice(kind);
        out.extend_from_slice(b"\":");
    }

    /// Appends the compact JSON of entry `idx` created at `date`.
    pub(crate) fn render(&self, out: &mut Vec<u8>, idx: u32, date: i64) {
        if self.dataset == Dataset::Varied {
            return self.render_varied(out, idx, date);
        }
        let a = self.attrs(idx);
        let action = &ACTIONS[a.action];
        let h = a.h;
        self.render_head(out, idx, date, action.name, a.actor, action.kind);
        if action.kind == Kind::Message {
            let ch = &self.channels[((h >> 3) % self.channels.len() as u64) as usize];
            out.extend_from_slice(b"{\"channel\":\"");
            out.extend_from_slice(ch.id.as_bytes());
            out.extend_from_slice(b"\",\"team\":\"");
            out.extend_from_slice(self.workspaces[0].id.as_bytes());
            out.extend_from_slice(b"\",\"timestamp\":\"");
            push_i64(out, date);
            out.push(b'.');
            push_hex(out, (h >> 12) & 0xfff, 3);
            out.extend_from_slice(b"100\"}");
        } else {
            out.extend_from_slice(&self.pool(action.kind)[a.ent as usize].json);
        }
        out.extend_from_slice(b"},\"context\":{\"location\":");
        let team = if a.actor == SLACK_USER { None } else { Some(self.user_team[a.actor as usize]) };
        match team {
            Some(t) if (h >> 20) % 10 < 7 => out.extend_from_slice(&self.workspace_locs[t]),
            _ => out.extend_from_slice(&self.enterprise_loc),
        }
        out.extend_from_slice(b",\"ua\":\"");
        out.extend_from_slice(USER_AGENTS[((h >> 24) % USER_AGENTS.len() as u64) as usize].as_bytes());
        out.extend_from_slice(b"\",\"ip_address\":\"");
        match (h >> 28) % 20 {
            0 => {}
            1 | 2 => {
                out.extend_from_slice(b"2001:db8:");
                push_hex(out, (h >> 32) & 0xfff, 3);
                out.extend_from_slice(b"::");
                push_hex(out, (h >> 44) & 0xffff, 4);
            }
            _ => {
                const FIRST_OCTET: [u64; 8] = [23, 34, 52, 73, 98, 104, 185, 203];
                push_u64(out, FIRST_OCTET[((h >> 32) & 7) as usize]);
                for shift in [35, 43, 51] {
                    out.push(b'.');
                    push_u64(out, (h >> shift) & 0xff);
                }
            }
        }
        out.extend_from_slice(b"\",\"session_id\":");
        push_u64(out, 1_000_000_000_000 + (h3(self.seed, idx as u64, 3) % 9_000_000_000_000));
        if action.kind == Kind::App {
            out.extend_from_slice(b",\"app\":");
            out.extend_from_slice(&self.apps[a.ent as usize].json);
        }
        out.push(b'}');
        self.write_details(out, action, h3(self.seed, idx as u64, 4));
        out.push(b'}');
    }

    fn write_details(&self, out: &mut Vec<u8>, action: &Action, h: u64) {
        let reason = REASONS[((h >> 8) % REASONS.len() as u64) as usize];
        let d: &[u8] = match action.name {
            n if n.starts_with("pref_") => {
                out.extend_from_slice(b",\"details\":{\"new_value\":");
                out.extend_from_slice(if h & 2 == 0 { b"\"required\"" } else { b"true" });
                out.extend_from_slice(b",\"previous_value\":");
                out.extend_from_slice(if h & 2 == 0 { b"\"optional\"" } else { b"false" });
                out.extend_from_slice(b",\"reason\":\"");
                out.extend_from_slice(reason.as_bytes());
                out.extend_from_slice(b"\"}");
                return;
            }
            "app_scopes_expanded" | "app_installed" | "app_approved" => {
                out.extend_from_slice(b",\"details\":{\"new_scopes\":");
                out.extend_from_slice(SCOPE_SETS[(h % SCOPE_SETS.len() as u64) as usize].as_bytes());
                out.extend_from_slice(b",\"previous_scopes\":[],\"reason\":\"");
                out.extend_from_slice(reason.as_bytes());
                out.extend_from_slice(b"\",\"is_internal_integration\":false,\"is_token_rotation_enabled_app\":");
                out.extend_from_slice(if h & 4 == 0 { b"true" } else { b"false" });
                out.push(b'}');
                return;
            }
            "user_login_failed" => b"{\"reason\":\"invalid_password\",\"attempts\":3}",
            "anomaly" => {
                b"{\"action_timestamp\":1700000000123,\"location\":\"Berlin, DE\",\"previous_ip_address\":\"\",\"reason\":[\"asn\",\"ip_address\",\"user_agent\"],\"is_internal\":false,\"nested\":{\"levels\":[{\"a\":[1,2.5,-3e2,null,true]},{}]}}"
            }
            "role_assigned" | "role_removed" => {
                b"{\"role_name\":\"Audit Reader\",\"entity_type\":\"user\",\"scope\":[\"org\"],\"note\":\"\\u00e9t\\u00e9 \\ud83c\\udf1e\"}"
            }
            "user_email_updated" => b"{\"previous_value\":\"old@acme.example\",\"new_value\":\"new+tag@acme.example\"}",
            "channel_moved" => b"{\"previous_value\":\"acme-eng\",\"new_value\":\"acme-sales\"}",
            "file_downloaded_blocked" => b"{\"reason\":\"session not on a managed device\"}",
            _ => {
                if h % 8 == 0 {
                    out.extend_from_slice(b",\"details\":{\"reason\":\"");
                    out.extend_from_slice(reason.as_bytes());
                    out.extend_from_slice(b"\",\"is_internal_integration\":");
                    out.extend_from_slice(if h & 16 == 0 { b"true" } else { b"false" });
                    out.extend_from_slice(b",\"labels\":[\"caf\\u00e9\",\"\\\"quoted\\\"\",\"\xf0\x9f\x9a\x80\"]}");
                }
                return;
            }
        };
        out.extend_from_slice(b",\"details\":");
        out.extend_from_slice(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_valid_json_and_realistic_size() {
        let w = World::new(7);
        let mut total = 0usize;
        let mut ids = HashSet::new();
        for idx in 0..5000u32 {
            let mut out = Vec::new();
            w.render(&mut out, idx, 1_700_000_000 + idx as i64);
            total += out.len();
            let v: serde_json::Value = serde_json::from_slice(&out)
                .unwrap_or_else(|e| panic!("entry {idx} invalid: {e}: {}", String::from_utf8_lossy(&out)));
            assert_eq!(v["id"].as_str().unwrap(), w.id_string(idx));
            assert!(ids.insert(w.id_string(idx)));
            assert!(v["session_id"].is_null() && v["context"]["session_id"].is_u64());
        }
        let avg = total / 5000;
        assert!((400..=1000).contains(&avg), "average entry size {avg}");
    }

    /// Prints the time to render a 9,999-entry page; run with
    /// `cargo test --release --lib render_time -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn render_time() {
        let w = World::new(1);
        let mut best = std::time::Duration::MAX;
        let mut len = 0;
        for round in 0..20u32 {
            let t = std::time::Instant::now();
            let mut out = Vec::with_capacity(9999 * 760);
            for i in 0..9999u32 {
                let idx = round * 9999 + i;
                w.render(&mut out, idx, 1_700_000_000 - i as i64);
                out.push(b',');
            }
            best = best.min(t.elapsed());
            len = out.len();
        }
        println!("9999 entries: {len} bytes, best of 20: {best:?}");
        let t = std::time::Instant::now();
        let mut out = Vec::new();
        for i in 0..9999u32 {
            w.render(&mut out, i, 1_700_000_000);
        }
        let t2 = std::time::Instant::now();
        let gz = crate::http::gzip(&out, Some(1)).unwrap();
        println!("gzip of that page: {} -> {} bytes in {:?} (render {:?})", out.len(), gz.len(), t2.elapsed(), t2 - t);
        let t3 = std::time::Instant::now();
        let stored = crate::http::gzip(&out, None).unwrap();
        println!("default gzip (stored above 1 MiB): {} bytes in {:?}", stored.len(), t3.elapsed());
    }
}
