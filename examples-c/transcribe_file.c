/*
 * transcribe_file: stream a 16 kHz mono 16-bit WAV file at real-time pace and print the
 * transcript as it evolves, then the final transcript and the latency of its final segments.
 *
 *   transcribe_file [--url URL] [--words] FILE.wav
 *
 * --words asks for word times and prints every word with its times and probability at the
 * end. The URL defaults to $FWASR_URL, else the Fireworks endpoint; the API key comes from
 * $FIREWORKS_API_KEY. Exit status 0 when the whole transcript arrived.
 */
#ifndef _WIN32
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif
#include <fwasr.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <io.h>
#include <windows.h>
static int stdout_is_tty(void) { return _isatty(_fileno(stdout)); }
static double now_ms(void) { return (double)GetTickCount64(); }
#else
#include <time.h>
#include <unistd.h>
static int stdout_is_tty(void) { return isatty(STDOUT_FILENO); }
static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
#endif

/* Reads a little-endian integer of n bytes. */
static uint32_t le(const unsigned char *p, int n) {
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Loads the PCM data of a RIFF/WAVE file, skipping chunks other than "fmt " and "data".
 * Accepts only what the service takes: PCM, 16 kHz, mono, 16-bit. */
static unsigned char *read_wav(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return NULL; }
    unsigned char hdr[12], ch[8], fmt[40];
    unsigned char *data = NULL;
    int have_fmt = 0;
    if (fread(hdr, 1, 12, f) != 12 || memcmp(hdr, "RIFF", 4) || memcmp(hdr + 8, "WAVE", 4)) {
        fprintf(stderr, "%s: not a RIFF/WAVE file\n", path);
        goto fail;
    }
    while (fread(ch, 1, 8, f) == 8) {
        uint32_t size = le(ch + 4, 4);
        if (!memcmp(ch, "fmt ", 4)) {
            if (size < 16 || size > sizeof fmt || fread(fmt, 1, size, f) != size) {
                fprintf(stderr, "%s: bad fmt chunk\n", path);
                goto fail;
            }
            uint32_t tag = le(fmt, 2), channels = le(fmt + 2, 2), rate = le(fmt + 4, 4), bits = le(fmt + 14, 2);
            /* WAVE_FORMAT_EXTENSIBLE carries the real format in its sub-format GUID. */
            if (tag == 0xFFFE && size >= 26) tag = le(fmt + 24, 2);
            if (tag != 1 || channels != 1 || rate != 16000 || bits != 16) {
                fprintf(stderr,
                        "%s: need 16 kHz mono 16-bit PCM, got format %u, %u Hz, %u channel(s), %u bits\n"
                        "convert it first, e.g.: sox in.wav -r 16000 -c 1 -b 16 out.wav\n",
                        path, (unsigned)tag, (unsigned)rate, (unsigned)channels, (unsigned)bits);
                goto fail;
            }
            have_fmt = 1;
            if (size & 1) fseek(f, 1, SEEK_CUR);
        } else if (!memcmp(ch, "data", 4)) {
            if (!have_fmt) { fprintf(stderr, "%s: data before fmt\n", path); goto fail; }
            data = malloc(size ? size : 1);
            if (!data) goto fail;
            *len = fread(data, 1, size, f); /* a truncated file still streams what it has */
            fclose(f);
            return data;
        } else if (fseek(f, (long)size + (size & 1), SEEK_CUR) != 0) { /* skip LIST, fact, ... */
            break;
        }
    }
    fprintf(stderr, "%s: no audio data found\n", path);
fail:
    free(data);
    fclose(f);
    return NULL;
}

static void on_log(void *userdata, fwasr_log_level level, const char *message) {
    (void)userdata;
    fprintf(stderr, "[fwasr %d] %s\n", (int)level, message);
}

/* Shows the transcript when its text changed (a segment turning final changes no text): one
 * line rewritten in place on a terminal, else one line per change. */
static void show(const fwasr_session *s, int tty) {
    static char last[4096];
    char buf[4096];
    size_t n = fwasr_session_transcript(s, buf, sizeof buf);
    if (!strcmp(buf, last)) return;
    memcpy(last, buf, sizeof last);
    const char *text = buf;
    if (tty && n > 100) text = buf + (n < sizeof buf ? n : sizeof buf - 1) - 100; /* the tail fits one line */
    if (tty) printf("\r\033[K%s", text);
    else printf("%s\n", text);
    fflush(stdout);
}

/* What the event loop keeps between events. */
struct run {
    fwasr_session *s;
    int tty, ok;
};

static void handle(struct run *r, const fwasr_event *ev) {
    switch (ev->type) {
    case FWASR_EVENT_SEGMENT:
    case FWASR_EVENT_SEGMENT_REMOVED:
        show(r->s, r->tty);
        break;
    case FWASR_EVENT_ERROR:
        fprintf(stderr, "%s%s: %s\n", r->tty ? "\n" : "", fwasr_status_str(ev->status), ev->message);
        break;
    case FWASR_EVENT_CLOSED:
        r->ok = ev->status == FWASR_OK;
        if (!r->ok)
            fprintf(stderr, "%s%s (code %d): %s\n", r->tty ? "\n" : "", fwasr_status_str(ev->status), (int)ev->code,
                    ev->message);
        break;
    default:
        break;
    }
}

/* Every word of the final transcript with its times and the server's confidence. */
static void print_words(const fwasr_session *s) {
    fwasr_segments *snap = fwasr_session_segments(s);
    for (size_t i = 0; i < fwasr_segments_len(snap); i++) {
        const fwasr_segment *g = fwasr_segments_get(snap, i);
        for (size_t j = 0; j < fwasr_segment_word_count(g); j++) {
            const fwasr_word *w = fwasr_segment_word(g, j);
            printf("  %7.3f %7.3f  %-20s p=%.2f\n", w->start_s, w->end_s, w->text, w->probability);
        }
    }
    fwasr_segments_free(snap);
}

/* How long the final words took: from the push of a segment's last audio to its final
 * event (fwasr's queue, the network, the server's wait for more audio and its work). */
static void print_latency(const fwasr_session *s) {
    fwasr_stats st;
    if (fwasr_session_stats(s, &st, sizeof st) != FWASR_OK) return;
    if (isnan(st.final_latency_p50_ms)) {
        printf("latency: unknown (the server sent no segment times)\n");
        return;
    }
    printf("latency of final segments: median %.0f ms, 95th percentile %.0f ms, max %.0f ms\n",
           st.final_latency_p50_ms, st.final_latency_p95_ms, st.final_latency_max_ms);
}

int main(int argc, char **argv) {
    const char *url = getenv("FWASR_URL"), *path = NULL;
    int words = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--url") && i + 1 < argc) url = argv[++i];
        else if (!strcmp(argv[i], "--words")) words = 1;
        else path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: %s [--url URL] [--words] FILE.wav\n", argv[0]);
        return 2;
    }
    size_t len = 0;
    unsigned char *audio = read_wav(path, &len);
    if (!audio) return 1;

    fwasr_config *cfg = fwasr_config_new();
    if ((url && fwasr_config_set_url(cfg, url) != FWASR_OK) ||
        fwasr_config_set_language(cfg, "en") != FWASR_OK ||
        fwasr_config_set_reconnect(cfg, 5, 200, 5000) != FWASR_OK || /* survive dropped connections */
        fwasr_config_set_word_timestamps(cfg, words) != FWASR_OK ||
        fwasr_config_set_log_callback(cfg, on_log, NULL, FWASR_LOG_WARN) != FWASR_OK) {
        fprintf(stderr, "config: %s\n", fwasr_last_error());
        return 1;
    }
    struct run r = {NULL, stdout_is_tty(), 0};
    if (fwasr_session_open(cfg, &r.s) != FWASR_OK) {
        fprintf(stderr, "open: %s\n", fwasr_last_error());
        return 1;
    }
    fwasr_config_free(cfg);

    /* Push the file in 100 ms pieces at real time, as a microphone would, showing what comes
     * back in between. */
    const size_t piece = 3200;
    double due = now_ms();
    fwasr_event *ev;
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        if (fwasr_session_push(r.s, audio + off, n) != FWASR_OK) {
            fprintf(stderr, "push: %s\n", fwasr_last_error());
            break;
        }
        due += 100;
        for (double wait; (wait = due - now_ms()) > 0;) {
            if ((ev = fwasr_session_next_event(r.s, (int32_t)wait + 1)) != NULL) {
                handle(&r, ev);
                fwasr_event_free(ev);
            }
        }
    }
    free(audio);
    fwasr_session_finish(r.s, 0); /* start finishing; the CLOSED event says how it ended */
    while ((ev = fwasr_session_next_event(r.s, -1)) != NULL) {
        handle(&r, ev);
        fwasr_event_free(ev);
    }
    char final_text[8192];
    fwasr_session_transcript(r.s, final_text, sizeof final_text);
    printf("%sfinal transcript: %s\n", r.tty ? "\n" : "", final_text);
    if (words) print_words(r.s);
    print_latency(r.s);
    fwasr_session_free(r.s);
    return r.ok ? 0 : 1;
}
