// The Win32 tutorial's reader in C++ with shmkit.hpp: waits for the writer, prints the message;
// --follow prints each new one as it is published (woken, not polling).
//
//   cpp_reader [NAME] [--follow] [--timeout-ms N]
#include <shmkit.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char **argv) try {
    std::string name = "MyFileMappingObject";
    bool follow = false;
    std::chrono::milliseconds timeout = shmkit::wait_forever;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--follow") {
            follow = true;
        } else if (a == "--timeout-ms" && i + 1 < argc) {
            timeout = std::chrono::milliseconds(std::atoll(argv[++i]));
        } else {
            name = a;
        }
    }
    auto cell = shmkit::Cell::open_wait(name, shmkit::Access::read_only, timeout);
    cell.wait_newer(0, timeout); // the writer may not have published yet
    for (;;) {
        shmkit::Value v = cell.read();
        std::cout << v.text() << std::endl;
        if (!follow) {
            return 0;
        }
        cell.wait_newer(v.seq);
    }
} catch (const shmkit::Error &e) {
    std::cerr << "cpp_reader: " << e.what() << " [" << e.status_name() << "]" << std::endl;
    return 1;
}
