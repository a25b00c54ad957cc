// Receives frames_pub's pictures in place (a view into the ring: no copy), checks every byte
// against the pattern, and says how many were whole, torn (overwritten while read) or lost.
//
//   frames_sub [NAME] [--count N] [--timeout-ms T]
#include <shmkit.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char **argv) try {
    std::string name = "frames";
    long count = -1;
    std::chrono::milliseconds timeout = shmkit::wait_forever;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--count" && i + 1 < argc) {
            count = std::atol(argv[++i]);
        } else if (a == "--timeout-ms" && i + 1 < argc) {
            timeout = std::chrono::milliseconds(std::atoll(argv[++i]));
        } else {
            name = a;
        }
    }
    shmkit::StreamOptions opts;
    opts.from = shmkit::JoinAt::oldest;
    auto sub = shmkit::Subscriber::open(name, opts, timeout);
    shmkit::Format f = sub.format();
    if (f.pixel != SHMKIT_PIXEL_RGBA8) {
        std::cerr << "frames_sub: \"" << name << "\" carries " << (f.text.empty() ? "no format" : f.text)
                  << ", not rgba8 pictures" << std::endl;
        return 1;
    }
    long whole = 0, bad = 0, torn = 0;
    for (long n = 0; count < 0 || n < count; n++) {
        shmkit::FrameView v = sub.recv_view(timeout);
        const std::uint8_t *p = v.data();
        // Frame k's red at (0, 0) is k (modulo 256): the rest of the pattern follows from it.
        const unsigned k = v.size() > 0 ? p[0] : 0;
        bool ok = v.size() == std::size_t(f.width) * f.height * 4;
        for (unsigned y = 0; ok && y < f.height; y++) {
            for (unsigned x = 0; ok && x < f.width; x++, p += 4) {
                ok = p[0] == std::uint8_t(x + k) && p[1] == std::uint8_t(y + 2 * k) &&
                     p[2] == std::uint8_t(3 * k) && p[3] == 255;
            }
        }
        bool intact = v.release();
        if (!intact) {
            torn++;
        } else if (ok) {
            whole++;
        } else {
            bad++;
        }
        std::cout << "frames_sub: #" << v.received().seq << " " << f.text << " "
                  << (intact ? (ok ? "whole" : "WRONG") : "overwritten while read") << std::endl;
    }
    std::cout << "frames_sub: " << whole << " whole, " << bad << " wrong, " << torn << " torn, "
              << sub.lost() << " lost" << std::endl;
    return bad == 0 ? 0 : 1;
} catch (const shmkit::Error &e) {
    std::cerr << "frames_sub: " << e.what() << std::endl;
    return 1;
}
