// The Win32 tutorial's writer in C++ with shmkit.hpp: the cell is closed by its destructor, errors
// are exceptions that say what went wrong.
//
//   cpp_writer [NAME] [MESSAGE]      then Enter (or end of input) to quit
#include <shmkit.hpp>

#include <iostream>
#include <string>

int main(int argc, char **argv) try {
    const std::string name = argc > 1 ? argv[1] : "MyFileMappingObject";
    const std::string message = argc > 2 ? argv[2] : "Message from first process.";

    auto cell = shmkit::Cell::open_or_create(name, 256);
    std::cout << "cpp_writer: published #" << cell.publish(message) << " to \"" << name
              << "\": " << message << std::endl;
    for (std::string line; std::getline(std::cin, line) && !line.empty();) {
        std::cout << "cpp_writer: published #" << cell.publish(line) << ": " << line << std::endl;
    }
    return 0;
} catch (const shmkit::Error &e) {
    std::cerr << "cpp_writer: " << e.what() << std::endl;
    return 1;
}
