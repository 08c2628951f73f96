"""Drains the audit logs of one Slack API base URL with Slack's own Python SDK (slack_sdk's
AuditLogsClient), the way its documentation pages: `logs()` with a cursor until
`next_cursor` is empty, each entry printed as one JSON line on stdout (like slack-audit and
helr). Used by `make bench-peers` against the bundled simulator.

Usage: SLACK_AUDIT_TOKEN=... python slack_sdk_drain.py BASE_URL LIMIT
       (BASE_URL like http://127.0.0.1:PORT/audit/v1/)
"""

import json
import os
import sys

from slack_sdk.audit_logs import AuditLogsClient


def main() -> int:
    base_url, limit = sys.argv[1], int(sys.argv[2])
    if not base_url.endswith("/"):
        base_url += "/"
    client = AuditLogsClient(token=os.environ["SLACK_AUDIT_TOKEN"], base_url=base_url, timeout=120)
    out = sys.stdout
    cursor, events, calls = None, 0, 0
    while True:
        # oldest=0 like the other collectors' `since 0`: the whole simulated history.
        resp = client.logs(oldest=0, limit=limit, cursor=cursor)
        calls += 1
        if resp.status_code != 200:
            print(f"slack_sdk: HTTP {resp.status_code}: {resp.raw_body[:200]}", file=sys.stderr)
            return 1
        for entry in resp.body.get("entries", []):
            out.write(json.dumps(entry, separators=(",", ":")))
            out.write("\n")
            events += 1
        cursor = resp.body.get("response_metadata", {}).get("next_cursor") or None
        if not cursor:
            break
    out.flush()
    print(f"slack_sdk: {events} events in {calls} calls", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
