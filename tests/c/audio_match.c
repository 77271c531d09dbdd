/*
 * audio_match: is the audio a server received the source recording?
 *
 *   audio_match SOURCE.wav RECEIVED.raw MIN_CORRELATION MAX_LENGTH_DIFF_MS
 *
 * SOURCE is 16 kHz mono 16-bit PCM (WAV); RECEIVED is what fwasr sent (raw 16 kHz s16le, as
 * fwasr-devserver --save-audio writes it). Both are low-passed at 3.4 kHz first, so audio that
 * went through an 8 kHz telephony codec is compared on the band it could carry. Finds the lag
 * (within +-250 ms) where the two correlate best and fails unless that correlation reaches
 * MIN_CORRELATION and the lengths differ by at most MAX_LENGTH_DIFF_MS.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE 16000
#define MAX_LAG (RATE / 4)
#define TAPS 63

static float *read_s16(const char *path, long skip, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return NULL; }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f) - skip;
    fseek(f, skip, SEEK_SET);
    *n = bytes > 0 ? bytes / 2 : 0;
    unsigned char *raw = malloc((size_t)*n * 2 + 1);
    float *out = malloc((size_t)*n * sizeof(float) + 1);
    if (!raw || !out || fread(raw, 2, (size_t)*n, f) != (size_t)*n) {
        fprintf(stderr, "%s: cannot read\n", path);
        exit(2);
    }
    for (long i = 0; i < *n; i++) out[i] = (float)(int16_t)(raw[2 * i] | raw[2 * i + 1] << 8);
    free(raw);
    fclose(f);
    return out;
}

/* The WAV's data chunk: where it starts, after checking the format is 16 kHz mono s16. */
static long wav_data_offset(const char *path) {
    FILE *f = fopen(path, "rb");
    unsigned char h[12], c[8], fmt[16];
    if (!f || fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4)) goto bad;
    while (fread(c, 1, 8, f) == 8) {
        long len = c[4] | c[5] << 8 | c[6] << 16 | (long)c[7] << 24;
        if (!memcmp(c, "fmt ", 4)) {
            if (len < 16 || fread(fmt, 1, 16, f) != 16) goto bad;
            if ((fmt[0] | fmt[1] << 8) != 1 || (fmt[2] | fmt[3] << 8) != 1 ||
                (fmt[4] | fmt[5] << 8 | fmt[6] << 16) != RATE || (fmt[14] | fmt[15] << 8) != 16) goto bad;
            fseek(f, len - 16 + (len & 1), SEEK_CUR);
        } else if (!memcmp(c, "data", 4)) {
            long at = ftell(f);
            fclose(f);
            return at;
        } else {
            fseek(f, len + (len & 1), SEEK_CUR);
        }
    }
bad:
    fprintf(stderr, "%s: not a 16 kHz mono 16-bit WAV\n", path);
    exit(2);
}

/* Windowed-sinc low-pass at 3.4 kHz (Hamming), in place. */
static void low_pass(float *x, long n) {
    double h[TAPS], fc = 3400.0 / RATE;
    for (int k = 0; k < TAPS; k++) {
        int m = k - TAPS / 2;
        double sinc = m == 0 ? 2 * fc : sin(2 * M_PI * fc * m) / (M_PI * m);
        h[k] = sinc * (0.54 - 0.46 * cos(2 * M_PI * k / (TAPS - 1)));
    }
    float *y = calloc((size_t)n + 1, sizeof(float));
    for (long i = 0; i < n; i++) {
        double acc = 0;
        for (int k = 0; k < TAPS; k++) {
            long j = i + TAPS / 2 - k;
            if (j >= 0 && j < n) acc += h[k] * x[j];
        }
        y[i] = (float)acc;
    }
    memcpy(x, y, (size_t)n * sizeof(float));
    free(y);
}

static double correlation(const float *s, long ns, const float *r, long nr, long lag, long step) {
    double sr = 0, ss = 0, rr = 0;
    for (long i = lag < 0 ? -lag : 0; i < ns && i + lag < nr; i += step) {
        sr += (double)s[i] * r[i + lag];
        ss += (double)s[i] * s[i];
        rr += (double)r[i + lag] * r[i + lag];
    }
    return ss > 0 && rr > 0 ? sr / sqrt(ss * rr) : 0;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s SOURCE.wav RECEIVED.raw MIN_CORRELATION MAX_LENGTH_DIFF_MS\n", argv[0]);
        return 2;
    }
    long ns, nr;
    float *s = read_s16(argv[1], wav_data_offset(argv[1]), &ns);
    float *r = read_s16(argv[2], 0, &nr);
    double min_corr = atof(argv[3]), max_diff_ms = atof(argv[4]);
    if (!s || !r || ns < RATE / 2 || nr < RATE / 2) {
        fprintf(stderr, "too little audio: source %ld, received %ld samples\n", ns, nr);
        return 1;
    }
    low_pass(s, ns);
    low_pass(r, nr);

    /* Normalised cross-correlation over the overlap (received later = positive lag): every
     * 4th lag on every 4th sample, then every lag near the best of those on every sample. */
    long coarse = 0;
    double best = -2;
    for (long lag = -MAX_LAG; lag <= MAX_LAG; lag += 4) {
        double c = correlation(s, ns, r, nr, lag, 4);
        if (c > best) { best = c; coarse = lag; }
    }
    best = -2;
    long best_lag = 0;
    for (long lag = coarse - 4; lag <= coarse + 4; lag++) {
        double c = correlation(s, ns, r, nr, lag, 1);
        if (c > best) { best = c; best_lag = lag; }
    }
    double diff_ms = 1e3 * (double)(nr - ns) / RATE;
    printf("source %.3f s, received %.3f s (%+.1f ms), best correlation %.4f at lag %+.2f ms\n",
           (double)ns / RATE, (double)nr / RATE, diff_ms, best, 1e3 * best_lag / RATE);
    int ok = best >= min_corr && fabs(diff_ms) <= max_diff_ms;
    if (!ok) printf("audio_match: FAILED (want correlation >= %.3f, length within %.0f ms)\n", min_corr, max_diff_ms);
    free(s);
    free(r);
    return ok ? 0 : 1;
}
