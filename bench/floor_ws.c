/*
 * floor_ws: what any client streaming this traffic over shared threads must at least do, and
 * nothing more. One thread for all streams: each makes a real WebSocket upgrade, then sends
 * one masked binary frame of a 50 ms chunk (16 kHz s16, 1,600 bytes) every 50 ms on an
 * absolute clock, the streams' sends spread over the period; whatever the server sends is
 * read and discarded (no parsing, no events). epoll waits for both. Prints the process's CPU
 * over the streaming (the upgrades excluded) as one JSON line.
 *
 *   floor_ws ws://HOST:PORT/PATH N SECONDS      (the peer: fwasr-devserver)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

int main(int argc, char **argv) {
    char host[64], path[256] = "/";
    int port;
    if (argc != 4 || sscanf(argv[1], "ws://%63[^:]:%d%255s", host, &port, path) < 2) {
        fprintf(stderr, "usage: %s ws://HOST:PORT/PATH N SECONDS\n", argv[0]);
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
    static unsigned char payload[CHUNK], frame[8 + CHUNK], scratch[65536];
    for (int i = 0; i < CHUNK; i++) payload[i] = (unsigned char)(i * 7);
    frame[0] = 0x82;
    frame[1] = 0x80 | 126;
    frame[2] = CHUNK >> 8;
    frame[3] = CHUNK & 0xff;
    uint64_t rng = 0x9e3779b97f4a7c15u;
    long messages_bytes = 0;

    double cpu0 = cpu_seconds();
    int64_t start = now_ns();
    /* Stream i sends at start + i * PERIOD / n + k * PERIOD: in index order, round after round. */
    int64_t sent = 0, total = (int64_t)n * seconds * 20;
    struct epoll_event evs[256];
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
            while ((r = read(fds[evs[e].data.u32], scratch, sizeof scratch)) > 0) messages_bytes += r;
        }
    }
    double cpu = cpu_seconds() - cpu0;
    double wall = (double)(now_ns() - start) / 1e9;
    for (int i = 0; i < n; i++) close(fds[i]);
    printf("{\"bench\":\"floor_ws\",\"streams\":%d,\"seconds\":%.3f,\"cpu_s\":%.4f,\"received_bytes\":%ld}\n", n, wall,
           cpu, messages_bytes);
    return 0;
}
