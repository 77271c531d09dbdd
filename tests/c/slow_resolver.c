/*
 * A slow name server, for the name-resolution timeout test: preloaded (LD_PRELOAD) into a
 * test program, it makes every lookup of "slow.test" take SLOW_RESOLVER_MS milliseconds and
 * then answer 127.0.0.1, the way a resolver waiting on an unresponsive DNS server would. Every
 * other name goes to the system's resolver unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    const char *ms = getenv("SLOW_RESOLVER_MS");
    if (node && strcmp(node, "slow.test") == 0) {
        long n = ms ? atol(ms) : 5000;
        struct timespec t = {n / 1000, (n % 1000) * 1000000L};
        while (nanosleep(&t, &t) != 0) {
        }
        node = "127.0.0.1";
    }
    return real(node, service, hints, res);
}
