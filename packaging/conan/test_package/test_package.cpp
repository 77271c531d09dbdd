// The same through fwasr.hpp.
#include <fwasr.hpp>

#include <cstdio>
#include <cstdlib>
#include <vector>

int main() {
    const char *url = std::getenv("FWASR_URL");
    if (!url) return 1;
    try {
        fwasr::Config cfg;
        cfg.url(url);
        fwasr::Session s(cfg);
        std::vector<int16_t> silence(8000, 0);
        s.push_s16(silence.data(), silence.size());
        s.finish(10000);
        std::printf("fwasr %s from C++: %s\n", fwasr_version(), s.transcript().c_str());
        return s.transcript() == "0.50 s of audio received" ? 0 : 1;
    } catch (const fwasr::Error &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
