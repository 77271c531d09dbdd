/* A tiny fwasr user, built by each consumer project: streams 0.5 s of audio to $FWASR_URL
 * (fwasr-devserver) and checks what came back. */
#include <fwasr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    fwasr_config *cfg = fwasr_config_new();
    const char *url = getenv("FWASR_URL");
    fwasr_session *s = NULL;
    if (!url || fwasr_config_set_url(cfg, url) != FWASR_OK || fwasr_session_open(cfg, &s) != FWASR_OK) {
        fprintf(stderr, "setup failed: %s\n", fwasr_last_error());
        return 1;
    }
    fwasr_config_free(cfg);
    static int16_t silence[8000];
    if (fwasr_session_push_s16(s, silence, 8000) != FWASR_OK || fwasr_session_finish(s, 10000) != FWASR_OK) {
        fprintf(stderr, "stream failed: %s\n", fwasr_last_error());
        return 1;
    }
    char text[64];
    fwasr_session_transcript(s, text, sizeof text);
    fwasr_session_free(s);
    int ok = strcmp(text, "0.50 s of audio received") == 0;
    printf("fwasr %s: \"%s\"\n%d passed, %d failed\n", fwasr_version(), text, ok, !ok);
    return ok ? 0 : 1;
}
