/*
 * A name server of the tests' own, preloaded (LD_PRELOAD) into a test program:
 * - "slow.test" takes SLOW_RESOLVER_MS milliseconds and then answers 127.0.0.1, the way a
 *   resolver waiting on an unresponsive DNS server would; the first SLOW_RESOLVER_FAST_FIRST
 *   lookups of it (default none) answer at once, so sessions can connect before the storm;
 * - "multi.test" answers the addresses listed in MULTI_RESOLVER_ADDRS (comma-separated IP
 *   literals), in that order, the way a name with several A/AAAA records does.
 * Every other name goes to the system's resolver unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <time.h>

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    const char *ms = getenv("SLOW_RESOLVER_MS");
    static atomic_long lookups;
    const char *fast = getenv("SLOW_RESOLVER_FAST_FIRST");
    if (node && strcmp(node, "slow.test") == 0) {
        long n = ms ? atol(ms) : 5000;
        if (fast && atomic_fetch_add(&lookups, 1) < atol(fast)) n = 0;
        struct timespec t = {n / 1000, (n % 1000) * 1000000L};
        while (nanosleep(&t, &t) != 0) {
        }
        node = "127.0.0.1";
    }
    const char *multi = getenv("MULTI_RESOLVER_ADDRS");
    if (node && multi && strcmp(node, "multi.test") == 0) {
        /* One lookup per literal, chained in order (freeaddrinfo frees node by node). */
        char list[512];
        snprintf(list, sizeof list, "%s", multi);
        struct addrinfo *head = NULL, **tail = &head;
        for (char *save = NULL, *ip = strtok_r(list, ",", &save); ip; ip = strtok_r(NULL, ",", &save)) {
            struct addrinfo *one = NULL;
            int rc = real(ip, service, hints, &one);
            if (rc != 0) {
                if (head) freeaddrinfo(head);
                return rc;
            }
            *tail = one;
            while (*tail) tail = &(*tail)->ai_next;
        }
        *res = head;
        return head ? 0 : EAI_NONAME;
    }
    return real(node, service, hints, res);
}
