/* flb_host: loads a proxy input plugin exactly like Fluent Bit's proxy loader and checks what
 * it hands over. Used by tests/fluent_bit_plugin.rs.
 *
 *   flb_host [global options] PLUGIN.so -i [-o OUT] [-p key=value]... [-i ...]...
 *
 * Global options (before PLUGIN.so):
 *   -n N      stop an instance after N events        -b N   stop after N batches
 *   -t MS     stop an instance after MS milliseconds  -w MS  stop after MS without data (once data came)
 *   -c MS     callback period (default 50; Fluent Bit uses 1000)
 *   -P K:MS   pause after K batches for MS milliseconds, then resume (no data may come while paused)
 *   -k        crash emulation: do not call the cleanup callback for the last batch before stopping
 *   -v        host log level debug (default info)
 *   -K        keep the plugin loaded at the end (no dlclose), so valgrind can name its frames
 *
 * Per instance, after -i: -o FILE receives one line "id seconds action" per record; -p key=value is a
 * property (looked up case-insensitively, like Fluent Bit).
 *
 * What happens (FLUENT_BIT.md): dlopen; FLBPluginRegister with a 32-byte struct (pre-5.0 hosts)
 * and a 48-byte one (bytes 32..48 must stay untouched); per instance a thread that calls
 * FLBPluginInit, then the input callback every period, copies each buffer, calls the cleanup
 * callback, decodes the copy with msgpack-c ([EventTime, map] or [[EventTime, map], map]; body
 * has "id" and "date_create"; EventTime seconds == date_create); then PreExit and Exit (timed);
 * finally FLBPluginUnregister and dlclose.
 *
 * stdout: one summary line per instance "instance I: init=ok|failed events=E batches=B
 * bad_records=R paused_data=D max_callback_ms=C exit_ms=X"; exit status 0 when everything
 * checked out, 3 when an Init failed, 1 for any other failure.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_INSTANCES 8
#define MAX_PROPS 64

typedef int (*register_fn)(void *);
typedef int (*init_fn)(void *);
typedef int (*callback_fn)(void **, size_t *);
typedef int (*cleanup_fn)(void *);
typedef int (*void_fn)(void);
typedef int (*pre_exit_fn)(int);
typedef int (*unregister_fn)(void *);

static struct {
    register_fn reg;
    init_fn init;
    callback_fn callback;
    cleanup_fn cleanup;
    void_fn pause, resume, exit;
    pre_exit_fn pre_exit;
    unregister_fn unregister;
} sym;

struct instance {
    int index;
    const char *out_path;
    const char *keys[MAX_PROPS];
    const char *values[MAX_PROPS];
    int nprops;
    /* results */
    int init_ok;
    long events, batches, bad_records, paused_data;
    double max_callback_ms, exit_ms;
    int failed;
};

static long max_events = -1, max_batches = -1, time_limit_ms = -1, idle_ms = -1, period_ms = 50;
static long pause_after = -1, pause_ms = 0;
static int crash_last, keep_loaded, host_level = 3;

/* The struct FLBPluginInit receives: name, api, i_ins, context. Shared by all instances. */
static struct {
    char *name;
    void **api;
    void *i_ins;
    void *context;
} proxy_plugin;
static void *api_table[16];
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- The api table ---- */

static const char *get_property(const char *key, void *i_ins)
{
    struct instance *in = i_ins;
    for (int i = in->nprops - 1; i >= 0; i--) {
        if (strcasecmp(in->keys[i], key) == 0) {
            return in->values[i];
        }
    }
    return NULL;
}

static void log_print(int level, const char *file, int line, const char *fmt, ...)
{
    static const char *names[] = {"off", "error", "warn", "info", "debug", "trace"};
    va_list ap;
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "[host] [%s] ", level >= 0 && level <= 5 ? names[level] : "?");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (%s:%d)\n", file ? file : "?", line);
    pthread_mutex_unlock(&log_lock);
}

static int log_check(void *i_ins, int level)
{
    (void)i_ins;
    return level <= host_level;
}

static void failf(struct instance *in, const char *fmt, ...)
{
    va_list ap;
    in->failed = 1;
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "flb_host: instance %d: ", in->index);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&log_lock);
}

/* ---- Decoding ---- */

static const msgpack_object *map_get(const msgpack_object_map *m, const char *key)
{
    size_t n = strlen(key);
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, key, n) == 0) {
            return &m->ptr[i].val;
        }
    }
    return NULL;
}

/* Checks one record and writes "id seconds"; 0 when fine. */
static int check_record(const msgpack_object *rec, FILE *out, const char **why)
{
    const msgpack_object *ts, *body;
    if (rec->type != MSGPACK_OBJECT_ARRAY || rec->via.array.size != 2) {
        *why = "record is not a 2-array";
        return -1;
    }
    ts = &rec->via.array.ptr[0];
    body = &rec->via.array.ptr[1];
    if (ts->type == MSGPACK_OBJECT_ARRAY) {
        if (ts->via.array.size != 2 || ts->via.array.ptr[1].type != MSGPACK_OBJECT_MAP) {
            *why = "header is not [EventTime, metadata map]";
            return -1;
        }
        ts = &ts->via.array.ptr[0];
    }
    if (ts->type != MSGPACK_OBJECT_EXT || ts->via.ext.type != 0 || ts->via.ext.size != 8) {
        *why = "timestamp is not an EventTime (ext type 0, 8 bytes)";
        return -1;
    }
    if (body->type != MSGPACK_OBJECT_MAP) {
        *why = "body is not a map";
        return -1;
    }
    const unsigned char *p = (const unsigned char *)ts->via.ext.ptr;
    uint32_t secs = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    uint32_t nsec = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    const msgpack_object *id = map_get(&body->via.map, "id");
    const msgpack_object *dc = map_get(&body->via.map, "date_create");
    if (!id || id->type != MSGPACK_OBJECT_STR || id->via.str.size == 0) {
        *why = "body has no string \"id\"";
        return -1;
    }
    if (!dc || dc->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *why = "body has no integer \"date_create\"";
        return -1;
    }
    if (dc->via.u64 != secs || nsec >= 1000000000u) {
        *why = "EventTime differs from date_create";
        return -1;
    }
    const msgpack_object *action = map_get(&body->via.map, "action");
    if (out) {
        fprintf(out, "%.*s %u %.*s\n", (int)id->via.str.size, id->via.str.ptr, secs,
                action && action->type == MSGPACK_OBJECT_STR ? (int)action->via.str.size : 1,
                action && action->type == MSGPACK_OBJECT_STR ? action->via.str.ptr : "-");
    }
    return 0;
}

/* Decodes a whole buffer; returns the number of records, counts bad ones. */
static long decode(struct instance *in, const char *buf, size_t len, FILE *out)
{
    msgpack_unpacked u;
    size_t off = 0;
    long n = 0;
    msgpack_unpacked_init(&u);
    while (off < len) {
        msgpack_unpack_return r = msgpack_unpack_next(&u, buf, len, &off);
        if (r != MSGPACK_UNPACK_SUCCESS && r != MSGPACK_UNPACK_EXTRA_BYTES) {
            in->bad_records++;
            failf(in, "undecodable msgpack at offset %zu of %zu (%d)", off, len, (int)r);
            break;
        }
        const char *why = NULL;
        if (check_record(&u.data, out, &why) != 0) {
            if (in->bad_records++ < 5) {
                failf(in, "bad record %ld: %s", n, why);
            }
        }
        n++;
    }
    msgpack_unpacked_destroy(&u);
    return n;
}

/* ---- One instance ---- */

static void *run_instance(void *arg)
{
    struct instance *in = arg;
    FILE *out = NULL;
    int ret;

    pthread_mutex_lock(&init_lock);
    proxy_plugin.i_ins = in;
    ret = sym.init(&proxy_plugin);
    proxy_plugin.i_ins = NULL;
    pthread_mutex_unlock(&init_lock);
    if (ret <= 0) {
        return NULL;
    }
    in->init_ok = 1;
    if (in->out_path) {
        out = fopen(in->out_path, "w");
        if (!out) {
            failf(in, "cannot open %s", in->out_path);
            goto out;
        }
    }

    double start = now_ms(), last_data = -1;
    for (;;) {
        if (max_events >= 0 && in->events >= max_events) {
            break;
        }
        if (max_batches >= 0 && in->batches >= max_batches) {
            break;
        }
        if (time_limit_ms >= 0 && now_ms() - start >= (double)time_limit_ms) {
            break;
        }
        if (idle_ms >= 0 && last_data >= 0 && now_ms() - last_data >= (double)idle_ms) {
            break;
        }
        if (pause_after >= 0 && in->batches == pause_after) {
            pause_after = -1; /* once (all instances share the setting; good enough for tests) */
            sym.pause();
            double until = now_ms() + (double)pause_ms;
            while (now_ms() < until) {
                void *data = NULL;
                size_t len = 0;
                sym.callback(&data, &len);
                if (len > 0) {
                    in->paused_data++;
                    sym.cleanup(data);
                }
                sleep_ms(period_ms);
            }
            sym.resume();
        }

        void *data = (void *)1;
        size_t len = 12345;
        double t0 = now_ms();
        ret = sym.callback(&data, &len);
        double took = now_ms() - t0;
        if (took > in->max_callback_ms) {
            in->max_callback_ms = took;
        }
        if (ret != 0) {
            failf(in, "input callback returned %d", ret);
        }
        if (len == 0) {
            if (data != NULL) {
                failf(in, "no data but *data is not NULL");
            }
            sleep_ms(period_ms);
            continue;
        }
        if (!data) {
            failf(in, "len %zu with NULL data", len);
            break;
        }
        /* The host copies the buffer, then gives it back. */
        char *copy = malloc(len);
        if (!copy) {
            failf(in, "out of memory");
            break;
        }
        memcpy(copy, data, len);
        int last = (max_batches >= 0 && in->batches + 1 >= max_batches);
        if (!(crash_last && last)) {
            sym.cleanup(data);
        }
        in->events += decode(in, copy, len, out);
        in->batches++;
        free(copy);
        last_data = now_ms();
    }

out:
    if (out) {
        fclose(out);
    }
    sym.pre_exit(0);
    double t0 = now_ms();
    sym.exit();
    in->exit_ms = now_ms() - t0;
    return NULL;
}

/* ---- Main ---- */

static int check_register(void)
{
    unsigned char *small = malloc(32), *big = malloc(48);
    int ok = 0;
    if (!small || !big) {
        goto out;
    }
    memset(small, 0, 32);
    memset(big, 0xab, 48);
    if (sym.reg(small) != 0 || sym.reg(big) != 0) {
        fprintf(stderr, "flb_host: FLBPluginRegister failed\n");
        goto out;
    }
    for (int i = 32; i < 48; i++) {
        if (big[i] != 0xab) {
            fprintf(stderr, "flb_host: FLBPluginRegister wrote byte %d of a 48-byte struct\n", i);
            goto out;
        }
    }
    for (unsigned char *d = small; d; d = (d == small ? big : NULL)) {
        int type, proxy, flags;
        char *name, *desc;
        memcpy(&type, d, 4);
        memcpy(&proxy, d + 4, 4);
        memcpy(&flags, d + 8, 4);
        memcpy(&name, d + 16, sizeof name);
        memcpy(&desc, d + 24, sizeof desc);
        if (type != 1 || proxy != 11 || flags != 0 || !name || strcmp(name, "slack_audit") != 0 || !desc ||
            !*desc) {
            fprintf(stderr, "flb_host: bad registration: type %d proxy %d flags %d name %s\n", type, proxy, flags,
                    name ? name : "(null)");
            goto out;
        }
    }
    ok = 1;
out:
    free(small);
    free(big);
    return ok;
}

static void usage(void)
{
    fprintf(stderr, "usage: flb_host [-n N] [-b N] [-t MS] [-w MS] [-c MS] [-P K:MS] [-k] [-v] PLUGIN.so "
                    "-i [-o OUT] [-p key=value]... [-i ...]\n");
}

int main(int argc, char **argv)
{
    struct instance inst[MAX_INSTANCES];
    pthread_t threads[MAX_INSTANCES];
    int ninst = 0, rc = 1, a = 1;
    void *dl = NULL;
    const char *path = NULL;

    memset(inst, 0, sizeof inst);
    for (; a < argc && argv[a][0] == '-'; a++) {
        const char *o = argv[a];
        const char *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (strcmp(o, "-k") == 0) {
            crash_last = 1;
            continue;
        }
        if (strcmp(o, "-K") == 0) {
            keep_loaded = 1;
            continue;
        }
        if (strcmp(o, "-v") == 0) {
            host_level = 4;
            continue;
        }
        if (!v) {
            usage();
            return 2;
        }
        a++;
        if (strcmp(o, "-n") == 0) {
            max_events = atol(v);
        } else if (strcmp(o, "-b") == 0) {
            max_batches = atol(v);
        } else if (strcmp(o, "-t") == 0) {
            time_limit_ms = atol(v);
        } else if (strcmp(o, "-w") == 0) {
            idle_ms = atol(v);
        } else if (strcmp(o, "-c") == 0) {
            period_ms = atol(v);
        } else if (strcmp(o, "-P") == 0 && sscanf(v, "%ld:%ld", &pause_after, &pause_ms) == 2) {
        } else {
            usage();
            return 2;
        }
    }
    if (a >= argc) {
        usage();
        return 2;
    }
    path = argv[a++];
    for (; a < argc; a++) {
        if (strcmp(argv[a], "-i") == 0) {
            if (ninst == MAX_INSTANCES) {
                usage();
                return 2;
            }
            inst[ninst].index = ninst;
            ninst++;
        } else if (ninst > 0 && strcmp(argv[a], "-o") == 0 && a + 1 < argc) {
            inst[ninst - 1].out_path = argv[++a];
        } else if (ninst > 0 && strcmp(argv[a], "-p") == 0 && a + 1 < argc) {
            struct instance *in = &inst[ninst - 1];
            char *kv = argv[++a];
            char *eq = strchr(kv, '=');
            if (!eq || in->nprops == MAX_PROPS) {
                usage();
                return 2;
            }
            *eq = '\0';
            in->keys[in->nprops] = kv;
            in->values[in->nprops] = eq + 1;
            in->nprops++;
        } else {
            usage();
            return 2;
        }
    }
    if (ninst == 0) {
        usage();
        return 2;
    }

    dl = dlopen(path, RTLD_LAZY);
    if (!dl) {
        fprintf(stderr, "flb_host: dlopen: %s\n", dlerror());
        goto out;
    }
    sym.reg = (register_fn)dlsym(dl, "FLBPluginRegister");
    sym.init = (init_fn)dlsym(dl, "FLBPluginInit");
    sym.callback = (callback_fn)dlsym(dl, "FLBPluginInputCallback");
    sym.cleanup = (cleanup_fn)dlsym(dl, "FLBPluginInputCleanupCallback");
    sym.pause = (void_fn)dlsym(dl, "FLBPluginInputPause");
    sym.resume = (void_fn)dlsym(dl, "FLBPluginInputResume");
    sym.pre_exit = (pre_exit_fn)dlsym(dl, "FLBPluginInputPreExit");
    sym.exit = (void_fn)dlsym(dl, "FLBPluginExit");
    sym.unregister = (unregister_fn)dlsym(dl, "FLBPluginUnregister");
    if (!sym.reg || !sym.init || !sym.callback || !sym.cleanup || !sym.pause || !sym.resume || !sym.pre_exit ||
        !sym.exit || !sym.unregister) {
        fprintf(stderr, "flb_host: a FLBPlugin* symbol is missing\n");
        goto out;
    }
    /* Nothing but the proxy symbols may leak out of the plugin. */
    if (dlsym(dl, "slack_audit_new") || dlsym(dl, "rust_begin_unwind")) {
        fprintf(stderr, "flb_host: the plugin exports library symbols\n");
        goto out;
    }
    if (!check_register()) {
        goto out;
    }

    api_table[1] = (void *)get_property;
    api_table[4] = (void *)log_print;
    api_table[5] = (void *)log_check;
    proxy_plugin.name = "slack_audit";
    proxy_plugin.api = api_table;

    for (int i = 0; i < ninst; i++) {
        if (pthread_create(&threads[i], NULL, run_instance, &inst[i]) != 0) {
            fprintf(stderr, "flb_host: pthread_create failed\n");
            ninst = i;
            goto join;
        }
    }
join:
    rc = 0;
    for (int i = 0; i < ninst; i++) {
        pthread_join(threads[i], NULL);
    }
    for (int i = 0; i < ninst; i++) {
        struct instance *in = &inst[i];
        printf("instance %d: init=%s events=%ld batches=%ld bad_records=%ld paused_data=%ld max_callback_ms=%.1f "
               "exit_ms=%.1f\n",
               i, in->init_ok ? "ok" : "failed", in->events, in->batches, in->bad_records, in->paused_data,
               in->max_callback_ms, in->exit_ms);
        if (!in->init_ok) {
            rc = rc ? rc : 3;
        } else if (in->failed || in->bad_records || in->paused_data) {
            rc = 1;
        }
    }
    if (sym.unregister(NULL) != 0) {
        rc = 1;
    }
out:
    if (dl && !keep_loaded) {
        dlclose(dl);
    }
    fflush(stdout);
    return rc;
}
