/*
 * game_loop: the pattern for game engines (Unity, Unreal, a custom loop). Every frame, at
 * 60 Hz, the loop pushes the audio captured since the last frame (16.7 ms) and takes whatever
 * events are ready with a zero timeout, so the frame never waits on the network.
 *
 *   game_loop FILE.wav     (16 kHz mono 16-bit WAV standing in for the microphone)
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep under -std=c11 */
#endif
#include <fwasr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE 16000
#define FPS 60

/* A monotonic clock in nanoseconds, and a sleep until a time on it: an absolute schedule
 * does not drift. Windows: the performance counter and Sleep (millisecond steps, enough for
 * a 16.7 ms frame). Elsewhere: CLOCK_MONOTONIC and nanosleep for the remainder (macOS has no
 * clock_nanosleep). */
#ifdef _WIN32
#include <windows.h>
static long long now_ns(void) {
    LARGE_INTEGER t, hz;
    QueryPerformanceCounter(&t);
    QueryPerformanceFrequency(&hz);
    return (long long)((double)t.QuadPart * 1e9 / (double)hz.QuadPart);
}
static void sleep_until(long long t) {
    long long left = t - now_ns();
    if (left > 0) Sleep((DWORD)((left + 999999) / 1000000));
}
#else
#include <time.h>
static long long now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}
static void sleep_until(long long t) {
    long long left = t - now_ns();
    if (left <= 0) return;
    struct timespec d = {(time_t)(left / 1000000000LL), (long)(left % 1000000000LL)};
    nanosleep(&d, NULL);
}
#endif

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
    const int16_t *mic = (const int16_t *)(audio + 44); /* canonical WAV header skipped */
    size_t mic_samples = (len - 44) / 2;

    fwasr_config *cfg = fwasr_config_new();
    const char *url = getenv("FWASR_URL");
    fwasr_session *s = NULL;
    if ((url && fwasr_config_set_url(cfg, url) != FWASR_OK) ||
        fwasr_config_set_reconnect(cfg, 5, 200, 5000) != FWASR_OK || fwasr_session_open(cfg, &s) != FWASR_OK) {
        fprintf(stderr, "fwasr: %s\n", fwasr_last_error());
        return 1;
    }
    fwasr_config_free(cfg);

    long long next = now_ns();
    size_t sent = 0;
    int done = 0, ok = 0, frames = 0;
    while (!done) {
        /* 1. Audio: exactly the samples that belong to this frame (266 or 267 at 60 Hz). */
        size_t due = (size_t)((long long)(frames + 1) * RATE / FPS);
        if (due > mic_samples) due = mic_samples;
        if (due > sent) {
            if (fwasr_session_push_s16(s, mic + sent, due - sent) == FWASR_ERR_BUFFER_FULL)
                fprintf(stderr, "frame %d: audio queue full, frame dropped\n", frames);
            sent = due;
        } else if (sent == mic_samples && fwasr_session_state(s) == FWASR_STATE_OPEN) {
            fwasr_session_finish(s, 0); /* the player stopped talking: flush, don't wait */
        }
        /* 2. Events: whatever is ready, never waiting. */
        fwasr_event *ev;
        while ((ev = fwasr_session_next_event(s, 0)) != NULL) {
            if (ev->type == FWASR_EVENT_SEGMENT && ev->is_final == 1) printf("[%s]%s\n", ev->segment_id, ev->text);
            if (ev->type == FWASR_EVENT_CLOSED) {
                done = 1;
                ok = ev->status == FWASR_OK;
                if (!ok) fprintf(stderr, "%s: %s\n", fwasr_status_str(ev->status), ev->message);
            }
            fwasr_event_free(ev);
        }
        /* 3. The rest of the frame (rendering, ...), then sleep until the next one. */
        frames++;
        next += 1000000000LL / FPS;
        sleep_until(next);
    }
    char text[8192];
    fwasr_session_transcript(s, text, sizeof text);
    printf("final transcript: %s\n", text);
    fwasr_session_free(s);
    return ok ? 0 : 1;
}
