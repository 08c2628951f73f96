/* flb_host: loads a proxy input plugin like Fluent Bit's proxy loader and stores what it hands
 * over the way Fluent Bit does. Used by tests/fluent_bit_plugin.rs and
 * tests/fluent_bit_durability.rs.
 *
 *   flb_host [global options] PLUGIN.so -i [-o CHUNKS] [-p key=value]... [-i ...]...
 *
 * Global options (before PLUGIN.so):
 *   -n N      stop after N events are in chunks      -b N   stop after N batches are in chunks
 *   -t MS     stop after MS milliseconds              -w MS  stop after MS without new chunk data
 *                                                            (once data came)
 *   -c MS     input callback period (default 50; Fluent Bit's proxy uses 1000)
 *   -T off    threaded off: Init, callbacks and Exit of every instance run on one "engine"
 *             thread named flb-pipeline, and the chunk is written before the cleanup callback
 *   -D MS     ring drain period (default 250, Fluent Bit's)
 *   -R N      ring capacity in entries (default 1024, Fluent Bit's)
 *   -P K:MS[:E]  after the K-th hand-over (then every E more) the engine pauses the input for MS:
 *             no drain, Pause called, then Resume (the callback still runs as a check: no data
 *             may come while paused)
 *   -S K:MS   after the K-th hand-over the engine thread is busy for MS: no drain, no pause
 *   -X        crash at the stop condition: _exit right after the summary, no PreExit/Exit
 *   -U K      ignore the K-th buffer handed over: neither stored nor given back with the cleanup
 *             callback (not what Fluent Bit does; the plugin must not lose it either)
 *   -v        host log level debug (default info)
 *   -K        keep the plugin loaded at the end (no dlclose), so valgrind can name its frames
 *
 * Per instance, after -i: -o FILE is the instance's chunk store, one line "id seconds action" per
 * record, appended and fsync'ed as the records reach a chunk; -p key=value is a property (looked
 * up case-insensitively, like Fluent Bit).
 *
 * What Fluent Bit does, and this host too (read in Fluent Bit's source at v2.1.10 and v5.1.1):
 * - src/flb_plugin_proxy.c: every proxy input is threaded (`def->flags | FLB_INPUT_THREADED`)
 *   unless `threaded off`; flb_proxy_input_cb_collect calls the input callback every second,
 *   then flb_input_log_append, ignores its result, and calls the cleanup callback in every case.
 * - Threaded (src/flb_input_chunk.c, append_to_ring_buffer): the buffer is copied into the
 *   instance's ring; when the ring is full, 10 retries 100 ms apart, then the records are
 *   dropped. The input thread is named "flb-in-<name>-w0" (src/flb_input_thread.c,
 *   input_thread_instance_init, prctl truncates to 15 bytes) before Init.
 * - The engine (src/flb_engine.c, 250 ms timer -> flb_input_chunk_ring_buffer_collector) moves
 *   ring entries into chunks, and skips an input while it is paused (flb_input_paused). The
 *   engine marks the input paused in flb_input_chunk_protect, right after asking the input
 *   thread to call Pause.
 * - Threaded off (flb_input_chunk_append_raw -> input_chunk_append_raw): the chunk is written
 *   before the cleanup callback, on the engine thread ("flb-pipeline", src/flb_lib.c), and
 *   refused while the input is paused.
 * - Shutdown (SIGTERM, or a stop condition here): flb_engine_stop_ingestion pauses every input
 *   (Pause), PreExit and Exit follow, and flb_input_instance_destroy calls
 *   flb_input_chunk_ring_buffer_cleanup, which discards the ring. Fluent Bit may still drain
 *   during its grace period; this host takes the worst case (an engine busy flushing) and drains
 *   nothing after the stop.
 * - SIGKILL: whatever reached the chunk file is kept (storage.type filesystem).
 * Checks: registration with a 32-byte struct (pre-5.0 hosts) and a 48-byte one (bytes 32..48
 * must stay untouched); every record decoded with msgpack-c ([EventTime, map] or [[EventTime,
 * map], map]; body has "id" and "date_create"; EventTime seconds == date_create).
 *
 * stdout: one summary line per instance "instance I: init=ok|failed events=E batches=B handed=H
 * dropped=D discarded=X bad_records=R paused_data=P max_callback_ms=C exit_ms=X ring_peak_kb=K
 * ring_peak_entries=N" (K: the most record bytes the ring held at once, the host's own copies; N:
 * the most buffers it held at once); exit status 0
 * when everything checked out, 3 when an Init failed, 1 for any other failure.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <msgpack.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <fcntl.h>
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

struct entry {
    char *buf;
    size_t len;
};

struct instance {
    int index;
    const char *out_path;
    const char *keys[MAX_PROPS];
    const char *values[MAX_PROPS];
    int nprops;
    int out_fd;
    /* The ring and the engine's view of the input, under `lock`. */
    pthread_mutex_t lock;
    struct entry *ring;
    int ring_head, ring_count;
    size_t ring_bytes, ring_peak; /* bytes of record copies in the ring: the host's share of memory */
    int ring_peak_entries;        /* the most buffers the ring held at once */
    int engine_paused; /* flb_input_paused(): the drain skips the input */
    double busy_until; /* the engine drains nothing before this (ms) */
    double last_stored;
    int finished;      /* the instance stopped: nothing is drained any more */
    /* results */
    int init_ok;
    long events, batches, offered, handed, dropped, discarded, bad_records, paused_data;
    double max_callback_ms, exit_ms;
    int failed;
    /* the instance loop */
    double start;
    long next_pause;
};

static long max_events = -1, max_batches = -1, time_limit_ms = -1, idle_ms = -1, period_ms = 50;
static long pause_after = -1, pause_ms = 0, pause_every = 0, stall_after = -1, stall_ms = 0;
static long drain_ms = 250, ring_cap = 1024, ignore_nth = -1;
static int threaded_off, crash_at_stop, keep_loaded, host_level = 3;
static volatile sig_atomic_t term_requested;
static int ninst;
static struct instance inst[MAX_INSTANCES];

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

/* ---- Chunks ---- */

/* Writes the records of `buf` to the instance's chunk file in one write(), then fsync: what
 * storage.type filesystem would keep across a kill. Called without in->lock (a ring write never
 * waits for a drain in Fluent Bit: the ring is lock-free); one writer per instance at a time. */
static void store_chunk(struct instance *in, const char *buf, size_t len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&text, &n);
    if (!mem) {
        failf(in, "out of memory");
        return;
    }
    long records = decode(in, buf, len, mem);
    fclose(mem);
    if (in->out_fd >= 0 && n > 0) {
        if (write(in->out_fd, text, n) != (ssize_t)n || fsync(in->out_fd) != 0) {
            failf(in, "cannot write the chunk file");
        }
    }
    free(text);
    pthread_mutex_lock(&in->lock);
    in->events += records;
    in->batches++;
    in->last_stored = now_ms();
    pthread_mutex_unlock(&in->lock);
}

/* flb_input_chunk_ring_buffer_collector for one instance (the engine thread). */
static void drain(struct instance *in)
{
    for (;;) {
        pthread_mutex_lock(&in->lock);
        if (in->finished || in->engine_paused || now_ms() < in->busy_until || in->ring_count == 0) {
            pthread_mutex_unlock(&in->lock);
            return;
        }
        struct entry e = in->ring[in->ring_head];
        in->ring_head = (in->ring_head + 1) % (int)ring_cap;
        in->ring_count--;
        pthread_mutex_unlock(&in->lock);
        store_chunk(in, e.buf, e.len);
        free(e.buf);
        pthread_mutex_lock(&in->lock);
        in->ring_bytes -= e.len;
        pthread_mutex_unlock(&in->lock);
    }
}

/* append_to_ring_buffer: copy, then up to 10 tries 100 ms apart; -1 when dropped. */
static int ring_append(struct instance *in, const void *data, size_t len)
{
    char *copy = malloc(len);
    if (!copy) {
        return -1;
    }
    memcpy(copy, data, len);
    for (int tries = 0; tries < 10; tries++) {
        pthread_mutex_lock(&in->lock);
        if (in->ring_count < ring_cap) {
            in->ring[(in->ring_head + in->ring_count) % (int)ring_cap] = (struct entry){copy, len};
            in->ring_count++;
            in->ring_bytes += len;
            if (in->ring_bytes > in->ring_peak) {
                in->ring_peak = in->ring_bytes;
            }
            if (in->ring_count > in->ring_peak_entries) {
                in->ring_peak_entries = in->ring_count;
            }
            pthread_mutex_unlock(&in->lock);
            return 0;
        }
        pthread_mutex_unlock(&in->lock);
        sleep_ms(100);
    }
    log_print(1, "flb_host", 0, "[input] could not enqueue records into the ring buffer (instance %d)", in->index);
    free(copy);
    return -1;
}

/* flb_input_log_append: the ring when threaded, the chunk itself when not (refused while paused). */
static void log_append(struct instance *in, const void *data, size_t len)
{
    if (!threaded_off) {
        if (ring_append(in, data, len) != 0) {
            in->dropped++;
        }
        return;
    }
    pthread_mutex_lock(&in->lock);
    int paused = in->engine_paused;
    in->dropped += paused;
    pthread_mutex_unlock(&in->lock);
    if (!paused) {
        store_chunk(in, data, len);
    }
}

/* ---- One instance ---- */

static int should_stop(struct instance *in)
{
    double now = now_ms();
    pthread_mutex_lock(&in->lock);
    long events = in->events, batches = in->batches;
    double last = in->last_stored;
    pthread_mutex_unlock(&in->lock);
    return term_requested || (max_events >= 0 && events >= max_events) ||
           (max_batches >= 0 && batches >= max_batches) ||
           (time_limit_ms >= 0 && now - in->start >= (double)time_limit_ms) ||
           (idle_ms >= 0 && last > 0 && now - last >= (double)idle_ms);
}

static int init_instance(struct instance *in)
{
    pthread_mutex_lock(&init_lock);
    proxy_plugin.i_ins = in;
    int ret = sym.init(&proxy_plugin);
    proxy_plugin.i_ins = NULL;
    pthread_mutex_unlock(&init_lock);
    if (ret <= 0) {
        return 0;
    }
    in->init_ok = 1;
    in->start = now_ms();
    in->next_pause = pause_after;
    return 1;
}

/* The input callback, the append and the cleanup callback, once; 1 when data came. */
static int tick(struct instance *in)
{
    void *data = (void *)1;
    size_t len = 12345;
    double t0 = now_ms();
    int ret = sym.callback(&data, &len);
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
        return 0;
    }
    if (!data) {
        failf(in, "len %zu with NULL data", len);
        return 0;
    }
    if (++in->offered == ignore_nth) {
        log_print(2, "flb_host", 0, "ignoring buffer %ld (-U): no cleanup callback", in->offered);
        return 0;
    }
    log_append(in, data, len);
    sym.cleanup(data);
    in->handed++;
    if (stall_after >= 0 && in->handed == stall_after) {
        pthread_mutex_lock(&in->lock);
        in->busy_until = now_ms() + (double)stall_ms;
        pthread_mutex_unlock(&in->lock);
    }
    return 1;
}

/* flb_input_chunk_protect: the engine marks the input paused, then Pause reaches the plugin. */
static void maybe_pause(struct instance *in)
{
    if (in->next_pause < 0 || in->handed < in->next_pause) {
        return;
    }
    in->next_pause = pause_every > 0 ? in->next_pause + pause_every : -1;
    pthread_mutex_lock(&in->lock);
    in->engine_paused = 1;
    pthread_mutex_unlock(&in->lock);
    sym.pause();
    double until = now_ms() + (double)pause_ms;
    while (now_ms() < until && !term_requested) {
        void *data = NULL;
        size_t len = 0;
        sym.callback(&data, &len);
        if (len > 0) {
            in->paused_data++;
            sym.cleanup(data);
        }
        sleep_ms(period_ms);
    }
    pthread_mutex_lock(&in->lock);
    in->engine_paused = 0;
    pthread_mutex_unlock(&in->lock);
    sym.resume();
}

/* Shutdown: stop ingestion (Pause), no more drains, PreExit and Exit, then the ring is discarded. */
static void stop_instance(struct instance *in)
{
    if (crash_at_stop) {
        return;
    }
    pthread_mutex_lock(&in->lock);
    in->finished = 1;
    pthread_mutex_unlock(&in->lock);
    sym.pause();
    sym.pre_exit(0);
    double t0 = now_ms();
    sym.exit();
    in->exit_ms = now_ms() - t0;
    pthread_mutex_lock(&in->lock);
    while (in->ring_count > 0) {
        in->ring_bytes -= in->ring[in->ring_head].len;
        free(in->ring[in->ring_head].buf);
        in->ring_head = (in->ring_head + 1) % (int)ring_cap;
        in->ring_count--;
        in->discarded++;
    }
    pthread_mutex_unlock(&in->lock);
}

static void name_thread(const char *name)
{
    prctl(PR_SET_NAME, name, 0, 0, 0);
}

/* Threaded: Init, callbacks and Exit on the instance's own thread. */
static void *run_instance(void *arg)
{
    struct instance *in = arg;
    char name[64];
    snprintf(name, sizeof name, "flb-in-slack_audit.%d-w0", in->index);
    name_thread(name);
    if (init_instance(in)) {
        while (!should_stop(in)) {
            maybe_pause(in);
            tick(in);
            sleep_ms(period_ms);
        }
        stop_instance(in);
    }
    pthread_mutex_lock(&in->lock);
    in->finished = 1;
    pthread_mutex_unlock(&in->lock);
    return NULL;
}

/* Threaded off: every instance's Init, callbacks and Exit on the engine thread. */
static void *run_engine_inputs(void *arg)
{
    (void)arg;
    name_thread("flb-pipeline");
    int live = 0;
    for (int i = 0; i < ninst; i++) {
        live += init_instance(&inst[i]);
        if (!inst[i].init_ok) {
            break; /* Fluent Bit aborts start-up on a failed Init */
        }
    }
    if (live < ninst) {
        for (int i = 0; i < ninst; i++) {
            if (inst[i].init_ok) {
                stop_instance(&inst[i]);
            }
        }
        return NULL;
    }
    for (;;) {
        int running = 0;
        for (int i = 0; i < ninst; i++) {
            struct instance *in = &inst[i];
            if (in->finished) {
                continue;
            }
            if (should_stop(in)) {
                stop_instance(in);
                in->finished = 1;
                continue;
            }
            running++;
            maybe_pause(in);
            tick(in);
        }
        if (!running) {
            break;
        }
        sleep_ms(period_ms);
    }
    return NULL;
}

static void *run_engine(void *arg)
{
    run_engine_inputs(arg);
    for (int i = 0; i < ninst; i++) {
        pthread_mutex_lock(&inst[i].lock);
        inst[i].finished = 1;
        pthread_mutex_unlock(&inst[i].lock);
    }
    return NULL;
}

static void on_term(int sig)
{
    (void)sig;
    term_requested = 1;
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
    fprintf(stderr, "usage: flb_host [-n N] [-b N] [-t MS] [-w MS] [-c MS] [-T off] [-D MS] [-R N] [-P K:MS[:E]] "
                    "[-S K:MS] [-X] [-U K] [-v] [-K] PLUGIN.so -i [-o CHUNKS] [-p key=value]... [-i ...]\n");
}

static int summarize(void)
{
    int rc = 0;
    for (int i = 0; i < ninst; i++) {
        struct instance *in = &inst[i];
        pthread_mutex_lock(&in->lock);
        printf("instance %d: init=%s events=%ld batches=%ld handed=%ld dropped=%ld discarded=%ld bad_records=%ld "
               "paused_data=%ld max_callback_ms=%.1f exit_ms=%.1f ring_peak_kb=%zu ring_peak_entries=%d\n",
               i, in->init_ok ? "ok" : "failed", in->events, in->batches, in->handed, in->dropped, in->discarded,
               in->bad_records, in->paused_data, in->max_callback_ms, in->exit_ms, in->ring_peak / 1024,
               in->ring_peak_entries);
        if (!in->init_ok) {
            rc = rc ? rc : 3;
        } else if (in->failed || in->bad_records || in->paused_data) {
            rc = 1;
        }
        pthread_mutex_unlock(&in->lock);
    }
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    pthread_t threads[MAX_INSTANCES];
    int nthreads = 0, rc = 1, a = 1;
    void *dl = NULL;
    const char *path = NULL;

    memset(inst, 0, sizeof inst);
    for (; a < argc && argv[a][0] == '-'; a++) {
        const char *o = argv[a];
        const char *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (strcmp(o, "-X") == 0) {
            crash_at_stop = 1;
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
        } else if (strcmp(o, "-P") == 0 && sscanf(v, "%ld:%ld:%ld", &pause_after, &pause_ms, &pause_every) >= 2) {
        } else if (strcmp(o, "-S") == 0 && sscanf(v, "%ld:%ld", &stall_after, &stall_ms) == 2) {
        } else if (strcmp(o, "-T") == 0 && strcmp(v, "off") == 0) {
            threaded_off = 1;
        } else if (strcmp(o, "-D") == 0 && atol(v) > 0) {
            drain_ms = atol(v);
        } else if (strcmp(o, "-U") == 0 && atol(v) > 0) {
            ignore_nth = atol(v);
        } else if (strcmp(o, "-R") == 0 && atol(v) > 0) {
            ring_cap = atol(v);
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
        struct instance *in = &inst[i];
        pthread_mutex_init(&in->lock, NULL);
        in->ring = calloc((size_t)ring_cap, sizeof *in->ring);
        in->out_fd = -1;
        if (in->out_path) {
            in->out_fd = open(in->out_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        }
        if (!in->ring || (in->out_path && in->out_fd < 0)) {
            fprintf(stderr, "flb_host: cannot open %s\n", in->out_path ? in->out_path : "(ring)");
            goto out;
        }
    }
    signal(SIGTERM, on_term);
    if (threaded_off) {
        if (pthread_create(&threads[0], NULL, run_engine, NULL) == 0) {
            nthreads = 1;
        }
    } else {
        for (int i = 0; i < ninst; i++) {
            if (pthread_create(&threads[i], NULL, run_instance, &inst[i]) != 0) {
                fprintf(stderr, "flb_host: pthread_create failed\n");
                break;
            }
            nthreads++;
        }
    }
    /* This thread is the engine: drain every ring on a timer until every instance stopped, and
     * nothing after a SIGTERM. With -X the first instance to reach the stop condition ends the
     * process like a kill -9. */
    for (;;) {
        int live = 0, stop = 0;
        for (int i = 0; i < ninst; i++) {
            pthread_mutex_lock(&inst[i].lock);
            live += !inst[i].finished;
            pthread_mutex_unlock(&inst[i].lock);
            stop |= inst[i].init_ok && crash_at_stop && should_stop(&inst[i]);
        }
        if (stop) {
            summarize();
            _exit(0);
        }
        if (!live || nthreads == 0) {
            break;
        }
        sleep_ms(drain_ms);
        for (int i = 0; i < ninst && !threaded_off && !term_requested; i++) {
            drain(&inst[i]);
        }
    }
    for (int i = 0; i < nthreads; i++) {
        pthread_join(threads[i], NULL);
    }
    rc = summarize();
    for (int i = 0; i < ninst; i++) {
        if (inst[i].out_fd >= 0) {
            close(inst[i].out_fd);
        }
        free(inst[i].ring);
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
