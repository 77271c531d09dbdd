/*
 * callback: callback mode. fwasr calls on_event on its own network thread for every event.
 * That thread must not block, so the callback does not print: it copies what it needs under a
 * short lock and signals; the main thread prints. This is the pattern for any host where the
 * callback would otherwise touch slow or thread-affine things (a UI, a log file, stdout).
 *
 *   callback FILE.wav     (16 kHz mono 16-bit WAV; URL from $FWASR_URL, key from $FIREWORKS_API_KEY)
 */
#include <fwasr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A lock and a condition variable: Windows' own (SRW lock, CONDITION_VARIABLE, which MSVC
 * has too), POSIX threads elsewhere. */
#ifdef _WIN32
#include <windows.h>
typedef SRWLOCK lock_t;
typedef CONDITION_VARIABLE cond_t;
static void lock_init(lock_t *l, cond_t *c) { InitializeSRWLock(l); InitializeConditionVariable(c); }
static void lock(lock_t *l) { AcquireSRWLockExclusive(l); }
static void unlock(lock_t *l) { ReleaseSRWLockExclusive(l); }
static void signal_one(cond_t *c) { WakeConditionVariable(c); }
static void wait_on(cond_t *c, lock_t *l) { SleepConditionVariableSRW(c, l, INFINITE, 0); }
#else
#include <pthread.h>
typedef pthread_mutex_t lock_t;
typedef pthread_cond_t cond_t;
static void lock_init(lock_t *l, cond_t *c) { pthread_mutex_init(l, NULL); pthread_cond_init(c, NULL); }
static void lock(lock_t *l) { pthread_mutex_lock(l); }
static void unlock(lock_t *l) { pthread_mutex_unlock(l); }
static void signal_one(cond_t *c) { pthread_cond_signal(c); }
static void wait_on(cond_t *c, lock_t *l) { pthread_cond_wait(c, l); }
#endif

#define MAX_LINES 256

struct inbox {
    lock_t mu;
    cond_t cv;
    char *lines[MAX_LINES]; /* finished segments, in order */
    int head, tail;
    int closed, ok;
};

/* Runs on fwasr's thread: copy, signal, return. */
static void on_event(void *userdata, const fwasr_event *ev) {
    struct inbox *in = userdata;
    char *line = NULL;
    if (ev->type == FWASR_EVENT_SEGMENT && ev->is_final == 1) {
        size_t n = strlen(ev->segment_id) + strlen(ev->text) + 4;
        line = malloc(n);
        if (line) snprintf(line, n, "[%s]%s", ev->segment_id, ev->text);
    }
    lock(&in->mu);
    if (line && in->tail - in->head < MAX_LINES) in->lines[in->tail++ % MAX_LINES] = line;
    else free(line);
    if (ev->type == FWASR_EVENT_CLOSED) {
        in->closed = 1;
        in->ok = ev->status == FWASR_OK;
    }
    signal_one(&in->cv);
    unlock(&in->mu);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.wav\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    static unsigned char audio[1 << 20];
    size_t len = fread(audio, 1, sizeof audio, f);
    fclose(f);
    if (len <= 44) { fprintf(stderr, "%s: no audio\n", argv[1]); return 1; }

    struct inbox in;
    memset(&in, 0, sizeof in);
    lock_init(&in.mu, &in.cv);

    fwasr_config *cfg = fwasr_config_new();
    const char *url = getenv("FWASR_URL");
    if ((url && fwasr_config_set_url(cfg, url) != FWASR_OK) ||
        fwasr_config_set_pacing(cfg, 1.0) != FWASR_OK ||
        fwasr_config_set_reconnect(cfg, 5, 200, 5000) != FWASR_OK ||
        fwasr_config_set_event_callback(cfg, on_event, &in) != FWASR_OK) {
        fprintf(stderr, "config: %s\n", fwasr_last_error());
        return 1;
    }
    fwasr_session *s = NULL;
    if (fwasr_session_open(cfg, &s) != FWASR_OK) {
        fprintf(stderr, "open: %s\n", fwasr_last_error());
        return 1;
    }
    fwasr_config_free(cfg);
    /* The canonical 44-byte WAV header is skipped; transcribe_file.c parses RIFF properly. */
    if (fwasr_session_push_wait(s, audio + 44, len - 44, -1) != FWASR_OK ||
        fwasr_session_finish(s, 0) != FWASR_OK) {
        fprintf(stderr, "stream: %s\n", fwasr_last_error());
        return 1;
    }

    /* The main thread prints; it may block as long as it likes. */
    lock(&in.mu);
    for (;;) {
        while (in.head < in.tail) {
            char *line = in.lines[in.head++ % MAX_LINES];
            printf("%s\n", line);
            free(line);
        }
        if (in.closed) break;
        wait_on(&in.cv, &in.mu);
    }
    unlock(&in.mu);

    char text[8192];
    fwasr_session_transcript(s, text, sizeof text);
    printf("final transcript: %s\n", text);
    fwasr_session_free(s); /* no callback runs after this returns */
    return in.ok ? 0 : 1;
}
