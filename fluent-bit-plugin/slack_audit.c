/* Fluent Bit input plugin "slack_audit", loaded through the proxy loader (the one Go plugins
 * use): `fluent-bit -e ./slack_audit.so -i slack_audit -p state_dir=... -o stdout`.
 *
 * A thin shell over the slack-audit C ABI (include/slack_audit.h), linked statically into this
 * .so. The collector fetches on its own thread; the input callback only picks up a ready batch
 * (never waits), hands its msgpack records to Fluent Bit and, in the cleanup callback (after
 * Fluent Bit copied them), acknowledges the batch: that is the moment the checkpoint moves.
 *
 * Layouts and threading follow FLUENT_BIT.md: write only the first five fields of the
 * registration struct; every instance runs Init, callbacks and Exit on its own thread, so a
 * thread-local pointer set in Init identifies the instance. Nothing is printed to stdout: log
 * lines go through the host's logger.
 */
#define _GNU_SOURCE
#include "slack_audit.h"
#include "options.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

#define PLUGIN_NAME "slack_audit"
#define NOPTIONS (sizeof slack_audit_option_names / sizeof slack_audit_option_names[0])
/* Log lines drained from the library per callback, so a flood cannot hold the thread. */
#define MAX_LOGS_PER_CALL 200

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

struct instance {
    slack_audit *h;
    void *i_ins;
    get_property_fn get_property;
    log_print_fn log_print;
    log_check_fn log_check;
    int id;
    /* The batch whose msgpack buffer Fluent Bit holds until the cleanup callback. */
    slack_audit_batch *handed;
    const uint8_t *handed_data;
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

/* ---- The JSON config built from the properties ---- */

struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* Appends `s` as a JSON string literal. Bytes >= 0x80 pass through (the library rejects
 * invalid UTF-8 with a clear error). */
static void buf_json_string(struct buf *b, const char *s)
{
    buf_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        switch (*c) {
        case '"': buf_put(b, "\\\"", 2); break;
        case '\\': buf_put(b, "\\\\", 2); break;
        case '\n': buf_put(b, "\\n", 2); break;
        case '\r': buf_put(b, "\\r", 2); break;
        case '\t': buf_put(b, "\\t", 2); break;
        default:
            if (*c < 0x20 || *c == 0x7f) {
                snprintf(esc, sizeof esc, "\\u%04x", *c);
                buf_put(b, esc, 6);
            } else {
                buf_put(b, (const char *)c, 1);
            }
        }
    }
    buf_put(b, "\"", 1);
}

/* {"key":"value",...} for every option the host has a property for. */
static char *config_json(const struct instance *in)
{
    struct buf b = {0};
    int first = 1;
    buf_str(&b, "{");
    for (size_t i = 0; i < NOPTIONS; i++) {
        const char *v = in->get_property(slack_audit_option_names[i], in->i_ins);
        if (!v) {
            continue;
        }
        if (!first) {
            buf_str(&b, ",");
        }
        first = 0;
        buf_json_string(&b, slack_audit_option_names[i]);
        buf_str(&b, ":");
        buf_json_string(&b, v);
    }
    buf_str(&b, "}");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
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

/* NULL-safe; used on an Init failure and at Exit. A batch Fluent Bit still holds is freed
 * without acknowledgement: it is delivered again after a restart. */
static void instance_destroy(struct instance *in)
{
    if (!in) {
        return;
    }
    if (in->h) {
        slack_audit_interrupt(in->h);
    }
    slack_audit_batch_free(in->handed);
    in->handed = NULL;
    drain_logs(in);
    slack_audit_shutdown(in->h);
    in->h = NULL;
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

static void do_pause(struct instance *in)
{
    set_flag(&in->paused, 1);
}

static void do_resume(struct instance *in)
{
    set_flag(&in->paused, 0);
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
    char *json = NULL;
    char err[1024];

    if (!p || !p->api || !p->api[API_INPUT_GET_PROPERTY]) {
        return -1;
    }
    in = calloc(1, sizeof *in);
    if (!in) {
        return -1;
    }
    in->i_ins = p->i_ins;
    in->get_property = (get_property_fn)p->api[API_INPUT_GET_PROPERTY];
    in->log_print = (log_print_fn)p->api[API_LOG_PRINT];
    in->log_check = (log_check_fn)p->api[API_INPUT_LOG_CHECK];
    pthread_mutex_lock(&instances_lock);
    in->id = next_id;
    pthread_mutex_unlock(&instances_lock);

    if (current) {
        plog(in, FLB_ERROR,
             "another slack_audit instance already runs on this thread (threaded off?): each instance "
             "needs its own thread; remove 'threaded off' or run a single instance");
        goto error;
    }
    if (slack_audit_abi_version() != SLACK_AUDIT_ABI_VERSION) {
        plog(in, FLB_ERROR, "library ABI %u, plugin built for %u", slack_audit_abi_version(),
             (unsigned)SLACK_AUDIT_ABI_VERSION);
        goto error;
    }
    json = config_json(in);
    if (!json) {
        plog(in, FLB_ERROR, "out of memory");
        goto error;
    }
    if (slack_audit_new(json, &in->h, err, sizeof err) != SLACK_AUDIT_OK) {
        in->h = NULL;
        plog(in, FLB_ERROR, "cannot start: %s", err);
        goto error;
    }
    free(json);
    list_add(in);
    current = in;
    drain_logs(in);
    plog(in, FLB_INFO, "started (slack-audit %s)", slack_audit_version());
    return 1;

error:
    free(json);
    instance_destroy(in);
    return -1;
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
    if (in->handed) {
        /* The host did not call the cleanup callback for the last buffer: it did not take it. */
        plog(in, FLB_WARN, "the previous batch was not confirmed by the host; it will be delivered again after a restart");
        slack_audit_batch_free(in->handed);
        in->handed = NULL;
        in->handed_data = NULL;
    }
    if (in->failed || get_flag(&in->paused) || get_flag(&in->stopping)) {
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
    const uint8_t *buf = NULL;
    size_t n = 0;
    st = slack_audit_batch_msgpack(b, &buf, &n, err, sizeof err);
    if (st != SLACK_AUDIT_OK || n == 0) {
        plog(in, FLB_ERROR, "cannot encode a batch (%d): %s", (int)st, err);
        slack_audit_batch_free(b);
        return 0;
    }
    in->handed = b;
    in->handed_data = buf;
    *data = (void *)buf;
    *len = n;
    return 0;
}

EXPORT int FLBPluginInputCleanupCallback(void *data)
{
    struct instance *in = current;
    char err[1024];

    if (!in || !in->handed || data != in->handed_data) {
        if (in && data) {
            plog(in, FLB_WARN, "cleanup for a buffer this instance did not hand over; ignored");
        }
        return 0;
    }
    /* Fluent Bit has copied the records: make them durable, then free the batch. */
    if (slack_audit_ack(in->h, in->handed, err, sizeof err) != SLACK_AUDIT_OK) {
        plog(in, FLB_ERROR, "cannot save the checkpoint (these events come again after a restart): %s", err);
    }
    slack_audit_batch_free(in->handed);
    in->handed = NULL;
    in->handed_data = NULL;
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
