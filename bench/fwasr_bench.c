/*
 * fwasr_bench: fwasr's benchmark program, written against the public header as a user would.
 * The URL comes from $FWASR_URL (bench/run.sh starts fwasr-devserver --timestamps for it);
 * $FWASR_CA_FILE, when set, is the CA for a wss:// URL; $FWASR_SHARED_IO, when set, opens the
 * sessions on shared network threads (fwasr_config_set_shared_io).
 *
 *   fwasr_bench push
 *       The cost of one push of a 20 ms frame, per input format: median, p99, max.
 *   fwasr_bench streams N SECONDS OUTDIR
 *       N real-time sessions in one process: one driver thread pushes a 20 ms frame of
 *       16 kHz s16 to every session every 20 ms, as a telephony box's media thread does.
 *       The streams are spread over 20 phases 1 ms apart and start 0-4 frames apart, as calls
 *       that started at different times are. Prints CPU (the whole process, and the driver thread's share: the
 *       caller's work, not fwasr's), memory and overruns as one JSON line; writes OUTDIR/completions.txt
 *       (per stream: its id and, per 50 ms chunk, the CLOCK_MONOTONIC time of the push that
 *       completed it, to be joined with the server's arrival times) and OUTDIR/events.txt
 *       (per message: its latency in ns from the server's send stamp to the callback running,
 *       and the stamp). With $FWASR_BENCH_SLOW_CALLBACK_MS set, stream 0's callback sleeps that
 *       long on each of its segment events: a callback that blocks, for the other streams'
 *       audio to show what it costs them.
 *   fwasr_bench idle N SECONDS
 *       N open sessions, no audio: the process's CPU while they wait.
 */
#include <fwasr.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MS 20
#define CHUNK_SAMPLES 800 /* fwasr's default 50 ms chunk at 16 kHz */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double thread_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The server's CPU seconds, when run.sh names its process in BENCH_SERVER_PID: whether the
 * machine's two cores were saturated explains latency tails. -1 when unknown. */
static double server_cpu_seconds(void) {
    const char *pid = getenv("BENCH_SERVER_PID");
    char path[64], buf[1024];
    if (!pid) return -1;
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long utime, stime;
    /* After the command name: state and fields 4-13, then utime and stime. */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void die(const char *what) {
    fprintf(stderr, "fwasr_bench: %s: %s\n", what, fwasr_last_error());
    exit(1);
}

static void sleep_until(struct timespec *next, long step_ns) {
    next->tv_nsec += step_ns;
    while (next->tv_nsec >= 1000000000L) {
        next->tv_nsec -= 1000000000L;
        next->tv_sec++;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL) == EINTR) {
    }
}

static fwasr_config *base_config(void) {
    const char *url = getenv("FWASR_URL"), *ca = getenv("FWASR_CA_FILE");
    fwasr_config *cfg = fwasr_config_new();
    if (!url) {
        fprintf(stderr, "fwasr_bench: set FWASR_URL\n");
        exit(2);
    }
    if (fwasr_config_set_url(cfg, url) != FWASR_OK) die("url");
    if (ca && *ca && fwasr_config_set_tls_ca_file(cfg, ca) != FWASR_OK) die("CA file");
    const char *shared = getenv("FWASR_SHARED_IO");
    if (shared && *shared && fwasr_config_set_shared_io(cfg, true) != FWASR_OK) die("shared io");
    return cfg;
}

static void raise_fd_limit(void) {
    /* Two descriptors per session (socket, eventfd). */
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---- push ---- */

static size_t make_frame(unsigned char *out, enum fwasr_format format, unsigned rate, unsigned channels,
                         int index) {
    unsigned n = rate / 50;
    size_t len = 0;
    for (unsigned i = 0; i < n; i++) {
        double t = (double)(index * (int)n + (int)i) / rate;
        double x = 0.3 * sin(2 * 3.141592653589793 * 440 * t);
        for (unsigned c = 0; c < channels; c++) {
            if (format == FWASR_FORMAT_S16LE) {
                int16_t v = (int16_t)(x * 32767);
                memcpy(out + len, &v, 2);
                len += 2;
            } else if (format == FWASR_FORMAT_F32) {
                float v = (float)x;
                memcpy(out + len, &v, 4);
                len += 4;
            } else {
                out[len++] = (unsigned char)((x + 1) * 127);
            }
        }
    }
    return len;
}

static int bench_push(void) {
    static const struct {
        const char *name;
        enum fwasr_format format;
        unsigned rate, channels;
    } cases[] = {
        {"16 kHz mono s16le", FWASR_FORMAT_S16LE, 16000, 1},
        {"8 kHz mu-law", FWASR_FORMAT_MULAW, 8000, 1},
        {"8 kHz A-law", FWASR_FORMAT_ALAW, 8000, 1},
        {"48 kHz stereo f32", FWASR_FORMAT_F32, 48000, 2},
        {"44.1 kHz stereo s16le", FWASR_FORMAT_S16LE, 44100, 2},
        {"16 kHz mono f32", FWASR_FORMAT_F32, 16000, 1},
    };
    enum { BURSTS = 30, WARM = 5, FRAMES = 100 };
    static unsigned char frames[50][48000 / 50 * 2 * 4];
    static size_t sizes[50];
    static int64_t times[BURSTS * FRAMES];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fwasr_config *cfg = base_config();
        if (fwasr_config_set_input_format(cfg, cases[c].format, cases[c].rate, cases[c].channels) != FWASR_OK)
            die("input format");
        fwasr_session *s;
        if (fwasr_session_open(cfg, &s) != FWASR_OK) die("open");
        fwasr_config_free(cfg);
        if (fwasr_session_wait_ready(s, 10000) != FWASR_OK) die("connect");
        for (int i = 0; i < 50; i++) sizes[i] = make_frame(frames[i], cases[c].format, cases[c].rate, cases[c].channels, i);
        int n = 0;
        /* Bursts of 2 s of audio; between them (not timed) the queue drains to the server.
         * The first bursts are not counted (first touches of the queue's memory). */
        for (int burst = 0; burst < BURSTS + WARM; burst++) {
            for (int i = 0; i < FRAMES; i++) {
                int64_t t0 = now_ns();
                enum fwasr_status st = fwasr_session_push(s, frames[i % 50], sizes[i % 50]);
                int64_t t1 = now_ns();
                if (st != FWASR_OK) die("push");
                if (burst >= WARM) times[n++] = t1 - t0;
            }
            fwasr_stats stats;
            do {
                struct timespec ms = {0, 2000000};
                nanosleep(&ms, NULL);
                fwasr_session_stats(s, &stats, sizeof stats);
            } while (stats.audio_ms_queued > 100);
        }
        fwasr_session_free(s);
        qsort(times, (size_t)n, sizeof times[0], cmp_i64);
        printf("{\"bench\":\"push\",\"input\":\"%s\",\"pushes\":%d,\"median_us\":%.3f,\"p99_us\":%.3f,"
               "\"max_us\":%.3f}\n",
               cases[c].name, n, times[n / 2] / 1e3, times[n * 99 / 100] / 1e3, times[n - 1] / 1e3);
    }
    return 0;
}

/* ---- streams ---- */

typedef struct {
    fwasr_session *s;
    int64_t *complete_ns; /* per chunk: the push that completed it */
    int chunks;
    int64_t *event_ns; /* written on the session's network thread: latency, stamp pairs */
    int events, event_cap;
    int64_t last_stamp;
    int overruns; /* OVERRUN events */
    long pushed;  /* samples */
    long slow_ms; /* this stream's callback sleeps this long on a segment event */
} stream;

static void on_event(void *userdata, const fwasr_event *ev) {
    stream *st = userdata;
    if (ev->type == FWASR_EVENT_OVERRUN) st->overruns++;
    if (st->slow_ms && ev->type == FWASR_EVENT_SEGMENT) {
        struct timespec d = {st->slow_ms / 1000, st->slow_ms % 1000 * 1000000L};
        nanosleep(&d, NULL);
    }
    if (!ev->json || (ev->type != FWASR_EVENT_SEGMENT && ev->type != FWASR_EVENT_CHECKPOINT)) return;
    int64_t t = now_ns();
    const char *p = strstr(ev->json, "\"devserver_sent_ns\":");
    if (!p) return;
    int64_t stamp = strtoll(p + 20, NULL, 10);
    /* One message can become several events; the first one is its latency. */
    if (stamp == st->last_stamp || st->events == st->event_cap) return;
    st->last_stamp = stamp;
    st->event_ns[2 * st->events] = t - stamp;
    st->event_ns[2 * st->events + 1] = stamp;
    st->events++;
}

static int bench_streams(int n, int seconds, const char *outdir) {
    raise_fd_limit();
    long rss0 = rss_kib();
    long ticks = seconds * 1000L / FRAME_MS;
    int max_chunks = (int)(ticks * FRAME_MS / 50 + 2);
    stream *st = calloc((size_t)n, sizeof *st);
    fwasr_config *cfg = base_config();
    const char *slow = getenv("FWASR_BENCH_SLOW_CALLBACK_MS");
    if (slow) st[0].slow_ms = atol(slow);
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", i);
        st[i].complete_ns = calloc((size_t)max_chunks, sizeof(int64_t));
        st[i].event_cap = seconds * 4 + 16;
        st[i].event_ns = calloc(2 * (size_t)st[i].event_cap, sizeof(int64_t));
        /* bench_stream lets the server's report be matched to this stream. */
        if (fwasr_config_set_param(cfg, "bench_stream", id) != FWASR_OK ||
            fwasr_config_set_event_callback(cfg, on_event, &st[i]) != FWASR_OK)
            die("config");
        if (fwasr_session_open(cfg, &st[i].s) != FWASR_OK) die("open");
    }
    fwasr_config_free(cfg);
    for (int i = 0; i < n; i++)
        if (fwasr_session_wait_ready(st[i].s, 60000) != FWASR_OK) die("connect");
    int16_t frame[320];
    for (int i = 0; i < 320; i++) frame[i] = (int16_t)((i * 37) % 2000 - 1000);
    long overruns = 0;
    /* Calls start at random times, so neither their frames nor their chunks fall due at the
     * same instant: the streams are spread over GROUPS phases 1 ms apart (the driver wakes
     * once per phase), and within a phase they start 0-4 frames apart, so that chunk
     * boundaries (every 2.5 frames) are spread over the frames too. Started together, every
     * stream would complete a chunk in the same 20 ms and none in the next. */
    int groups = n < FRAME_MS ? n : FRAME_MS;
    long total_samples = 0;
    double cpu0 = cpu_seconds(), driver0 = thread_cpu_seconds(), server0 = server_cpu_seconds();
    int64_t wall0 = now_ns();
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (long t = 0; t < ticks; t++) {
        for (int g = 0; g < groups; g++) {
            for (int i = g; i < n; i += groups) {
                if (t < (i / groups) % 5) continue;
                int completes = (st[i].pushed + 320) / CHUNK_SAMPLES > st[i].pushed / CHUNK_SAMPLES;
                int64_t t0 = completes ? now_ns() : 0;
                if (fwasr_session_push_s16(st[i].s, frame, 320) != FWASR_OK) {
                    overruns++;
                    continue;
                }
                st[i].pushed += 320;
                total_samples += 320;
                if (completes && st[i].chunks < max_chunks) st[i].complete_ns[st[i].chunks++] = t0;
            }
            sleep_until(&next, FRAME_MS * 1000000L / groups);
        }
    }
    int64_t stream_end = now_ns();
    double wall = (stream_end - wall0) / 1e9;
    double cpu = cpu_seconds() - cpu0;
    /* This thread is the caller's media thread, not fwasr's: its share is reported apart. */
    double driver = thread_cpu_seconds() - driver0;
    double server = server0 < 0 ? -1 : server_cpu_seconds() - server0;
    long rss = rss_kib();
    /* Finish every session so the server reports every connection with all its chunks. */
    for (int i = 0; i < n; i++) fwasr_session_finish(st[i].s, 0);
    for (int i = 0; i < n; i++) fwasr_session_finish(st[i].s, 30000);
    long stats_overruns = 0;
    double dropped = 0;
    for (int i = 0; i < n; i++) {
        fwasr_stats s;
        fwasr_session_stats(st[i].s, &s, sizeof s);
        stats_overruns += st[i].overruns;
        dropped += s.audio_ms_dropped;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/completions.txt", outdir);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        fprintf(f, "%d", i);
        for (int k = 0; k < st[i].chunks; k++) fprintf(f, " %lld", (long long)st[i].complete_ns[k]);
        fputc('\n', f);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/events.txt", outdir);
    f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        fwasr_session_free(st[i].s);
        for (int k = 0; k < st[i].events; k++)
            fprintf(f, "%lld %lld\n", (long long)st[i].event_ns[2 * k], (long long)st[i].event_ns[2 * k + 1]);
        free(st[i].complete_ns);
        free(st[i].event_ns);
    }
    fclose(f);
    free(st);
    printf("{\"bench\":\"streams\",\"streams\":%d,\"seconds\":%.3f,\"cpu_s\":%.4f,\"driver_cpu_s\":%.4f,"
           "\"rss_kib\":%ld,\"rss_kib_per_stream\":%.1f,\"refused_pushes\":%ld,\"overruns\":%ld,"
           "\"dropped_ms\":%.1f,\"stream_end_ns\":%lld,\"server_cpu_s\":%.3f,"
           "\"audio_s_per_stream\":%.3f}\n",
           n, wall, cpu, driver, rss - rss0, (double)(rss - rss0) / n, overruns, stats_overruns, dropped, (long long)stream_end, server, total_samples / 16000.0 / n);
    return 0;
}

/* ---- idle ---- */

static int bench_idle(int n, int seconds) {
    raise_fd_limit();
    fwasr_session **s = calloc((size_t)n, sizeof *s);
    fwasr_config *cfg = base_config();
    for (int i = 0; i < n; i++)
        if (fwasr_session_open(cfg, &s[i]) != FWASR_OK) die("open");
    fwasr_config_free(cfg);
    for (int i = 0; i < n; i++)
        if (fwasr_session_wait_ready(s[i], 60000) != FWASR_OK) die("connect");
    double cpu0 = cpu_seconds();
    int64_t wall0 = now_ns();
    struct timespec d = {seconds, 0};
    while (nanosleep(&d, &d) == -1 && errno == EINTR) {
    }
    double wall = (now_ns() - wall0) / 1e9, cpu = cpu_seconds() - cpu0;
    for (int i = 0; i < n; i++) fwasr_session_free(s[i]);
    free(s);
    printf("{\"bench\":\"idle\",\"streams\":%d,\"seconds\":%.3f,\"cpu_s\":%.4f}\n", n, wall, cpu);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "push")) return bench_push();
    if (argc == 5 && !strcmp(argv[1], "streams")) return bench_streams(atoi(argv[2]), atoi(argv[3]), argv[4]);
    if (argc == 4 && !strcmp(argv[1], "idle")) return bench_idle(atoi(argv[2]), atoi(argv[3]));
    fprintf(stderr, "usage: %s push | streams N SECONDS OUTDIR | idle N SECONDS\n", argv[0]);
    return 2;
}
