/*
 * floor: what any thread-per-stream streaming client must at least do, and nothing more. Per
 * stream, one thread that wakes every 50 ms on an absolute clock and writes one 50 ms chunk
 * of 16 kHz s16 (1,600 bytes, always the same buffer) to a TCP connection: no protocol, no
 * copies, no reads. Prints the process's CPU over the run as one JSON line.
 *
 *   floor HOST:PORT N SECONDS      (the peer: fwasr-devserver --sink)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in peer;
static int chunks;
static struct timespec start;
static unsigned char chunk[1600];
static int *fds;

static int streams;

static void *run(void *arg) {
    int i = (int)(intptr_t)arg;
    int fd = fds[i];
    /* Streams start at different times: their wake-ups are spread over the 50 ms period. */
    struct timespec next = start;
    next.tv_nsec += (long)i * (50L * 1000 * 1000 / streams);
    next.tv_sec += next.tv_nsec / 1000000000L;
    next.tv_nsec %= 1000000000L;
    for (int k = 0; k < chunks; k++) {
        next.tv_nsec += 50 * 1000 * 1000;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
        }
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) {
            perror("write");
            exit(1);
        }
    }
    return NULL;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv) {
    char host[64];
    int port;
    if (argc != 4 || sscanf(argv[1], "%63[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "usage: %s HOST:PORT N SECONDS\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[2]), seconds = atoi(argv[3]);
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    peer.sin_family = AF_INET;
    peer.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &peer.sin_addr) != 1) {
        fprintf(stderr, "floor: bad address %s\n", host);
        return 2;
    }
    chunks = seconds * 20;
    pthread_t *threads = calloc((size_t)n, sizeof *threads);
    streams = n;
    fds = calloc((size_t)n, sizeof *fds);
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fds[i], (struct sockaddr *)&peer, sizeof peer) != 0) {
            perror("connect");
            return 1;
        }
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    clock_gettime(CLOCK_MONOTONIC, &start);
    double cpu0 = cpu_seconds();
    for (int i = 0; i < n; i++)
        if (pthread_create(&threads[i], &attr, run, (void *)(intptr_t)i) != 0) {
            fprintf(stderr, "floor: cannot start thread %d\n", i);
            return 1;
        }
    for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    double cpu = cpu_seconds() - cpu0;
    double wall = (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
    for (int i = 0; i < n; i++) close(fds[i]);
    printf("{\"bench\":\"floor\",\"streams\":%d,\"seconds\":%.3f,\"cpu_s\":%.4f}\n", n, wall, cpu);
    return 0;
}
