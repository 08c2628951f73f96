//! The integration logs' mapping to the Elastic Common Schema (`format = ecs`), written with the
//! ECS writer's parts (src/format/ecs.rs; the table is docs/ECS.md).

use crate::base::source_id::Source;
use crate::format::ecs::{class, ne, write_head, Action, Event, Mapping, Related, Str, Text, UserOut};
use serde::Deserialize;

/// Integration logs (team.integrationLogs).
pub const INTEGRATION: Mapping = Mapping::new(Source::Integration, |out, id, time, text| {
    integration(out, id, time, &serde_json::from_str(text).unwrap_or_default())
});

#[derive(Deserialize, Default)]
#[serde(default)]
struct IntegrationIn<'a> {
    #[serde(borrow)]
    change_type: Text<'a>,
    #[serde(borrow)]
    user_id: Text<'a>,
    #[serde(borrow)]
    user_name: Text<'a>,
}

fn integration(out: &mut Vec<u8>, id: Str<'_>, time: i64, e: &IntegrationIn<'_>) {
    let change = ne(&e.change_type);
    let class = match change.map_or("", |c| c.text) {
        "added" => class(&["configuration", "package"], &["installation", "creation"]),
        "removed" => class(&["configuration", "package"], &["deletion"]),
        "enabled" | "disabled" | "expanded" | "updated" => class(&["configuration"], &["change"]),
        _ => class(&["configuration"], &["info"]),
    };
    let action = change.map_or(Action::None, |c| Action::Prefixed("integration_", c));
    let event = Event { source: Source::Integration, kind: "event", id, action, class, start: None, end: None };
    let mut d = write_head(out, time, &event);
    let user = UserOut { id: ne(&e.user_id), name: ne(&e.user_name), full_name: false, email: None };
    let mut related = Related::default();
    related.user(user.id);
    if !user.is_empty() {
        user.write(d.key("user"), None);
    }
    related.write(&mut d, None);
}

