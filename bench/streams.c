/*
 * streams: N real-time sessions in one process, as a telephony box runs them. One driver
 * thread pushes a 20 ms frame of 16 kHz s16 audio to every session every 20 ms for SECONDS
 * seconds; events go to a no-op callback. Prints the process's CPU time per stream-hour, the
 * resident memory per stream and the overruns.
 *
 *   streams N SECONDS        (URL from $FWASR_URL, e.g. under fwasr-devserver -- streams ...)
 */
#include <fwasr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static void on_event(void *userdata, const fwasr_event *ev) {
    (void)userdata;
    (void)ev;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s N SECONDS\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]), seconds = atoi(argv[2]);
    const char *url = getenv("FWASR_URL");
    /* Two descriptors per session (socket, eventfd). */
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    long rss0 = rss_kib();
    fwasr_config *cfg = fwasr_config_new();
    if (!url || fwasr_config_set_url(cfg, url) != FWASR_OK ||
        fwasr_config_set_event_callback(cfg, on_event, NULL) != FWASR_OK) {
        fprintf(stderr, "config: %s\n", fwasr_last_error());
        return 1;
    }
    fwasr_session **s = calloc((size_t)n, sizeof *s);
    for (int i = 0; i < n; i++) {
        if (fwasr_session_open(cfg, &s[i]) != FWASR_OK) {
            fprintf(stderr, "open %d: %s\n", i, fwasr_last_error());
            return 1;
        }
    }
    fwasr_config_free(cfg);
    for (int i = 0; i < n; i++) {
        if (fwasr_session_wait_ready(s[i], 30000) != FWASR_OK) {
            fprintf(stderr, "session %d: %s\n", i, fwasr_last_error());
            return 1;
        }
    }
    int16_t frame[320];
    for (int i = 0; i < 320; i++) frame[i] = (int16_t)((i * 37) % 2000 - 1000);
    double cpu0 = cpu_seconds();
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    long overruns = 0, ticks = seconds * 50L;
    for (long t = 0; t < ticks; t++) {
        for (int i = 0; i < n; i++)
            if (fwasr_session_push_s16(s[i], frame, 320) == FWASR_ERR_BUFFER_FULL) overruns++;
        next.tv_nsec += 20 * 1000 * 1000;
        if (next.tv_nsec >= 1000000000L) { next.tv_nsec -= 1000000000L; next.tv_sec++; }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    double cpu = cpu_seconds() - cpu0;
    long rss = rss_kib();
    double queued = 0;
    for (int i = 0; i < n; i++) {
        fwasr_stats st;
        fwasr_session_stats(s[i], &st, sizeof st);
        queued += st.audio_ms_queued;
    }
    printf("streams %d seconds %d cpu_s %.3f cpu_s_per_stream_hour %.2f cpu_percent_of_core %.1f "
           "rss_per_stream_kib %.1f overruns %ld mean_queued_ms %.1f\n",
           n, seconds, cpu, cpu / (n * seconds / 3600.0), 100.0 * cpu / seconds,
           (double)(rss - rss0) / n, overruns, queued / n);
    for (int i = 0; i < n; i++) fwasr_session_free(s[i]);
    free(s);
    return 0;
}
