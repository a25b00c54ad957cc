// Builds against the installed (or added) shmkit and round-trips a value through a cell.
#include <shmkit.hpp>

#include <iostream>
#include <string>
#include <unistd.h>

int main() {
    const std::string name = "t-consumer-" + std::to_string(getpid());
    auto w = shmkit::Cell::create(name, 64);
    w.publish("it links");
    auto r = shmkit::Cell::open(name, shmkit::Access::read_only);
    std::cout << r.read_string() << std::endl;
    return r.read_string() == "it links" && shmkit::abi_matches() ? 0 : 1;
}
