//! The access rows' mapping to the Elastic Common Schema (`format = ecs`), written with the ECS
//! writer's parts (src/format/ecs.rs; the table is docs/ECS.md).

use crate::base::source_id::Source;
use crate::format::ecs::{ne, write_head, write_source, write_user_agent, Action, Class, Event, Ip, Mapping, Related, Str, Text, UserOut};
use serde::Deserialize;

/// Access rows (team.accessLogs).
pub const ACCESS: Mapping =
    Mapping::new(Source::Access, |out, id, time, text| access(out, id, time, &serde_json::from_str(text).unwrap_or_default()));

#[derive(Deserialize, Default)]
#[serde(default)]
struct AccessIn<'a> {
    #[serde(borrow)]
    user_id: Text<'a>,
    #[serde(borrow)]
    username: Text<'a>,
    date_first: Option<i64>,
    date_last: Option<i64>,
    #[serde(borrow)]
    ip: Text<'a>,
    #[serde(borrow)]
    user_agent: Text<'a>,
    #[serde(borrow)]
    isp: Text<'a>,
    #[serde(borrow)]
    country: Text<'a>,
    #[serde(borrow)]
    region: Text<'a>,
}

fn access(out: &mut Vec<u8>, id: Str<'_>, time: i64, e: &AccessIn<'_>) {
    // A row aggregates a user's logins from one IP and agent between date_first and date_last.
    const CLASS: Class = Class { category: &["authentication", "session"], kind: &["info", "start"], outcome: None };
    let event = Event {
        source: Source::Access,
        kind: "event",
        id,
        action: Action::Is(Str { text: "user_access", plain: true }),
        class: CLASS,
        start: e.date_first,
        end: e.date_last,
    };
    let mut d = write_head(out, time, &event);
    let mut related = Related::default();
    let user = UserOut { id: ne(&e.user_id), name: ne(&e.username), full_name: false, email: None };
    related.user(user.id);
    related.user(user.name);
    if !user.is_empty() {
        user.write(d.key("user"), None);
    }
    let address = ne(&e.ip);
    let ip = Ip::parse(address);
    write_source(&mut d, address, ip.as_ref(), [ne(&e.country), ne(&e.region)], ne(&e.isp));
    write_user_agent(&mut d, ne(&e.user_agent));
    related.write(&mut d, ip.as_ref());
}

