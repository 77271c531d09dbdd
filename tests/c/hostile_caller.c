/*
 * The C API under conditions a host program meets at its worst, against fwasr-devserver (its
 * URL in $FWASR_URL):
 *   hostile_caller slow_dns     a name server that takes 3 s (slow_resolver.so preloaded with
 *                               SLOW_RESOLVER_MS=3000): the connect timeout holds, free does
 *                               not wait for the lookup
 *   hostile_caller fd_limit     the process runs out of file descriptors: FWASR_ERR_RESOURCE,
 *                               never FWASR_ERR_INTERNAL, and sessions open again once there
 *                               are descriptors
 *   hostile_caller multi_address  a name with several addresses (slow_resolver.so preloaded,
 *                               MULTI_RESOLVER_ADDRS set per case): a first address that
 *                               drops SYNs costs the 250 ms attempt delay, one that refuses
 *                               nothing, and when all fail the error names each
 *   hostile_caller resolver_storm  lookups of 30 s (slow_resolver.so, SLOW_RESOLVER_MS=30000,
 *                               the first 100 at once), a server dropping every connection
 *                               300 ms after its upgrade: 100 shared-thread sessions
 *                               reconnecting for 5 s, then 100 sessions opened three times and
 *                               given up after 300 ms each; the process keeps a handful of
 *                               threads, not one per lookup
 *   hostile_caller mutual_free [shared]  two callbacks free each other's sessions at the
 *                               same moment (own threads, or shared network threads)
 * Prints "N passed, N failed"; exits non-zero on any failure.
 */
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static fwasr_config *config(const char *u) {
    fwasr_config *cfg = fwasr_config_new();
    CHECK(cfg != NULL && fwasr_config_set_url(cfg, u) == FWASR_OK);
    return cfg;
}

/* The devserver's URL with its host replaced by slow.test. */
static void slow_url(char *out, size_t cap) {
    const char *port = strrchr(url(), ':');
    snprintf(out, cap, "ws://slow.test%s", port ? port : ":9/");
}

static void test_slow_dns(void) {
    char u[256];
    slow_url(u, sizeof u);
    fwasr_config *cfg = config(u);
    CHECK(fwasr_config_set_connect_timeout_ms(cfg, 1000) == FWASR_OK);

    /* The lookup takes 3 s; the connect timeout of 1 s ends the wait. */
    fwasr_session *s = NULL;
    CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
    double t = now_ms();
    CHECK(fwasr_session_wait_ready(s, 10000) == FWASR_ERR_CONNECT_TIMEOUT);
    CHECK(strstr(fwasr_last_error(), "name resolution") != NULL);
    double took = now_ms() - t;
    CHECK(took < 2500);
    fprintf(stderr, "wait_ready gave up after %.0f ms\n", took);
    fwasr_session_free(s);

    /* free does not wait for a lookup in progress. */
    CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
    t = now_ms();
    fwasr_session_free(s);
    took = now_ms() - t;
    CHECK(took < 500);
    fprintf(stderr, "free during a lookup took %.0f ms\n", took);

    /* With time enough, the same slow lookup leads to the server. */
    CHECK(fwasr_config_set_connect_timeout_ms(cfg, 10000) == FWASR_OK);
    CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
    CHECK(fwasr_session_wait_ready(s, 15000) == FWASR_OK);
    CHECK(fwasr_session_finish(s, 10000) == FWASR_OK);
    fwasr_session_free(s);
    fwasr_config_free(cfg);
}

/* Descriptors taken to use the process's up: all but `free_slots` below a limit of 256 more
 * than in use. */
static int hogs[1024], nhogs;

static void leave_free(int free_slots) {
    struct rlimit r;
    CHECK(getrlimit(RLIMIT_NOFILE, &r) == 0);
    int top = dup(2);
    close(top);
    r.rlim_cur = (rlim_t)top + 256;
    CHECK(setrlimit(RLIMIT_NOFILE, &r) == 0);
    int fd;
    while (nhogs < 1024 && (fd = dup(2)) >= 0) hogs[nhogs++] = fd;
    for (int i = 0; i < free_slots && nhogs > 0; i++) close(hogs[--nhogs]);
}

static void give_back(void) {
    while (nhogs > 0) close(hogs[--nhogs]);
}

static void test_fd_limit(void) {
    fwasr_config *cfg = config(url());
    struct rlimit was;
    CHECK(getrlimit(RLIMIT_NOFILE, &was) == 0);

    /* With k descriptors free: too few, and the session does not open; just enough to
     * open (its wake-up and poll), and its connection cannot get a socket. */
    int opened_with = -1;
    for (int k = 0; k < 8 && opened_with < 0; k++) {
        leave_free(k);
        fwasr_session *s = NULL;
        fwasr_status st = fwasr_session_open(cfg, &s);
        if (st == FWASR_OK) {
            opened_with = k;
            CHECK(k > 0);
            CHECK(fwasr_session_wait_ready(s, 10000) == FWASR_ERR_RESOURCE);
            fprintf(stderr, "connect with %d free: %s\n", k, fwasr_last_error());
            CHECK(fwasr_session_state(s) == FWASR_STATE_FAILED);
            fwasr_session_free(s);
        } else {
            CHECK(st == FWASR_ERR_RESOURCE);
            CHECK(s == NULL);
            fprintf(stderr, "open with %d free: %s\n", k, fwasr_last_error());
        }
        give_back();
    }
    CHECK(opened_with > 0);

    fwasr_session *s = NULL;
    /* With descriptors back, sessions work again. */
    CHECK(setrlimit(RLIMIT_NOFILE, &was) == 0);
    CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
    CHECK(fwasr_session_wait_ready(s, 10000) == FWASR_OK);
    CHECK(fwasr_session_finish(s, 10000) == FWASR_OK);
    fwasr_session_free(s);
    fwasr_config_free(cfg);
}

/* Two sessions whose callbacks, on their first SEGMENT, meet and free each other's. */
struct pair {
    fwasr_session *_Atomic session[2];
    atomic_int met, freed, raced;
};

struct side {
    struct pair *pair;
    int me;
    atomic_int fired;
};

static void free_the_other(void *userdata, const fwasr_event *e) {
    struct side *side = userdata;
    if (e->type != FWASR_EVENT_SEGMENT || atomic_exchange(&side->fired, 1)) return;
    struct pair *p = side->pair;
    atomic_fetch_add(&p->met, 1);
    double until = now_ms() + 5000;
    while (atomic_load(&p->met) < 2 && now_ms() < until) sched_yield();
    if (atomic_load(&p->met) == 2) atomic_store(&p->raced, 1);
    fwasr_session_free(atomic_exchange(&p->session[1 - side->me], NULL));
    atomic_fetch_add(&p->freed, 1);
}

static void test_mutual_free(bool shared) {
    static struct pair p;
    static struct side sides[2];
    int16_t audio[9600] = {0};
    for (int i = 0; i < 2; i++) {
        sides[i].pair = &p;
        sides[i].me = i;
        fwasr_config *cfg = config(url());
        CHECK(fwasr_config_set_shared_io(cfg, shared) == FWASR_OK);
        CHECK(fwasr_config_set_event_callback(cfg, free_the_other, &sides[i]) == FWASR_OK);
        fwasr_session *s = NULL;
        CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
        atomic_store(&p.session[i], s);
        fwasr_config_free(cfg);
    }
    for (int i = 0; i < 2; i++) CHECK(fwasr_session_push_s16(atomic_load(&p.session[i]), audio, 9600) == FWASR_OK);
    double until = now_ms() + 20000;
    while (atomic_load(&p.freed) < 2 && now_ms() < until) {
        struct timespec t = {0, 10000000L};
        nanosleep(&t, NULL);
    }
    CHECK(atomic_load(&p.freed) == 2);
    CHECK(atomic_load(&p.raced) == 1);
    CHECK(atomic_load(&p.session[0]) == NULL && atomic_load(&p.session[1]) == NULL);
}

/* A listener on ip:port whose queue is full, so the kernel drops further SYNs (a broken
 * route or a firewall looks like this); returns its descriptor, the queue's fillers in fill. */
static int blackhole(const char *ip, int port, int fill[3]) {
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, ip, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 0) == 0);
    for (int i = 0; i < 3; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&sa, sizeof sa);
    }
    usleep(200 * 1000);
    return fd;
}

/* How long wait_ready took for ws://multi.test:PORT with these addresses; its status in *st. */
static double connect_via(const char *addrs, fwasr_status *st) {
    const char *p = strrchr(url(), ':');
    char u[256];
    snprintf(u, sizeof u, "ws://multi.test%s", p ? p : ":9/");
    setenv("MULTI_RESOLVER_ADDRS", addrs, 1);
    fwasr_config *cfg = config(u);
    CHECK(fwasr_config_set_connect_timeout_ms(cfg, 5000) == FWASR_OK);
    fwasr_session *s = NULL;
    CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
    double t = now_ms();
    *st = fwasr_session_wait_ready(s, 10000);
    double took = now_ms() - t;
    fwasr_session_free(s);
    fwasr_config_free(cfg);
    return took;
}

static void test_multi_address(void) {
    const char *p = strrchr(url(), ':');
    int port = p ? atoi(p + 1) : 0;
    int fill[3];
    int hole = blackhole("127.0.0.2", port, fill);
    fwasr_status st;
    double took = connect_via("127.0.0.2,127.0.0.1", &st);
    CHECK(st == FWASR_OK);
    CHECK(took >= 250 && took < 1500);
    fprintf(stderr, "first address dropping SYNs: connected in %.0f ms\n", took);
    for (int i = 0; i < 3; i++) close(fill[i]);
    close(hole);

    took = connect_via("127.0.0.2,127.0.0.1", &st);
    CHECK(st == FWASR_OK && took < 500);
    fprintf(stderr, "first address refusing: connected in %.0f ms\n", took);

    took = connect_via("127.0.0.2,127.0.0.3", &st);
    CHECK(st == FWASR_ERR_CONNECT);
    CHECK(strstr(fwasr_last_error(), "127.0.0.2:") && strstr(fwasr_last_error(), "; 127.0.0.3:"));
    fprintf(stderr, "both refusing, after %.0f ms: %s\n", took, fwasr_last_error());
}

/* A field of /proc/self/status ("Threads", "VmRSS"), as a number. */
static long proc_status(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, field, n) && line[n] == ':') v = atol(line + n + 1);
    }
    if (f) fclose(f);
    return v;
}

static void test_resolver_storm(void) {
    char u[256];
    slow_url(u, sizeof u);
    fwasr_config *cfg = config(u);
    CHECK(fwasr_config_set_connect_timeout_ms(cfg, 300) == FWASR_OK);
    CHECK(fwasr_config_set_shared_io(cfg, true) == FWASR_OK);
    CHECK(fwasr_config_set_reconnect(cfg, 5, 100, 1000) == FWASR_OK);
    long threads0 = proc_status("Threads"), rss0 = proc_status("VmRSS");
    enum { N = 100 };
    fwasr_session *s[N];
    long most = 0;

    /* Connected (the first 100 lookups are quick), then dropped every 300 ms: each reconnect
     * dials the last answer's address while a 30 s lookup runs behind it. */
    CHECK(fwasr_config_set_connect_timeout_ms(cfg, 5000) == FWASR_OK);
    CHECK(fwasr_config_set_reconnect(cfg, 1000, 50, 200) == FWASR_OK);
    static unsigned char audio[3200];
    for (int i = 0; i < N; i++) CHECK(fwasr_session_open(cfg, &s[i]) == FWASR_OK);
    for (int i = 0; i < N; i++) CHECK(fwasr_session_wait_ready(s[i], 10000) == FWASR_OK);
    double until = now_ms() + 5000;
    while (now_ms() < until) {
        for (int i = 0; i < N; i++) fwasr_session_push(s[i], audio, sizeof audio);
        long t = proc_status("Threads");
        if (t > most) most = t;
        usleep(100 * 1000);
    }
    fwasr_stats st;
    long reconnects = 0;
    for (int i = 0; i < N; i++) {
        CHECK(fwasr_session_stats(s[i], &st, sizeof st) == FWASR_OK);
        reconnects += (long)st.reconnects;
        fwasr_session_free(s[i]);
    }
    fprintf(stderr, "reconnect storm: %ld reconnects in 5 s, threads %ld before, at most %ld during; RSS %ld -> %ld KiB\n",
            reconnects, threads0, most, rss0, proc_status("VmRSS"));
    CHECK(reconnects >= N);
    CHECK(most - threads0 <= 4 + 8);
    CHECK(fwasr_config_set_connect_timeout_ms(cfg, 300) == FWASR_OK);

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) CHECK(fwasr_session_open(cfg, &s[i]) == FWASR_OK);
        for (int i = 0; i < N; i++) CHECK(fwasr_session_wait_ready(s[i], 5000) == FWASR_ERR_CONNECT_TIMEOUT);
        long t = proc_status("Threads");
        if (t > most) most = t;
        for (int i = 0; i < N; i++) fwasr_session_free(s[i]);
    }
    long threads = proc_status("Threads"), rss = proc_status("VmRSS");
    fprintf(stderr, "300 lookups of 30 s: threads %ld before, at most %ld during, %ld after; RSS %ld -> %ld KiB\n",
            threads0, most, threads, rss0, rss);
    /* The resolver threads and the shared network threads, not a thread per lookup. */
    CHECK(most - threads0 <= 4 + 8);
    CHECK(threads - threads0 <= 4 + 8);
    fwasr_config_free(cfg);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "slow_dns")) test_slow_dns();
    else if (!strcmp(mode, "fd_limit")) test_fd_limit();
    else if (!strcmp(mode, "multi_address")) test_multi_address();
    else if (!strcmp(mode, "resolver_storm")) test_resolver_storm();
    else if (!strcmp(mode, "mutual_free")) test_mutual_free(argc > 2 && !strcmp(argv[2], "shared"));
    else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
