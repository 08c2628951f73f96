//! Which handler answers a path: the Audit Logs API (`audit.rs`), the Web API log methods
//! (`web.rs`) and the simulator's own `/sim/stats` and `/sim/dataset`.

use crate::data;
use crate::http::{Request, Response};
use crate::shared::Shared;
use crate::{audit, web};

/// What a handler wants done with the connection.
pub(crate) enum Outcome {
    Send(Response),
    /// Send full headers but only part of the body, then close.
    Truncate(Response),
    /// Close without answering; `rst` sends a TCP reset instead of a FIN.
    Reset {
        rst: bool,
    },
}

pub(crate) fn route(s: &Shared, req: &Request) -> Outcome {
    match req.path.trim_end_matches('/') {
        "/audit/v1/logs" => audit::logs(s, req),
        "/audit/v1/schemas" => Outcome::Send(audit::schemas(&s.world)),
        "/audit/v1/actions" => Outcome::Send(audit::actions(&s.world)),
        "/api/team.accessLogs" => web::access_logs(s, req),
        "/api/team.integrationLogs" => web::integration_logs(s, req),
        "/api/auth.test" => web::auth_test(s, req),
        "/sim/stats" => Outcome::Send(Response::json(200, serde_json::to_vec(&s.stats()).unwrap_or_default())),
        "/sim/dataset" => {
            let keys = s.index.read().unwrap_or_else(|e| e.into_inner()).keys.clone();
            let mut body = Vec::with_capacity(keys.len() * 70);
            for (date, idx) in keys {
                body.extend_from_slice(b"{\"id\":\"");
                s.world.write_id(&mut body, idx);
                body.extend_from_slice(b"\",\"date_create\":");
                data::push_i64(&mut body, date);
                body.extend_from_slice(b"}\n");
            }
            let mut r = Response::json(200, body);
            r.content_type = "application/x-ndjson";
            Outcome::Send(r)
        }
        p if p.starts_with("/api/") => Outcome::Send(Response::error(404, "unknown_method")),
        _ => Outcome::Send(Response::error(404, "not_found")),
    }
}
