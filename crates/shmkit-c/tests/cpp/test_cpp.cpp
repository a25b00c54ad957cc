// shmkit.hpp: RAII, exceptions carrying the status, the try_* variants, loans and views, and the
// notifier's callback. Names start with "t-".
#include <shmkit.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <cstdio>
#include <string>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;

static int failures = 0, checks = 0;
#define EXPECT(cond)                                                                   \
    do {                                                                               \
        checks++;                                                                      \
        if (!(cond)) {                                                                 \
            failures++;                                                                \
            std::fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                              \
    } while (0)

template <class F>
static shmkit_status status_of(F &&f) {
    try {
        f();
    } catch (const shmkit::Error &e) {
        return e.status();
    }
    return SHMKIT_OK;
}

static std::string unique(const char *what) { return "t-cpp-" + std::string(what) + "-" + std::to_string(getpid()); }

int main() {
    EXPECT(shmkit::abi_matches());
    const std::string name = unique("cell");
    EXPECT(status_of([&] { shmkit::Cell::open(name); }) == SHMKIT_NOT_FOUND);
    try {
        shmkit::Cell::create("bad/name", 8);
        EXPECT(false);
    } catch (const shmkit::Error &e) {
        EXPECT(e.status() == SHMKIT_INVALID_NAME);
        EXPECT(std::string(e.what()).find("bad/name") != std::string::npos);
        EXPECT(std::string(e.status_name()) == "SHMKIT_INVALID_NAME");
    }
    {
        auto w = shmkit::Cell::create(name, 64);
        auto r = shmkit::Cell::open(name, shmkit::Access::read_only);
        EXPECT(!r.try_wait_newer(0, 10ms));
        EXPECT(status_of([&] { r.wait_newer(0, 10ms); }) == SHMKIT_TIMEOUT);
        EXPECT(w.publish("a long first value") == 1);
        EXPECT(w.publish("short") == 2);
        EXPECT(r.try_wait_newer(0, 1s) == std::optional<std::uint64_t>(2));
        EXPECT(r.read_string() == "short");
        EXPECT(status_of([&] { r.publish("x"); }) == SHMKIT_PERMISSION_DENIED);

        // Move-only handles: a moved-from one is closed, and says so.
        shmkit::Cell moved = std::move(r);
        EXPECT(moved && !r);
        EXPECT(status_of([&] { (void)r.seq(); }) == SHMKIT_INVALID_ARGUMENT);
        EXPECT(moved.seq() == 2);

        // A callback notifier.
        std::atomic<int> calls{0};
        auto n = shmkit::Notifier::watch(moved, [&] { calls++; });
        w.publish("ping");
        for (int i = 0; i < 500 && calls == 0; i++) {
            std::this_thread::sleep_for(10ms);
        }
        EXPECT(calls > 0);
    }
    EXPECT(status_of([&] { shmkit::Cell::open(name); }) == SHMKIT_NOT_FOUND); // gone with its handles

    // Segments and the scoped lock.
    const std::string sname = unique("seg");
    {
        auto seg = shmkit::Segment::create(sname, 100);
        {
            shmkit::LockGuard g = seg.lock();
            EXPECT(g && !g.owner_died());
            EXPECT(status_of([&] { seg.lock(0ms); }) == SHMKIT_WOULD_DEADLOCK);
            seg.write(0, "hi");
        }
        auto g = seg.try_lock();
        EXPECT(g.has_value());
        char buf[2];
        seg.read(0, buf, 2);
        EXPECT(buf[0] == 'h' && buf[1] == 'i');
        EXPECT(seg.data()[1] == 'i');
    }

    // Streams: send, loan, view, callback, buffer growth.
    const std::string st = unique("stream");
    {
        shmkit::StreamOptions o;
        o.max_frame = 1024;
        o.policy = shmkit::Policy::block;
        auto pub = shmkit::Publisher::create(st, o);
        auto sub = shmkit::Subscriber::open(st);
        std::vector<std::uint8_t> buf;
        EXPECT(!sub.try_recv(buf));
        pub.send("one");
        auto r = sub.recv(buf, 1s);
        EXPECT(r.seq == 1 && std::string(buf.begin(), buf.end()) == "one");
        {
            shmkit::Loan loan = pub.loan(10);
            std::memcpy(loan.data(), "in-place!!", 10);
            EXPECT(loan.commit(8) == 2);
        }
        {
            shmkit::Loan abandoned = pub.loan(10); // destroyed uncommitted: nothing published
        }
        shmkit::FrameView v = sub.recv_view(1s);
        EXPECT(v.size() == 8 && v.bytes().as_string_view() == "in-place");
        EXPECT(v.release());
        pub.send("three");
        std::string seen;
        auto r3 = sub.recv_with([&](shmkit::Bytes b) { seen = std::string(b.as_string_view()); }, 1s);
        EXPECT(r3.seq == 3 && seen == "three");
        pub.send("four");
        bool rethrown = false;
        try {
            sub.recv_with([](shmkit::Bytes) { throw std::runtime_error("mine"); }, 1s);
        } catch (const shmkit::Error &) {
        } catch (const std::runtime_error &e) {
            rethrown = std::string(e.what()) == "mine";
        }
        EXPECT(rethrown); // the callback's exception crosses the C library safely, and comes back
        EXPECT(status_of([&] { pub.send(std::string(2000, 'x')); }) == SHMKIT_INVALID_SIZE);
        EXPECT(sub.format().text.empty() && sub.policy() == shmkit::Policy::block);
    }
    std::printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
