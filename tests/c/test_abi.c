/* Tests of the slack-audit C ABI against a running simulator.
 *
 * Usage: test_abi AUDIT_URL STATE_DIR EXPECTED_EVENTS BAD_AUTH_URL
 *   AUDIT_URL        the simulator's Audit Logs base URL (token xoxp-sim-token)
 *   STATE_DIR        an empty directory this program may use (subdirectories are created)
 *   EXPECTED_EVENTS  the size of the simulator's dataset
 *   BAD_AUTH_URL     a second simulator in error_mode invalid_auth
 *
 * Prints one line per failed check, then "N passed, N failed"; exits 1 on any failure.
 * Built by `make c-tests`, run by tests/c_abi.rs (plain, under ASan/UBSan and under valgrind).
 */
#define _POSIX_C_SOURCE 200809L
#include "slack_audit.h"

/* Not in the installed header: exported only by a library built with the `test-exports` cargo
 * feature, which mk/c.mk builds into target/test-exports for this program. Panics inside the
 * library while holding `h`; returns SLACK_AUDIT_PANIC and poisons the handle. */
slack_audit_status slack_audit_test_panic(struct slack_audit *h);

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define TOKEN "xoxp-sim-token"

static int passed, failed;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (cond) {                                                           \
            passed++;                                                         \
        } else {                                                              \
            failed++;                                                         \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

static const char *audit_url, *state_root, *bad_url;
static size_t expected;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A config JSON for the simulator with `state_dir` = STATE_DIR/sub. */
static void config(char *buf, size_t len, const char *url, const char *sub, const char *extra)
{
    snprintf(buf, len,
             "{\"token\":\"" TOKEN "\",\"api_url\":\"%s\",\"state_dir\":\"%s/%s\","
             "\"limit\":5000,\"max_calls_per_minute\":1000,\"max_retries\":2,\"timeout\":5%s}",
             url, state_root, sub, extra ? extra : "");
}

/* ---- A set of ids (open addressing over malloc'd copies). ---- */
struct idset {
    char **slot;
    size_t cap;
    size_t len;
};

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    }
    return h;
}

static int idset_init(struct idset *s, size_t expect)
{
    s->cap = 1024;
    while (s->cap < expect * 2 + 16) {
        s->cap *= 2;
    }
    s->len = 0;
    s->slot = calloc(s->cap, sizeof(char *));
    return s->slot ? 0 : -1;
}

/* 1 if added, 0 if already there, -1 when full or out of memory. */
static int idset_add(struct idset *s, const char *id, size_t n)
{
    if (s->len + 1 >= s->cap) {
        return -1;
    }
    size_t i = (size_t)hash(id, n) & (s->cap - 1);
    while (s->slot[i]) {
        if (strlen(s->slot[i]) == n && memcmp(s->slot[i], id, n) == 0) {
            return 0;
        }
        i = (i + 1) & (s->cap - 1);
    }
    char *copy = malloc(n + 1);
    if (!copy) {
        return -1;
    }
    memcpy(copy, id, n);
    copy[n] = '\0';
    s->slot[i] = copy;
    s->len++;
    return 1;
}

static void idset_free(struct idset *s)
{
    if (!s->slot) {
        return;
    }
    for (size_t i = 0; i < s->cap; i++) {
        free(s->slot[i]);
    }
    free(s->slot);
    s->slot = NULL;
}

/* Finds the value of the first "id":"…" in json[0..len); the entry's own id comes first. */
static int extract_id(const uint8_t *json, size_t len, const char **id, size_t *id_len)
{
    static const char key[] = "\"id\":\"";
    size_t k = sizeof key - 1;
    for (size_t i = 0; i + k < len; i++) {
        if (memcmp(json + i, key, k) == 0) {
            size_t start = i + k, end = start;
            while (end < len && json[end] != '"') {
                end++;
            }
            if (end >= len || end == start) {
                return -1;
            }
            *id = (const char *)json + start;
            *id_len = end - start;
            return 0;
        }
    }
    return -1;
}

/* ---- Tests ---- */

static void test_versions(void)
{
    CHECK(slack_audit_abi_version() == SLACK_AUDIT_ABI_VERSION, "abi %u", slack_audit_abi_version());
    const char *v = slack_audit_version();
    CHECK(v && strcmp(v, SLACK_AUDIT_VERSION) == 0, "version %s", v ? v : "(null)");
}

static void test_bad_configs(void)
{
    char cfg[2048], err[1024];
    slack_audit *h = NULL;
    slack_audit_status st;

    /* Unknown key: CONFIG, message names it. */
    config(cfg, sizeof cfg, audit_url, "bad", ",\"limitt\":5");
    err[0] = '\0';
    st = slack_audit_new(cfg, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_CONFIG, "unknown key: status %d (%s)", (int)st, err);
    CHECK(strstr(err, "limitt") != NULL, "unknown key not named: %s", err);
    CHECK(h == NULL, "out written on failure");

    /* Bad value: CONFIG, message names the key. */
    config(cfg, sizeof cfg, audit_url, "bad", ",\"since\":\"yesterday-ish\"");
    st = slack_audit_new(cfg, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_CONFIG && strstr(err, "since"), "bad since: %d %s", (int)st, err);

    /* Not JSON. */
    st = slack_audit_new("{", &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_CONFIG, "bad json: %d %s", (int)st, err);

    /* Missing token (SLACK_AUDIT_TOKEN is unset by main). */
    snprintf(cfg, sizeof cfg, "{\"api_url\":\"%s\",\"state_dir\":\"%s/notoken\"}", audit_url, state_root);
    st = slack_audit_new(cfg, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_CONFIG, "missing token: status %d (%s)", (int)st, err);
    CHECK(strstr(err, "SLACK_AUDIT_TOKEN") != NULL, "missing token message: %s", err);
    CHECK(h == NULL, "out written on failure");

    /* NULL arguments, with and without an error buffer; a tiny buffer is truncated, not overrun. */
    st = slack_audit_new(NULL, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_INVALID_ARGUMENT, "NULL config: %d", (int)st);
    st = slack_audit_new(cfg, NULL, err, sizeof err);
    CHECK(st == SLACK_AUDIT_INVALID_ARGUMENT, "NULL out: %d", (int)st);
    st = slack_audit_new(NULL, NULL, NULL, 0);
    CHECK(st == SLACK_AUDIT_INVALID_ARGUMENT, "NULL everything: %d", (int)st);
    char tiny[4] = {'x', 'x', 'x', 'x'};
    st = slack_audit_new(NULL, &h, tiny, sizeof tiny);
    CHECK(st == SLACK_AUDIT_INVALID_ARGUMENT && tiny[3] == '\0', "tiny error buffer");
    /* Not UTF-8. */
    st = slack_audit_new("{\"actor\":\"\xff\"}", &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_INVALID_ARGUMENT, "non-UTF-8: %d %s", (int)st, err);

    /* Other functions with NULL. */
    slack_audit_batch *b = (slack_audit_batch *)0x1;
    CHECK(slack_audit_collect(NULL, 0, &b, err, sizeof err) == SLACK_AUDIT_INVALID_ARGUMENT, "collect(NULL)");
    CHECK(b == (slack_audit_batch *)0x1, "collect(NULL) wrote out");
    CHECK(slack_audit_ack(NULL, NULL, err, sizeof err) == SLACK_AUDIT_INVALID_ARGUMENT, "ack(NULL)");
    CHECK(slack_audit_stats(NULL, NULL, 0, NULL) == SLACK_AUDIT_INVALID_ARGUMENT, "stats(NULL)");
    CHECK(slack_audit_interrupt(NULL) == SLACK_AUDIT_INVALID_ARGUMENT, "interrupt(NULL)");
    int32_t lv = 0;
    CHECK(slack_audit_next_log(NULL, &lv, err, sizeof err) == SLACK_AUDIT_INVALID_ARGUMENT, "next_log(NULL)");
    CHECK(slack_audit_caught_up(NULL) == 0, "caught_up(NULL)");
    CHECK(slack_audit_batch_len(NULL) == 0, "batch_len(NULL)");
    slack_audit_event ev;
    CHECK(slack_audit_batch_event(NULL, 0, &ev) == SLACK_AUDIT_INVALID_ARGUMENT, "batch_event(NULL)");
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK(slack_audit_batch_msgpack(NULL, &data, &len, err, sizeof err) == SLACK_AUDIT_INVALID_ARGUMENT,
          "batch_msgpack(NULL)");
    CHECK(slack_audit_batch_ndjson(NULL, &data, &len, NULL, 0) == SLACK_AUDIT_INVALID_ARGUMENT,
          "batch_ndjson(NULL)");
    CHECK(slack_audit_batch_msgpack_over_page(NULL, &data, &len, err, sizeof err) == SLACK_AUDIT_INVALID_ARGUMENT,
          "batch_msgpack_over_page(NULL)");
    CHECK(slack_audit_batch_release_events(NULL) == SLACK_AUDIT_INVALID_ARGUMENT, "release_events(NULL)");
    slack_audit_batch_free(NULL);
    slack_audit_shutdown(NULL);
    CHECK(1, "NULL frees are harmless");
}

/* Drains `h` until caught up; returns the number of events, or (size_t)-1 on a hard failure. */
static size_t drain(slack_audit *h, struct idset *ids, size_t *dups, size_t *batches_out)
{
    char err[1024];
    size_t events = 0, batches = 0, bad_json = 0, bad_time = 0, no_id = 0;
    int double_freed = 0;
    double deadline = now_s() + 120.0;

    *dups = 0;
    for (;;) {
        slack_audit_batch *b = NULL;
        slack_audit_status st = slack_audit_collect(h, 200, &b, err, sizeof err);
        if (st == SLACK_AUDIT_TRANSIENT) {
            fprintf(stderr, "note: transient: %s\n", err);
            continue;
        }
        if (st != SLACK_AUDIT_OK) {
            CHECK(0, "collect failed: %d %s", (int)st, err);
            return (size_t)-1;
        }
        if (!b) {
            if (slack_audit_caught_up(h)) {
                break;
            }
            if (now_s() > deadline) {
                CHECK(0, "drain did not catch up within 120 s (%zu events)", events);
                return (size_t)-1;
            }
            continue;
        }
        batches++;
        size_t n = slack_audit_batch_len(b);
        for (size_t i = 0; i < n; i++) {
            slack_audit_event ev;
            if (slack_audit_batch_event(b, i, &ev) != SLACK_AUDIT_OK) {
                bad_json++;
                continue;
            }
            if (ev.json_len == 0 || ev.json[0] != '{' || ev.json[ev.json_len - 1] != '}') {
                bad_json++;
            }
            if (ev.time <= 0) {
                bad_time++;
            }
            const char *id;
            size_t id_len;
            if (extract_id(ev.json, ev.json_len, &id, &id_len) != 0) {
                no_id++;
            } else if (idset_add(ids, id, id_len) == 0) {
                (*dups)++;
            }
        }
        slack_audit_event ev;
        CHECK(slack_audit_batch_event(b, n, &ev) == SLACK_AUDIT_INVALID_ARGUMENT, "index out of range");
        CHECK(slack_audit_batch_event(b, 0, NULL) == SLACK_AUDIT_INVALID_ARGUMENT, "NULL event out");

        const uint8_t *mp = NULL, *nd = NULL;
        size_t mp_len = 0, nd_len = 0;
        /* Every third batch as the Fluent Bit plugin does it: the records written over the page. */
        int over_page = batches % 3 == 0;
        slack_audit_status s1 = SLACK_AUDIT_OK;
        if (over_page) {
            const uint8_t *nd0 = NULL, *nd1 = NULL;
            size_t nd0_len = 0, nd1_len = 0;
            CHECK(slack_audit_batch_ndjson(b, &nd0, &nd0_len, err, sizeof err) == SLACK_AUDIT_OK, "ndjson: %s", err);
            s1 = slack_audit_batch_msgpack_over_page(b, &mp, &mp_len, err, sizeof err);
            CHECK(slack_audit_batch_event(b, 0, &ev) == SLACK_AUDIT_INVALID_ARGUMENT,
                  "no event once the msgpack is written over the page");
            CHECK(slack_audit_batch_ndjson(b, &nd1, &nd1_len, NULL, 0) == SLACK_AUDIT_OK && nd1 == nd0 &&
                      nd1_len == nd0_len,
                  "the NDJSON made before stays");
        } else {
            s1 = slack_audit_batch_msgpack(b, &mp, &mp_len, err, sizeof err);
        }
        CHECK(s1 == SLACK_AUDIT_OK && mp && mp_len > n * 10, "msgpack: %d %s", (int)s1, err);
        /* Every record starts with fixarray(2), then EventTime fixext8 type 0. */
        CHECK(s1 != SLACK_AUDIT_OK || (mp_len > 3 && mp[0] == 0x92 && mp[1] == 0xd7 && mp[2] == 0x00),
              "msgpack record header %02x %02x %02x", mp ? mp[0] : 0, mp ? mp[1] : 0, mp ? mp[2] : 0);
        slack_audit_status s2 = slack_audit_batch_ndjson(b, &nd, &nd_len, err, sizeof err);
        CHECK(s2 == SLACK_AUDIT_OK && nd && nd_len > 0, "ndjson: %d %s", (int)s2, err);
        if (s2 == SLACK_AUDIT_OK) {
            size_t lines = 0;
            for (size_t i = 0; i < nd_len; i++) {
                lines += nd[i] == '\n';
            }
            CHECK(lines == n && nd[0] == '{' && nd[nd_len - 1] == '\n', "ndjson lines %zu of %zu", lines, n);
        }
        /* The same buffer twice (encoded once). */
        const uint8_t *mp2 = NULL;
        size_t mp2_len = 0;
        slack_audit_batch_msgpack(b, &mp2, &mp2_len, NULL, 0);
        CHECK(mp2 == mp && mp2_len == mp_len, "msgpack buffer is stable");
        slack_audit_batch_msgpack_over_page(b, &mp2, &mp2_len, NULL, 0);
        CHECK(mp2 == mp && mp2_len == mp_len, "msgpack over the page returns the one made");

        if (batches % 2 == 1) {
            /* What the Fluent Bit plugin does once Fluent Bit has copied the records: the batch
             * keeps only what acknowledging needs, and says so instead of handing out freed bytes. */
            CHECK(slack_audit_batch_release_events(b) == SLACK_AUDIT_OK, "release events");
            CHECK(slack_audit_batch_release_events(b) == SLACK_AUDIT_OK, "release events twice");
            CHECK(slack_audit_batch_len(b) == n, "released batch still counts %zu events", n);
            CHECK(slack_audit_batch_event(b, 0, &ev) == SLACK_AUDIT_INVALID_ARGUMENT, "released batch event");
            CHECK(slack_audit_batch_msgpack(b, &mp2, &mp2_len, err, sizeof err) == SLACK_AUDIT_INVALID_ARGUMENT &&
                      strstr(err, "released") != NULL,
                  "released batch msgpack: %s", err);
            CHECK(slack_audit_batch_ndjson(b, &nd, &nd_len, NULL, 0) == SLACK_AUDIT_INVALID_ARGUMENT,
                  "released batch ndjson");
        }

        st = slack_audit_ack(h, b, err, sizeof err);
        CHECK(st == SLACK_AUDIT_OK, "ack: %d %s", (int)st, err);
        /* A second ack of the same batch is an argument error, not a crash. */
        st = slack_audit_ack(h, b, err, sizeof err);
        CHECK(st == SLACK_AUDIT_INVALID_ARGUMENT, "second ack: %d %s", (int)st, err);
        events += n;
        slack_audit_batch_free(b);
        if (!double_freed) {
            double_freed = 1;
            slack_audit_batch_free(b); /* double free: ignored */
            CHECK(slack_audit_batch_len(b) == 0, "freed batch has no events");
            CHECK(slack_audit_batch_event(b, 0, &ev) == SLACK_AUDIT_INVALID_HANDLE, "freed batch event");
            CHECK(slack_audit_ack(h, b, err, sizeof err) == SLACK_AUDIT_INVALID_HANDLE, "ack freed batch");
        }
    }
    CHECK(bad_json == 0, "%zu events with bad json", bad_json);
    CHECK(bad_time == 0, "%zu events with time <= 0", bad_time);
    CHECK(no_id == 0, "%zu events without an id", no_id);
    *batches_out = batches;
    return events;
}

struct interrupter {
    slack_audit *h;
    int delay_ms;
};

static void *interrupt_later(void *arg)
{
    struct interrupter *it = arg;
    struct timespec ts = {it->delay_ms / 1000, (long)(it->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    slack_audit_interrupt(it->h);
    return NULL;
}

static void test_interrupt(slack_audit *h)
{
    char err[256];
    slack_audit_batch *b = NULL;
    struct interrupter it = {h, 200};
    pthread_t t;
    if (pthread_create(&t, NULL, interrupt_later, &it) != 0) {
        CHECK(0, "pthread_create");
        return;
    }
    double t0 = now_s();
    slack_audit_status st = slack_audit_collect(h, 20000, &b, err, sizeof err);
    double took = now_s() - t0;
    pthread_join(t, NULL);
    CHECK(st == SLACK_AUDIT_INTERRUPTED, "interrupted collect: %d %s", (int)st, err);
    CHECK(took < 2.0, "interrupt took %.3f s", took);
    CHECK(b == NULL, "out written on interrupt");
    printf("interrupt: collect returned after %.0f ms (interrupt sent at 200 ms)\n", took * 1000);
    if (b) {
        slack_audit_batch_free(b);
    }
}

static void test_stats_and_logs(slack_audit *h, size_t events)
{
    char small[4];
    size_t needed = 0;
    char *buf = NULL;
    slack_audit_status st = slack_audit_stats(h, small, sizeof small, &needed);
    CHECK(st == SLACK_AUDIT_BUFFER_TOO_SMALL, "stats small: %d", (int)st);
    CHECK(needed > sizeof small, "needed %zu", needed);
    st = slack_audit_stats(h, NULL, 0, NULL);
    CHECK(st == SLACK_AUDIT_BUFFER_TOO_SMALL, "stats NULL buf: %d", (int)st);
    buf = malloc(needed);
    if (!buf) {
        CHECK(0, "malloc");
        goto out;
    }
    size_t needed2 = 0;
    st = slack_audit_stats(h, buf, needed, &needed2);
    CHECK(st == SLACK_AUDIT_OK, "stats: %d", (int)st);
    if (st != SLACK_AUDIT_OK) {
        goto out;
    }
    CHECK(strlen(buf) + 1 == needed2 && buf[0] == '{', "stats json %s", buf);
    char want[64];
    snprintf(want, sizeof want, "\"events_acked\":%zu", events);
    CHECK(strstr(buf, want) != NULL, "stats lacks %s: %s", want, buf);
    CHECK(strstr(buf, "\"caught_up\":true") != NULL, "stats not caught up: %s", buf);
    CHECK(strstr(buf, TOKEN) == NULL, "token in stats");

    /* Logs: drain until NONE; at least the "first run" line is there. */
    int n = 0, levels_ok = 1;
    char msg[512];
    for (int i = 0; i < 10000; i++) {
        int32_t lv = -1;
        st = slack_audit_next_log(h, &lv, msg, sizeof msg);
        if (st != SLACK_AUDIT_OK) {
            CHECK(0, "next_log: %d", (int)st);
            break;
        }
        if (lv == SLACK_AUDIT_LOG_NONE) {
            CHECK(msg[0] == '\0', "empty queue message: %s", msg);
            break;
        }
        if (lv < SLACK_AUDIT_LOG_ERROR || lv > SLACK_AUDIT_LOG_DEBUG) {
            levels_ok = 0;
        }
        if (strstr(msg, TOKEN)) {
            CHECK(0, "token in a log line");
        }
        n++;
    }
    CHECK(n >= 1 && levels_ok, "log lines %d, levels ok %d", n, levels_ok);
    int32_t lv = -1;
    CHECK(slack_audit_next_log(h, &lv, NULL, 0) == SLACK_AUDIT_OK && lv == SLACK_AUDIT_LOG_NONE,
          "next_log with no buffer");
    CHECK(slack_audit_next_log(h, NULL, msg, sizeof msg) == SLACK_AUDIT_INVALID_ARGUMENT, "next_log NULL level");
out:
    free(buf);
}

static void test_dead_handle(slack_audit *dead)
{
    char err[256], buf[256];
    slack_audit_batch *b = NULL;
    slack_audit_status st = slack_audit_collect(dead, 0, &b, err, sizeof err);
    CHECK(st == SLACK_AUDIT_INVALID_HANDLE, "collect on dead: %d", (int)st);
    st = slack_audit_ack(dead, NULL, err, sizeof err);
    CHECK(st == SLACK_AUDIT_INVALID_HANDLE, "ack on dead: %d", (int)st);
    st = slack_audit_stats(dead, buf, sizeof buf, NULL);
    CHECK(st == SLACK_AUDIT_INVALID_HANDLE, "stats on dead: %d", (int)st);
    CHECK(slack_audit_interrupt(dead) == SLACK_AUDIT_INVALID_HANDLE, "interrupt on dead");
    CHECK(slack_audit_caught_up(dead) == 0, "caught_up on dead");
    slack_audit_shutdown(dead); /* double shutdown */
    CHECK(1, "double shutdown");
}

static void test_panic(void)
{
    char cfg[2048], err[512];
    slack_audit *h = NULL;
    config(cfg, sizeof cfg, audit_url, "panic", NULL);
    slack_audit_status st = slack_audit_new(cfg, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK, "new for panic: %d %s", (int)st, err);
    if (st != SLACK_AUDIT_OK) {
        goto out;
    }
    st = slack_audit_test_panic(h);
    CHECK(st == SLACK_AUDIT_PANIC, "test_panic: %d", (int)st);
    slack_audit_batch *b = NULL;
    st = slack_audit_collect(h, 0, &b, err, sizeof err);
    CHECK(st == SLACK_AUDIT_POISONED, "collect after panic: %d %s", (int)st, err);
    char buf[64];
    CHECK(slack_audit_stats(h, buf, sizeof buf, NULL) == SLACK_AUDIT_POISONED, "stats after panic");
    CHECK(slack_audit_test_panic(h) == SLACK_AUDIT_POISONED, "panic after panic");
out:
    slack_audit_shutdown(h);
    slack_audit_shutdown(h);
}

static void test_permanent(void)
{
    char cfg[2048], err[1024] = "";
    slack_audit *h = NULL;
    config(cfg, sizeof cfg, bad_url, "permanent", NULL);
    slack_audit_status st = slack_audit_new(cfg, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK, "new for permanent: %d %s", (int)st, err);
    if (st != SLACK_AUDIT_OK) {
        goto out;
    }
    double deadline = now_s() + 30.0;
    do {
        slack_audit_batch *b = NULL;
        st = slack_audit_collect(h, 500, &b, err, sizeof err);
        slack_audit_batch_free(b);
    } while ((st == SLACK_AUDIT_OK || st == SLACK_AUDIT_TRANSIENT) && now_s() < deadline);
    CHECK(st == SLACK_AUDIT_PERMANENT, "permanent: %d %s", (int)st, err);
    CHECK(strstr(err, "token") != NULL, "permanent message: %s", err);
    CHECK(strstr(err, TOKEN) == NULL, "token value in the message");
    /* Sticky. */
    slack_audit_batch *b = NULL;
    st = slack_audit_collect(h, 0, &b, err, sizeof err);
    CHECK(st == SLACK_AUDIT_PERMANENT, "permanent is sticky: %d", (int)st);
out:
    slack_audit_shutdown(h);
}

/* Collects the next non-empty batch of `h` (NULL on failure or after 60 s). */
static slack_audit_batch *next_batch(slack_audit *h)
{
    char err[1024];
    double deadline = now_s() + 60.0;
    while (now_s() < deadline) {
        slack_audit_batch *b = NULL;
        slack_audit_status st = slack_audit_collect(h, 500, &b, err, sizeof err);
        if (st == SLACK_AUDIT_TRANSIENT) {
            continue;
        }
        if (st != SLACK_AUDIT_OK) {
            CHECK(0, "collect for the stale tests: %d %s", (int)st, err);
            return NULL;
        }
        if (b) {
            return b;
        }
    }
    CHECK(0, "no batch within 60 s");
    return NULL;
}

/* Issue 12 item 3: a stale pointer (freed batch, shut-down handle) never reaches a newer
 * object, even when the allocator hands the same memory to the newer one. */
static void test_stale_pointers(void)
{
    char cfg[2048], err[1024];
    slack_audit *h = NULL, *old = NULL, *young = NULL;
    slack_audit_batch *b1 = NULL, *b2 = NULL;
    slack_audit_status st;

    config(cfg, sizeof cfg, audit_url, "stale", NULL);
    st = slack_audit_new(cfg, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK, "new for stale: %d %s", (int)st, err);
    if (st != SLACK_AUDIT_OK) {
        goto out;
    }
    b1 = next_batch(h);
    if (!b1) {
        goto out;
    }
    st = slack_audit_ack(h, b1, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK, "ack b1: %d %s", (int)st, err);
    slack_audit_batch_free(b1);
    b2 = next_batch(h);
    if (!b2) {
        goto out;
    }
    CHECK(b2 != b1, "a batch pointer is never reused within a process");
    size_t n2 = slack_audit_batch_len(b2);
    slack_audit_event ev;
    st = slack_audit_batch_event(b2, 0, &ev);
    CHECK(n2 > 0 && st == SLACK_AUDIT_OK, "b2 event 0: %zu %d", n2, (int)st);

    /* A stale ack of b1 is refused and does not acknowledge b2. */
    st = slack_audit_ack(h, b1, err, sizeof err);
    CHECK(st == SLACK_AUDIT_INVALID_HANDLE, "stale ack of a freed batch: %d %s", (int)st, err);
    /* A stale second free of b1 leaves b2 intact: its events stay readable. */
    slack_audit_batch_free(b1);
    CHECK(slack_audit_batch_len(b2) == n2, "b2 survives a stale free: %zu of %zu", slack_audit_batch_len(b2), n2);
    if (st == SLACK_AUDIT_INVALID_HANDLE && n2 > 0) {
        size_t braces = 0;
        for (size_t i = 0; i < ev.json_len; i++) { /* ASan/valgrind catch a freed buffer here */
            braces += ev.json[i] == '{';
        }
        CHECK(braces > 0 && ev.json[0] == '{', "b2's event bytes still valid");
    }
    /* b2 was not acknowledged by the stale call: acknowledging it now succeeds. */
    st = slack_audit_ack(h, b2, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK, "ack b2 after the stale ack: %d %s", (int)st, err);

    /* A stale shutdown of a dead handle leaves a newer handle alive. */
    config(cfg, sizeof cfg, audit_url, "stale-old", NULL);
    st = slack_audit_new(cfg, &old, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK, "new old: %d %s", (int)st, err);
    slack_audit_shutdown(old);
    config(cfg, sizeof cfg, audit_url, "stale-young", NULL);
    st = slack_audit_new(cfg, &young, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK, "new young: %d %s", (int)st, err);
    CHECK(young != old, "a handle pointer is never reused within a process");
    slack_audit_shutdown(old); /* stale */
    char buf[4096];
    st = slack_audit_stats(young, buf, sizeof buf, NULL);
    CHECK(st == SLACK_AUDIT_OK, "young handle alive after a stale shutdown: %d", (int)st);
    slack_audit_batch *yb = NULL;
    st = slack_audit_collect(young, 0, &yb, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK, "collect on young after a stale shutdown: %d %s", (int)st, err);
    slack_audit_batch_free(yb);
    /* A batch of one handle cannot be acknowledged through another. */
    if (b2) {
        st = slack_audit_ack(young, b2, err, sizeof err);
        CHECK(st == SLACK_AUDIT_INVALID_ARGUMENT, "ack of another handle's batch: %d %s", (int)st, err);
    }
out:
    slack_audit_batch_free(b2);
    slack_audit_shutdown(young);
    slack_audit_shutdown(h);
}

/* ---- The key/value config builder ---- */

static slack_audit_config *builder_for(const char *url, const char *sub, const char *token)
{
    char dir[1024], err[512];
    slack_audit_config *cfg = NULL;
    slack_audit_status st = slack_audit_config_new(&cfg, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK && cfg, "config_new: %d %s", (int)st, err);
    if (st != SLACK_AUDIT_OK) {
        return NULL;
    }
    snprintf(dir, sizeof dir, "%s/%s", state_root, sub);
    const char *pairs[][2] = {{"token", token},          {"api_url", url},  {"state_dir", dir},
                              {"limit", "5000"},         {"max-calls-per-minute", "1000"},
                              {"max_retries", "2"},      {"timeout", "5s"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        st = slack_audit_config_set(cfg, pairs[i][0], pairs[i][1], err, sizeof err);
        CHECK(st == SLACK_AUDIT_OK, "config_set %s: %d %s", pairs[i][0], (int)st, err);
    }
    return cfg;
}

#define CANARY "xoxp-builder-canary-5150"

static void test_config_builder(void)
{
    char err[1024];
    slack_audit *h = NULL;
    slack_audit_status st;

    /* The option list. */
    size_t n = slack_audit_option_count();
    CHECK(n >= 20, "option_count %zu", n);
    CHECK(slack_audit_option_name(0) && strcmp(slack_audit_option_name(0), "token") == 0, "option 0");
    int has_state_dir = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = slack_audit_option_name(i);
        CHECK(name && *name, "option %zu has no name", i);
        has_state_dir |= name && strcmp(name, "state_dir") == 0;
    }
    CHECK(has_state_dir, "state_dir is not in the option list");
    CHECK(slack_audit_option_name(n) == NULL && slack_audit_option_name((size_t)-1) == NULL, "past the end");

    /* Happy path: a builder collects everything from the simulator. */
    slack_audit_config *cfg = builder_for(audit_url, "builder", TOKEN);
    st = slack_audit_new_from_config(cfg, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK && h, "new_from_config: %d %s", (int)st, err);
    /* Borrowed: the config can still be changed; the running collector does not see it. */
    st = slack_audit_config_set(cfg, "limit", "10", err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK, "set after new_from_config: %d %s", (int)st, err);
    /* A second collector from the same config meets the first one's lock. */
    slack_audit *h2 = NULL;
    st = slack_audit_new_from_config(cfg, &h2, err, sizeof err);
    CHECK(st == SLACK_AUDIT_STATE && h2 == NULL, "second collector on a locked state: %d %s", (int)st, err);
    if (h) {
        struct idset ids = {0};
        size_t dups = 0, batches = 0;
        if (idset_init(&ids, expected) == 0) {
            size_t events = drain(h, &ids, &dups, &batches);
            CHECK(events == expected && ids.len == expected && dups == 0,
                  "builder drain: %zu events, %zu distinct, %zu duplicates, expected %zu", events, ids.len, dups,
                  expected);
            /* limit 5000 reached the collector: no batch holds more. */
            CHECK(batches * 5000 >= expected, "%zu batches for %zu events with limit 5000", batches, expected);
        }
        idset_free(&ids);
    }
    slack_audit_shutdown(h);
    h = NULL;

    /* Unknown key and bad value: SLACK_AUDIT_CONFIG naming the key and what is accepted. */
    st = slack_audit_config_set(cfg, "limitt", "5", err, sizeof err);
    CHECK(st == SLACK_AUDIT_CONFIG && strstr(err, "`limitt`") && strstr(err, "state_dir"), "unknown key: %d %s",
          (int)st, err);
    st = slack_audit_config_set(cfg, "limit", "0", err, sizeof err);
    CHECK(st == SLACK_AUDIT_CONFIG && strstr(err, "`limit`") && strstr(err, "from 1 to 9999"), "bad value: %d %s",
          (int)st, err);
    st = slack_audit_config_set(cfg, "sources", "audit,nope", err, sizeof err);
    CHECK(st == SLACK_AUDIT_CONFIG && strstr(err, "\"nope\"") && strstr(err, "audit, access, integration"),
          "bad list item: %d %s", (int)st, err);
    st = slack_audit_config_set(cfg, "actor", "\xff", err, sizeof err);
    CHECK(st == SLACK_AUDIT_INVALID_ARGUMENT && strstr(err, "UTF-8") && strstr(err, "`actor`"), "non-UTF-8 value: %d %s",
          (int)st, err);
    /* Options in conflict are found when the collector is made. */
    slack_audit_config_set(cfg, "actions", "user_login", err, sizeof err);
    slack_audit_config_set(cfg, "exclude_actions", "user_login", err, sizeof err);
    st = slack_audit_new_from_config(cfg, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_CONFIG && h == NULL && strstr(err, "exclude_actions"), "conflict: %d %s", (int)st, err);

    /* NULLs. */
    CHECK(slack_audit_config_new(NULL, err, sizeof err) == SLACK_AUDIT_INVALID_ARGUMENT, "config_new(NULL)");
    CHECK(slack_audit_config_set(NULL, "limit", "5", err, sizeof err) == SLACK_AUDIT_INVALID_ARGUMENT,
          "set(NULL config)");
    CHECK(slack_audit_config_set(cfg, NULL, "5", NULL, 0) == SLACK_AUDIT_INVALID_ARGUMENT, "set(NULL key)");
    CHECK(slack_audit_config_set(cfg, "limit", NULL, err, sizeof err) == SLACK_AUDIT_INVALID_ARGUMENT,
          "set(NULL value)");
    CHECK(slack_audit_new_from_config(NULL, &h, err, sizeof err) == SLACK_AUDIT_INVALID_ARGUMENT && h == NULL,
          "new_from_config(NULL config)");
    CHECK(slack_audit_new_from_config(cfg, NULL, err, sizeof err) == SLACK_AUDIT_INVALID_ARGUMENT,
          "new_from_config(NULL out)");
    slack_audit_config_free(NULL);

    /* Misuse after free: every call says the config is not live; freeing again does nothing. */
    slack_audit_config_free(cfg);
    slack_audit_config_free(cfg);
    st = slack_audit_config_set(cfg, "limit", "5", err, sizeof err);
    CHECK(st == SLACK_AUDIT_INVALID_HANDLE && strstr(err, "not live"), "set after free: %d %s", (int)st, err);
    h = (slack_audit *)0x1;
    st = slack_audit_new_from_config(cfg, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_INVALID_HANDLE && h == (slack_audit *)0x1, "new_from_config after free: %d %s", (int)st,
          err);
    h = NULL;

    /* The token never appears in a message: a refused token, through errors, logs and stats. */
    cfg = builder_for(bad_url, "builder-canary", CANARY);
    st = slack_audit_config_set(cfg, "limit", "0", err, sizeof err);
    CHECK(st == SLACK_AUDIT_CONFIG && !strstr(err, "canary"), "a bad value is named, the token is not: %s", err);
    st = slack_audit_config_set(cfg, "token_fil", "x", err, sizeof err);
    CHECK(st == SLACK_AUDIT_CONFIG && !strstr(err, "canary"), "unknown key, the token is not named: %s", err);
    st = slack_audit_new_from_config(cfg, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK, "new_from_config (refused token): %d %s", (int)st, err);
    slack_audit_config_free(cfg);
    if (h) {
        double deadline = now_s() + 30.0;
        do {
            slack_audit_batch *b = NULL;
            st = slack_audit_collect(h, 200, &b, err, sizeof err);
            slack_audit_batch_free(b);
        } while (st != SLACK_AUDIT_PERMANENT && now_s() < deadline);
        CHECK(st == SLACK_AUDIT_PERMANENT, "refused token: %d %s", (int)st, err);
        CHECK(!strstr(err, "canary"), "the token is in the error: %s", err);
        char msg[1024], stats[8192];
        int32_t level = SLACK_AUDIT_LOG_NONE;
        while (slack_audit_next_log(h, &level, msg, sizeof msg) == SLACK_AUDIT_OK && level != SLACK_AUDIT_LOG_NONE) {
            CHECK(!strstr(msg, "canary"), "the token is in a log line: %s", msg);
        }
        st = slack_audit_stats(h, stats, sizeof stats, NULL);
        CHECK(st == SLACK_AUDIT_OK && !strstr(stats, "canary"), "the token is in the stats: %s", stats);
    }
    slack_audit_shutdown(h);
}

int main(int argc, char **argv)
{
    struct idset ids = {0};
    slack_audit *h = NULL, *h2 = NULL;
    char cfg[2048], err[1024];

    if (argc != 5) {
        fprintf(stderr, "usage: %s AUDIT_URL STATE_DIR EXPECTED_EVENTS BAD_AUTH_URL\n", argv[0]);
        return 2;
    }
    audit_url = argv[1];
    state_root = argv[2];
    expected = (size_t)strtoull(argv[3], NULL, 10);
    bad_url = argv[4];
    unsetenv("SLACK_AUDIT_TOKEN");

    test_versions();
    test_bad_configs();

    if (idset_init(&ids, expected) != 0) {
        CHECK(0, "out of memory");
        goto out;
    }
    config(cfg, sizeof cfg, audit_url, "main", NULL);
    slack_audit_status st = slack_audit_new(cfg, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK && h, "new: %d %s", (int)st, err);
    if (st != SLACK_AUDIT_OK) {
        goto out;
    }

    /* A second collector on the same state dir while the first lives. */
    st = slack_audit_new(cfg, &h2, err, sizeof err);
    CHECK(st == SLACK_AUDIT_STATE, "second new on a locked state dir: %d %s", (int)st, err);
    CHECK(h2 == NULL, "out written on failure");

    double t0 = now_s();
    size_t dups = 0, batches = 0;
    size_t events = drain(h, &ids, &dups, &batches);
    printf("drain: %zu events in %zu batches, %zu distinct ids, %zu duplicates, %.2f s (expected %zu)\n",
           events, batches, ids.len, dups, now_s() - t0, expected);
    CHECK(events == expected, "drained %zu events, expected %zu", events, expected);
    CHECK(ids.len == expected, "%zu distinct ids, expected %zu", ids.len, expected);
    CHECK(dups == 0, "%zu duplicate ids", dups);

    test_stats_and_logs(h, events);
    test_interrupt(h);
    /* After the interrupt the handle still works. */
    slack_audit_batch *b = NULL;
    st = slack_audit_collect(h, 0, &b, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK && b == NULL, "collect after interrupt: %d %s", (int)st, err);
    slack_audit_batch_free(b);

    slack_audit_shutdown(h);
    test_dead_handle(h);
    h = NULL;

    /* The lock is released: a new collector on the same state resumes with nothing to deliver. */
    st = slack_audit_new(cfg, &h, err, sizeof err);
    CHECK(st == SLACK_AUDIT_OK, "new after shutdown: %d %s", (int)st, err);
    if (st == SLACK_AUDIT_OK) {
        size_t again = drain(h, &ids, &dups, &batches);
        CHECK(again == 0, "restart re-delivered %zu events", again);
    }
    slack_audit_shutdown(h);
    h = NULL;

    test_panic();
    test_permanent();
    test_stale_pointers();
    test_config_builder();

out:
    slack_audit_shutdown(h);
    idset_free(&ids);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
