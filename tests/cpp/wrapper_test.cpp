// fwasr.hpp against fwasr-devserver ($FWASR_URL): ownership, errors as exceptions with their
// status, non-throwing pushes, callbacks as std::function, string_view in, string out.
#include <fwasr.hpp>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

static int passed, failed;
#define CHECK(cond)                                                         \
    do {                                                                    \
        if (cond) passed++;                                                 \
        else { failed++; std::fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

static_assert(!std::is_copy_constructible_v<fwasr::Session>, "sessions are move-only");
static_assert(std::is_nothrow_move_constructible_v<fwasr::Session>, "sessions move without throwing");
static_assert(!std::is_copy_constructible_v<fwasr::Config>, "configs are move-only");

int main() {
    const char *url = std::getenv("FWASR_URL");
    CHECK(url != nullptr);

    // A bad value throws fwasr::Error with the status and the library's message.
    try {
        fwasr::Config c;
        c.chunk_ms(5);
        CHECK(false);
    } catch (const fwasr::Error &e) {
        CHECK(e.status() == FWASR_ERR_INVALID_ARGUMENT);
        CHECK(std::string(e.what()).find("chunk_ms") != std::string::npos);
    }

    // string_view arguments need not be NUL-terminated.
    std::string long_url = std::string(url) + "?ignored";
    std::string_view view(long_url.data(), std::string(url).size());

    std::atomic<int> segments{0}, closed{0};
    fwasr::Config cfg;
    cfg.url(view).prompt(std::string_view("a b&c")).keepalive_ms(5000).word_timestamps(true).on_event([&](const fwasr::Event &e) {
        if (e.type == FWASR_EVENT_SEGMENT) segments++;
        if (e.type == FWASR_EVENT_CLOSED) closed++;
        throw std::runtime_error("must not reach C");  // caught by the wrapper
    });
    fwasr::Session first(cfg);
    fwasr::Session s(std::move(first));  // the moved-from session frees nothing
    std::vector<int16_t> pcm(8000, 0);
    CHECK(s.try_push_s16(pcm.data(), pcm.size()) == FWASR_OK);
    CHECK(s.try_push_f32(nullptr, 0) == FWASR_ERR_INVALID_ARGUMENT);  // wrong format, no throw
    s.checkpoint("cp");
    s.finish(10000);
    CHECK(s.state() == FWASR_STATE_CLOSED);
    CHECK(s.transcript() == "0.50 s of audio received");
    auto segs = s.segments();
    CHECK(segs.size() == 1 && segs[0].id == "0" && segs[0].is_final == 1);
    // Without a script the devserver sends the whole text as one word, without times.
    CHECK(segs[0].words.size() == 1 && segs[0].words[0].text == s.transcript());
    CHECK(segs[0].words[0].is_final == 1 && std::isnan(segs[0].words[0].start_s));
    CHECK(s.stats().bytes_sent == 16000);
    // 500 ms of digital silence: all of it below -60 dBFS, no peak, nothing clipped.
    CHECK(s.stats().audio_ms_below_silence == 500 && std::isinf(s.stats().peak_dbfs) && s.stats().peak_dbfs < 0);
    CHECK(s.stats().clipped_samples == 0);
    CHECK(std::isnan(s.stats().final_latency_p50_ms) && std::isnan(s.stats().final_latency_max_ms));
    CHECK(segments >= 1 && closed == 1);
    try {
        s.push_s16(pcm.data(), pcm.size());
        CHECK(false);
    } catch (const fwasr::Error &e) {
        CHECK(e.status() == FWASR_ERR_STATE);
    }

    // Poll mode with owned events, on a shared network thread, recorded.
    std::string wav = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/fwasr-cpp-wrapper.wav";
    fwasr::Config poll;
    poll.url(url).shared_io(true).record_path(wav).record_path(std::nullopt).record_path(wav);
    fwasr::Session p(poll);
    p.push_s16(pcm.data(), 1600);
    p.finish(10000);
    int n = 0;
    bool first_connected = false, last_closed = false;
    while (auto e = p.next_event(1000)) {
        if (n++ == 0) first_connected = e->type == FWASR_EVENT_CONNECTED;
        last_closed = e->type == FWASR_EVENT_CLOSED;
        if (e->type == FWASR_EVENT_SEGMENT) {
            CHECK(e->json.has_value());
            CHECK(e->words.size() == 1 && e->words[0].text == e->text && std::isnan(e->words[0].probability));
            CHECK(std::isnan(e->latency_ms));  // no segment times, no latency
        }
    }
    CHECK(first_connected && last_closed);
    CHECK(p.transcript() == "0.10 s of audio received");
    // finish returned: the WAV is complete, its 44-byte header and the 100 ms sent.
    std::FILE *f = std::fopen(wav.c_str(), "rb");
    CHECK(f != nullptr);
    if (f) {
        std::fseek(f, 0, SEEK_END);
        CHECK(std::ftell(f) == 44 + 3200);
        std::fclose(f);
    }
    std::remove(wav.c_str());
    CHECK(p.stats().audio_ms_not_recorded == 0);

    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
