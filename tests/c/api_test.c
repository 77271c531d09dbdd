/*
 * The C API from C, against fwasr-devserver (its URL in $FWASR_URL):
 *   api_test args      argument checks, statuses, version, snapshots (no server needed)
 *   api_test poll      a poll-mode session: events in order, controls, finish, stats
 *   api_test callback  a callback-mode session freed from inside its own callback
 *   api_test auth      a refused API key (the server runs with --api-key)
 *   api_test formats   input formats: typed pushes checked, float and mu-law converted
 *   api_test misuse    NULLs, invalid UTF-8, out-of-range numbers, wrong states
 *   api_test free_race free while other threads are blocked in push_wait and next_event
 *   api_test words     words with times and probabilities (the server runs
 *                      tests/data/words.script.json)
 * Prints "N passed, N failed"; exits non-zero on any failure.
 */
#include "check.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The *_shared modes run the same test with sessions on shared network threads. */
static bool shared_io;

/* 100 ms of 16 kHz s16le tone-ish samples. */
static void make_audio(int16_t *buf, size_t n) {
    for (size_t i = 0; i < n; i++) buf[i] = (int16_t)((i * 7919) % 20000 - 10000);
}

static void test_args(void) {
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", FWASR_VERSION_MAJOR, FWASR_VERSION_MINOR, FWASR_VERSION_PATCH);
    CHECK(strcmp(fwasr_version(), v) == 0);
    CHECK(strcmp(fwasr_status_str(FWASR_OK), "FWASR_OK") == 0);
    CHECK(strcmp(fwasr_status_str(FWASR_ERR_AUTH), "FWASR_ERR_AUTH") == 0);
    CHECK(strcmp(fwasr_status_str(-5), "FWASR_UNKNOWN_STATUS") == 0);
    CHECK(strcmp(fwasr_status_str(9999), "FWASR_UNKNOWN_STATUS") == 0);
    CHECK(strcmp(fwasr_event_type_str(FWASR_EVENT_CLOSED), "CLOSED") == 0);

    /* fwasr_event only grows at its end: every field keeps its offset (LP64 layout). */
    if (sizeof(void *) == 8) {
        CHECK(offsetof(fwasr_event, type) == 0);
        CHECK(offsetof(fwasr_event, segment_id) == 8);
        CHECK(offsetof(fwasr_event, text) == 16);
        CHECK(offsetof(fwasr_event, is_final) == 24);
        CHECK(offsetof(fwasr_event, start_s) == 32);
        CHECK(offsetof(fwasr_event, end_s) == 40);
        CHECK(offsetof(fwasr_event, checkpoint_id) == 48);
        CHECK(offsetof(fwasr_event, rtt_ms) == 56);
        CHECK(offsetof(fwasr_event, dropped_ms) == 64);
        CHECK(offsetof(fwasr_event, status) == 72);
        CHECK(offsetof(fwasr_event, code) == 76);
        CHECK(offsetof(fwasr_event, message) == 80);
        CHECK(offsetof(fwasr_event, json) == 88);
        CHECK(offsetof(fwasr_event, attempt) == 96);
        CHECK(offsetof(fwasr_event, replayed_ms) == 104);
        CHECK(offsetof(fwasr_event, backoff_ms) == 112);
        CHECK(offsetof(fwasr_event, latency_ms) == 120);
        CHECK(sizeof(fwasr_event) == 128);
    }

    /* NULL objects. */
    CHECK(fwasr_config_set_url(NULL, "ws://x") == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(fwasr_last_error(), "cfg is NULL") != NULL);
    fwasr_config_free(NULL);
    fwasr_session_free(NULL);
    fwasr_event_free(NULL);
    fwasr_segments_free(NULL);
    CHECK(fwasr_session_push(NULL, "", 0) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_session_finish(NULL, 0) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_session_next_event(NULL, 0) == NULL);
    CHECK(fwasr_session_state(NULL) == FWASR_STATE_FAILED);
    CHECK(fwasr_session_transcript(NULL, NULL, 0) == 0);
    CHECK(fwasr_session_segments(NULL) == NULL);
    CHECK(fwasr_segments_len(NULL) == 0);
    CHECK(fwasr_segments_get(NULL, 0) == NULL);
    CHECK(fwasr_event_word_count(NULL) == 0 && fwasr_event_word(NULL, 0) == NULL);
    CHECK(fwasr_segment_word_count(NULL) == 0 && fwasr_segment_word(NULL, 0) == NULL);
    CHECK(fwasr_config_set_word_timestamps(NULL, true) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_record_path(NULL, "x.wav") == FWASR_ERR_INVALID_ARGUMENT);
    fwasr_stats st;
    CHECK(fwasr_session_stats(NULL, &st, sizeof st) == FWASR_ERR_INVALID_ARGUMENT);

    fwasr_config *cfg = fwasr_config_new();
    CHECK(cfg != NULL);
    /* NULL and bad values. */
    CHECK(fwasr_config_set_url(cfg, NULL) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(fwasr_last_error(), "url is NULL") != NULL);
    CHECK(fwasr_config_set_url(cfg, "http://example.com") == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_url(cfg, "ws://\xff\xfe/") == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(fwasr_last_error(), "UTF-8") != NULL);
    CHECK(fwasr_config_set_param(cfg, NULL, "x") == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_header(cfg, "Authorization", "k") == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_header(cfg, "Transfer-Encoding", "chunked") == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_header(cfg, "Sec-WebSocket-Extensions", "x") == FWASR_ERR_INVALID_ARGUMENT);
    /* Credentials in a refused URL are never echoed. */
    CHECK(fwasr_config_set_url(cfg, "ws://me:hunter2@example.com/") == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(fwasr_last_error(), "hunter2") == NULL);
    CHECK(fwasr_config_set_url(cfg, "ws://example.com/?Authorization=hunter2#x") == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(fwasr_last_error(), "hunter2") == NULL);
    CHECK(strstr(fwasr_last_error(), "fragment") != NULL);
    CHECK(fwasr_config_set_chunk_ms(cfg, 10) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_chunk_ms(cfg, 100) == FWASR_OK);
    CHECK(fwasr_config_set_buffer_ms(cfg, 0) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_pacing(cfg, -1.0) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_pacing(cfg, NAN) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_temperature(cfg, 3.0f) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_connect_timeout_ms(cfg, 0) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_log_callback(cfg, NULL, NULL, 9) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_tls_ca_file(cfg, "/nonexistent/ca.pem") == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_api_key(cfg, "bad\nkey") == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(fwasr_last_error(), "bad") == NULL); /* the key is never echoed */
    CHECK(fwasr_config_set_language(cfg, NULL) == FWASR_OK);

    /* Input formats: bad combinations are refused when set. */
    CHECK(fwasr_config_set_input_format(cfg, 7, 16000, 1) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_input_format(cfg, FWASR_FORMAT_S16LE, 7999, 1) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_input_format(cfg, FWASR_FORMAT_F32, 48000, 0) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_input_format(cfg, FWASR_FORMAT_F32, 48000, 9) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_input_format(cfg, FWASR_FORMAT_MULAW, 16000, 1) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(fwasr_last_error(), "8000 Hz") != NULL);
    CHECK(fwasr_config_set_input_channel(cfg, 1) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_input_channel(cfg, -2) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_input_format(cfg, FWASR_FORMAT_S16LE, 44100, 2) == FWASR_OK);
    CHECK(fwasr_config_set_input_channel(cfg, 1) == FWASR_OK);
    CHECK(fwasr_config_set_input_format(cfg, FWASR_FORMAT_S16LE, 44100, 1) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_input_channel(cfg, -1) == FWASR_OK);
    CHECK(fwasr_config_set_input_format(cfg, FWASR_FORMAT_S16LE, 16000, 1) == FWASR_OK);
    CHECK(fwasr_config_set_tls_verify(cfg, false) == FWASR_OK);
    CHECK(fwasr_session_open(cfg, NULL) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_session_open(NULL, NULL) == FWASR_ERR_INVALID_ARGUMENT);

    /* A server that accepts TCP but never answers the upgrade: argument checks on a live,
     * connecting session, then it times out. */
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(silent, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(silent, 4) == 0);
    CHECK(getsockname(silent, (struct sockaddr *)&addr, &alen) == 0);
    char silent_url[64];
    snprintf(silent_url, sizeof silent_url, "ws://127.0.0.1:%d/x", ntohs(addr.sin_port));
    fwasr_session *s = (fwasr_session *)0x1; /* must stay untouched on failure */
    CHECK(fwasr_session_open(NULL, &s) == FWASR_ERR_INVALID_ARGUMENT && s == (fwasr_session *)0x1);
    CHECK(fwasr_config_set_url(cfg, silent_url) == FWASR_OK);
    CHECK(fwasr_config_set_connect_timeout_ms(cfg, 3000) == FWASR_OK);
    CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
    fwasr_config_free(cfg); /* sessions do not need their config */
    CHECK(fwasr_session_push(s, NULL, 10) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_session_push(s, NULL, 0) == FWASR_OK);
    CHECK(fwasr_session_push_s16(s, NULL, 5) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_session_checkpoint(s, NULL) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_session_checkpoint(s, "final") == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_session_wait_ready(s, -2) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_session_stats(s, NULL, sizeof st) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_session_state(s) == FWASR_STATE_CONNECTING);
    CHECK(fwasr_session_wait_ready(s, 0) == FWASR_ERR_TIMEOUT);
    CHECK(fwasr_session_wait_ready(s, 10000) == FWASR_ERR_CONNECT_TIMEOUT);
    CHECK(fwasr_session_state(s) == FWASR_STATE_FAILED);
    CHECK(fwasr_session_push(s, "ab", 2) == FWASR_ERR_STATE);
    fwasr_event *ev = fwasr_session_next_event(s, 10000);
    CHECK(ev && ev->type == FWASR_EVENT_CLOSED && ev->status == FWASR_ERR_CONNECT_TIMEOUT && ev->message[0]);
    CHECK(ev && ev->json == NULL && ev->segment_id && ev->segment_id[0] == 0);
    fwasr_event_free(ev);
    CHECK(fwasr_session_next_event(s, 0) == NULL);
    CHECK(fwasr_session_finish(s, 1000) == FWASR_ERR_CONNECT_TIMEOUT);
    fwasr_segments *snap = fwasr_session_segments(s);
    CHECK(snap && fwasr_segments_len(snap) == 0 && fwasr_segments_get(snap, 0) == NULL);
    fwasr_segments_free(snap);
    fwasr_session_free(s);
    close(silent);
}

static void test_poll(void) {
    fwasr_config *cfg = fwasr_config_new();
    CHECK(fwasr_config_set_url(cfg, url()) == FWASR_OK);
    CHECK(fwasr_config_set_shared_io(cfg, shared_io) == FWASR_OK);
    CHECK(fwasr_config_set_prompt(cfg, "a b&c=d \xc3\xa9") == FWASR_OK);
    fwasr_session *s = NULL;
    CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
    fwasr_config_free(cfg);
    int16_t pcm[1600];
    make_audio(pcm, 1600);
    for (int i = 0; i < 10; i++) CHECK(fwasr_session_push_s16(s, pcm, 1600) == FWASR_OK);
    CHECK(fwasr_session_push(s, pcm, 333) == FWASR_OK); /* an odd byte count is fine */
    CHECK(fwasr_session_wait_ready(s, 10000) == FWASR_OK);
    CHECK(fwasr_session_checkpoint(s, "cp") == FWASR_OK);
    CHECK(fwasr_session_trace(s, "tr") == FWASR_OK);
    CHECK(fwasr_session_clear(s, "rs") == FWASR_OK);
    CHECK(fwasr_session_finish(s, 10000) == FWASR_OK);
    CHECK(fwasr_session_finish(s, 10000) == FWASR_OK); /* again: same answer */
    CHECK(fwasr_session_state(s) == FWASR_STATE_CLOSED);
    CHECK(fwasr_session_push(s, pcm, 2) == FWASR_ERR_STATE);

    int n = 0, closed = 0, connected_first = 0, cp = 0, tr = 0, cl = 0, segs = 0;
    fwasr_event *ev;
    while ((ev = fwasr_session_next_event(s, 5000)) != NULL) {
        if (n == 0) connected_first = ev->type == FWASR_EVENT_CONNECTED;
        CHECK(!closed); /* nothing after CLOSED */
        switch (ev->type) {
        case FWASR_EVENT_CLOSED: closed++; CHECK(ev->status == FWASR_OK && isnan(ev->latency_ms)); break;
        case FWASR_EVENT_CHECKPOINT: cp += !strcmp(ev->checkpoint_id, "cp"); break;
        case FWASR_EVENT_TRACE: tr += !strcmp(ev->checkpoint_id, "tr") && ev->rtt_ms >= 0; break;
        case FWASR_EVENT_CLEARED: cl += !strcmp(ev->checkpoint_id, "rs"); break;
        case FWASR_EVENT_SEGMENT: {
            segs++;
            CHECK(ev->json != NULL && !strcmp(ev->segment_id, "0"));
            /* Without a script the devserver sends the whole text as one word, without times
             * or probability. */
            const fwasr_word *w = fwasr_event_word(ev, 0);
            CHECK(fwasr_event_word_count(ev) == 1 && w && !strcmp(w->text, ev->text));
            CHECK(w && isnan(w->start_s) && isnan(w->end_s) && isnan(w->probability));
            CHECK(w && w->is_final == ev->is_final && fwasr_event_word(ev, 1) == NULL);
            CHECK(isnan(ev->latency_ms)); /* no end time, no latency */
            break;
        }
        default: break;
        }
        n++;
        fwasr_event_free(ev);
    }
    CHECK(connected_first && closed == 1 && cp == 1 && tr == 1 && cl == 1 && segs >= 2);

    /* The devserver without a script reports how much audio arrived. */
    char small[8], full[256];
    size_t len = fwasr_session_transcript(s, small, sizeof small);
    CHECK(len == fwasr_session_transcript(s, full, sizeof full));
    CHECK(strlen(small) == sizeof small - 1 && strncmp(small, full, sizeof small - 1) == 0);
    CHECK(strcmp(full, "1.01 s of audio received") == 0);
    fwasr_segments *snap = fwasr_session_segments(s);
    CHECK(fwasr_segments_len(snap) == 1);
    const fwasr_segment *g = fwasr_segments_get(snap, 0);
    CHECK(g && !strcmp(g->id, "0") && !strcmp(g->text, full) && g->is_final == 1 && isnan(g->start_s));
    CHECK(fwasr_segment_word_count(g) == 1 && fwasr_segment_word(g, 1) == NULL);
    const fwasr_word *gw = fwasr_segment_word(g, 0);
    CHECK(gw && !strcmp(gw->text, full) && gw->is_final == 1);
    fwasr_segments_free(snap);

    fwasr_stats st;
    memset(&st, 0xff, sizeof st);
    CHECK(fwasr_session_stats(s, &st, sizeof st) == FWASR_OK);
    /* 32,333 bytes pushed: 16,166 samples and a trailing half sample, which is not audio. */
    CHECK(st.audio_ms_pushed == 32332.0 / 32 && st.audio_ms_sent == 32332.0 / 32);
    CHECK(st.chunks_sent == 21 && st.bytes_sent == 32332 && st.audio_ms_dropped == 0 && st.audio_ms_queued == 0);
    CHECK(st.messages_received >= 5 && st.last_rtt_ms >= 0);
    /* The devserver without a script sends no times: no latency is known. */
    CHECK(isnan(st.final_latency_p50_ms) && isnan(st.final_latency_p95_ms) && isnan(st.final_latency_max_ms));
    /* A caller built against an older, smaller struct gets only what it has room for. */
    double first[2] = {-1, -1};
    CHECK(fwasr_session_stats(s, (fwasr_stats *)first, sizeof(double)) == FWASR_OK);
    CHECK(first[0] == st.audio_ms_pushed && first[1] == -1);
    fwasr_session_free(s);
}

/* Callback mode: the callback frees its own session when it sees the final checkpoint. */
struct shared {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fwasr_session *s;
    int events, freed, closed_after_free, words_match;
    char transcript[256];
};

static void on_event(void *userdata, const fwasr_event *ev) {
    struct shared *sh = userdata;
    pthread_mutex_lock(&sh->mu);
    sh->events++;
    if (sh->freed) sh->closed_after_free++; /* must never happen */
    /* Words are reachable from the event a callback gets. */
    if (ev->type == FWASR_EVENT_SEGMENT && fwasr_event_word_count(ev) == 1 &&
        !strcmp(fwasr_event_word(ev, 0)->text, ev->text))
        sh->words_match++;
    if (ev->type == FWASR_EVENT_CHECKPOINT && !strcmp(ev->checkpoint_id, "final")) {
        fwasr_session_transcript(sh->s, sh->transcript, sizeof sh->transcript);
        fwasr_session_free(sh->s); /* from inside the callback */
        sh->freed = 1;
        pthread_cond_signal(&sh->cv);
    }
    pthread_mutex_unlock(&sh->mu);
}

static void test_callback(void) {
    struct shared sh;
    memset(&sh, 0, sizeof sh);
    pthread_mutex_init(&sh.mu, NULL);
    pthread_cond_init(&sh.cv, NULL);
    fwasr_config *cfg = fwasr_config_new();
    CHECK(fwasr_config_set_url(cfg, url()) == FWASR_OK);
    CHECK(fwasr_config_set_shared_io(cfg, shared_io) == FWASR_OK);
    CHECK(fwasr_config_set_event_callback(cfg, on_event, &sh) == FWASR_OK);
    pthread_mutex_lock(&sh.mu);
    CHECK(fwasr_session_open(cfg, &sh.s) == FWASR_OK);
    fwasr_config_free(cfg);
    int16_t pcm[8000];
    make_audio(pcm, 8000);
    CHECK(fwasr_session_push_s16(sh.s, pcm, 8000) == FWASR_OK);
    CHECK(fwasr_session_next_event(sh.s, 0) == NULL); /* callback mode has no queue */
    CHECK(fwasr_session_finish(sh.s, 0) == FWASR_OK);
    while (!sh.freed) pthread_cond_wait(&sh.cv, &sh.mu);
    pthread_mutex_unlock(&sh.mu);
    CHECK(strcmp(sh.transcript, "0.50 s of audio received") == 0);
    CHECK(sh.events >= 3 && sh.closed_after_free == 0 && sh.words_match >= 1);
    /* Give a wrongly running thread the chance to call back after the free. */
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&sh.mu);
    CHECK(sh.closed_after_free == 0);
    pthread_mutex_unlock(&sh.mu);
}

/* Typed pushes must match the configured format; 48 kHz stereo float arrives as 16 kHz. */
static void test_formats(void) {
    fwasr_config *cfg = fwasr_config_new();
    CHECK(fwasr_config_set_url(cfg, url()) == FWASR_OK);
    CHECK(fwasr_config_set_input_format(cfg, FWASR_FORMAT_F32, 48000, 2) == FWASR_OK);
    fwasr_session *s = NULL;
    CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
    fwasr_config_free(cfg);
    static float stereo[2 * 960]; /* 20 ms */
    for (int i = 0; i < 960; i++) stereo[2 * i] = stereo[2 * i + 1] = (float)((i % 48) - 24) / 48.0f;
    int16_t pcm[320] = {0};
    CHECK(fwasr_session_push_s16(s, pcm, 320) == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(fwasr_last_error(), "FWASR_FORMAT_S16LE") != NULL);
    for (int i = 0; i < 25; i++) CHECK(fwasr_session_push_f32(s, stereo, 2 * 960) == FWASR_OK);
    CHECK(fwasr_session_finish(s, 10000) == FWASR_OK);
    char text[64];
    fwasr_session_transcript(s, text, sizeof text);
    CHECK(strcmp(text, "0.50 s of audio received") == 0);
    fwasr_stats st;
    CHECK(fwasr_session_stats(s, &st, sizeof st) == FWASR_OK && st.bytes_sent == 16000);
    fwasr_session_free(s);

    /* mu-law through the raw push. */
    cfg = fwasr_config_new();
    CHECK(fwasr_config_set_url(cfg, url()) == FWASR_OK);
    CHECK(fwasr_config_set_input_format(cfg, FWASR_FORMAT_MULAW, 8000, 1) == FWASR_OK);
    CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
    fwasr_config_free(cfg);
    unsigned char ulaw[160];
    memset(ulaw, 0xff, sizeof ulaw);
    CHECK(fwasr_session_push_f32(s, stereo, 10) == FWASR_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < 50; i++) CHECK(fwasr_session_push(s, ulaw, sizeof ulaw) == FWASR_OK);
    CHECK(fwasr_session_finish(s, 10000) == FWASR_OK);
    fwasr_session_transcript(s, text, sizeof text);
    CHECK(strcmp(text, "1.00 s of audio received") == 0);
    fwasr_session_free(s);
}

/* Every pointer argument of every function as NULL, invalid UTF-8 for every string, numbers
 * out of range, calls in the wrong state: each gives its documented status, nothing crashes. */
static void test_misuse(void) {
    const char bad_utf8[] = {'a', (char)0xff, (char)0xfe, 0};
    fwasr_config *cfg = fwasr_config_new();
    fwasr_stats st;
    const fwasr_status E = FWASR_ERR_INVALID_ARGUMENT;

    /* NULL config. */
    CHECK(fwasr_config_set_url(NULL, "ws://h/") == E);
    CHECK(fwasr_config_set_api_key(NULL, "k") == E);
    CHECK(fwasr_config_set_language(NULL, "en") == E);
    CHECK(fwasr_config_set_prompt(NULL, "p") == E);
    CHECK(fwasr_config_set_temperature(NULL, 0) == E);
    CHECK(fwasr_config_set_response_format(NULL, "f") == E);
    CHECK(fwasr_config_set_param(NULL, "n", "v") == E);
    CHECK(fwasr_config_set_header(NULL, "n", "v") == E);
    CHECK(fwasr_config_set_input_format(NULL, FWASR_FORMAT_S16LE, 16000, 1) == E);
    CHECK(fwasr_config_set_input_channel(NULL, -1) == E);
    CHECK(fwasr_config_set_chunk_ms(NULL, 50) == E);
    CHECK(fwasr_config_set_buffer_ms(NULL, 1000) == E);
    CHECK(fwasr_config_set_pacing(NULL, 1) == E);
    CHECK(fwasr_config_set_connect_timeout_ms(NULL, 1) == E);
    CHECK(fwasr_config_set_finish_timeout_ms(NULL, 1) == E);
    CHECK(fwasr_config_set_keepalive_ms(NULL, 0) == E);
    CHECK(fwasr_config_set_reconnect(NULL, 0, 0, 0) == E);
    CHECK(fwasr_config_set_idle_silence_ms(NULL, 0) == E);
    CHECK(fwasr_config_set_tls_ca_file(NULL, NULL) == E);
    CHECK(fwasr_config_set_tls_verify(NULL, true) == E);
    CHECK(fwasr_config_set_shared_io(NULL, true) == E);
    CHECK(fwasr_config_set_event_callback(NULL, NULL, NULL) == E);
    CHECK(fwasr_config_set_log_callback(NULL, NULL, NULL, FWASR_LOG_INFO) == E);
    /* NULL where a value is required (NULL "unsets" only where documented). */
    CHECK(fwasr_config_set_url(cfg, NULL) == E);
    CHECK(fwasr_config_set_param(cfg, NULL, "v") == E);
    CHECK(fwasr_config_set_header(cfg, NULL, "v") == E);
    CHECK(fwasr_config_set_param(cfg, "n", NULL) == FWASR_OK);
    CHECK(fwasr_config_set_header(cfg, "X-N", NULL) == FWASR_OK);
    CHECK(fwasr_config_set_prompt(cfg, NULL) == FWASR_OK);
    /* Invalid UTF-8 in every string argument. */
    CHECK(fwasr_config_set_url(cfg, bad_utf8) == E);
    CHECK(fwasr_config_set_api_key(cfg, bad_utf8) == E);
    CHECK(fwasr_config_set_language(cfg, bad_utf8) == E);
    CHECK(fwasr_config_set_prompt(cfg, bad_utf8) == E);
    CHECK(fwasr_config_set_response_format(cfg, bad_utf8) == E);
    CHECK(fwasr_config_set_param(cfg, bad_utf8, "v") == E);
    CHECK(fwasr_config_set_param(cfg, "n", bad_utf8) == E);
    CHECK(fwasr_config_set_header(cfg, bad_utf8, "v") == E);
    CHECK(fwasr_config_set_header(cfg, "X-N", bad_utf8) == E);
    CHECK(fwasr_config_set_tls_ca_file(cfg, bad_utf8) == E);
    /* Out-of-range numbers. */
    CHECK(fwasr_config_set_chunk_ms(cfg, 0) == E && fwasr_config_set_chunk_ms(cfg, 401) == E);
    CHECK(fwasr_config_set_buffer_ms(cfg, 49) == E && fwasr_config_set_buffer_ms(cfg, 600001) == E);
    CHECK(fwasr_config_set_pacing(cfg, -1) == E && fwasr_config_set_pacing(cfg, 1e9) == E);
    CHECK(fwasr_config_set_pacing(cfg, INFINITY) == E && fwasr_config_set_pacing(cfg, 0.01) == E);
    CHECK(fwasr_config_set_temperature(cfg, -0.5f) == E && fwasr_config_set_temperature(cfg, NAN) == E);
    CHECK(fwasr_config_set_connect_timeout_ms(cfg, 0) == E && fwasr_config_set_finish_timeout_ms(cfg, 0) == E);
    CHECK(fwasr_config_set_keepalive_ms(cfg, 10) == E && fwasr_config_set_idle_silence_ms(cfg, 49) == E);
    CHECK(fwasr_config_set_keepalive_ms(cfg, 0) == FWASR_OK && fwasr_config_set_idle_silence_ms(cfg, 0) == FWASR_OK);
    CHECK(fwasr_config_set_reconnect(cfg, 3, 0, 10) == E && fwasr_config_set_reconnect(cfg, 3, 100, 10) == E);
    CHECK(fwasr_config_set_reconnect(cfg, 3, 100, 1000) == FWASR_OK && fwasr_config_set_reconnect(cfg, 0, 0, 0) == FWASR_OK);
    CHECK(fwasr_config_set_input_format(cfg, -1, 16000, 1) == E && fwasr_config_set_input_format(cfg, 4, 16000, 1) == E);
    CHECK(fwasr_config_set_input_format(cfg, FWASR_FORMAT_F32, 0, 1) == E);
    CHECK(fwasr_config_set_input_format(cfg, FWASR_FORMAT_F32, 16000, 200) == E);
    CHECK(fwasr_config_set_input_channel(cfg, -5) == E);
    CHECK(fwasr_config_set_log_callback(cfg, NULL, NULL, 0) == E && fwasr_config_set_log_callback(cfg, NULL, NULL, 5) == E);

    /* NULL session. */
    fwasr_session *s = NULL;
    CHECK(fwasr_session_open(NULL, &s) == E && s == NULL);
    CHECK(fwasr_session_open(cfg, NULL) == E);
    CHECK(fwasr_session_wait_ready(NULL, 0) == E);
    CHECK(fwasr_session_push(NULL, "ab", 2) == E);
    CHECK(fwasr_session_push_s16(NULL, NULL, 0) == E);
    CHECK(fwasr_session_push_f32(NULL, NULL, 0) == E);
    CHECK(fwasr_session_push_wait(NULL, "ab", 2, 0) == E);
    CHECK(fwasr_session_checkpoint(NULL, "c") == E);
    CHECK(fwasr_session_trace(NULL, "t") == E);
    CHECK(fwasr_session_clear(NULL, "r") == E);
    CHECK(fwasr_session_finish(NULL, 0) == E);
    CHECK(fwasr_session_next_event(NULL, 0) == NULL);
    CHECK(fwasr_session_transcript(NULL, NULL, 0) == 0);
    CHECK(fwasr_session_segments(NULL) == NULL);
    CHECK(fwasr_session_stats(NULL, &st, sizeof st) == E);
    CHECK(fwasr_session_state(NULL) == FWASR_STATE_FAILED);
    CHECK(fwasr_status_str(-1) != NULL && fwasr_last_error() != NULL && fwasr_version() != NULL);
    CHECK(fwasr_event_type_str(99) != NULL);

    /* A live session: NULL and bad arguments, then the wrong state. */
    CHECK(fwasr_config_set_url(cfg, url()) == FWASR_OK);
    CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
    CHECK(fwasr_session_push(s, NULL, 2) == E);
    CHECK(fwasr_session_push_s16(s, NULL, 2) == E);
    CHECK(fwasr_session_push_wait(s, NULL, 2, 0) == E);
    CHECK(fwasr_session_checkpoint(s, NULL) == E && fwasr_session_checkpoint(s, bad_utf8) == E);
    CHECK(fwasr_session_trace(s, NULL) == E && fwasr_session_trace(s, bad_utf8) == E);
    CHECK(fwasr_session_clear(s, NULL) == E && fwasr_session_clear(s, bad_utf8) == E);
    CHECK(fwasr_session_stats(s, NULL, sizeof st) == E);
    CHECK(fwasr_session_wait_ready(s, -2) == E && fwasr_session_finish(s, -9) == E);
    CHECK(fwasr_session_next_event(s, -7) == NULL && strstr(fwasr_last_error(), "timeout_ms"));
    CHECK(fwasr_session_wait_ready(s, 10000) == FWASR_OK);
    CHECK(fwasr_session_finish(s, 10000) == FWASR_OK);
    CHECK(fwasr_session_finish(s, 10000) == FWASR_OK); /* finish twice: same result */
    CHECK(fwasr_session_push(s, "ab", 2) == FWASR_ERR_STATE);
    CHECK(fwasr_session_checkpoint(s, "late") == FWASR_ERR_STATE);
    CHECK(fwasr_session_wait_ready(s, 1000) == FWASR_ERR_STATE); /* wait on a closed session */
    fwasr_session_free(s);
    fwasr_config_free(cfg);

    /* A config freed twice, or used after its free: configs are handles, so these fail (or,
     * for free, do nothing) instead of touching freed memory (valgrind and ASan runs too). */
    fwasr_config_free(cfg);
    CHECK(fwasr_config_set_language(cfg, "en") == E && strstr(fwasr_last_error(), "freed"));
    fwasr_session *never = NULL;
    CHECK(fwasr_session_open(cfg, &never) == E && never == NULL);
    fwasr_config *other = fwasr_config_new(); /* may take the freed slot: a new handle */
    CHECK(other != NULL && other != cfg);
    CHECK(fwasr_config_set_language(cfg, "en") == E);
    CHECK(fwasr_config_set_language(other, "en") == FWASR_OK);
    fwasr_config_free(other);
}

/* Free from one thread while another is blocked in push_wait (the queue is full) and a third
 * in next_event: both return, nothing is used after it is freed (valgrind and ASan check). */
struct racer {
    fwasr_session *s;
    fwasr_status push_status;
    int event_returned;
    int ready;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *blocked_push(void *arg) {
    struct racer *r = arg;
    static unsigned char big[32000];
    pthread_mutex_lock(&r->mu);
    r->ready++;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    r->push_status = fwasr_session_push_wait(r->s, big, sizeof big, -1);
    return NULL;
}

static void *blocked_poll(void *arg) {
    struct racer *r = arg;
    pthread_mutex_lock(&r->mu);
    r->ready++;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    fwasr_event *ev;
    while ((ev = fwasr_session_next_event(r->s, -1)) != NULL) fwasr_event_free(ev);
    r->event_returned = 1;
    return NULL;
}

static void test_free_race(void) {
    fwasr_config *cfg = fwasr_config_new();
    CHECK(fwasr_config_set_url(cfg, url()) == FWASR_OK);
    CHECK(fwasr_config_set_shared_io(cfg, shared_io) == FWASR_OK);
    CHECK(fwasr_config_set_buffer_ms(cfg, 1000) == FWASR_OK);
    CHECK(fwasr_config_set_pacing(cfg, 1.0) == FWASR_OK);
    struct racer r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    CHECK(fwasr_session_open(cfg, &r.s) == FWASR_OK);
    fwasr_config_free(cfg);
    static unsigned char fill[32000];
    CHECK(fwasr_session_push(r.s, fill, sizeof fill) == FWASR_OK); /* 1 s: the queue is full */
    pthread_t a, b;
    pthread_create(&a, NULL, blocked_push, &r);
    pthread_create(&b, NULL, blocked_poll, &r);
    pthread_mutex_lock(&r.mu);
    while (r.ready < 2) pthread_cond_wait(&r.cv, &r.mu);
    pthread_mutex_unlock(&r.mu);
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL); /* let both block */
    fwasr_session_free(r.s);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    CHECK(r.push_status == FWASR_ERR_STATE);
    CHECK(r.event_returned == 1);
}

static void test_auth(void) {
    fwasr_config *cfg = fwasr_config_new();
    CHECK(fwasr_config_set_url(cfg, url()) == FWASR_OK);
    CHECK(fwasr_config_set_api_key(cfg, "wrong-SECRET-key") == FWASR_OK);
    fwasr_session *s = NULL;
    CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
    CHECK(fwasr_session_wait_ready(s, 10000) == FWASR_ERR_AUTH);
    CHECK(strstr(fwasr_last_error(), "401") && !strstr(fwasr_last_error(), "SECRET"));
    fwasr_event *ev = fwasr_session_next_event(s, 10000);
    CHECK(ev && ev->type == FWASR_EVENT_CLOSED && ev->status == FWASR_ERR_AUTH && ev->code == 401);
    CHECK(ev && strstr(ev->message, "invalid or missing API key") && !strstr(ev->message, "SECRET"));
    fwasr_event_free(ev);
    /* The right key, from the environment (fwasr-devserver sets FIREWORKS_API_KEY). */
    CHECK(fwasr_config_set_api_key(cfg, NULL) == FWASR_OK);
    fwasr_session *ok = NULL;
    CHECK(fwasr_session_open(cfg, &ok) == FWASR_OK);
    CHECK(fwasr_session_wait_ready(ok, 10000) == FWASR_OK);
    CHECK(fwasr_session_finish(ok, 10000) == FWASR_OK);
    fwasr_session_free(ok);
    fwasr_session_free(s);
    fwasr_config_free(cfg);
}

/* Words with their times and probabilities, against tests/data/words.script.json. */
static void test_words(void) {
    static const struct { const char *text; double start, end, probability; } want[] = {
        {"Alpha", 0.2, 0.6, 0.91}, {"beta", 0.7, 1.4, 0.42},    {"gamma", 1.5, 1.8, 0.77},
        {"delta,", 1.9, 2.6, 0.66}, {"\xc3\xa9psilon", 3.0, 3.7, 0.5}, {"zeta.", 3.8, 4.2, 0.99},
    };
    char wav[64];
    snprintf(wav, sizeof wav, "/tmp/fwasr-api-test-%d.wav", (int)getpid());
    fwasr_config *cfg = fwasr_config_new();
    CHECK(fwasr_config_set_url(cfg, url()) == FWASR_OK);
    CHECK(fwasr_config_set_word_timestamps(cfg, true) == FWASR_OK);
    CHECK(fwasr_config_set_record_path(cfg, "") == FWASR_ERR_INVALID_ARGUMENT);
    CHECK(fwasr_config_set_record_path(cfg, wav) == FWASR_OK);
    fwasr_session *s = NULL;
    CHECK(fwasr_session_open(cfg, &s) == FWASR_OK);
    fwasr_config_free(cfg);
    int16_t pcm[1600];
    make_audio(pcm, 1600);
    for (int i = 0; i < 50; i++) CHECK(fwasr_session_push_s16(s, pcm, 1600) == FWASR_OK);
    CHECK(fwasr_session_finish(s, 10000) == FWASR_OK);

    /* Each SEGMENT event's words spell its text. */
    int segment_events = 0;
    fwasr_event *ev;
    while ((ev = fwasr_session_next_event(s, 5000)) != NULL) {
        if (ev->type == FWASR_EVENT_SEGMENT) {
            char spelled[256] = "";
            for (size_t i = 0; i < fwasr_event_word_count(ev); i++) {
                strcat(spelled, " ");
                strcat(spelled, fwasr_event_word(ev, i)->text);
            }
            CHECK(!strcmp(spelled, ev->text));
            /* Pushed all at once and answered at once: a latency, and a small one. */
            CHECK(ev->latency_ms >= 0 && ev->latency_ms < 10000);
            segment_events++;
        }
        fwasr_event_free(ev);
    }
    CHECK(segment_events >= 6);

    fwasr_segments *snap = fwasr_session_segments(s);
    size_t n = 0;
    for (size_t i = 0; i < fwasr_segments_len(snap); i++) {
        const fwasr_segment *g = fwasr_segments_get(snap, i);
        for (size_t j = 0; j < fwasr_segment_word_count(g); j++, n++) {
            const fwasr_word *w = fwasr_segment_word(g, j);
            if (n >= sizeof want / sizeof want[0]) break;
            CHECK(!strcmp(w->text, want[n].text) && w->is_final == 1);
            CHECK(fabs(w->start_s - want[n].start) < 1e-9 && fabs(w->end_s - want[n].end) < 1e-9);
            CHECK(w->probability == want[n].probability);
        }
    }
    CHECK(n == sizeof want / sizeof want[0]);
    fwasr_segments_free(snap);
    fwasr_stats st;
    CHECK(fwasr_session_stats(s, &st, sizeof st) == FWASR_OK);
    CHECK(st.final_latency_p50_ms >= 0 && st.final_latency_p50_ms <= st.final_latency_p95_ms * 1.01);
    CHECK(st.final_latency_p95_ms <= st.final_latency_max_ms * 1.01);
    /* finish returned: the recording holds its 44-byte header and the 5 s sent. */
    FILE *f = fopen(wav, "rb");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 0, SEEK_END);
        CHECK(ftell(f) == 44 + 160000);
        fclose(f);
    }
    remove(wav);
    CHECK(st.audio_ms_not_recorded == 0);
    fwasr_session_free(s);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "args";
    if (!strcmp(mode, "args")) test_args();
    else if (!strcmp(mode, "poll")) test_poll();
    else if (!strcmp(mode, "callback")) test_callback();
    else if (!strcmp(mode, "auth")) test_auth();
    else if (!strcmp(mode, "formats")) test_formats();
    else if (!strcmp(mode, "misuse")) test_misuse();
    else if (!strcmp(mode, "free_race")) test_free_race();
    else if (!strcmp(mode, "words")) test_words();
    else if (!strcmp(mode, "poll_shared")) shared_io = true, test_poll();
    else if (!strcmp(mode, "callback_shared")) shared_io = true, test_callback();
    else if (!strcmp(mode, "free_race_shared")) shared_io = true, test_free_race();
    else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
