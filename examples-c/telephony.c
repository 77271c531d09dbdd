/*
 * telephony: the shape of a PBX media module (FreeSWITCH, Asterisk). A media thread gets a
 * 20 ms frame of 8 kHz G.711 mu-law every 20 ms and hands it to fwasr without ever blocking;
 * a separate thread takes the transcript events and prints them.
 *
 *   telephony [--url URL] FILE.ulaw     (raw 8 kHz mu-law, e.g. sox in.wav -r 8000 -e u-law -t raw out.ulaw)
 *
 * The URL defaults to $FWASR_URL, else the Fireworks endpoint; the API key comes from
 * $FIREWORKS_API_KEY. Exit status 0 when the whole transcript arrived.
 */
#include <fwasr.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME_BYTES 160 /* 20 ms at 8 kHz, one byte per sample */

struct call {
    fwasr_session *session;
    const unsigned char *audio;
    size_t len;
    int overruns;
};

/* Sleeps until `t` on the monotonic clock: an absolute schedule does not drift. (macOS has no
 * clock_nanosleep, so the remainder goes to nanosleep.) */
static void sleep_until(const struct timespec *t) {
    struct timespec now, left;
    clock_gettime(CLOCK_MONOTONIC, &now);
    left.tv_sec = t->tv_sec - now.tv_sec;
    left.tv_nsec = t->tv_nsec - now.tv_nsec;
    if (left.tv_nsec < 0) { left.tv_nsec += 1000000000L; left.tv_sec--; }
    if (left.tv_sec >= 0) nanosleep(&left, NULL);
}

/* The media thread: one frame every 20 ms on an absolute clock, as a PBX delivers them.
 * fwasr_session_push never blocks; a full queue costs this frame, not the call. */
static void *media_thread(void *arg) {
    struct call *c = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (size_t off = 0; off + FRAME_BYTES <= c->len; off += FRAME_BYTES) {
        if (fwasr_session_push(c->session, c->audio + off, FRAME_BYTES) == FWASR_ERR_BUFFER_FULL)
            c->overruns++;
        next.tv_nsec += 20 * 1000 * 1000;
        if (next.tv_nsec >= 1000000000L) { next.tv_nsec -= 1000000000L; next.tv_sec++; }
        sleep_until(&next);
    }
    /* Hang-up: start finishing without waiting; the CLOSED event ends the call below. */
    fwasr_session_finish(c->session, 0);
    return NULL;
}

/* The results thread: blocks on events, so neither the media thread nor fwasr's network
 * thread ever waits for printing. */
static void *results_thread(void *arg) {
    struct call *c = arg;
    int ok = 0;
    fwasr_event *ev;
    while ((ev = fwasr_session_next_event(c->session, -1)) != NULL) {
        if (ev->type == FWASR_EVENT_SEGMENT && ev->is_final == 1)
            printf("final segment %s:%s\n", ev->segment_id, ev->text);
        else if (ev->type == FWASR_EVENT_OVERRUN)
            fprintf(stderr, "overrun: %.0f ms of audio refused\n", ev->dropped_ms);
        else if (ev->type == FWASR_EVENT_ERROR)
            fprintf(stderr, "%s: %s\n", fwasr_status_str(ev->status), ev->message);
        else if (ev->type == FWASR_EVENT_CLOSED) {
            ok = ev->status == FWASR_OK;
            if (!ok) fprintf(stderr, "call ended: %s (code %d): %s\n", fwasr_status_str(ev->status), (int)ev->code, ev->message);
        }
        fwasr_event_free(ev);
    }
    return ok ? (void *)c : NULL;
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return NULL; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf) *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    const char *url = getenv("FWASR_URL"), *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--url") && i + 1 < argc) url = argv[++i];
        else path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: %s [--url URL] FILE.ulaw\n", argv[0]);
        return 2;
    }
    struct call c = {0};
    unsigned char *audio = read_file(path, &c.len);
    if (!audio) return 1;
    c.audio = audio;

    fwasr_config *cfg = fwasr_config_new();
    if ((url && fwasr_config_set_url(cfg, url) != FWASR_OK) ||
        fwasr_config_set_input_format(cfg, FWASR_FORMAT_MULAW, 8000, 1) != FWASR_OK ||
        fwasr_config_set_language(cfg, "en") != FWASR_OK ||
        fwasr_config_set_reconnect(cfg, 5, 200, 5000) != FWASR_OK || /* a call outlives a connection */
        fwasr_config_set_buffer_ms(cfg, 2000) != FWASR_OK) { /* at most 2 s behind, then drop */
        fprintf(stderr, "config: %s\n", fwasr_last_error());
        return 1;
    }
    if (fwasr_session_open(cfg, &c.session) != FWASR_OK) {
        fprintf(stderr, "open: %s\n", fwasr_last_error());
        return 1;
    }
    fwasr_config_free(cfg);

    pthread_t media, results;
    void *ok = NULL;
    pthread_create(&results, NULL, results_thread, &c);
    pthread_create(&media, NULL, media_thread, &c);
    pthread_join(media, NULL);
    pthread_join(results, &ok);

    char text[8192];
    fwasr_session_transcript(c.session, text, sizeof text);
    printf("final transcript: %s\n", text);
    if (c.overruns) fprintf(stderr, "%d frames were refused\n", c.overruns);
    fwasr_session_free(c.session);
    free(audio);
    return ok ? 0 : 1;
}
