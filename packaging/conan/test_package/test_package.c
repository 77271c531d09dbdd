/* Streams half a second of silence to $FWASR_URL (a local fwasr-devserver) and checks what it
 * says it received. */
#include <fwasr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *url = getenv("FWASR_URL");
    fwasr_config *cfg = fwasr_config_new();
    fwasr_session *s = NULL;
    static int16_t silence[8000];
    char text[128] = "";
    if (!url || fwasr_config_set_url(cfg, url) != FWASR_OK || fwasr_session_open(cfg, &s) != FWASR_OK ||
        fwasr_session_push_s16(s, silence, 8000) != FWASR_OK || fwasr_session_finish(s, 10000) != FWASR_OK) {
        fprintf(stderr, "fwasr %s: %s\n", fwasr_version(), fwasr_last_error());
        return 1;
    }
    fwasr_session_transcript(s, text, sizeof text);
    printf("fwasr %s from C: %s\n", fwasr_version(), text);
    fwasr_session_free(s);
    fwasr_config_free(cfg);
    return strcmp(text, "0.50 s of audio received") != 0;
}
