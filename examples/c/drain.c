/* drain: collect every Slack audit event not yet delivered, print them as NDJSON, exit.
 *
 *   cc -I include examples/c/drain.c target/release/libslack_audit.a -lpthread -ldl -lm -o drain
 *   SLACK_AUDIT_TOKEN=xoxp-... ./drain '{"state_dir": "/var/lib/slack-audit"}' > events.ndjson
 *
 * The checkpoint moves only after a batch was written and flushed to stdout, so a crash or a
 * full disk re-delivers (at least once) and never skips. Library log lines go to stderr.
 */
#include "slack_audit.h"

#include <stdio.h>
#include <string.h>

static void print_logs(const slack_audit *h)
{
    static const char *names[] = {"", "error", "warn", "info", "debug"};
    char msg[1024];
    int32_t level = SLACK_AUDIT_LOG_NONE;
    while (slack_audit_next_log(h, &level, msg, sizeof msg) == SLACK_AUDIT_OK && level != SLACK_AUDIT_LOG_NONE) {
        fprintf(stderr, "[%s] %s\n", level >= 1 && level <= 4 ? names[level] : "?", msg);
    }
}

int main(int argc, char **argv)
{
    slack_audit *h = NULL;
    char err[1024];
    int rc = 1;
    size_t total = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CONFIG_JSON\n", argv[0]);
        return 2;
    }
    if (slack_audit_abi_version() != SLACK_AUDIT_ABI_VERSION) {
        fprintf(stderr, "drain: libslack_audit ABI %u, built for %u\n", slack_audit_abi_version(),
                SLACK_AUDIT_ABI_VERSION);
        return 1;
    }
    if (slack_audit_new(argv[1], &h, err, sizeof err) != SLACK_AUDIT_OK) {
        fprintf(stderr, "drain: %s\n", err);
        goto out;
    }
    for (;;) {
        slack_audit_batch *b = NULL;
        slack_audit_status st = slack_audit_collect(h, 1000, &b, err, sizeof err);
        print_logs(h);
        if (st == SLACK_AUDIT_TRANSIENT) {
            continue; /* already logged; the worker retries */
        }
        if (st != SLACK_AUDIT_OK) {
            fprintf(stderr, "drain: %s\n", err);
            goto out;
        }
        if (!b) {
            if (slack_audit_caught_up(h)) {
                break;
            }
            continue;
        }
        const uint8_t *data;
        size_t len;
        st = slack_audit_batch_ndjson(b, &data, &len, err, sizeof err);
        if (st == SLACK_AUDIT_OK && (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)) {
            snprintf(err, sizeof err, "cannot write to stdout");
            st = SLACK_AUDIT_STATE;
        }
        if (st == SLACK_AUDIT_OK) {
            total += slack_audit_batch_len(b);
            st = slack_audit_ack(h, b, err, sizeof err);
        }
        slack_audit_batch_free(b);
        if (st != SLACK_AUDIT_OK) {
            fprintf(stderr, "drain: %s\n", err);
            goto out;
        }
    }
    fprintf(stderr, "drain: %zu events\n", total);
    rc = 0;
out:
    print_logs(h);
    slack_audit_shutdown(h);
    return rc;
}
