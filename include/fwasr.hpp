// fwasr.hpp: a header-only C++17 wrapper over the C API in fwasr.h.
//
// - fwasr::Config and fwasr::Session own their handles (move-only; freed by the destructor).
// - Failures throw fwasr::Error, which carries the fwasr_status and the message. Calls a media
//   thread makes have non-throwing variants (try_push, try_push_s16, try_push_f32) that
//   return the status instead.
// - Strings go in as std::string_view and come out as std::string.
// - The event and log callbacks are std::function; they run on the session's network thread
//   (see fwasr.h). An exception escaping them is caught and dropped: it must not unwind into
//   C. The functions live as long as any session opened with them.
#ifndef FWASR_HPP
#define FWASR_HPP

#include "fwasr.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fwasr {

// A failed fwasr call: its status and fwasr_last_error()'s message.
class Error : public std::runtime_error {
public:
    Error(fwasr_status status, const std::string &message)
        : std::runtime_error(std::string(fwasr_status_str(status)) + ": " + message), status_(status) {}
    fwasr_status status() const noexcept { return status_; }

private:
    fwasr_status status_;
};

namespace detail {
inline void check(fwasr_status status) {
    if (status != FWASR_OK) throw Error(status, fwasr_last_error());
}
// fwasr.h takes NUL-terminated strings; a string_view need not be one.
inline std::string z(std::string_view v) { return std::string(v); }
inline std::string s(const char *p) { return p ? std::string(p) : std::string(); }
}  // namespace detail

// The library's version ("0.1.0"); the header's is FWASR_VERSION_MAJOR/MINOR/PATCH.
inline std::string version() { return fwasr_version(); }
// "FWASR_ERR_TIMEOUT", "SEGMENT": the names of statuses and event types.
inline std::string status_name(fwasr_status status) { return fwasr_status_str(status); }
inline std::string event_type_name(fwasr_event_type type) { return fwasr_event_type_str(type); }

// Fireworks' endpoints, for Config::url: production (the default), the regional host, and
// the v2 preview.
inline constexpr std::string_view url_production = FWASR_URL_PRODUCTION;
inline constexpr std::string_view url_us_virginia = FWASR_URL_US_VIRGINIA;
inline constexpr std::string_view url_v2_preview = FWASR_URL_V2_PREVIEW;

// A word with its times, copied out of the C struct.
struct Word {
    std::string text;
    double start_s, end_s;  // NaN unless word timestamps were asked for
    double probability;     // NaN when the server sent none
    int is_final;           // 1 final, 0 not, -1 unknown

    explicit Word(const fwasr_word &w)
        : text(detail::s(w.text)), start_s(w.start_s), end_s(w.end_s), probability(w.probability),
          is_final(w.is_final) {}
};

// An event, copied out of the C struct (so it may be kept after the callback returns).
struct Event {
    fwasr_event_type type;
    std::string segment_id;
    std::string text;
    int is_final;  // 1 final, 0 not, -1 unknown
    double start_s, end_s;
    std::string checkpoint_id;
    double rtt_ms;
    double dropped_ms;
    fwasr_status status;
    int code;
    std::string message;
    std::optional<std::string> json;
    int attempt;
    double replayed_ms;
    double backoff_ms;
    std::vector<Word> words;  // SEGMENT, SEGMENT_REMOVED
    double latency_ms;        // SEGMENT: from the push of its last audio; NaN unknown

    explicit Event(const fwasr_event &e)
        : type(e.type), segment_id(detail::s(e.segment_id)), text(detail::s(e.text)), is_final(e.is_final),
          start_s(e.start_s), end_s(e.end_s), checkpoint_id(detail::s(e.checkpoint_id)), rtt_ms(e.rtt_ms),
          dropped_ms(e.dropped_ms), status(e.status), code(e.code), message(detail::s(e.message)),
          attempt(e.attempt), replayed_ms(e.replayed_ms), backoff_ms(e.backoff_ms), latency_ms(e.latency_ms) {
        if (e.json) json = std::string(e.json);
        for (size_t i = 0, n = fwasr_event_word_count(&e); i < n; i++) words.emplace_back(*fwasr_event_word(&e, i));
    }
};

struct Segment {
    std::string id;
    std::string text;
    int is_final;
    double start_s, end_s;
    std::vector<Word> words;
};

using EventHandler = std::function<void(const Event &)>;
using LogHandler = std::function<void(fwasr_log_level, std::string_view)>;

class Config {
public:
    Config() : p_(fwasr_config_new()) {
        if (!p_) throw std::bad_alloc();
    }
    Config(Config &&o) noexcept
        : p_(std::exchange(o.p_, nullptr)), on_event_(std::move(o.on_event_)), on_log_(std::move(o.on_log_)) {}
    Config &operator=(Config &&o) noexcept {
        std::swap(p_, o.p_);
        std::swap(on_event_, o.on_event_);
        std::swap(on_log_, o.on_log_);
        return *this;
    }
    Config(const Config &) = delete;
    Config &operator=(const Config &) = delete;
    ~Config() { fwasr_config_free(p_); }

    Config &url(std::string_view v) { return set(fwasr_config_set_url(p_, detail::z(v).c_str())); }
    Config &api_key(std::string_view v) { return set(fwasr_config_set_api_key(p_, detail::z(v).c_str())); }
    Config &language(std::string_view v) { return set(fwasr_config_set_language(p_, detail::z(v).c_str())); }
    Config &prompt(std::string_view v) { return set(fwasr_config_set_prompt(p_, detail::z(v).c_str())); }
    Config &temperature(float t) { return set(fwasr_config_set_temperature(p_, t)); }
    Config &response_format(std::string_view v) {
        return set(fwasr_config_set_response_format(p_, detail::z(v).c_str()));
    }
    Config &param(std::string_view name, std::string_view value) {
        return set(fwasr_config_set_param(p_, detail::z(name).c_str(), detail::z(value).c_str()));
    }
    Config &header(std::string_view name, std::string_view value) {
        return set(fwasr_config_set_header(p_, detail::z(name).c_str(), detail::z(value).c_str()));
    }
    Config &input_format(fwasr_format format, uint32_t sample_rate, uint32_t channels) {
        return set(fwasr_config_set_input_format(p_, format, sample_rate, channels));
    }
    Config &input_channel(int channel) { return set(fwasr_config_set_input_channel(p_, channel)); }
    Config &chunk_ms(uint32_t ms) { return set(fwasr_config_set_chunk_ms(p_, ms)); }
    Config &buffer_ms(uint32_t ms) { return set(fwasr_config_set_buffer_ms(p_, ms)); }
    Config &pacing(double factor) { return set(fwasr_config_set_pacing(p_, factor)); }
    Config &connect_timeout_ms(uint32_t ms) { return set(fwasr_config_set_connect_timeout_ms(p_, ms)); }
    Config &finish_timeout_ms(uint32_t ms) { return set(fwasr_config_set_finish_timeout_ms(p_, ms)); }
    Config &keepalive_ms(uint32_t ms) { return set(fwasr_config_set_keepalive_ms(p_, ms)); }
    Config &reconnect(uint32_t max_attempts, uint32_t initial_backoff_ms, uint32_t max_backoff_ms) {
        return set(fwasr_config_set_reconnect(p_, max_attempts, initial_backoff_ms, max_backoff_ms));
    }
    Config &idle_silence_ms(uint32_t ms) { return set(fwasr_config_set_idle_silence_ms(p_, ms)); }
    Config &tls_ca_file(std::string_view path) {
        return set(fwasr_config_set_tls_ca_file(p_, detail::z(path).c_str()));
    }
    Config &tls_verify(bool verify) { return set(fwasr_config_set_tls_verify(p_, verify)); }
    Config &word_timestamps(bool on) { return set(fwasr_config_set_word_timestamps(p_, on)); }
    // The HTTP proxy (see fwasr_config_set_proxy): "" for none, std::nullopt for the
    // environment's.
    Config &proxy(std::optional<std::string_view> url) {
        return set(fwasr_config_set_proxy(p_, url ? detail::z(*url).c_str() : nullptr));
    }
    Config &shared_io(bool shared) { return set(fwasr_config_set_shared_io(p_, shared)); }
    // A WAV copy of the audio sent (see fwasr_config_set_record_path); nullopt for none.
    Config &record_path(std::optional<std::string_view> path) {
        return set(fwasr_config_set_record_path(p_, path ? detail::z(*path).c_str() : nullptr));
    }

    // Callback mode: every event goes to `handler` on the session's thread.
    Config &on_event(EventHandler handler) {
        on_event_ = std::make_shared<EventHandler>(std::move(handler));
        return set(fwasr_config_set_event_callback(p_, &Config::event_trampoline, on_event_.get()));
    }
    Config &on_log(LogHandler handler, fwasr_log_level level = FWASR_LOG_INFO) {
        on_log_ = std::make_shared<LogHandler>(std::move(handler));
        return set(fwasr_config_set_log_callback(p_, &Config::log_trampoline, on_log_.get(), level));
    }

    const fwasr_config *get() const noexcept { return p_; }

private:
    friend class Session;

    Config &set(fwasr_status status) {
        detail::check(status);
        return *this;
    }
    static void event_trampoline(void *userdata, const fwasr_event *event) {
        try {
            (*static_cast<EventHandler *>(userdata))(Event(*event));
        } catch (...) {
        }
    }
    static void log_trampoline(void *userdata, fwasr_log_level level, const char *message) {
        try {
            (*static_cast<LogHandler *>(userdata))(level, message);
        } catch (...) {
        }
    }

    fwasr_config *p_;
    std::shared_ptr<EventHandler> on_event_;
    std::shared_ptr<LogHandler> on_log_;
};

class Session {
public:
    // Starts a session (returns at once; the connection is made in the background).
    explicit Session(const Config &cfg) : on_event_(cfg.on_event_), on_log_(cfg.on_log_) {
        detail::check(fwasr_session_open(cfg.p_, &p_));
    }
    Session(Session &&o) noexcept
        : p_(std::exchange(o.p_, nullptr)), on_event_(std::move(o.on_event_)), on_log_(std::move(o.on_log_)) {}
    Session &operator=(Session &&o) noexcept {
        std::swap(p_, o.p_);
        std::swap(on_event_, o.on_event_);
        std::swap(on_log_, o.on_log_);
        return *this;
    }
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;
    // Stops without flushing (call finish first for the whole transcript); the callbacks
    // outlive the session's thread.
    ~Session() { fwasr_session_free(p_); }

    void wait_ready(int32_t timeout_ms = -1) { detail::check(fwasr_session_wait_ready(p_, timeout_ms)); }

    void push(const void *data, size_t nbytes) { detail::check(try_push(data, nbytes)); }
    void push_s16(const int16_t *samples, size_t n) { detail::check(try_push_s16(samples, n)); }
    void push_f32(const float *samples, size_t n) { detail::check(try_push_f32(samples, n)); }
    // For media threads: never throw, never block; FWASR_ERR_BUFFER_FULL when the queue is full.
    fwasr_status try_push(const void *data, size_t nbytes) noexcept { return fwasr_session_push(p_, data, nbytes); }
    fwasr_status try_push_s16(const int16_t *samples, size_t n) noexcept {
        return fwasr_session_push_s16(p_, samples, n);
    }
    fwasr_status try_push_f32(const float *samples, size_t n) noexcept {
        return fwasr_session_push_f32(p_, samples, n);
    }
    void push_wait(const void *data, size_t nbytes, int32_t timeout_ms = -1) {
        detail::check(fwasr_session_push_wait(p_, data, nbytes, timeout_ms));
    }

    void checkpoint(std::string_view id) { detail::check(fwasr_session_checkpoint(p_, detail::z(id).c_str())); }
    void trace(std::string_view id) { detail::check(fwasr_session_trace(p_, detail::z(id).c_str())); }
    void clear(std::string_view id) { detail::check(fwasr_session_clear(p_, detail::z(id).c_str())); }

    // Flushes and waits for the whole transcript (see fwasr_session_finish).
    void finish(int32_t timeout_ms = -1) { detail::check(fwasr_session_finish(p_, timeout_ms)); }

    // Poll mode: the next event, or nothing on timeout / after the last one.
    std::optional<Event> next_event(int32_t timeout_ms = 0) {
        fwasr_event *e = fwasr_session_next_event(p_, timeout_ms);
        if (!e) return std::nullopt;
        std::unique_ptr<fwasr_event, void (*)(fwasr_event *)> owned(e, fwasr_event_free);
        return Event(*owned);
    }

    std::string transcript() const {
        std::string out(fwasr_session_transcript(p_, nullptr, 0), '\0');
        // The transcript may grow between the calls; the copy is cut to what was sized.
        fwasr_session_transcript(p_, out.data(), out.size() + 1);
        return out;
    }

    std::vector<Segment> segments() const {
        std::unique_ptr<fwasr_segments, void (*)(fwasr_segments *)> snap(fwasr_session_segments(p_),
                                                                         fwasr_segments_free);
        std::vector<Segment> out;
        for (size_t i = 0, n = fwasr_segments_len(snap.get()); i < n; i++) {
            const fwasr_segment *g = fwasr_segments_get(snap.get(), i);
            Segment seg{g->id, g->text, g->is_final, g->start_s, g->end_s, {}};
            for (size_t j = 0, n = fwasr_segment_word_count(g); j < n; j++)
                seg.words.emplace_back(*fwasr_segment_word(g, j));
            out.push_back(std::move(seg));
        }
        return out;
    }

    fwasr_stats stats() const {
        fwasr_stats st{};
        detail::check(fwasr_session_stats(p_, &st, sizeof st));
        return st;
    }

    fwasr_state state() const noexcept { return fwasr_session_state(p_); }
    fwasr_session *get() const noexcept { return p_; }

private:
    fwasr_session *p_ = nullptr;
    std::shared_ptr<EventHandler> on_event_;
    std::shared_ptr<LogHandler> on_log_;
};

}  // namespace fwasr

#endif  // FWASR_HPP
