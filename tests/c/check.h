/* What the C test programs share: CHECK, which counts and reports, and the server's URL. */
#ifndef FWASR_TEST_CHECK_H
#define FWASR_TEST_CHECK_H

#include <fwasr.h>

#include <stdio.h>
#include <stdlib.h>

static int passed, failed;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (cond) passed++;                                                      \
        else { failed++; fprintf(stderr, "%s:%d: FAILED: %s (last error: %s)\n", \
                                 __FILE__, __LINE__, #cond, fwasr_last_error()); } \
    } while (0)

/* fwasr-devserver's URL, from $FWASR_URL. */
static inline const char *url(void) {
    const char *u = getenv("FWASR_URL");
    return u ? u : "ws://127.0.0.1:9/v1/audio/transcriptions/streaming";
}

#endif
