/*
 * floor_ws: what any client streaming this traffic over shared threads must at least do, and
 * nothing more. One thread for all streams: each makes a real WebSocket upgrade, then sends
 * one masked binary frame of a 50 ms chunk (16 kHz s16, 1,600 bytes) every 50 ms on an
 * absolute clock, the streams' sends spread over the period; whatever the server sends is
 * read and discarded (no parsing, no events). epoll waits for both. Prints the process's CPU
 * over the streaming (the upgrades excluded) as one JSON line.
 *
 * With --caller, the audio comes from a caller thread paced exactly as fwasr_bench's driver
 * (a 20 ms frame to every stream every 20 ms, in 20 phases 1 ms apart, streams 0-4 frames
 * apart), as the least any library taking pushes must do: the caller copies each frame into
 * the stream's ring and publishes its end, and lists the stream in a queue when a chunk is
 * complete; the sending thread wakes every millisecond, takes the queue and sends each
 * complete chunk, masked from the ring. The caller thread's CPU is reported apart.
 *
 *   floor_ws ws://HOST:PORT/PATH N SECONDS [--caller]     (the peer: fwasr-devserver)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 1600
#define PERIOD_NS (50L * 1000 * 1000)

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double thread_cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The client side of the opening handshake, blocking; the answer must be 101. */
static int upgrade(const struct sockaddr_in *peer, const char *host, const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)peer, sizeof *peer) != 0) {
        perror("connect");
        exit(1);
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, host);
    if (write(fd, req, (size_t)n) != n) {
        perror("write");
        exit(1);
    }
    char resp[1024];
    size_t got = 0;
    while (got < sizeof resp - 1) {
        ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
        if (r <= 0) {
            fprintf(stderr, "floor_ws: the server closed during the upgrade\n");
            exit(1);
        }
        got += (size_t)r;
        resp[got] = 0;
        if (strstr(resp, "\r\n\r\n")) break;
    }
    if (strncmp(resp, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "floor_ws: upgrade refused: %.40s\n", resp);
        exit(1);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* --caller: each stream's ring, and the queue of streams with a complete chunk. */
#define RING 8192
#define FRAME 640
#define QUEUE 65536
typedef struct {
    unsigned char ring[RING];
    _Atomic uint64_t written; /* the caller's */
    uint64_t sent;            /* the sender's */
} stream_ring;
static stream_ring *rings;
static _Atomic uint32_t queue[QUEUE];
static _Atomic uint64_t queue_head, queue_tail;
static _Atomic int caller_done;
static double caller_cpu;
static int streams_n, seconds_n;

static void *caller(void *arg) {
    (void)arg;
    unsigned char frame[FRAME];
    for (int i = 0; i < FRAME; i++) frame[i] = (unsigned char)(i * 37);
    int n = streams_n, groups = n < 20 ? n : 20;
    long ticks = seconds_n * 50L;
    double cpu0 = thread_cpu_seconds();
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    uint64_t tail = 0;
    for (long t = 0; t < ticks; t++) {
        for (int g = 0; g < groups; g++) {
            for (int i = g; i < n; i += groups) {
                if (t < (i / groups) % 5) continue;
                stream_ring *r = &rings[i];
                uint64_t w = atomic_load_explicit(&r->written, memory_order_relaxed);
                size_t at = w % RING, first = RING - at < FRAME ? RING - at : FRAME;
                memcpy(r->ring + at, frame, first);
                memcpy(r->ring, frame + first, FRAME - first);
                atomic_store_explicit(&r->written, w + FRAME, memory_order_release);
                if ((w + FRAME) / CHUNK > w / CHUNK) {
                    atomic_store_explicit(&queue[tail % QUEUE], (uint32_t)i, memory_order_relaxed);
                    atomic_store_explicit(&queue_tail, ++tail, memory_order_release);
                }
            }
            next.tv_nsec += 1000000L * 20 / groups;
            while (next.tv_nsec >= 1000000000L) next.tv_nsec -= 1000000000L, next.tv_sec++;
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
            }
        }
    }
    caller_cpu = thread_cpu_seconds() - cpu0;
    atomic_store_explicit(&caller_done, 1, memory_order_release);
    return NULL;
}

/* What the server sent: counted, and each stamped message's latency (the stamp to this read)
 * kept, a floor for fwasr's event latency on the same traffic. */
static unsigned char scratch[65536];
static long messages_bytes;
static int64_t *latencies;
static size_t latency_count, latency_cap;

static void received(ssize_t r) {
    int64_t now = now_ns();
    messages_bytes += r;
    static const char key[] = "\"devserver_sent_ns\":";
    for (unsigned char *p = scratch, *end = scratch + r; (p = memmem(p, (size_t)(end - p), key, sizeof key - 1));) {
        p += sizeof key - 1;
        int64_t stamp = strtoll((const char *)p, NULL, 10);
        if (latency_count == latency_cap) {
            latency_cap = latency_cap ? 2 * latency_cap : 4096;
            latencies = realloc(latencies, latency_cap * sizeof *latencies);
        }
        latencies[latency_count++] = now - stamp;
    }
}

static int by_value(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    char host[64], path[256] = "/";
    int port;
    int with_caller = argc == 5 && strcmp(argv[4], "--caller") == 0;
    if ((argc != 4 && !with_caller) || sscanf(argv[1], "ws://%63[^:]:%d%255s", host, &port, path) < 2) {
        fprintf(stderr, "usage: %s ws://HOST:PORT/PATH N SECONDS [--caller]\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[2]), seconds = atoi(argv[3]);
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &peer.sin_addr) != 1) {
        fprintf(stderr, "floor_ws: bad address %s\n", host);
        return 2;
    }
    int ep = epoll_create1(0);
    int *fds = calloc((size_t)n, sizeof *fds);
    for (int i = 0; i < n; i++) {
        fds[i] = upgrade(&peer, host, path);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }

    /* A frame: FIN + binary, masked, 16-bit length, the mask, the masked payload. */
    static unsigned char payload[CHUNK], frame[8 + CHUNK];
    for (int i = 0; i < CHUNK; i++) payload[i] = (unsigned char)(i * 7);
    frame[0] = 0x82;
    frame[1] = 0x80 | 126;
    frame[2] = CHUNK >> 8;
    frame[3] = CHUNK & 0xff;
    uint64_t rng = 0x9e3779b97f4a7c15u;

    double cpu0 = cpu_seconds();
    int64_t start = now_ns();
    struct epoll_event evs[256];
    if (with_caller) {
        streams_n = n, seconds_n = seconds;
        rings = calloc((size_t)n, sizeof *rings);
        pthread_t t;
        pthread_create(&t, NULL, caller, NULL);
        uint64_t head = 0;
        for (;;) {
            int done = atomic_load_explicit(&caller_done, memory_order_acquire);
            uint64_t tail = atomic_load_explicit(&queue_tail, memory_order_acquire);
            for (; head < tail; head++) {
                uint32_t i = atomic_load_explicit(&queue[head % QUEUE], memory_order_relaxed);
                stream_ring *r = &rings[i];
                uint64_t w = atomic_load_explicit(&r->written, memory_order_acquire);
                for (; w - r->sent >= CHUNK; r->sent += CHUNK) {
                    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                    uint32_t mask = (uint32_t)rng;
                    memcpy(frame + 4, &mask, 4);
                    for (int k = 0; k < CHUNK; k++)
                        frame[8 + k] = r->ring[(r->sent + (uint64_t)k) % RING] ^ frame[4 + (k & 3)];
                    if (write(fds[i], frame, sizeof frame) != (ssize_t)sizeof frame) {
                        perror("write");
                        return 1;
                    }
                }
            }
            atomic_store_explicit(&queue_head, head, memory_order_relaxed);
            if (done && head == atomic_load_explicit(&queue_tail, memory_order_acquire)) break;
            int k = epoll_wait(ep, evs, 256, 1);
            for (int e = 0; e < k; e++) {
                ssize_t r;
                while ((r = read(fds[evs[e].data.u32], scratch, sizeof scratch)) > 0) received(r);
            }
        }
        pthread_join(t, NULL);
    } else {
        /* Stream i sends at start + i * PERIOD / n + k * PERIOD: in index order, round after round. */
        int64_t sent = 0, total = (int64_t)n * seconds * 20;
        while (sent < total) {
            int64_t due = start + (sent / n) * PERIOD_NS + (sent % n) * PERIOD_NS / n;
            int64_t now = now_ns();
            if (now >= due) {
                int fd = fds[sent % n];
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                uint32_t mask = (uint32_t)rng;
                memcpy(frame + 4, &mask, 4);
                for (int i = 0; i < CHUNK; i++) frame[8 + i] = payload[i] ^ frame[4 + (i & 3)];
                if (write(fd, frame, sizeof frame) != (ssize_t)sizeof frame) {
                    perror("write");
                    return 1;
                }
                sent++;
                continue;
            }
            int wait_ms = (int)((due - now + 999999) / 1000000);
            int k = epoll_wait(ep, evs, 256, wait_ms);
            for (int e = 0; e < k; e++) {
                ssize_t r;
                while ((r = read(fds[evs[e].data.u32], scratch, sizeof scratch)) > 0) received(r);
            }
        }
    }
    double cpu = cpu_seconds() - cpu0;
    double wall = (double)(now_ns() - start) / 1e9;
    for (int i = 0; i < n; i++) close(fds[i]);
    qsort(latencies, latency_count, sizeof *latencies, by_value);
#define PICK(p) (latency_count ? (double)latencies[(size_t)((p) / 100.0 * (double)(latency_count - 1))] / 1e6 : -1.0)
    printf("{\"bench\":\"floor_ws%s\",\"streams\":%d,\"seconds\":%.3f,\"cpu_s\":%.4f,\"driver_cpu_s\":%.4f,"
           "\"received_bytes\":%ld,\"message_ms\":{\"n\":%zu,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}}\n",
           with_caller ? "_caller" : "", n, wall, cpu, caller_cpu, messages_bytes, latency_count, PICK(50), PICK(99),
           PICK(100));
    return 0;
}
