//! The `varied` dataset: audit entries shaped like Slack's own answers rather than the classic
//! dataset's small, repetitive pools.
//!
//! What differs from the classic entries (after Slack's API documentation, the object types of
//! `/schemas` and the fields of Slack's SDKs, e.g. `slack_sdk.audit_logs.v1.logs`):
//! - strings are escaped the way Slack's backend writes them (PHP's `json_encode` defaults):
//!   every `/` as `\/` (user agents, URLs), every non-ASCII character as `\uXXXX` (a surrogate
//!   pair above U+FFFF), quotes and controls escaped;
//! - every entity type: user, channel, file, app, workspace, enterprise, message, workflow,
//!   workflow_v2, usergroup, huddle, role, barrier, account_type_role, list;
//! - `details` of many shapes and sizes, from none to nested rules, profiles with image URLs,
//!   retention policies, scope lists and free-form objects up to 8 levels deep;
//! - long and varied user agents (versions drawn per entry), IPv4, IPv6 (full and compressed)
//!   and empty addresses, larger pools (4,000 users, 5,000 files, 1,500 channels), so a page
//!   compresses about as well as a real one.
//!
//! Like the classic dataset, an entry is a pure function of `(seed, idx, date_create)`; the
//! pools are pre-rendered, so filters (`action`, `actor`, `entity`) work the same way.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::data::{h3, mix, push_hex, push_i64, push_u64, slack_id, Action, Dataset, Ent, Kind, World, SLACK_USER};

/// An object whose values are already JSON: data.rs's `obj`, for owned values.
fn obj(fields: &[(&str, String)]) -> Vec<u8> {
    crate::data::obj(&fields.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>())
}

const fn act(name: &'static str, category: &'static str, kind: Kind, weight: u32) -> Action {
    Action { name, category, kind, weight }
}

/// Actions (besides the prefixed families) whose `details` have a template of their own.
const HAS_DETAILS: &[&str] = &[
    "bot_token_upgraded",
    "user_login_failed",
    "user_session_invalidated",
    "user_email_updated",
    "user_profile_updated",
    "custom_role_assigned",
    "custom_role_removed",
    "account_type_role_assigned",
    "user_channel_join",
    "external_shared_channel_connected",
    "channel_retention_changed",
    "channel_posting_permissions_updated",
    "channel_renamed",
    "manual_export_started",
    "scheduled_export_completed",
    "idp_group_sync_completed",
    "usergroup_updated",
    "anomaly",
];

/// Object types `/schemas` lists for this dataset.
pub(crate) const SCHEMA_TYPES: &[&str] = &[
    "workspace",
    "enterprise",
    "user",
    "file",
    "channel",
    "app",
    "message",
    "workflow",
    "workflow_v2",
    "usergroup",
    "huddle",
    "role",
    "barrier",
    "account_type_role",
    "list",
];

/// The varied dataset's actions (Slack's names), weighted roughly as an organization's log is.
pub(crate) static ACTIONS: &[Action] = &[
    act("workspace_created", "workspace_or_org", Kind::Workspace, 1),
    act("workspace_deleted", "workspace_or_org", Kind::Workspace, 1),
    act("organization_created", "workspace_or_org", Kind::Enterprise, 1),
    act("pref.sso_setting_changed", "workspace_or_org", Kind::Workspace, 2),
    act("pref.two_factor_auth_changed", "workspace_or_org", Kind::Workspace, 1),
    act("pref.session_duration_changed", "workspace_or_org", Kind::Enterprise, 1),
    act("pref.allowed_domains_changed", "workspace_or_org", Kind::Enterprise, 1),
    act("pref.emoji_only_admins", "workspace_or_org", Kind::Workspace, 1),
    act("manual_export_started", "workspace_or_org", Kind::Workspace, 1),
    act("scheduled_export_completed", "workspace_or_org", Kind::Enterprise, 1),
    act("ekm_key_added", "workspace_or_org", Kind::Enterprise, 1),
    act("idp_group_sync_completed", "workspace_or_org", Kind::Usergroup, 2),
    act("user_created", "user", Kind::User, 4),
    act("user_deactivated", "user", Kind::User, 2),
    act("user_reactivated", "user", Kind::User, 1),
    act("role_change_to_admin", "user", Kind::User, 1),
    act("role_change_to_guest", "user", Kind::User, 1),
    act("user_email_updated", "user", Kind::User, 2),
    act("user_profile_updated", "user", Kind::User, 3),
    act("user_login", "user", Kind::User, 55),
    act("user_logout", "user", Kind::User, 18),
    act("user_login_failed", "user", Kind::User, 6),
    act("user_session_invalidated", "user", Kind::User, 2),
    act("guest_created", "user", Kind::User, 2),
    act("custom_role_assigned", "user", Kind::Role, 2),
    act("custom_role_removed", "user", Kind::Role, 1),
    act("account_type_role_assigned", "user", Kind::AccountTypeRole, 1),
    act("file_downloaded", "file", Kind::File, 35),
    act("file_uploaded", "file", Kind::File, 15),
    act("file_shared", "file", Kind::File, 8),
    act("file_public_link_created", "file", Kind::File, 2),
    act("file_downloaded_blocked", "file", Kind::File, 1),
    act("file_malicious_content_detected", "file", Kind::File, 1),
    act("public_channel_created", "channel", Kind::Channel, 3),
    act("private_channel_created", "channel", Kind::Channel, 3),
    act("channel_deleted", "channel", Kind::Channel, 1),
    act("public_channel_archive", "channel", Kind::Channel, 1),
    act("user_channel_join", "channel", Kind::Channel, 12),
    act("user_channel_leave", "channel", Kind::Channel, 5),
    act("channel_renamed", "channel", Kind::Channel, 1),
    act("channel_retention_changed", "channel", Kind::Channel, 1),
    act("channel_posting_permissions_updated", "channel", Kind::Channel, 1),
    act("external_shared_channel_connected", "channel", Kind::Channel, 1),
    act("app_installed", "app", Kind::App, 3),
    act("app_uninstalled", "app", Kind::App, 1),
    act("app_scopes_expanded", "app", Kind::App, 2),
    act("app_approved", "app", Kind::App, 2),
    act("app_restricted", "app", Kind::App, 1),
    act("app_resources_granted", "app", Kind::App, 1),
    act("bot_token_upgraded", "app", Kind::App, 1),
    act("workflow_created", "other", Kind::Workflow, 2),
    act("workflow_published", "other", Kind::Workflow, 2),
    act("workflow_v2_published", "other", Kind::WorkflowV2, 2),
    act("workflow_v2_step_added", "other", Kind::WorkflowV2, 1),
    act("message_tombstoned", "other", Kind::Message, 2),
    act("message_restored", "other", Kind::Message, 1),
    act("usergroup_updated", "other", Kind::Usergroup, 1),
    act("information_barrier_created", "other", Kind::Barrier, 1),
    act("information_barrier_updated", "other", Kind::Barrier, 1),
    act("huddle_started", "other", Kind::Huddle, 3),
    act("huddle_ended", "other", Kind::Huddle, 2),
    act("list_created", "other", Kind::List, 1),
    act("list_cell_updated", "other", Kind::List, 2),
    act("anomaly", "other", Kind::User, 2),
];

// ---------------------------------------------------------------------------------------------
// Writing JSON the way Slack's backend does.

/// Writes `s` as the inside of a JSON string as PHP's `json_encode` does by default: `"`, `\`
/// and `/` escaped, controls as short escapes or `\u00XX`, every non-ASCII character as
/// `\uXXXX` (a surrogate pair above U+FFFF).
pub(crate) fn esc(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '/' => out.extend_from_slice(b"\\/"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if c.is_ascii() && c >= ' ' => out.push(c as u8),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.extend_from_slice(b"\\u");
                    push_hex(out, u64::from(*u), 4);
                }
            }
        }
    }
}

/// `s` as a quoted, escaped JSON string.
fn q(s: &str) -> String {
    let mut v = Vec::with_capacity(s.len() + 2);
    v.push(b'"');
    esc(&mut v, s);
    v.push(b'"');
    String::from_utf8(v).expect("escaped JSON is ASCII")
}

/// A JSON array of quoted strings.
fn qa<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| q(s.as_ref())).collect();
    format!("[{}]", parts.join(","))
}

/// An object written member by member into an output buffer.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    n: usize,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.push(b'{');
        Obj { out, n: 0 }
    }
    /// Writes `"k":` and gives the buffer for the value.
    fn k(&mut self, k: &str) -> &mut Vec<u8> {
        if self.n > 0 {
            self.out.push(b',');
        }
        self.n += 1;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }
    fn s(&mut self, k: &str, v: &str) {
        let o = self.k(k);
        o.push(b'"');
        esc(o, v);
        o.push(b'"');
    }
    fn raw(&mut self, k: &str, v: &[u8]) {
        self.k(k).extend_from_slice(v);
    }
    fn n(&mut self, k: &str, v: i64) {
        push_i64(self.k(k), v);
    }
    fn b(&mut self, k: &str, v: bool) {
        self.k(k).extend_from_slice(if v { b"true" } else { b"false" });
    }
    fn end(self) {
        self.out.push(b'}');
    }
}

/// A Slack-style id: `prefix` and 10 characters of base 36 drawn from `h`.
fn id_of(prefix: &str, mut h: u64) -> String {
    const B36: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut s = String::from(prefix);
    for _ in 0..10 {
        s.push(B36[(h % 36) as usize] as char);
        h /= 36;
    }
    s
}

fn pick<T: Copy>(items: &[T], h: u64) -> T {
    items[(h % items.len() as u64) as usize]
}

// ---------------------------------------------------------------------------------------------
// Pools.

const FIRST: &[&str] = &[
    "Alice",
    "Bob",
    "Carol",
    "Dmitri",
    "Zo\u{eb}",
    "Jos\u{e9}",
    "Ren\u{e9}e",
    "Kenji",
    "Aisha",
    "Mar\u{ed}a",
    "Li",
    "Oluwaseun",
    "S\u{f8}ren",
    "Priya",
    "Grace",
    "Tom\u{e1}s",
    "\u{c5}sa",
    "Bj\u{f6}rn",
    "Fran\u{e7}ois",
    "Chlo\u{e9}",
    "Nguy\u{1ec5}n",
    "\u{141}ukasz",
    "\u{17d}eljko",
    "Ay\u{15f}e",
    "\u{41e}\u{43b}\u{44c}\u{433}\u{430}",
    "\u{5d3}\u{5e0}\u{5d4}",
    "\u{627}\u{62d}\u{645}\u{62f}",
    "\u{592a}\u{90ce}",
    "\u{c9c0}\u{c6b0}",
    "Sebasti\u{e1}n",
    "Jo\u{e3}o",
    "Ingrid",
    "Mateus",
    "Wei",
    "Fatima",
    "Noah",
    "Emma",
    "Lucas",
    "Mia",
    "Olusegun",
];

const LAST: &[&str] = &[
    "Smith",
    "M\u{fc}ller",
    "Garc\u{ed}a",
    "Tanaka \u{7530}\u{4e2d}",
    "O'Brien",
    "Nguyen",
    "Kowalski",
    "Okafor",
    "Johansson",
    "Patel",
    "\"Doc\" Brown",
    "Rossi",
    "Dubois",
    "Fern\u{e1}ndez",
    "Schr\u{f6}der",
    "\u{10c}apek",
    "Wi\u{15b}niewski",
    "Yamamoto \u{5c71}\u{672c}",
    "Kim \u{AE40}",
    "Ivanova \u{418}\u{432}\u{430}\u{43d}\u{43e}\u{432}\u{430}",
    "Haddad",
    "Cohen",
    "Silva",
    "Andersen",
    "van der Berg",
    "L\u{f3}pez-Ib\u{e1}\u{f1}ez",
    "Zhang \u{5f20}",
    "Singh",
    "Mbeki",
    "N\u{f8}rgaard",
];

const WORKSPACES: &[(&str, &str)] = &[
    ("Acme Engineering", "acme-eng"),
    ("Acme Sales & Marketing", "acme-sales"),
    ("Acme Support / Tier 2", "acme-support"),
    ("Acme M\u{fc}nchen GmbH", "acme-muenchen"),
    ("Acme \u{6771}\u{4eac}", "acme-tokyo"),
    ("Acme S\u{e3}o Paulo", "acme-sp"),
    ("Acme \"Labs\"", "acme-labs"),
    ("Acme Z\u{fc}rich AG", "acme-zurich"),
];

const CHANNEL_WORDS: &[&str] = &[
    "general",
    "random",
    "eng-backend",
    "eng-frontend",
    "sec-alerts",
    "incident",
    "sales-emea",
    "support-tier2",
    "design",
    "announcements",
    "proj-launch",
    "caf\u{e9}-talk",
    "\u{65e5}\u{672c}-team",
    "ops-oncall",
    "hr-private",
    "finance-q3",
    "legal-review",
    "data-platform",
    "ml-research",
    "mobile-ios",
    "mobile-android",
    "partners-ext",
];

const FILE_NAMES: &[(&str, &str)] = &[
    ("Q3 report", "pdf"),
    ("architecture diagram v2", "png"),
    ("customers export", "csv"),
    ("Offsite plan \u{1f3d6}\u{fe0f}", "docx"),
    ("budget final (2)", "xlsx"),
    ("r\u{e9}sum\u{e9}", "pdf"),
    ("Screenshot 2024-03-14 at 10.21.33", "png"),
    ("incident-postmortem", "md"),
    ("contract \u{2014} signed", "pdf"),
    ("roadmap/2025", "key"),
    ("recording", "mp4"),
    ("logs", "gz"),
    ("\u{8b70}\u{4e8b}\u{9332}", "docx"),
];

const APP_NAMES: &[&str] = &[
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
    "Datadog",
    "Asana",
    "Trello",
    "Notion",
    "Figma",
    "Loom",
    "Box",
    "Dropbox",
    "ServiceNow",
    "Zendesk",
    "Giphy",
    "Donut",
    "Geekbot",
    "Standuply",
    "Sentry",
    "CircleCI",
    "Jenkins CI",
    "Microsoft OneDrive",
    "Outlook Calendar",
    "Google Calendar",
];

const SCOPES: &[&str] = &[
    "channels:read",
    "channels:history",
    "channels:join",
    "chat:write",
    "chat:write.public",
    "commands",
    "files:read",
    "files:write",
    "groups:history",
    "groups:read",
    "im:history",
    "im:read",
    "im:write",
    "incoming-webhook",
    "links:read",
    "links:write",
    "mpim:history",
    "reactions:read",
    "reactions:write",
    "team:read",
    "users:read",
    "users:read.email",
    "users.profile:read",
    "admin.conversations:read",
    "admin.users:write",
    "workflow.steps:execute",
    "calls:write",
    "bookmarks:read",
    "remote_files:share",
    "usergroups:read",
];

const ROLES: &[(&str, &str)] = &[
    ("Channels Admin", "system"),
    ("Users Admin", "system"),
    ("Roles Admin", "system"),
    ("Conversation Admin", "system"),
    ("Audit Log Reader", "system"),
    ("Security \u{2014} Incident Lead", "custom"),
    ("Salesforce Admin", "system"),
    ("Workflow Manager", "custom"),
    ("Compliance / Legal Hold", "custom"),
    ("Apps Manager", "system"),
    ("Integrations \u{2192} Reviewer", "custom"),
    ("Help Desk", "custom"),
];

const ACCOUNT_TYPE_ROLES: &[&str] = &[
    "Primary Owner",
    "Org Owner",
    "Org Admin",
    "Workspace Owner",
    "Workspace Admin",
    "Full Member",
    "Multi-Channel Guest",
    "Single-Channel Guest",
];

/// Builds the varied world: the classic one's structure (so the Web API rows and filters keep
/// working), every pool replaced by a larger, Slack-escaped one.
pub(crate) fn build(seed: u64) -> World {
    let mut w = World::new(seed);
    w.dataset = Dataset::Varied;
    w.set_actions(ACTIONS);
    let mut taken = HashSet::new();
    let enterprise_id = slack_id(seed, "E", 101, 0, &mut taken);
    w.enterprise = Ent {
        json: obj(&[("id", q(&enterprise_id)), ("name", q("Acme Corporation \u{2122}")), ("domain", q("acme-corp"))]),
        id: enterprise_id.clone(),
    };
    w.enterprise_loc = obj(&[
        ("type", q("enterprise")),
        ("id", q(&enterprise_id)),
        ("name", q("Acme Corporation \u{2122}")),
        ("domain", q("acme-corp")),
    ]);
    w.enterprise_id = enterprise_id.clone();
    w.workspaces.clear();
    w.workspace_locs.clear();
    for (i, (name, domain)) in WORKSPACES.iter().enumerate() {
        let id = slack_id(seed, "T", 102, i as u64, &mut taken);
        w.workspaces
            .push(Ent { json: obj(&[("id", q(&id)), ("name", q(name)), ("domain", q(domain))]), id: id.clone() });
        w.workspace_locs.push(obj(&[
            ("type", q("workspace")),
            ("id", q(&id)),
            ("name", q(name)),
            ("domain", q(domain)),
        ]));
    }
    let nws = w.workspaces.len() as u64;
    w.users.clear();
    w.user_team.clear();
    w.user_names.clear();
    for i in 0..4000u64 {
        let h = h3(seed, i, 131);
        let id = slack_id(seed, if h & 0x100 == 0 { "W" } else { "U" }, 103, i, &mut taken);
        let first = pick(FIRST, h);
        let last = pick(LAST, h >> 8);
        let team = ((h >> 16) % nws) as usize;
        let name = format!("{first} {last}");
        let ascii: String =
            format!("{first}.{last}").chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
        let domain = if h & 0x3000 == 0 { "partner.example.org" } else { "acme.example" };
        let email = format!("{}{}@{domain}", ascii.to_ascii_lowercase(), i);
        let mut fields = vec![("id", q(&id)), ("name", q(&name)), ("email", q(&email))];
        if h & 0xc000 != 0 {
            fields.push(("team", q(&w.workspaces[team].id)));
        }
        w.users.push(Ent { json: obj(&fields), id });
        w.user_team.push(team);
        w.user_names.push((name, email));
    }
    w.slack_user = obj(&[("id", q("USLACKUSER")), ("name", q("Slack")), ("email", q("")), ("team", q(&enterprise_id))]);
    w.channels.clear();
    for i in 0..1500u64 {
        let h = h3(seed, i, 141);
        let id = slack_id(seed, if h & 1 == 0 { "C" } else { "G" }, 104, i, &mut taken);
        let name = format!("{}-{}", pick(CHANNEL_WORDS, h >> 1), i);
        let shared = h & 0x1e00 == 0;
        let mut fields = vec![
            ("id", q(&id)),
            ("privacy", q(pick(&["public", "private", "mpim", "im"], h >> 20))),
            ("name", q(&name)),
            ("is_shared", shared.to_string()),
            ("is_org_shared", (h & 0x2000 != 0).to_string()),
        ];
        if shared {
            let a = &w.workspaces[((h >> 24) % nws) as usize].id;
            let b = &w.workspaces[((h >> 28) % nws) as usize].id;
            fields.push(("teams_shared_with", qa(&[a.as_str(), b.as_str()])));
        }
        if h & 0xf0000 == 0 {
            fields.push(("original_connected_channel_id", q(&id_of("C", h >> 32))));
        }
        if h & 0x300000 == 0 {
            fields.push(("is_salesforce_channel", "false".to_string()));
        }
        w.channels.push(Ent { json: obj(&fields), id });
    }
    w.files.clear();
    for i in 0..5000u64 {
        let h = h3(seed, i, 151);
        let id = slack_id(seed, "F", 105, i, &mut taken);
        let (title, ft) = pick(FILE_NAMES, h);
        let name = format!("{title} {}.{ft}", h % 1000);
        w.files.push(Ent {
            json: obj(&[("id", q(&id)), ("name", q(&name)), ("filetype", q(ft)), ("title", q(title))]),
            id,
        });
    }
    w.apps.clear();
    w.app_names.clear();
    for (i, name) in APP_NAMES.iter().enumerate() {
        let i = i as u64;
        let h = h3(seed, i, 161);
        let id = slack_id(seed, "A", 106, i, &mut taken);
        let n = 1 + (h >> 8) % 12;
        let scopes: Vec<&str> = (0..n).map(|k| pick(SCOPES, h3(seed, i, 1610 + k))).collect();
        w.apps.push(Ent {
            json: obj(&[
                ("id", q(&id)),
                ("name", q(name)),
                ("is_distributed", (h & 1 == 0).to_string()),
                ("is_directory_approved", (h & 2 == 0).to_string()),
                ("is_workflow_app", (h & 4 == 0).to_string()),
                ("scopes", qa(&scopes)),
            ]),
            id,
        });
        w.app_names.push(name.to_string());
    }
    w.workflows.clear();
    for i in 0..200u64 {
        let id = slack_id(seed, "Wf", 107, i, &mut taken);
        let h = h3(seed, i, 171);
        let name = format!(
            "{} #{i} \u{2014} {}",
            pick(&["Onboarding", "Access request", "Incident triage", "PTO \u{2708}\u{fe0f}"], h),
            pick(CHANNEL_WORDS, h >> 8)
        );
        let ws = &w.workspaces[((h >> 16) % nws) as usize];
        let domain =
            ws.json.windows(9).position(|x| x == b"\"domain\":").map(|p| ws.json[p + 9..ws.json.len() - 1].to_vec());
        let domain = String::from_utf8(domain.unwrap_or_default()).unwrap_or_default();
        w.workflows.push(Ent { json: obj(&[("id", q(&id)), ("name", q(&name)), ("domain", domain)]), id });
    }
    w.workflows_v2 = (0..120u64)
        .map(|i| {
            let id = slack_id(seed, "Wf0", 108, i, &mut taken);
            let h = h3(seed, i, 181);
            let app = &w.apps[(h % w.apps.len() as u64) as usize].id;
            let steps: Vec<String> = (0..1 + (h >> 8) % 5)
                .map(|k| {
                    let hk = h3(seed, i, 1810 + k);
                    String::from_utf8(obj(&[
                        (
                            "name",
                            q(pick(
                                &[
                                    "Send a message",
                                    "Create a channel",
                                    "Add a row",
                                    "Open a form",
                                    "Call Jira: create issue",
                                ],
                                hk,
                            )),
                        ),
                        ("step_function_type", q(pick(&["builtin", "app", "custom"], hk >> 4))),
                        ("step_function_app_id", q(&w.apps[((hk >> 8) % w.apps.len() as u64) as usize].id)),
                    ]))
                    .expect("ASCII")
                })
                .collect();
            Ent {
                json: obj(&[
                    ("id", q(&id)),
                    ("app_id", q(app)),
                    ("date_updated", (1_690_000_000 + (h >> 20) % 30_000_000).to_string()),
                    ("callback_id", q(&format!("wf_callback_{}", h % 100_000))),
                    ("name", q(&format!("Escalation flow {i} \u{2192} on-call"))),
                    ("updated_by", q(&w.users[((h >> 30) % 4000) as usize].id)),
                    ("step_configuration", format!("[{}]", steps.join(","))),
                ]),
                id,
            }
        })
        .collect();
    w.roles = ROLES
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| {
            let id = slack_id(seed, "Rl0", 109, i as u64, &mut taken);
            Ent { json: obj(&[("id", q(&id)), ("name", q(name)), ("type", q(kind))]), id }
        })
        .collect();
    w.account_type_roles = ACCOUNT_TYPE_ROLES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let id = slack_id(seed, "Rl0", 110, i as u64, &mut taken);
            Ent { json: obj(&[("id", q(&id)), ("name", q(name))]), id }
        })
        .collect();
    w.usergroups = (0..80u64)
        .map(|i| {
            let id = slack_id(seed, "S", 111, i, &mut taken);
            let h = h3(seed, i, 191);
            let name = format!(
                "{}-{i}",
                pick(&["eng", "sales", "support", "s\u{e9}curit\u{e9}", "ops", "\u{30c7}\u{30b6}\u{30a4}\u{30f3}"], h)
            );
            Ent { json: obj(&[("id", q(&id)), ("name", q(&name))]), id }
        })
        .collect();
    w.barriers = (0..10u64)
        .map(|i| {
            let id = slack_id(seed, "Ba", 112, i, &mut taken);
            let h = h3(seed, i, 201);
            let ug = |k: u64| w.usergroups[((h >> k) % 80) as usize].id.clone();
            Ent {
                json: obj(&[
                    ("id", q(&id)),
                    ("primary_usergroup", q(&ug(0))),
                    ("barriered_from_usergroups", qa(&[ug(8), ug(16), ug(24)][..1 + (h >> 40) as usize % 3])),
                    ("restricted_subjects", qa(&["call", "im", "mpim", "file_share"][..2 + (h >> 44) as usize % 3])),
                ]),
                id,
            }
        })
        .collect();
    w.huddles = (0..600u64)
        .map(|i| {
            let id = slack_id(seed, "R", 113, i, &mut taken);
            let h = h3(seed, i, 211);
            let n = 2 + (h >> 40) % 10;
            let people: Vec<&str> =
                (0..n).map(|k| w.users[(h3(seed, i, 2110 + k) % 4000) as usize].id.as_str()).collect();
            let start = 1_700_000_000 + (h % 40_000_000) as i64;
            Ent {
                json: obj(&[
                    ("id", q(&id)),
                    ("date_start", start.to_string()),
                    ("date_end", (start + 60 + ((h >> 28) % 7200) as i64).to_string()),
                    ("participants", qa(&people)),
                ]),
                id,
            }
        })
        .collect();
    w.lists = (0..300u64)
        .map(|i| {
            let id = slack_id(seed, "F0", 114, i, &mut taken);
            Ent { json: obj(&[("id", q(&id))]), id }
        })
        .collect();
    w
}

// ---------------------------------------------------------------------------------------------
// Entries.

/// A user agent drawn from `h`: browsers, Slack's desktop and mobile apps, API clients, with
/// versions drawn too (so agents repeat about as often as in a real organization).
fn user_agent(h: u64) -> String {
    let v = |shift: u32, lo: u64, n: u64| lo + (h >> shift) % n;
    let mut s = String::with_capacity(180);
    let _ = match h % 20 {
        0..=2 => write!(
            s,
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.{}.{} Chrome/{}.0.{}.{} Electron/{}.{}.{} Safari/537.36 Sonic Slack_SSB/4.{}.{}",
            v(5, 33, 9), v(9, 100, 99), v(16, 116, 11), v(20, 5800, 700), v(30, 60, 240), v(40, 26, 6), v(44, 0, 4), v(46, 0, 9), v(5, 33, 9), v(9, 100, 99)
        ),
        5..=7 => write!(
            s,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Safari/537.36",
            v(16, 110, 17)
        ),
        8 => write!(
            s,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Safari/537.36 Edg/{}.0.{}.{}",
            v(16, 110, 17), v(16, 110, 17), v(24, 2000, 600), v(36, 10, 120)
        ),
        9 => write!(s, "Mozilla/5.0 (X11; Linux x86_64; rv:{}.0) Gecko/20100101 Firefox/{}.0", v(16, 110, 20), v(16, 110, 20)),
        10 => write!(
            s,
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{} Safari/605.1.15",
            v(16, 0, 6)
        ),
        3 | 4 | 11..=13 => write!(s, "com.tinyspeck.chatlyio/24.{:02}.{} (iPhone; iOS 17.{}.{}; Scale/3.00)", v(8, 1, 12), v(12, 10, 30), v(20, 0, 6), v(24, 0, 3)),
        14 => write!(
            s,
            "Mozilla/5.0 (iPad; CPU OS 17_{} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{} Mobile/15E148 Safari/604.1",
            v(8, 0, 6), v(8, 0, 6)
        ),
        15 | 16 => write!(
            s,
            "Slack/24.{:02}.{}.0 ({}; Android {}; Build/{}.{:06}.{:03})",
            v(8, 1, 12), v(12, 10, 30), pick(&["samsung SM-S918B", "Google Pixel 8 Pro", "OnePlus CPH2449", "Xiaomi 23049PCD8G"], h >> 16), v(20, 12, 3), pick(&["UP1A", "TQ3A", "AP1A"], h >> 24), v(28, 230_000, 99_999), v(48, 1, 400)
        ),
        17 => write!(s, "SlackAPI/python-slack-sdk 3.{}.{} Python/3.{}.{} Linux/5.15.0-{}-aws", v(8, 20, 14), v(12, 0, 5), v(16, 8, 5), v(20, 0, 15), v(24, 1000, 90)),
        18 => write!(s, "Slackbot 1.0 (+https://api.slack.com/robots)"),
        _ => Ok(()),
    };
    s
}

fn push_ip(out: &mut Vec<u8>, h: u64) {
    match h % 20 {
        0 => {}
        1..=3 => {
            // Full IPv6 form.
            for k in 0..8u64 {
                if k > 0 {
                    out.push(b':');
                }
                let g = h3(h, k, 7) & 0xffff;
                let mut buf = Vec::with_capacity(4);
                push_hex(&mut buf, g, 4);
                let start = buf.iter().position(|&c| c != b'0').unwrap_or(3);
                out.extend_from_slice(&buf[start..]);
            }
        }
        4 | 5 => {
            // Compressed IPv6 form.
            out.extend_from_slice(pick(&[&b"2600:1700:"[..], b"2a02:c7c:", b"2001:4860:", b"2406:da18:"], h >> 5));
            push_hex(out, 0x1000 | ((h >> 8) & 0xfff), 4);
            out.extend_from_slice(b"::");
            push_hex(out, 0x100 | ((h >> 20) & 0xeff), 3);
        }
        _ => {
            push_u64(out, 1 + (h >> 8) % 223);
            for shift in [16, 24, 32] {
                out.push(b'.');
                push_u64(out, (h >> shift) & 0xff);
            }
        }
    }
}

impl World {
    fn user_id(&self, h: u64) -> &str {
        &self.users[(h % self.users.len() as u64) as usize].id
    }

    /// Appends entry `idx` of the varied dataset: Slack's key order (`id`, `date_create`,
    /// `action`, `actor`, `entity`, `context`, `details`).
    pub(crate) fn render_varied(&self, out: &mut Vec<u8>, idx: u32, date: i64) {
        let a = self.attrs(idx);
        let action = &self.actions[a.action];
        let h = a.h;
        self.render_head(out, idx, date, action.name, a.actor, action.kind);
        if action.kind == Kind::Message {
            let ch = &self.channels[((h >> 3) % self.channels.len() as u64) as usize];
            let mut m = Obj::new(out);
            m.s("channel", &ch.id);
            m.s("team", &self.workspaces[((h >> 13) % self.workspaces.len() as u64) as usize].id);
            let o = m.k("timestamp");
            o.push(b'"');
            push_i64(o, date - ((h >> 17) % 86_400) as i64);
            o.push(b'.');
            push_u64(o, 100_000 + (h >> 20) % 900_000);
            o.push(b'"');
            m.end();
        } else {
            out.extend_from_slice(&self.pool(action.kind)[a.ent as usize].json);
        }
        out.extend_from_slice(b"},\"context\":{\"location\":");
        let hc = h3(self.seed, idx as u64, 5);
        match (a.actor, hc % 10) {
            (SLACK_USER, _) | (_, 0..=3) => out.extend_from_slice(&self.enterprise_loc),
            (actor, _) => out.extend_from_slice(&self.workspace_locs[self.user_team[actor as usize]]),
        }
        out.extend_from_slice(b",\"ua\":\"");
        // One agent per user most of the time, as a person keeps a device.
        let ua_seed = if hc & 0x30 == 0 { mix(hc) } else { mix(u64::from(a.actor) ^ 0x5eed) };
        esc(out, &user_agent(ua_seed));
        out.extend_from_slice(b"\",\"ip_address\":\"");
        push_ip(out, mix(hc ^ 0x1b));
        out.extend_from_slice(b"\",\"session_id\":");
        push_u64(out, 1_000_000_000_000 + (h3(self.seed, idx as u64, 3) % 9_000_000_000_000));
        if action.kind == Kind::App || action.kind == Kind::WorkflowV2 && hc & 0x40 == 0 {
            out.extend_from_slice(b",\"app\":");
            out.extend_from_slice(&self.apps[((h >> 5) % self.apps.len() as u64) as usize].json);
        }
        out.push(b'}');
        self.write_varied_details(out, action, h3(self.seed, idx as u64, 4), date);
        out.push(b'}');
    }

    fn write_varied_details(&self, out: &mut Vec<u8>, action: &Action, h: u64, date: i64) {
        let name = action.name;
        // Actions that usually come without details.
        let bare = matches!(
            name,
            "user_login"
                | "user_logout"
                | "file_downloaded"
                | "file_uploaded"
                | "user_channel_leave"
                | "huddle_started"
        );
        if bare && h % 8 != 0 {
            return;
        }
        if bare {
            out.extend_from_slice(b",\"details\":{\"type\":\"");
            out.extend_from_slice(pick(&[&b"sso"[..], b"password", b"magic_link", b"oauth"], h >> 3));
            out.extend_from_slice(b"\",\"is_flagged\":\"false\"}");
            return;
        }
        // Most other actions without a template of their own: no details, or a small reason.
        let templated = name.starts_with("pref.")
            || name.starts_with("app_")
            || name.starts_with("workflow")
            || name.starts_with("file_")
            || name.starts_with("information_barrier")
            || name.starts_with("list_")
            || name.starts_with("message_");
        if !templated && !HAS_DETAILS.contains(&name) && h % 4 != 0 {
            return;
        }
        out.extend_from_slice(b",\"details\":");
        let mut d = Obj::new(out);
        match name {
            n if n.starts_with("pref.") => {
                d.s("name", &n[5..]);
                match (h >> 4) % 4 {
                    0 => {
                        d.s("new_value", pick(&["required", "optional", "disabled", "enabled_for_admins"], h >> 8));
                        d.s("previous_value", pick(&["optional", "required", "disabled"], h >> 12));
                    }
                    1 => {
                        let doms: Vec<String> = (0..1 + (h >> 8) % 6)
                            .map(|k| {
                                format!(
                                    "{}.example.{}",
                                    pick(&["acme", "partner", "contractor", "m\u{fc}nchen"], h >> (12 + k)),
                                    pick(&["com", "org", "de"], h >> (20 + k))
                                )
                            })
                            .collect();
                        d.raw("new_value", qa(&doms).as_bytes());
                        d.raw("previous_value", qa(&doms[..doms.len() / 2]).as_bytes());
                    }
                    2 => {
                        let o = d.k("new_value");
                        let mut v = Obj::new(o);
                        v.s("type", pick(&["duration", "absolute"], h >> 8));
                        v.n("duration_days", 1 + ((h >> 12) % 365) as i64);
                        v.end();
                        d.raw("previous_value", b"{\"type\":\"duration\",\"duration_days\":30}");
                    }
                    _ => {
                        d.b("mobile_only", h & 0x100 != 0);
                        d.b("web_only", h & 0x200 != 0);
                        d.b("non_sso_only", h & 0x400 != 0);
                        d.n("expires_on", date + 86_400 * ((h >> 12) % 90) as i64);
                    }
                }
            }
            n if n.starts_with("app_") || n == "bot_token_upgraded" => {
                let scopes =
                    |k: u64| -> Vec<&str> { (0..1 + (h >> k) % 14).map(|i| pick(SCOPES, h3(h, i, k))).collect() };
                d.s("app_owner_id", self.user_id(h >> 3));
                d.raw("scopes", qa(&scopes(8)).as_bytes());
                if h & 0x10 == 0 {
                    d.raw("bot_scopes", qa(&scopes(12)).as_bytes());
                    d.s("bot_id", &id_of("B", h >> 20));
                }
                if n == "app_scopes_expanded" {
                    d.raw("new_scopes", qa(&scopes(16)).as_bytes());
                    d.raw("previous_scopes", qa(&scopes(20)).as_bytes());
                }
                d.b("granular_bot_token", h & 0x20 != 0);
                d.b("is_internal_integration", h & 0x40 != 0);
                d.b("is_token_rotation_enabled_app", h & 0x80 != 0);
                d.s("installer_user_id", self.user_id(h >> 24));
                if n == "app_approved" || n == "app_restricted" {
                    d.s("approver_id", self.user_id(h >> 28));
                    d.s("approval_type", pick(&["admin", "auto_approved", "aaa_rule"], h >> 32));
                    d.b("app_previously_approved", h & 0x100 != 0);
                    if h & 0x600 == 0 {
                        self.aaa(&mut d, h);
                    }
                }
                d.s(
                    "reason",
                    pick(
                        &[
                            "Requested via \u{ab}App Directory\u{bb}",
                            "see https://acme.example/wiki/Apps/Review?id=42&x=1",
                            "",
                            "needed for Q3 \u{2014} \"urgent\"",
                        ],
                        h >> 36,
                    ),
                );
            }
            "user_login_failed" => {
                d.s("reason", pick(&["invalid_password", "sso_failure", "two_factor_failed", "account_locked"], h));
                d.n("attempts", 1 + ((h >> 4) % 5) as i64);
            }
            "user_session_invalidated" => {
                d.s("type", pick(&["admin_reset", "password_changed", "session_expired"], h));
                d.n("session_search_start", date - 86_400 * 7);
            }
            "user_email_updated" => {
                d.s("previous_value", &format!("old.{}@acme.example", h % 9000));
                d.s("new_value", &format!("new+{}@acme.example", h % 9000));
            }
            "user_profile_updated" | "user_created" | "guest_created" => {
                if h & 0x300 == 0 {
                    self.profile(&mut d, "previous_profile", h);
                }
                self.profile(&mut d, "new_profile", mix(h));
            }
            "role_change_to_admin" | "role_change_to_guest" | "user_deactivated" | "user_reactivated" => {
                d.s("target_user", self.user_id(h >> 2));
                d.s("type", pick(&["manual", "scim", "idp_group_sync"], h >> 20));
                if h & 0x10 != 0 {
                    d.s("origin_team", &self.workspaces[((h >> 24) % self.workspaces.len() as u64) as usize].id);
                }
            }
            "custom_role_assigned" | "custom_role_removed" | "account_type_role_assigned" => {
                d.s("entity_type", "user");
                d.s("target_entity_id", self.user_id(h >> 4));
                let perms: Vec<&str> = (0..1 + (h >> 20) % 6)
                    .map(|k| {
                        pick(
                            &[
                                "channels.manage",
                                "users.deactivate",
                                "apps.approve",
                                "audit.read",
                                "legal_hold.manage",
                                "workflows.manage",
                            ],
                            h >> (24 + k),
                        )
                    })
                    .collect();
                d.raw("changed_permissions", qa(&perms).as_bytes());
            }
            "file_shared" | "file_public_link_created" => {
                let ch = &self.channels[((h >> 4) % self.channels.len() as u64) as usize].id;
                d.s("shared_to", ch);
                let o = d.k("shared_with");
                let mut s = Obj::new(o);
                s.s("channel_id", ch);
                s.s("access_level", pick(&["read", "write", "can_edit"], h >> 20));
                s.end();
                let f = &self.files[((h >> 24) % self.files.len() as u64) as usize].id;
                let team = &self.workspaces[0].id;
                d.s(
                    "url_private",
                    &format!("https://files.slack.com/files-pri/{team}-{f}/download/{}.pdf", h % 100_000),
                );
            }
            "file_downloaded" | "file_downloaded_blocked" | "file_malicious_content_detected" => {
                d.s(
                    "reason",
                    pick(
                        &[
                            "session not on a managed device",
                            "malware \"EICAR-Test\" found",
                            "download from an untrusted network (10.0.0.0/8)",
                        ],
                        h >> 4,
                    ),
                );
                d.b("is_error", h & 0x100 != 0);
            }
            "user_channel_join" | "external_shared_channel_connected" => {
                let o = d.k("inviter");
                o.extend_from_slice(&self.users[((h >> 4) % self.users.len() as u64) as usize].json);
                d.s("channel", &self.channels[((h >> 20) % self.channels.len() as u64) as usize].id);
                if name == "external_shared_channel_connected" {
                    d.s("external_organization_id", &id_of("E", h >> 24));
                    d.s(
                        "external_organization_name",
                        pick(&["Partner Co. \u{2014} EMEA", "Contractors/Vendors", "Beta \"Customers\""], h >> 30),
                    );
                    d.b("is_external_limited", h & 0x200 != 0);
                }
            }
            "channel_retention_changed" | "channel_posting_permissions_updated" | "channel_renamed" => {
                if name == "channel_renamed" {
                    d.s("previous_value", pick(CHANNEL_WORDS, h >> 4));
                    d.s("new_value", pick(CHANNEL_WORDS, h >> 8));
                } else {
                    d.raw(
                        "old_retention_policy",
                        format!("{{\"type\":\"duration\",\"duration_days\":{}}}", 30 + (h >> 4) % 700).as_bytes(),
                    );
                    d.raw(
                        "new_retention_policy",
                        format!(
                            "{{\"type\":\"{}\",\"duration_days\":{}}}",
                            pick(&["duration", "keep_all"], h >> 14),
                            (h >> 16) % 700
                        )
                        .as_bytes(),
                    );
                    let users: Vec<&str> = (0..(h >> 24) % 5).map(|k| self.user_id(h3(h, k, 9))).collect();
                    d.raw(
                        "who_can_post",
                        format!("{{\"type\":[\"admin\",\"org_admin\"],\"user\":{}}}", qa(&users)).as_bytes(),
                    );
                    d.raw("can_thread", b"{\"type\":[\"ra\"],\"user\":[]}");
                    d.raw(
                        "enable_at_channel",
                        if h & 0x1000 == 0 { b"{\"enabled\":true}" } else { b"{\"enabled\":false}" },
                    );
                }
            }
            "manual_export_started" | "scheduled_export_completed" => {
                d.s("export_type", pick(&["standard", "corporate", "dlp"], h));
                d.s("export_start_ts", &format!("{}", date - 86_400 * (1 + (h >> 4) % 365) as i64));
                d.s("export_end_ts", &format!("{date}"));
                d.n("exporting_team_id", (h >> 12 & 0xffff_ffff) as i64);
            }
            "idp_group_sync_completed" | "usergroup_updated" => {
                d.s("idp_config_id", &id_of("IdP", h));
                d.s("subteam", &self.usergroups[((h >> 8) % self.usergroups.len() as u64) as usize].id);
                for (k, key) in [
                    "idp_group_member_count",
                    "workspace_member_count",
                    "added_user_count",
                    "removed_user_count",
                    "added_user_error_count",
                ]
                .iter()
                .enumerate()
                {
                    d.n(key, ((h >> (k * 8)) % 5000) as i64);
                }
                let failed: Vec<&str> = (0..(h >> 40) % 4).map(|k| self.user_id(h3(h, k, 11))).collect();
                d.raw("failed_users", qa(&failed).as_bytes());
            }
            "information_barrier_created" | "information_barrier_updated" => {
                let b = &self.barriers[((h >> 4) % self.barriers.len() as u64) as usize];
                d.s("barrier_id", &b.id);
                d.s("primary_usergroup_id", &self.usergroups[((h >> 8) % 80) as usize].id);
                let from: Vec<&str> =
                    (0..1 + (h >> 16) % 4).map(|k| self.usergroups[(h3(h, k, 13) % 80) as usize].id.as_str()).collect();
                d.raw("barriered_from_usergroup_ids", qa(&from).as_bytes());
                d.raw("restricted_subjects", b"[\"call\",\"im\",\"mpim\"]");
            }
            "workflow_created" | "workflow_published" | "workflow_v2_published" | "workflow_v2_step_added" => {
                d.s("trigger", pick(&["shortcut", "webhook", "scheduled", "event:reaction_added", "link"], h));
                d.s("new_version_id", &format!("{:016x}", mix(h)));
                let fns: Vec<String> = (0..(h >> 8) % 5).map(|k| format!("Fn0{}", id_of("", h3(h, k, 15)))).collect();
                d.raw("functions", qa(&fns).as_bytes());
                d.raw("datastores", qa(&[pick(&["tickets", "on_call_rota", "\u{540d}\u{7c3f}"], h >> 12)]).as_bytes());
                let o = d.k("permissions");
                o.push(b'[');
                for k in 0..1 + (h >> 16) % 3 {
                    if k > 0 {
                        o.push(b',');
                    }
                    let hk = h3(h, k, 17);
                    let mut p = Obj::new(o);
                    p.s("type", pick(&["user", "channel", "everyone"], hk));
                    p.s("id", self.user_id(hk >> 4));
                    p.s("access_level", pick(&["run", "edit", "owner"], hk >> 20));
                    p.end();
                }
                o.push(b']');
                let o = d.k("attributes");
                o.push(b'[');
                for k in 0..(h >> 24) % 4 {
                    if k > 0 {
                        o.push(b',');
                    }
                    let hk = h3(h, k, 19);
                    let mut at = Obj::new(o);
                    at.s("name", pick(&["priority", "assignee", "due_date", "r\u{e9}sum\u{e9}"], hk));
                    at.s("type", pick(&["string", "user_id", "timestamp", "array"], hk >> 4));
                    at.raw("items", b"{\"type\":\"string\"}");
                    at.end();
                }
                o.push(b']');
            }
            "message_tombstoned" | "message_restored" => {
                d.s("channel", &self.channels[((h >> 4) % self.channels.len() as u64) as usize].id);
                d.b("is_channel_canvas", h & 0x100 != 0);
                d.s(
                    "reason",
                    pick(
                        &["Removed by an admin: violates policy \u{a7}4.2", "DLP rule \"PII / SSN\" matched", ""],
                        h >> 12,
                    ),
                );
            }
            "list_created" | "list_cell_updated" => {
                d.s("column_id", &format!("Col{}", id_of("", h)));
                d.s("row_id", &format!("Rec{}", id_of("", h >> 8)));
                d.n("cell_date_updated", date);
                d.s("view_id", &format!("View{}", id_of("", h >> 16)));
            }
            "anomaly" => {
                d.n("action_timestamp", date * 1000 + (h % 1000) as i64);
                d.s(
                    "location",
                    pick(&["Berlin, DE", "S\u{e3}o Paulo, BR", "\u{6771}\u{4eac}, JP", "Lagos, NG", "unknown"], h >> 4),
                );
                let mut prev = Vec::new();
                push_ip(&mut prev, mix(h));
                d.s("previous_ip_address", std::str::from_utf8(&prev).unwrap_or(""));
                d.s("previous_ua", &user_agent(mix(h ^ 3)));
                let reasons: Vec<&str> = (0..1 + (h >> 12) % 4)
                    .map(|k| {
                        pick(
                            &["asn", "ip_address", "user_agent", "tor", "excessive_downloads", "session_fingerprint"],
                            h >> (16 + 3 * k),
                        )
                    })
                    .collect();
                d.raw("reason", qa(&reasons).as_bytes());
                d.b("is_internal", false);
            }
            _ => {
                // Free-form details: nested objects and arrays, 1 to 8 levels.
                d.s(
                    "reason",
                    pick(
                        &[
                            "line one\nline two\ttabbed \\ backslash",
                            "requested via /admin, see <https://example.com/a?b=1&c=2>",
                            "Approved by Zo\u{eb} \u{2014} \"quarterly review\" \u{1f680}",
                        ],
                        h,
                    ),
                );
                let o = d.k("nested");
                nested(o, h, 1 + (h >> 4) % 8);
            }
        }
        d.end();
    }

    /// An AAA (admin approval automation) rule that matched, and the ones checked.
    fn aaa(&self, d: &mut Obj, h: u64) {
        let rule = |out: &mut Vec<u8>, hr: u64| {
            let mut r = Obj::new(out);
            r.s("id", &id_of("Rl", hr));
            r.s("team_id", &self.workspaces[(hr >> 8) as usize % self.workspaces.len()].id);
            r.s(
                "title",
                pick(
                    &["Auto-approve internal apps", "Block \"file export\" scopes", "Review \u{2192} security"],
                    hr >> 12,
                ),
            );
            let o = r.k("action");
            let mut a = Obj::new(o);
            a.raw(
                "resolution",
                format!("{{\"value\":\"{}\"}}", pick(&["approve", "restrict", "manual"], hr >> 16)).as_bytes(),
            );
            a.raw("notify", b"[{\"entity_type\":\"admin\"},{\"entity_type\":\"requester\"}]");
            a.end();
            let o = r.k("condition");
            let mut c = Obj::new(o);
            c.s("datatype", "object");
            c.s("operator", pick(&["and", "or"], hr >> 20));
            let scopes: Vec<&str> = (0..1 + (hr >> 24) % 4).map(|k| pick(SCOPES, hr >> (28 + k))).collect();
            c.raw(
                "values",
                format!("[{{\"field\":\"scope\",\"values\":{},\"datatype\":\"string\",\"operator\":\"in\"}},{{\"field\":\"is_distributed\",\"values\":[\"true\"],\"datatype\":\"bool\",\"operator\":\"equals\"}}]", qa(&scopes)).as_bytes(),
            );
            c.s("entity_type", "app");
            c.end();
            r.end();
        };
        rule(d.k("matched_rule"), mix(h));
        d.raw(
            "request",
            format!("{{\"id\":\"{}\",\"team_id\":\"{}\"}}", id_of("Ar", h >> 8), self.workspaces[0].id).as_bytes(),
        );
        let o = d.k("rules_checked");
        o.push(b'[');
        for k in 0..(h >> 40) % 3 {
            if k > 0 {
                o.push(b',');
            }
            rule(o, h3(h, k, 23));
        }
        o.push(b']');
    }

    /// A user profile with its image URLs.
    fn profile(&self, d: &mut Obj, key: &str, h: u64) {
        let first = pick(FIRST, h);
        let last = pick(LAST, h >> 8);
        let o = d.k(key);
        let mut p = Obj::new(o);
        p.s("real_name", &format!("{first} {last}"));
        p.s("first_name", first);
        p.s("last_name", last);
        p.s("display_name", &format!("{}{}", first.to_lowercase(), (h >> 16) % 100));
        if h & 0x3 == 0 {
            let base = format!(
                "https://avatars.slack-edge.com/2024-{:02}-{:02}/{}_{:020x}",
                1 + (h >> 20) % 12,
                1 + (h >> 24) % 28,
                1000 + (h >> 28) % 9000,
                mix(h) as u128
            );
            p.s("image_original", &format!("{base}_original.png"));
            for size in [24, 32, 48, 72, 192, 512, 1024] {
                p.s(&format!("image_{size}"), &format!("{base}_{size}.png"));
            }
        }
        p.end();
    }
}

/// Free-form nested JSON, `depth` levels, drawn from `h`.
fn nested(out: &mut Vec<u8>, h: u64, depth: u64) {
    if depth == 0 {
        match h % 6 {
            0 => out.extend_from_slice(b"null"),
            1 => out.extend_from_slice(b"-3.25e2"),
            2 => push_u64(out, h >> 40),
            3 => out.extend_from_slice(if h & 0x40 == 0 { b"true" } else { b"false" }),
            _ => {
                out.push(b'"');
                esc(out, pick(&["caf\u{e9}", "a/b/c", "\"quoted\"", "\u{1f680} launch", "plain"], h >> 8));
                out.push(b'"');
            }
        }
        return;
    }
    // Wide near the top only, so a deep value stays a few hundred bytes.
    let width = if depth > 2 { 1 } else { 1 + (h >> 5) % 3 };
    if h & 0x10 == 0 {
        out.push(b'[');
        for k in 0..width {
            if k > 0 {
                out.push(b',');
            }
            nested(out, h3(h, k, 29), depth - 1);
        }
        out.push(b']');
    } else {
        let mut o = Obj::new(out);
        for k in 0..width {
            let key = pick(&["level", "items", "meta", "cl\u{e9}", "x/y"], h3(h, k, 31));
            let mut kb = Vec::new();
            esc(&mut kb, key);
            let key = String::from_utf8(kb).expect("ASCII");
            nested(o.k(&format!("{key}{k}")), h3(h, k, 37), depth - 1);
        }
        o.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Varied entries are valid JSON, unique, of every entity type, escaped as Slack's backend
    /// writes them (no raw non-ASCII, no raw `/`), and about as large as real ones.
    #[test]
    fn varied_entries_are_valid_varied_and_slack_escaped() {
        let w = World::with_dataset(3, Dataset::Varied);
        let mut kinds = HashSet::new();
        let mut total = 0usize;
        let (mut v6, mut no_ip, mut deep) = (0, 0, 0);
        for idx in 0..20_000u32 {
            let mut out = Vec::new();
            w.render(&mut out, idx, 1_700_000_000 + idx as i64);
            total += out.len();
            assert!(out.iter().all(|&c| c.is_ascii()), "raw non-ASCII in entry {idx}");
            let text = std::str::from_utf8(&out).unwrap();
            assert!(!text.replace("\\/", "").contains('/'), "a raw / in entry {idx}: {text}");
            let v: serde_json::Value =
                serde_json::from_slice(&out).unwrap_or_else(|e| panic!("entry {idx}: {e}: {text}"));
            assert_eq!(v["id"].as_str().unwrap(), w.id_string(idx));
            let kind = v["entity"]["type"].as_str().unwrap().to_string();
            assert!(v["entity"][&kind].is_object(), "{text}");
            kinds.insert(kind);
            let ip = v["context"]["ip_address"].as_str().unwrap();
            if ip.is_empty() {
                no_ip += 1;
            } else {
                let parsed: std::net::IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
                v6 += parsed.is_ipv6() as usize;
            }
            deep += text.contains("\"nested\":") as usize;
        }
        let want: HashSet<String> = SCHEMA_TYPES.iter().map(|s| s.to_string()).collect();
        assert_eq!(kinds, want);
        assert!(v6 > 2000 && no_ip > 300 && deep > 50, "v6 {v6}, no ip {no_ip}, nested {deep}");
        let avg = total / 20_000;
        assert!((450..=800).contains(&avg), "average entry size {avg}");
    }

    #[test]
    fn slack_escaping() {
        let mut out = Vec::new();
        esc(&mut out, "a/b \"c\" \\ \u{e9} \u{1f680}\n");
        assert_eq!(out, br#"a\/b \"c\" \\ \u00e9 \ud83d\ude80\n"#);
    }
}
