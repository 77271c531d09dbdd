// transcribe (C++): stream a raw 16 kHz mono s16le file (or a WAV, whose 44-byte header is
// harmless to skip for this demo) at real-time pace with fwasr.hpp, printing each segment as it
// becomes final from the event callback.
//
//   transcribe FILE            (URL from $FWASR_URL, else Fireworks; key from $FIREWORKS_API_KEY)
#include <fwasr.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <vector>

int main(int argc, char **argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " FILE\n";
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<char> audio((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (audio.size() <= 44) {
        std::cerr << argv[1] << ": no audio\n";
        return 1;
    }

    std::mutex out;  // the callback runs on fwasr's thread; keep its output whole
    try {
        fwasr::Config cfg;
        if (const char *url = std::getenv("FWASR_URL")) cfg.url(url);
        cfg.language("en").pacing(1.0).reconnect(5, 200, 5000).on_event([&](const fwasr::Event &e) {
            if (e.type == FWASR_EVENT_SEGMENT && e.is_final == 1) {
                std::lock_guard<std::mutex> lock(out);
                std::cout << "[" << e.segment_id << "]" << e.text << std::endl;
            }
        });
        fwasr::Session session(cfg);
        session.push_wait(audio.data() + 44, audio.size() - 44);
        session.finish(30000);
        std::lock_guard<std::mutex> lock(out);
        std::cout << "final transcript: " << session.transcript() << std::endl;
    } catch (const fwasr::Error &e) {
        std::cerr << e.what() << std::endl;
        return 1;
    }
    return 0;
}
