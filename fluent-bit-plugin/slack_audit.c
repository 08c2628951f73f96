/* Fluent Bit input plugin "slack_audit", loaded through the proxy loader (the one Go plugins
 * use): `fluent-bit -e ./slack_audit.so -i slack_audit -p state_dir=... -o stdout`.
 *
 * A thin shell over the slack-audit C ABI (include/slack_audit.h), linked statically into this
 * .so. The collector fetches on its own thread; the input callback only picks up a ready batch
 * (never waits) and hands its msgpack records to Fluent Bit. The checkpoint moves
 * (slack_audit_ack, cumulative) only once Fluent Bit has put the records in a chunk, as well as a
 * proxy plugin can know it. What Fluent Bit does with the buffer (v2.1.10 .. v5.1.1 source):
 *
 * - src/flb_plugin_proxy.c, flb_proxy_register_input: `in->flags = def->flags |
 *   FLB_INPUT_THREADED`; every proxy input is threaded unless the user sets the core property
 *   `threaded off`. flb_proxy_input_cb_collect calls flb_input_log_append, ignores its result
 *   and calls our cleanup callback in every case.
 * - Threaded: src/flb_input_chunk.c, flb_input_chunk_append_raw -> append_to_ring_buffer only
 *   copies the buffer into the instance's ring; if the ring is full it retries 10 times with
 *   usleep(100000) and then drops the records ("could not enqueue records into the ring
 *   buffer"). The engine moves ring entries into chunks in
 *   flb_input_chunk_ring_buffer_collector, run by a 250 ms timer (src/flb_engine.c,
 *   flb_engine_start: rb_ms = 250) and when the ring fills past its window; the loop breaks
 *   while flb_input_paused() (mem_buf_limit, storage limits, rate gate: v5.1.1) or
 *   flb_input_buf_paused() (v2.1.10). At shutdown and hot reload src/flb_input.c,
 *   flb_input_instance_destroy calls flb_input_chunk_ring_buffer_cleanup, which discards what
 *   is still in the ring.
 * - `threaded off`: flb_input_chunk_append_raw calls input_chunk_append_raw directly, so the
 *   chunk is written before the cleanup callback.
 * - The plugin cannot read `threaded`: flb_input_get_property (src/flb_input.c) looks only in
 *   ins->properties, and flb_input_set_property keeps core properties out of that list. It
 *   can see which thread it runs on: src/flb_input_thread.c, input_thread_instance_init names
 *   an input thread "flb-in-<name>-w<N>" (prctl, truncated to 15 bytes) before calling Init;
 *   src/flb_lib.c, flb_lib_worker names the engine thread "flb-pipeline", where a non-threaded
 *   input's Init and callbacks run.
 *
 * Hence: on the engine thread ("flb-pipeline") a batch is acknowledged in the cleanup callback.
 * Anywhere else a batch whose hand-over returned promptly is kept and acknowledged by a later
 * input callback once it has spent ACK_AFTER_MS in the ring while the input was not paused
 * (six drain periods); a hand-over that took longer than SLOW_APPEND_MS went through the ten
 * ring-full retries and may have been dropped, so that batch is handed over again. Nothing is
 * acknowledged at Pause, PreExit, Exit or hot reload: what is still held comes again after the
 * restart (a page or two of duplicates per stop, never a gap).
 *
 * Memory (peak RSS in a real Fluent Bit: scripts/fb_memory.sh): the collector reads one page at
 * a time (read-ahead off), the batch's msgpack is written over the page's own buffer, and that
 * buffer goes back to the collector in the cleanup callback, once Fluent Bit has its copy, where
 * the next read takes it: one page-sized buffer in the plugin.
 * Threaded, a batch is handed over at most every HANDOVER_GAP_MS, so Fluent Bit's ring, drained
 * every 250 ms, holds one page's copy rather than every page fetched in between.
 *
 * Layouts and threading follow Fluent Bit's proxy interface as its source has it from v2.1.10
 * to v5.1.1 (struct flb_plugin_proxy_def in include/fluent-bit/flb_plugin_proxy.h, the calls in
 * src/flb_plugin_proxy.c; README.md here, "Versions"): write only the first five fields of the
 * registration struct; every instance runs Init, callbacks and Exit on its own thread, so a
 * thread-local pointer set in Init identifies the instance. Nothing is printed to stdout: log
 * lines go through the host's logger.
 */
#define _GNU_SOURCE
#include "slack_audit.h"

#include <pthread.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

#define PLUGIN_NAME "slack_audit"
/* Log lines drained from the library per callback, so a flood cannot hold the thread. */
#define MAX_LOGS_PER_CALL 200
/* Unpaused time a batch spends in Fluent Bit's ring before it counts as stored: the engine drains
 * the ring every 250 ms; the rest is margin for a busy engine thread. With the fixed 1 s input
 * callback, a batch is acknowledged two callbacks after its hand-over. */
#define ACK_AFTER_MS 1500.0
/* Each failed ring write costs usleep(100000), and the records are dropped after ten failures:
 * a hand-over that returned sooner than ten sleeps was kept. A slower one may have been dropped
 * (or succeeded at the last try: then handing it over again makes a duplicate). */
#define SLOW_APPEND_MS 950.0
/* Batches held for a later acknowledgement (the library allows 64 unacknowledged). */
#define MAX_HELD 32
/* Threaded: at most one hand-over per ring drain period (250 ms, plus margin for the drain's own
 * work), so the ring holds one batch's copy instead of piling up pages between drains. Fluent
 * Bit's fixed 1 s callback is slower than this anyway; it matters for a fast callback. */
#define HANDOVER_GAP_MS 300.0

/* Fluent Bit's log levels (the library uses the same numbers). */
enum { FLB_ERROR = 1, FLB_WARN = 2, FLB_INFO = 3, FLB_DEBUG = 4 };

/* The first 32 bytes of `struct flb_plugin_proxy_def`; newer hosts have more after them,
 * which we never touch (older hosts allocate only these 32 bytes). */
struct proxy_def {
    int type;          /* 0 */
    int proxy;         /* 4 */
    int flags;         /* 8 */
    char *name;        /* 16 */
    char *description; /* 24 */
};

/* What FLBPluginInit receives (shared by all instances of this .so). */
struct proxy_plugin {
    char *name;    /* 0 */
    void **api;    /* 8: struct flb_api, used as a table of function pointers */
    void *i_ins;   /* 16 */
    void *context; /* 24 */
};

typedef const char *(*get_property_fn)(const char *key, void *i_ins);
typedef void (*log_print_fn)(int level, const char *file, int line, const char *fmt, ...);
typedef int (*log_check_fn)(void *i_ins, int level);

#define API_INPUT_GET_PROPERTY 1
#define API_LOG_PRINT 4
#define API_INPUT_LOG_CHECK 5

/* A batch and its msgpack buffer (valid until the batch is freed, or, once held, released). */
struct held {
    slack_audit_batch *b;
    const uint8_t *data;
    size_t len;
    double appended; /* the instance's unpaused clock when the host took it */
};

struct instance {
    slack_audit *h;
    void *i_ins;
    get_property_fn get_property;
    log_print_fn log_print;
    log_check_fn log_check;
    int id;
    /* Chunk written before the cleanup callback (threaded off, on Fluent Bit's engine thread). */
    int sync_append;
    /* The batch whose buffer Fluent Bit holds until the cleanup callback. */
    struct held handed;
    double handed_at; /* monotonic ms when the callback returned it */
    double last_handover; /* monotonic ms of the last hand-over (0: none yet) */
    /* A batch to hand over again: the host never confirmed it, or its ring write was slow. */
    struct held redo;
    /* Taken by the host, oldest first, waiting for ACK_AFTER_MS of unpaused time. */
    struct held held[MAX_HELD];
    int nheld;
    /* The unpaused clock: milliseconds during which the input was not paused. */
    pthread_mutex_t clock_lock;
    double clock_base, clock_since;
    int clock_running;
    int paused;   /* atomic: Pause may come from another thread */
    int stopping; /* atomic: PreExit */
    int failed;   /* a permanent error: collecting stopped, already logged */
    struct instance *next;
};

static __thread struct instance *current;
static pthread_mutex_t instances_lock = PTHREAD_MUTEX_INITIALIZER;
static struct instance *instances;
static int next_id = 1;

static char description[] = "Slack Enterprise audit logs (slack-audit " SLACK_AUDIT_VERSION ")";
static char plugin_name[] = PLUGIN_NAME;

/* ---- Logging through the host ---- */

__attribute__((format(printf, 3, 4))) static void plog(const struct instance *in, int level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    if (!in || !in->log_print) {
        return;
    }
    if (in->log_check && !in->log_check(in->i_ins, level)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Never pass a message as a format: it may hold '%'. */
    in->log_print(level, __FILE__, __LINE__, "[" PLUGIN_NAME " #%d] %s", in->id, msg);
}

static void drain_logs(const struct instance *in)
{
    char msg[1024];
    for (int i = 0; i < MAX_LOGS_PER_CALL && in->h; i++) {
        int32_t level = SLACK_AUDIT_LOG_NONE;
        if (slack_audit_next_log(in->h, &level, msg, sizeof msg) != SLACK_AUDIT_OK || level == SLACK_AUDIT_LOG_NONE) {
            break;
        }
        plog(in, level, "%s", msg);
    }
}

/* ---- Time ---- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Milliseconds the input has spent unpaused since Init. */
static double active_ms(struct instance *in)
{
    pthread_mutex_lock(&in->clock_lock);
    double t = in->clock_base + (in->clock_running ? now_ms() - in->clock_since : 0);
    pthread_mutex_unlock(&in->clock_lock);
    return t;
}

static void clock_run(struct instance *in, int run)
{
    pthread_mutex_lock(&in->clock_lock);
    double now = now_ms();
    if (in->clock_running && !run) {
        in->clock_base += now - in->clock_since;
    } else if (!in->clock_running && run) {
        in->clock_since = now;
    }
    in->clock_running = run;
    pthread_mutex_unlock(&in->clock_lock);
}

/* ---- The configuration, from the properties ---- */

/* Hands every property the host has for an option of the library's table to the library's
 * config builder, then starts the collector. The names come from the library
 * (slack_audit_option_name), so the plugin never lags behind the option table; values are
 * passed as Fluent Bit gives them and checked by the library. On failure `err` names the
 * property and what it accepts. `given` receives the names that were set (never values: one
 * may be the token). */
static slack_audit_status start_collector(struct instance *in, char *given, size_t given_len, char *err,
                                          size_t err_len)
{
    slack_audit_config *cfg = NULL;
    size_t used = 0;
    slack_audit_status st = slack_audit_config_new(&cfg, err, err_len);
    given[0] = '\0';
    for (size_t i = 0; st == SLACK_AUDIT_OK && i < slack_audit_option_count(); i++) {
        const char *name = slack_audit_option_name(i);
        const char *value = name ? in->get_property(name, in->i_ins) : NULL;
        if (!value) {
            continue;
        }
        st = slack_audit_config_set(cfg, name, value, err, err_len);
        int n = snprintf(given + used, given_len - used, "%s%s", used ? ", " : "", name);
        if (n > 0 && (size_t)n < given_len - used) {
            used += (size_t)n;
        }
    }
    if (st == SLACK_AUDIT_OK) {
        st = slack_audit_new_from_config(cfg, &in->h, err, err_len);
    }
    if (st == SLACK_AUDIT_OK) {
        /* The page's buffer (holding the msgpack by then) is given back in the cleanup callback,
         * so the next read starts then, into the same buffer: one page in memory, not two. */
        st = slack_audit_set_read_ahead(in->h, 0);
        if (st != SLACK_AUDIT_OK) {
            snprintf(err, err_len, "cannot turn the collector's read-ahead off (status %d)", (int)st);
        }
    }
    slack_audit_config_free(cfg);
    return st;
}

/* ---- Instances ---- */

static void list_add(struct instance *in)
{
    pthread_mutex_lock(&instances_lock);
    in->id = next_id++;
    in->next = instances;
    instances = in;
    pthread_mutex_unlock(&instances_lock);
}

/* Removes `in` from the list; 1 if it was there. */
static int list_remove(struct instance *in)
{
    int found = 0;
    pthread_mutex_lock(&instances_lock);
    for (struct instance **p = &instances; *p; p = &(*p)->next) {
        if (*p == in) {
            *p = in->next;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&instances_lock);
    return found;
}

static void held_free(struct held *x)
{
    slack_audit_batch_free(x->b);
    memset(x, 0, sizeof *x);
}

/* Acknowledges held[0..=k] with one cumulative acknowledgement of held[k], then frees them.
 * On failure they stay held and a later acknowledgement covers them. */
static void ack_upto(struct instance *in, int k)
{
    char err[1024];
    if (k < 0 || k >= in->nheld) {
        return;
    }
    if (slack_audit_ack(in->h, in->held[k].b, err, sizeof err) != SLACK_AUDIT_OK) {
        plog(in, FLB_ERROR, "cannot save the checkpoint (retried at the next callback): %s", err);
        return;
    }
    for (int i = 0; i <= k; i++) {
        held_free(&in->held[i]);
    }
    memmove(in->held, in->held + k + 1, (size_t)(in->nheld - k - 1) * sizeof in->held[0]);
    in->nheld -= k + 1;
    memset(in->held + in->nheld, 0, (size_t)(k + 1) * sizeof in->held[0]);
}

/* Acknowledges every held batch that has spent ACK_AFTER_MS unpaused in the ring, by when the
 * engine's 250 ms drain has moved it into a chunk. */
static void ack_stored(struct instance *in)
{
    double now = active_ms(in);
    int k = -1;
    while (k + 1 < in->nheld && now - in->held[k + 1].appended >= ACK_AFTER_MS) {
        k++;
    }
    ack_upto(in, k);
}

/* NULL-safe; used on an Init failure and at Exit. Batches not known to be in a chunk are freed
 * without acknowledgement: nothing acknowledges them later, so they come again after a restart. */
static void instance_destroy(struct instance *in)
{
    if (!in) {
        return;
    }
    if (in->h) {
        slack_audit_interrupt(in->h);
    }
    size_t events = 0;
    int batches = 0;
    for (int i = 0; i < in->nheld; i++) {
        events += slack_audit_batch_len(in->held[i].b);
        batches++;
        held_free(&in->held[i]);
    }
    in->nheld = 0;
    for (struct held *x = &in->handed; x; x = (x == &in->handed ? &in->redo : NULL)) {
        if (x->b) {
            events += slack_audit_batch_len(x->b);
            batches++;
            held_free(x);
        }
    }
    if (batches > 0) {
        plog(in, FLB_INFO,
             "%d batch(es), %zu events, not yet known to be in a Fluent Bit chunk: not acknowledged, they "
             "come again after a restart",
             batches, events);
    }
    drain_logs(in);
    slack_audit_shutdown(in->h);
    in->h = NULL;
    pthread_mutex_destroy(&in->clock_lock);
    free(in);
}

static void set_flag(int *flag, int value)
{
    __atomic_store_n(flag, value, __ATOMIC_SEQ_CST);
}

static int get_flag(const int *flag)
{
    return __atomic_load_n(flag, __ATOMIC_SEQ_CST);
}

/* Applies `f` to this thread's instance, or to every instance when called from another thread. */
static void for_instances(void (*f)(struct instance *))
{
    if (current) {
        f(current);
        return;
    }
    pthread_mutex_lock(&instances_lock);
    for (struct instance *in = instances; in; in = in->next) {
        f(in);
    }
    pthread_mutex_unlock(&instances_lock);
}

/* The engine marks the input paused (and stops draining its ring) just before it calls Pause
 * (src/flb_input_chunk.c, flb_input_chunk_protect), so held batches stop ageing here too. */
static void do_pause(struct instance *in)
{
    set_flag(&in->paused, 1);
    clock_run(in, 0);
}

static void do_resume(struct instance *in)
{
    set_flag(&in->paused, 0);
    clock_run(in, 1);
}

static void do_pre_exit(struct instance *in)
{
    set_flag(&in->stopping, 1);
    if (in->h) {
        slack_audit_interrupt(in->h);
    }
}

/* ---- The proxy interface ---- */

EXPORT int FLBPluginRegister(void *def)
{
    struct proxy_def *d = def;
    if (!d) {
        return -1;
    }
    d->type = 1;   /* input */
    d->proxy = 11; /* the "golang" proxy kind */
    d->flags = 0;
    d->name = plugin_name;
    d->description = description;
    return 0;
}

EXPORT int FLBPluginInit(void *plugin)
{
    struct proxy_plugin *p = plugin;
    struct instance *in = NULL;
    char err[1024];
    char given[1024];

    if (!p || !p->api || !p->api[API_INPUT_GET_PROPERTY]) {
        return -1;
    }
    in = calloc(1, sizeof *in);
    if (!in) {
        return -1;
    }
    pthread_mutex_init(&in->clock_lock, NULL);
    in->i_ins = p->i_ins;
    in->get_property = (get_property_fn)p->api[API_INPUT_GET_PROPERTY];
    in->log_print = (log_print_fn)p->api[API_LOG_PRINT];
    in->log_check = (log_check_fn)p->api[API_INPUT_LOG_CHECK];
    pthread_mutex_lock(&instances_lock);
    in->id = next_id;
    pthread_mutex_unlock(&instances_lock);

    if (current) {
        plog(in, FLB_ERROR,
             "another slack_audit instance already runs on this thread: with 'threaded off' every such "
             "input shares Fluent Bit's engine thread, where the proxy interface cannot tell instances "
             "apart. Set 'threaded off' on at most one slack_audit input, or use one input with several "
             "sources");
        goto error;
    }
    /* The thread Fluent Bit runs Init on tells whether the chunk is written before the cleanup
     * callback (see the top of this file). */
    char thread_name[17] = {0};
    if (prctl(PR_GET_NAME, thread_name, 0, 0, 0) == 0 && strcmp(thread_name, "flb-pipeline") == 0) {
        in->sync_append = 1;
    }
    if (slack_audit_abi_version() != SLACK_AUDIT_ABI_VERSION) {
        plog(in, FLB_ERROR, "library ABI %u, plugin built for %u", slack_audit_abi_version(),
             (unsigned)SLACK_AUDIT_ABI_VERSION);
        goto error;
    }
    if (start_collector(in, given, sizeof given, err, sizeof err) != SLACK_AUDIT_OK) {
        in->h = NULL;
        plog(in, FLB_ERROR, "cannot start: %s", err);
        goto error;
    }
    list_add(in);
    current = in;
    clock_run(in, 1);
    drain_logs(in);
    plog(in, FLB_INFO, "options set from properties: %s", given[0] ? given : "none (all defaults)");
    plog(in, FLB_INFO, "started (slack-audit %s); %s", slack_audit_version(),
         in->sync_append ? "threaded off: a batch is acknowledged once Fluent Bit wrote it to a chunk"
                         : "threaded: a batch is acknowledged after it spent 1.5 s in Fluent Bit's ring "
                           "buffer while the input was not paused (set 'threaded off' to acknowledge "
                           "as soon as the chunk is written)");
    return 1;

error:
    instance_destroy(in);
    return -1;
}

/* Hands `x` to the host (it keeps ownership until the cleanup callback). */
static void hand_over(struct instance *in, struct held *x, void **data, size_t *len)
{
    in->handed = *x;
    memset(x, 0, sizeof *x);
    in->handed_at = now_ms();
    in->last_handover = in->handed_at;
    *data = (void *)in->handed.data;
    *len = in->handed.len;
}

EXPORT int FLBPluginInputCallback(void **data, size_t *len)
{
    struct instance *in = current;
    slack_audit_batch *b = NULL;
    char err[1024];

    if (!data || !len) {
        return -1;
    }
    *data = NULL;
    *len = 0;
    if (!in || !in->h) {
        return 0;
    }
    if (in->handed.b) {
        /* No cleanup callback for the last buffer: the host did not take it. The next cumulative
         * acknowledgement would cover it, so it is handed over again before anything newer. */
        plog(in, FLB_WARN, "the host did not confirm the last batch (%zu events); handing it over again",
             slack_audit_batch_len(in->handed.b));
        in->redo = in->handed;
        memset(&in->handed, 0, sizeof in->handed);
    }
    if (get_flag(&in->stopping)) {
        /* Nothing is acknowledged from PreExit on: the ring is discarded at exit. */
        return 0;
    }
    ack_stored(in);
    if (in->failed || get_flag(&in->paused)) {
        drain_logs(in);
        return 0;
    }
    if (!in->sync_append && in->last_handover > 0 && now_ms() - in->last_handover < HANDOVER_GAP_MS) {
        return 0;
    }
    if (in->redo.b) {
        hand_over(in, &in->redo, data, len);
        return 0;
    }
    if (in->nheld >= MAX_HELD) {
        drain_logs(in);
        return 0;
    }
    slack_audit_status st = slack_audit_collect(in->h, 0, &b, err, sizeof err);
    /* The library queued its own log line for any failure; print them all. */
    drain_logs(in);
    switch (st) {
    case SLACK_AUDIT_OK: break;
    case SLACK_AUDIT_INTERRUPTED:
    case SLACK_AUDIT_TRANSIENT: return 0;
    case SLACK_AUDIT_PERMANENT:
    case SLACK_AUDIT_CONFIG: /* a certificate or proxy that refused: sticky, like PERMANENT */
        in->failed = 1;
        plog(in, FLB_ERROR, "collecting stopped until restart: %s", err);
        return 0;
    default:
        plog(in, FLB_ERROR, "collect failed (%d): %s", (int)st, err);
        return 0;
    }
    if (!b) {
        return 0;
    }
    struct held x = {b, NULL, 0, 0};
    /* The records are written over the page's own buffer (no second page-sized buffer); it goes
     * back to the collector, for its next read, once Fluent Bit has its copy (cleanup). */
    st = slack_audit_batch_msgpack_over_page(b, &x.data, &x.len, err, sizeof err);
    if (st != SLACK_AUDIT_OK || x.len == 0) {
        /* Never acknowledged; the next acknowledgement would cover it, so stop here. */
        plog(in, FLB_ERROR, "cannot encode a batch (%d): %s; collecting stopped until restart", (int)st, err);
        in->failed = 1;
        slack_audit_batch_free(b);
        return 0;
    }
    hand_over(in, &x, data, len);
    return 0;
}

EXPORT int FLBPluginInputCleanupCallback(void *data)
{
    struct instance *in = current;

    if (!in || !in->handed.b || data != in->handed.data) {
        if (in && data) {
            plog(in, FLB_WARN, "cleanup for a buffer this instance did not hand over; ignored");
        }
        return 0;
    }
    double took = now_ms() - in->handed_at;
    struct held x = in->handed;
    memset(&in->handed, 0, sizeof in->handed);
    if ((!in->sync_append && took > SLOW_APPEND_MS) || in->nheld == MAX_HELD) {
        /* append_to_ring_buffer found the ring full and slept; after ten tries it drops the
         * records, and the proxy calls us all the same. */
        plog(in, FLB_WARN,
             "Fluent Bit took %.0f ms to take a batch: its ring buffer was full and it may have dropped "
             "the records; handing them over again (a duplicate if they were kept)",
             took);
        in->redo = x;
        return 0;
    }
    /* Fluent Bit has its own copy now (ring or chunk): from here the batch is only acknowledged
     * and freed, so its msgpack (written over the page) goes back to the collector now, where
     * the next read takes it, rather than after ACK_AFTER_MS. */
    slack_audit_batch_release_events(x.b);
    x.data = NULL;
    x.len = 0;
    x.appended = active_ms(in);
    in->held[in->nheld++] = x;
    if (in->sync_append) {
        /* threaded off: input_chunk_append_raw wrote the chunk before this callback. */
        ack_upto(in, in->nheld - 1);
    }
    drain_logs(in);
    return 0;
}

EXPORT int FLBPluginInputPause(void)
{
    for_instances(do_pause);
    return 0;
}

EXPORT int FLBPluginInputResume(void)
{
    for_instances(do_resume);
    return 0;
}

EXPORT int FLBPluginInputPreExit(int unused)
{
    (void)unused;
    for_instances(do_pre_exit);
    return 0;
}

/* Shuts down this thread's instance; from any other thread (a host that does not call Exit on
 * the instance thread) every remaining instance. Each shutdown returns within about 0.5 s. */
EXPORT int FLBPluginExit(void)
{
    struct instance *in = current;
    if (in) {
        current = NULL;
        list_remove(in);
        plog(in, FLB_INFO, "stopping");
        instance_destroy(in);
        return 0;
    }
    /* Interrupt everyone first so their shutdowns overlap as much as possible. */
    for_instances(do_pre_exit);
    for (;;) {
        pthread_mutex_lock(&instances_lock);
        in = instances;
        if (in) {
            instances = in->next;
        }
        pthread_mutex_unlock(&instances_lock);
        if (!in) {
            break;
        }
        instance_destroy(in);
    }
    return 0;
}

EXPORT int FLBPluginUnregister(void *def)
{
    (void)def;
    return 0;
}
