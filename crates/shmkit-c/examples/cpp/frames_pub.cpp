// Publishes RGBA test pictures to a stream, each filled in place in the shared ring (a loan: no
// copy), with its image format recorded so that viewers (qt_viewer, `shmkit info`) know what the
// bytes are.
//
//   frames_pub [NAME] [--size WxH] [--frames N] [--fps F] [--block]
//
// Frame k's pixel (x, y) is (x + k, y + 2k, 3k, 255) modulo 256: frames_sub checks every byte.
#include <shmkit.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

int main(int argc, char **argv) try {
    std::string name = "frames";
    unsigned w = 320, h = 240;
    long frames = -1;
    double fps = 30;
    shmkit::StreamOptions opts;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--size" && i + 1 < argc) {
            if (std::sscanf(argv[++i], "%ux%u", &w, &h) != 2 || w == 0 || h == 0) {
                std::cerr << "frames_pub: --size takes WxH, like 640x480" << std::endl;
                return 2;
            }
        } else if (a == "--frames" && i + 1 < argc) {
            frames = std::atol(argv[++i]);
        } else if (a == "--fps" && i + 1 < argc) {
            fps = std::atof(argv[++i]);
        } else if (a == "--block") {
            opts.policy = shmkit::Policy::block;
        } else {
            name = a;
        }
    }
    opts.format = "rgba8:" + std::to_string(w) + "x" + std::to_string(h);
    auto pub = shmkit::Publisher::create_or_open(name, opts);
    const std::size_t len = std::size_t(w) * h * 4;
    std::cout << "frames_pub: " << opts.format << " frames to \"" << name << "\"" << std::endl;
    auto period = std::chrono::duration<double>(fps > 0 ? 1.0 / fps : 0);
    auto next = std::chrono::steady_clock::now();
    for (long k = 0; frames < 0 || k < frames; k++) {
        shmkit::Loan loan = pub.loan(len);
        std::uint8_t *p = loan.data();
        for (unsigned y = 0; y < h; y++) {
            for (unsigned x = 0; x < w; x++, p += 4) {
                p[0] = std::uint8_t(x + k);
                p[1] = std::uint8_t(y + 2 * k);
                p[2] = std::uint8_t(3 * k);
                p[3] = 255;
            }
        }
        std::uint64_t seq = loan.commit();
        if (seq % 30 == 1) {
            std::cout << "frames_pub: frame #" << seq << std::endl;
        }
        next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
        std::this_thread::sleep_until(next);
    }
    return 0;
} catch (const shmkit::Error &e) {
    std::cerr << "frames_pub: " << e.what() << std::endl;
    return 1;
}
