// shmkit.hpp: a C++17, header-only wrapper over the C API in shmkit.h.
//
// RAII handles (shmkit::Segment with a scoped LockGuard, shmkit::Cell, shmkit::Publisher with its
// Loan, shmkit::Subscriber with its FrameView, shmkit::Notifier), span-like byte views,
// std::chrono timeouts, and exceptions (shmkit::Error) that carry the status of the C call and its
// message. Where a failure is an expected outcome (a wait that times out, a lock that is busy),
// a try_* variant returns std::optional instead of throwing.
//
// No logic of its own: every call is one C call (the C API is the one source of truth), so the
// header's rules on ownership and threads hold here too. Handles are move-only; a moved-from or
// closed handle throws shmkit::Error with SHMKIT_INVALID_ARGUMENT when used.
//
//   #include <shmkit.hpp>
//   auto cell = shmkit::Cell::open_or_create("status", 4096);
//   cell.publish("all good");
//   auto reader = shmkit::Cell::open("status", shmkit::Access::read_only);
//   std::string text = reader.read_string();
//
// Link with -lshmkit (pkg-config shmkit; CMake: target shmkit::shmkit).

#ifndef SHMKIT_HPP
#define SHMKIT_HPP

#include "shmkit.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shmkit {

/// A failed call: what() is shmkit_last_error()'s message; status() the C status (the kind).
class Error : public std::runtime_error {
public:
    Error(shmkit_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    shmkit_status status() const noexcept { return status_; }
    /// The status's name ("SHMKIT_NOT_FOUND").
    const char *status_name() const noexcept { return shmkit_status_name(static_cast<int32_t>(status_)); }
    bool is_timeout() const noexcept { return status_ == SHMKIT_TIMEOUT; }
    bool is_not_found() const noexcept { return status_ == SHMKIT_NOT_FOUND; }

private:
    shmkit_status status_;
};

/// Waits as long as it takes. (Not `forever`: Qt defines that as a macro.)
inline constexpr std::chrono::milliseconds wait_forever{-1};

namespace detail {
inline void check(shmkit_status s) {
    if (s != SHMKIT_OK) {
        throw Error(s, shmkit_last_error());
    }
}

/// true for success, false for SHMKIT_TIMEOUT; throws on anything else.
inline bool check_timeout(shmkit_status s) {
    if (s == SHMKIT_TIMEOUT) {
        return false;
    }
    check(s);
    return true;
}

/// A chrono duration as the C API's milliseconds: rounded up (a 1 us wait still waits), and
/// negative meaning forever.
template <class Rep, class Period>
int64_t millis(std::chrono::duration<Rep, Period> d) {
    if (d < std::chrono::duration<Rep, Period>::zero()) {
        return SHMKIT_FOREVER;
    }
    return static_cast<int64_t>(std::chrono::ceil<std::chrono::milliseconds>(d).count());
}

inline std::string opt_text(const char *s) { return s ? std::string(s) : std::string(); }
} // namespace detail

/// Read-only bytes: a pointer and a length (std::span<const std::uint8_t> in spirit).
class Bytes {
public:
    Bytes() noexcept = default;
    Bytes(const std::uint8_t *data, std::size_t size) noexcept : data_(data), size_(size) {}
    const std::uint8_t *data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    const std::uint8_t *begin() const noexcept { return data_; }
    const std::uint8_t *end() const noexcept { return data_ + size_; }
    std::uint8_t operator[](std::size_t i) const noexcept { return data_[i]; }
    std::string_view as_string_view() const noexcept {
        return std::string_view(reinterpret_cast<const char *>(data_), size_);
    }

private:
    const std::uint8_t *data_ = nullptr;
    std::size_t size_ = 0;
};

/// Writable bytes.
class MutableBytes {
public:
    MutableBytes() noexcept = default;
    MutableBytes(std::uint8_t *data, std::size_t size) noexcept : data_(data), size_(size) {}
    std::uint8_t *data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::uint8_t *begin() const noexcept { return data_; }
    std::uint8_t *end() const noexcept { return data_ + size_; }
    std::uint8_t &operator[](std::size_t i) const noexcept { return data_[i]; }

private:
    std::uint8_t *data_ = nullptr;
    std::size_t size_ = 0;
};

enum class Access : shmkit_access { read_write = SHMKIT_READ_WRITE, read_only = SHMKIT_READ_ONLY };
enum class Lifetime : shmkit_lifetime { last_close = SHMKIT_LAST_CLOSE, persistent = SHMKIT_PERSISTENT };
enum class Policy : shmkit_policy { overwrite = SHMKIT_OVERWRITE, block = SHMKIT_BLOCK };
enum class JoinAt : shmkit_join_at { newest = SHMKIT_JOIN_NEWEST, oldest = SHMKIT_JOIN_OLDEST };

/// What the bytes are: the C description, with its text copied.
struct Format {
    shmkit_format_kind kind = SHMKIT_FORMAT_NONE;
    shmkit_pixel pixel = SHMKIT_PIXEL_NONE;
    std::uint32_t width = 0, height = 0, stride = 0, bytes_per_pixel = 0;
    std::uint64_t frame_len = 0;
    std::string text;

    static Format from(const shmkit_format &f) {
        Format o;
        o.kind = f.kind;
        o.pixel = f.pixel;
        o.width = f.width;
        o.height = f.height;
        o.stride = f.stride;
        o.bytes_per_pixel = f.bytes_per_pixel;
        o.frame_len = f.frame_len;
        o.text = detail::opt_text(f.text);
        return o;
    }
    bool is_image() const noexcept { return kind == SHMKIT_FORMAT_IMAGE; }
};

/// A received frame's sequence number, length, losses just before it and publish time.
using Received = shmkit_received;

namespace detail {
/// A move-only owner of one C handle, closed by `Close`.
template <class T, void (*Close)(T **)>
class Handle {
public:
    Handle() noexcept = default;
    explicit Handle(T *h) noexcept : h_(h) {}
    Handle(Handle &&o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    Handle &operator=(Handle &&o) noexcept {
        if (this != &o) {
            reset();
            h_ = std::exchange(o.h_, nullptr);
        }
        return *this;
    }
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    ~Handle() { reset(); }
    void reset() noexcept { Close(&h_); }
    T *get() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_ != nullptr; }

private:
    T *h_ = nullptr;
};
} // namespace detail

// ---- segments ------------------------------------------------------------------------------

struct SegmentOptions {
    std::uint32_t mode = 0;                ///< 0: 0600
    Lifetime lifetime = Lifetime::last_close;
    bool raw = false;                      ///< no shmkit header (foreign programs)
    bool global = false;                   ///< Windows: Global\ namespace
    std::string format;                    ///< "rgba8:640x480", "text/plain", or empty

    shmkit_segment_options c() const {
        shmkit_segment_options o{};
        o.mode = mode;
        o.lifetime = static_cast<shmkit_lifetime>(lifetime);
        o.raw = raw;
        o.global = global;
        o.format = format.empty() ? nullptr : format.c_str();
        return o;
    }
};

/// A held segment lock: unlocks when destroyed (on the thread that locked).
class LockGuard {
public:
    LockGuard() noexcept = default;
    LockGuard(shmkit_guard *g, bool owner_died) noexcept : g_(g), owner_died_(owner_died) {}
    LockGuard(LockGuard &&o) noexcept : g_(std::exchange(o.g_, nullptr)), owner_died_(o.owner_died_) {}
    LockGuard &operator=(LockGuard &&o) noexcept {
        if (this != &o) {
            unlock_quietly();
            g_ = std::exchange(o.g_, nullptr);
            owner_died_ = o.owner_died_;
        }
        return *this;
    }
    LockGuard(const LockGuard &) = delete;
    LockGuard &operator=(const LockGuard &) = delete;
    ~LockGuard() { unlock_quietly(); }

    /// Whether the previous holder died holding the lock: repair what it left half-written.
    bool owner_died() const noexcept { return owner_died_; }
    bool owns_lock() const noexcept { return g_ != nullptr; }
    explicit operator bool() const noexcept { return owns_lock(); }
    /// Unlocks now (throws if called on another thread than the one that locked).
    void unlock() {
        if (g_) {
            detail::check(shmkit_guard_unlock(&g_));
        }
    }

private:
    void unlock_quietly() noexcept {
        if (g_) {
            (void)shmkit_guard_unlock(&g_);
        }
    }
    shmkit_guard *g_ = nullptr;
    bool owner_died_ = false;
};

class Segment {
public:
    Segment() noexcept = default;

    static Segment create(const std::string &name, std::size_t size, const SegmentOptions &opts = {}) {
        auto o = opts.c();
        shmkit_segment *h = nullptr;
        detail::check(shmkit_segment_create(name.c_str(), size, &o, &h));
        return Segment(h);
    }
    static Segment open(const std::string &name, Access access = Access::read_write,
                        const SegmentOptions &opts = {}) {
        auto o = opts.c();
        shmkit_segment *h = nullptr;
        detail::check(shmkit_segment_open(name.c_str(), static_cast<shmkit_access>(access), &o, &h));
        return Segment(h);
    }
    static Segment open_or_create(const std::string &name, std::size_t size, const SegmentOptions &opts = {}) {
        auto o = opts.c();
        shmkit_segment *h = nullptr;
        detail::check(shmkit_segment_open_or_create(name.c_str(), size, &o, &h));
        return Segment(h);
    }

    std::size_t size() const {
        std::size_t n = 0;
        detail::check(shmkit_segment_size(h_.get(), &n));
        return n;
    }
    std::string name() const {
        const char *n = nullptr;
        detail::check(shmkit_segment_name(h_.get(), &n));
        return n;
    }
    /// The data, to read (other processes may write it: read under the lock, or copy).
    Bytes data() const {
        const void *p = nullptr;
        detail::check(shmkit_segment_data(h_.get(), &p));
        return Bytes(static_cast<const std::uint8_t *>(p), size());
    }
    /// The data, to write (throws on a read-only handle).
    MutableBytes data_mut() {
        void *p = nullptr;
        detail::check(shmkit_segment_data_mut(h_.get(), &p));
        return MutableBytes(static_cast<std::uint8_t *>(p), size());
    }
    void read(std::size_t offset, void *buf, std::size_t len) const {
        detail::check(shmkit_segment_read(h_.get(), offset, buf, len));
    }
    void write(std::size_t offset, const void *data, std::size_t len) {
        detail::check(shmkit_segment_write(h_.get(), offset, data, len));
    }
    void write(std::size_t offset, std::string_view text) { write(offset, text.data(), text.size()); }

    /// Takes the lock, waiting at most `timeout` (throws Error with SHMKIT_TIMEOUT).
    template <class Rep = int64_t, class Period = std::milli>
    LockGuard lock(std::chrono::duration<Rep, Period> timeout = wait_forever) const {
        shmkit_guard *g = nullptr;
        bool died = false;
        detail::check(shmkit_segment_lock(h_.get(), detail::millis(timeout), &g, &died));
        return LockGuard(g, died);
    }
    /// Takes the lock if it is free now (or within `timeout`); std::nullopt if a live process
    /// kept it.
    template <class Rep = int64_t, class Period = std::milli>
    std::optional<LockGuard> try_lock(std::chrono::duration<Rep, Period> timeout = std::chrono::milliseconds(0)) const {
        shmkit_guard *g = nullptr;
        bool died = false;
        if (!detail::check_timeout(shmkit_segment_lock(h_.get(), detail::millis(timeout), &g, &died))) {
            return std::nullopt;
        }
        return LockGuard(g, died);
    }

    void notify() { detail::check(shmkit_segment_notify(h_.get())); }
    std::uint32_t change_count() const {
        std::uint32_t c = 0;
        detail::check(shmkit_segment_change_count(h_.get(), &c));
        return c;
    }
    /// Sleeps until the change counter differs from `seen`; the new count, or std::nullopt on
    /// timeout.
    template <class Rep = int64_t, class Period = std::milli>
    std::optional<std::uint32_t> wait_change(std::uint32_t seen, std::chrono::duration<Rep, Period> timeout = wait_forever) const {
        std::uint32_t now = 0;
        if (!detail::check_timeout(shmkit_segment_wait_change(h_.get(), seen, detail::millis(timeout), &now))) {
            return std::nullopt;
        }
        return now;
    }
    Format format() const {
        shmkit_format f{};
        detail::check(shmkit_segment_format(h_.get(), &f));
        return Format::from(f);
    }
    bool is_removed() const {
        bool r = false;
        detail::check(shmkit_segment_is_removed(h_.get(), &r));
        return r;
    }

    explicit operator bool() const noexcept { return bool(h_); }
    void close() noexcept { h_.reset(); }
    shmkit_segment *c_handle() const noexcept { return h_.get(); }

private:
    explicit Segment(shmkit_segment *h) noexcept : h_(h) {}
    detail::Handle<shmkit_segment, shmkit_segment_close> h_;
};

/// Removes the name now (like shm_unlink); open handles keep working.
inline void remove(const std::string &name) { detail::check(shmkit_remove(name.c_str())); }

// ---- cells ---------------------------------------------------------------------------------

struct CellOptions {
    std::uint32_t slot_count = 0;          ///< 0: 3
    std::uint32_t mode = 0;                ///< 0: 0600
    Lifetime lifetime = Lifetime::last_close;
    std::chrono::microseconds spin{0};
    std::string format;
    bool exclusive = false;                ///< the only writer while open (see shmkit.h)

    shmkit_cell_options c() const {
        shmkit_cell_options o{};
        o.slot_count = slot_count;
        o.mode = mode;
        o.lifetime = static_cast<shmkit_lifetime>(lifetime);
        o.spin_us = static_cast<std::uint64_t>(spin.count() < 0 ? 0 : spin.count());
        o.format = format.empty() ? nullptr : format.c_str();
        o.exclusive = exclusive ? 1 : 0;
        return o;
    }
};

/// A copied value and its sequence number.
struct Value {
    std::uint64_t seq = 0;
    std::vector<std::uint8_t> data;
    std::string_view text() const noexcept {
        return std::string_view(reinterpret_cast<const char *>(data.data()), data.size());
    }
};

class Cell {
public:
    Cell() noexcept = default;

    static Cell create(const std::string &name, std::size_t capacity, const CellOptions &opts = {}) {
        auto o = opts.c();
        shmkit_cell *h = nullptr;
        detail::check(shmkit_cell_create(name.c_str(), capacity, &o, &h));
        return Cell(h);
    }
    static Cell open(const std::string &name, Access access = Access::read_write, const CellOptions &opts = {}) {
        auto o = opts.c();
        shmkit_cell *h = nullptr;
        detail::check(shmkit_cell_open(name.c_str(), static_cast<shmkit_access>(access), &o, &h));
        return Cell(h);
    }
    /// Opens the cell, waiting for it to appear (a reader started before its writer).
    template <class Rep = int64_t, class Period = std::milli>
    static Cell open_wait(const std::string &name, Access access = Access::read_only,
                          std::chrono::duration<Rep, Period> timeout = wait_forever, const CellOptions &opts = {}) {
        auto o = opts.c();
        shmkit_cell *h = nullptr;
        detail::check(shmkit_cell_open_wait(name.c_str(), static_cast<shmkit_access>(access), &o,
                                            detail::millis(timeout), &h));
        return Cell(h);
    }
    static Cell open_or_create(const std::string &name, std::size_t capacity, const CellOptions &opts = {}) {
        auto o = opts.c();
        shmkit_cell *h = nullptr;
        detail::check(shmkit_cell_open_or_create(name.c_str(), capacity, &o, &h));
        return Cell(h);
    }

    /// Publishes a new value; its sequence number.
    std::uint64_t publish(const void *data, std::size_t len) {
        std::uint64_t seq = 0;
        detail::check(shmkit_cell_publish(h_.get(), data, len, &seq));
        return seq;
    }
    std::uint64_t publish(std::string_view text) { return publish(text.data(), text.size()); }
    std::uint64_t publish(Bytes b) { return publish(b.data(), b.size()); }

    /// Copies the newest value into `buf` (resized to fit); its sequence number.
    std::uint64_t read(std::vector<std::uint8_t> &buf) const {
        if (buf.size() < capacity_) {
            buf.resize(capacity_);
        }
        std::size_t len = 0;
        std::uint64_t seq = 0;
        detail::check(shmkit_cell_read(h_.get(), buf.data(), buf.size(), &len, &seq));
        buf.resize(len);
        return seq;
    }
    Value read() const {
        Value v;
        v.seq = read(v.data);
        return v;
    }
    std::string read_string() const { return std::string(read().text()); }

    /// Sleeps until a value newer than `seq` exists; the newest sequence number (throws Error
    /// with SHMKIT_TIMEOUT).
    template <class Rep = int64_t, class Period = std::milli>
    std::uint64_t wait_newer(std::uint64_t seq, std::chrono::duration<Rep, Period> timeout = wait_forever) const {
        std::uint64_t n = 0;
        detail::check(shmkit_cell_wait_newer(h_.get(), seq, detail::millis(timeout), &n));
        return n;
    }
    /// As wait_newer, std::nullopt on timeout.
    template <class Rep = int64_t, class Period = std::milli>
    std::optional<std::uint64_t> try_wait_newer(std::uint64_t seq, std::chrono::duration<Rep, Period> timeout) const {
        std::uint64_t n = 0;
        if (!detail::check_timeout(shmkit_cell_wait_newer(h_.get(), seq, detail::millis(timeout), &n))) {
            return std::nullopt;
        }
        return n;
    }

    std::uint64_t seq() const {
        std::uint64_t s = 0;
        detail::check(shmkit_cell_seq(h_.get(), &s));
        return s;
    }
    std::size_t capacity() const noexcept { return capacity_; }
    std::string name() const {
        const char *n = nullptr;
        detail::check(shmkit_cell_name(h_.get(), &n));
        return n;
    }
    Format format() const {
        shmkit_format f{};
        detail::check(shmkit_cell_format(h_.get(), &f));
        return Format::from(f);
    }

    explicit operator bool() const noexcept { return bool(h_); }
    void close() noexcept { h_.reset(); }
    shmkit_cell *c_handle() const noexcept { return h_.get(); }

private:
    explicit Cell(shmkit_cell *h) : h_(h) { detail::check(shmkit_cell_capacity(h, &capacity_)); }
    detail::Handle<shmkit_cell, shmkit_cell_close> h_;
    std::size_t capacity_ = 0;
};

// ---- streams -------------------------------------------------------------------------------

struct StreamOptions {
    std::size_t max_frame = 0;             ///< 0: 64 KiB (or one picture of an image format)
    std::size_t ring = 0;                  ///< 0: 8 maximum frames
    Policy policy = Policy::overwrite;
    std::uint32_t subscribers = 0;         ///< 0: 32
    JoinAt from = JoinAt::newest;
    std::chrono::microseconds spin{0};
    std::uint32_t mode = 0;
    Lifetime lifetime = Lifetime::last_close;
    std::string format;

    shmkit_stream_options c() const {
        shmkit_stream_options o{};
        o.max_frame = max_frame;
        o.ring = ring;
        o.policy = static_cast<shmkit_policy>(policy);
        o.subscribers = subscribers;
        o.from = static_cast<shmkit_join_at>(from);
        o.spin_us = static_cast<std::uint64_t>(spin.count() < 0 ? 0 : spin.count());
        o.mode = mode;
        o.lifetime = static_cast<shmkit_lifetime>(lifetime);
        o.format = format.empty() ? nullptr : format.c_str();
        return o;
    }
};

class Publisher;

/// Ring space lent for the next frame: fill bytes(), then commit(). Destroyed uncommitted, it is
/// abandoned (nothing is published).
class Loan {
public:
    Loan(Loan &&o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(o.bytes_) {}
    Loan &operator=(Loan &&) = delete;
    Loan(const Loan &) = delete;
    Loan &operator=(const Loan &) = delete;
    ~Loan() {
        if (p_) {
            (void)shmkit_publisher_abandon(p_);
        }
    }
    MutableBytes bytes() const noexcept { return bytes_; }
    std::uint8_t *data() const noexcept { return bytes_.data(); }
    std::size_t size() const noexcept { return bytes_.size(); }
    /// Publishes the first `len` bytes (all by default); the frame's sequence number.
    std::uint64_t commit(std::size_t len) {
        std::uint64_t seq = 0;
        detail::check(shmkit_publisher_commit(p_, len, &seq));
        p_ = nullptr;
        return seq;
    }
    std::uint64_t commit() { return commit(bytes_.size()); }

private:
    friend class Publisher;
    Loan(shmkit_publisher *p, MutableBytes b) noexcept : p_(p), bytes_(b) {}
    shmkit_publisher *p_ = nullptr;
    MutableBytes bytes_;
};

class Publisher {
public:
    Publisher() noexcept = default;

    static Publisher create(const std::string &name, const StreamOptions &opts = {}) {
        auto o = opts.c();
        shmkit_publisher *h = nullptr;
        detail::check(shmkit_publisher_create(name.c_str(), &o, &h));
        return Publisher(h);
    }
    template <class Rep = int64_t, class Period = std::milli>
    static Publisher open(const std::string &name, std::chrono::duration<Rep, Period> wait = std::chrono::milliseconds(0),
                          const StreamOptions &opts = {}) {
        auto o = opts.c();
        shmkit_publisher *h = nullptr;
        detail::check(shmkit_publisher_open(name.c_str(), &o, detail::millis(wait), &h));
        return Publisher(h);
    }
    template <class Rep = int64_t, class Period = std::milli>
    static Publisher create_or_open(const std::string &name, const StreamOptions &opts = {},
                                    std::chrono::duration<Rep, Period> wait = std::chrono::milliseconds(0)) {
        auto o = opts.c();
        shmkit_publisher *h = nullptr;
        detail::check(shmkit_publisher_create_or_open(name.c_str(), &o, detail::millis(wait), &h));
        return Publisher(h);
    }

    /// Copies a frame in and publishes it (block streams: waits for room at most `timeout`).
    template <class Rep = int64_t, class Period = std::milli>
    std::uint64_t send(const void *data, std::size_t len, std::chrono::duration<Rep, Period> timeout = wait_forever) {
        std::uint64_t seq = 0;
        detail::check(shmkit_publisher_send(h_.get(), data, len, detail::millis(timeout), &seq));
        return seq;
    }
    std::uint64_t send(std::string_view text) { return send(text.data(), text.size()); }
    std::uint64_t send(Bytes b) { return send(b.data(), b.size()); }

    /// Lends `len` bytes of the ring to fill in place (zero-copy).
    template <class Rep = int64_t, class Period = std::milli>
    Loan loan(std::size_t len, std::chrono::duration<Rep, Period> timeout = wait_forever) {
        void *p = nullptr;
        detail::check(shmkit_publisher_loan(h_.get(), len, detail::millis(timeout), &p));
        return Loan(h_.get(), MutableBytes(static_cast<std::uint8_t *>(p), len));
    }

    std::size_t max_frame() const {
        std::size_t n = 0;
        detail::check(shmkit_publisher_max_frame(h_.get(), &n));
        return n;
    }
    std::uint64_t next_seq() const {
        std::uint64_t s = 0;
        detail::check(shmkit_publisher_next_seq(h_.get(), &s));
        return s;
    }
    std::size_t subscribers() const {
        std::size_t n = 0;
        detail::check(shmkit_publisher_subscribers(h_.get(), &n));
        return n;
    }
    std::string name() const {
        const char *n = nullptr;
        detail::check(shmkit_publisher_name(h_.get(), &n));
        return n;
    }
    Format format() const {
        shmkit_format f{};
        detail::check(shmkit_publisher_format(h_.get(), &f));
        return Format::from(f);
    }

    explicit operator bool() const noexcept { return bool(h_); }
    void close() noexcept { h_.reset(); }
    shmkit_publisher *c_handle() const noexcept { return h_.get(); }

private:
    explicit Publisher(shmkit_publisher *h) noexcept : h_(h) {}
    detail::Handle<shmkit_publisher, shmkit_publisher_close> h_;
};

/// A frame read in place; released (given back) when destroyed. On an overwrite stream the
/// publisher may overwrite it meanwhile: copy what you need, then release() says whether it was
/// whole.
class FrameView {
public:
    FrameView(FrameView &&o) noexcept : s_(std::exchange(o.s_, nullptr)), bytes_(o.bytes_), r_(o.r_) {}
    FrameView &operator=(FrameView &&) = delete;
    FrameView(const FrameView &) = delete;
    FrameView &operator=(const FrameView &) = delete;
    ~FrameView() {
        if (s_) {
            (void)shmkit_subscriber_release(s_, nullptr);
        }
    }
    Bytes bytes() const noexcept { return bytes_; }
    const std::uint8_t *data() const noexcept { return bytes_.data(); }
    std::size_t size() const noexcept { return bytes_.size(); }
    const Received &received() const noexcept { return r_; }
    /// Whether it is still whole (not overwritten) so far.
    bool is_intact() const {
        bool ok = true;
        detail::check(shmkit_subscriber_is_intact(s_, &ok));
        return ok;
    }
    /// Gives it back: true if it stayed whole while in use, false if the publisher overwrote it.
    bool release() {
        if (!s_) {
            return true;
        }
        shmkit_subscriber *s = std::exchange(s_, nullptr);
        shmkit_status st = shmkit_subscriber_release(s, nullptr);
        if (st == SHMKIT_OVERWRITTEN) {
            return false;
        }
        detail::check(st);
        return true;
    }

private:
    friend class Subscriber;
    FrameView(shmkit_subscriber *s, Bytes b, Received r) noexcept : s_(s), bytes_(b), r_(r) {}
    shmkit_subscriber *s_ = nullptr;
    Bytes bytes_;
    Received r_{};
};

class Subscriber {
public:
    Subscriber() noexcept = default;

    /// Subscribes, waiting at most `timeout` for the stream to appear (0: fail at once).
    template <class Rep = int64_t, class Period = std::milli>
    static Subscriber open(const std::string &name, const StreamOptions &opts = {},
                           std::chrono::duration<Rep, Period> timeout = std::chrono::milliseconds(0)) {
        auto o = opts.c();
        shmkit_subscriber *h = nullptr;
        detail::check(shmkit_subscriber_open(name.c_str(), &o, detail::millis(timeout), &h));
        return Subscriber(h);
    }

    /// Receives the next frame by copy into `buf` (resized to the frame); throws on timeout.
    template <class Rep = int64_t, class Period = std::milli>
    Received recv(std::vector<std::uint8_t> &buf, std::chrono::duration<Rep, Period> timeout = wait_forever) {
        auto r = try_recv(buf, timeout);
        if (!r) {
            throw Error(SHMKIT_TIMEOUT, shmkit_last_error());
        }
        return *r;
    }
    /// As recv, std::nullopt on timeout (the default timeout, 0: what is there now).
    template <class Rep = int64_t, class Period = std::milli>
    std::optional<Received> try_recv(std::vector<std::uint8_t> &buf,
                                     std::chrono::duration<Rep, Period> timeout = std::chrono::milliseconds(0)) {
        if (buf.size() < max_frame_) {
            buf.resize(max_frame_);
        }
        Received r{};
        if (!detail::check_timeout(shmkit_subscriber_recv(h_.get(), buf.data(), buf.size(), detail::millis(timeout), &r))) {
            return std::nullopt;
        }
        buf.resize(r.len);
        return r;
    }
    /// The next frame in place (zero-copy); throws on timeout.
    template <class Rep = int64_t, class Period = std::milli>
    FrameView recv_view(std::chrono::duration<Rep, Period> timeout = wait_forever) {
        auto v = try_recv_view(timeout);
        if (!v) {
            throw Error(SHMKIT_TIMEOUT, shmkit_last_error());
        }
        return std::move(*v);
    }
    template <class Rep = int64_t, class Period = std::milli>
    std::optional<FrameView> try_recv_view(std::chrono::duration<Rep, Period> timeout = std::chrono::milliseconds(0)) {
        const std::uint8_t *p = nullptr;
        Received r{};
        if (!detail::check_timeout(shmkit_subscriber_recv_view(h_.get(), detail::millis(timeout), &p, &r))) {
            return std::nullopt;
        }
        return FrameView(h_.get(), Bytes(p, r.len), r);
    }
    /// Receives the next frame and calls f(Bytes) with it, in place on block streams; throws on
    /// timeout. `f` must not use this subscriber; an exception from `f` is rethrown here.
    template <class F, class Rep = int64_t, class Period = std::milli>
    Received recv_with(F &&f, std::chrono::duration<Rep, Period> timeout = wait_forever) {
        struct Ctx {
            F *f;
            std::exception_ptr error;
        } ctx{&f, nullptr};
        auto tramp = [](void *c, const std::uint8_t *data, std::size_t len) {
            auto *x = static_cast<Ctx *>(c);
            try {
                (*x->f)(Bytes(data, len));
            } catch (...) {
                x->error = std::current_exception();
            }
        };
        Received r{};
        detail::check(shmkit_subscriber_recv_with(h_.get(), detail::millis(timeout), tramp, &ctx, &r));
        if (ctx.error) {
            std::rethrow_exception(ctx.error);
        }
        return r;
    }

    /// Skips to the newest frame; how many were skipped.
    std::uint64_t seek_newest() {
        std::uint64_t n = 0;
        detail::check(shmkit_subscriber_seek_newest(h_.get(), &n));
        return n;
    }
    std::uint64_t lost() const {
        std::uint64_t n = 0;
        detail::check(shmkit_subscriber_lost(h_.get(), &n));
        return n;
    }
    std::uint64_t lag() const {
        std::uint64_t n = 0;
        detail::check(shmkit_subscriber_lag(h_.get(), &n));
        return n;
    }
    std::size_t max_frame() const noexcept { return max_frame_; }
    Policy policy() const {
        shmkit_policy p = SHMKIT_OVERWRITE;
        detail::check(shmkit_subscriber_policy(h_.get(), &p));
        return static_cast<Policy>(p);
    }
    bool is_removed() const {
        bool r = false;
        detail::check(shmkit_subscriber_is_removed(h_.get(), &r));
        return r;
    }
    std::string name() const {
        const char *n = nullptr;
        detail::check(shmkit_subscriber_name(h_.get(), &n));
        return n;
    }
    Format format() const {
        shmkit_format f{};
        detail::check(shmkit_subscriber_format(h_.get(), &f));
        return Format::from(f);
    }

    explicit operator bool() const noexcept { return bool(h_); }
    void close() noexcept { h_.reset(); }
    shmkit_subscriber *c_handle() const noexcept { return h_.get(); }

private:
    explicit Subscriber(shmkit_subscriber *h) : h_(h) { detail::check(shmkit_subscriber_max_frame(h, &max_frame_)); }
    detail::Handle<shmkit_subscriber, shmkit_subscriber_close> h_;
    std::size_t max_frame_ = 0;
};

// ---- notifiers -----------------------------------------------------------------------------

/// Wakes an event loop when a cell, stream or segment changes: a descriptor (fd(), Linux and
/// macOS) or a callback on the notifier's own thread (every platform).
class Notifier {
public:
    Notifier() noexcept = default;

    /// A descriptor notifier (throws SHMKIT_UNSUPPORTED on Windows: use a callback).
    static Notifier watch(const Cell &c) { return make(&shmkit_notifier_for_cell, c.c_handle(), {}); }
    static Notifier watch(const Subscriber &s) { return make(&shmkit_notifier_for_subscriber, s.c_handle(), {}); }
    static Notifier watch(const Segment &s) { return make(&shmkit_notifier_for_segment, s.c_handle(), {}); }
    /// A callback notifier: `f` runs on the notifier's thread at each change.
    static Notifier watch(const Cell &c, std::function<void()> f) { return make(&shmkit_notifier_for_cell, c.c_handle(), std::move(f)); }
    static Notifier watch(const Subscriber &s, std::function<void()> f) { return make(&shmkit_notifier_for_subscriber, s.c_handle(), std::move(f)); }
    static Notifier watch(const Segment &s, std::function<void()> f) { return make(&shmkit_notifier_for_segment, s.c_handle(), std::move(f)); }

    /// The descriptor to poll for reading (owned by the notifier).
    int fd() const {
        int32_t fd = -1;
        detail::check(shmkit_notifier_fd(h_.get(), &fd));
        return fd;
    }
    /// Empties the descriptor; whether a change had been signalled.
    bool clear() {
        bool raised = false;
        detail::check(shmkit_notifier_clear(h_.get(), &raised));
        return raised;
    }

    explicit operator bool() const noexcept { return bool(h_); }
    void close() noexcept { h_.reset(); }

private:
    template <class H>
    using Maker = shmkit_status (*)(const H *, shmkit_notify_fn, void *, shmkit_notifier **);

    template <class H>
    static Notifier make(Maker<H> maker, const H *handle, std::function<void()> f) {
        Notifier n;
        shmkit_notifier *h = nullptr;
        if (f) {
            n.f_ = std::make_unique<std::function<void()>>(std::move(f));
            auto tramp = [](void *ctx) {
                try {
                    (*static_cast<std::function<void()> *>(ctx))();
                } catch (...) {
                    // Nowhere to report it on the notifier's thread; an exception must not
                    // unwind into the library.
                }
            };
            detail::check(maker(handle, tramp, n.f_.get(), &h));
        } else {
            detail::check(maker(handle, nullptr, nullptr, &h));
        }
        n.h_ = detail::Handle<shmkit_notifier, shmkit_notifier_close>(h);
        return n;
    }
    // Declared before h_: destroyed after it, so the callback outlives the notifier's thread.
    std::unique_ptr<std::function<void()>> f_;
    detail::Handle<shmkit_notifier, shmkit_notifier_close> h_;
};

/// The C library's interface version matches this header's (check at start-up when linking
/// dynamically).
inline bool abi_matches() noexcept { return shmkit_abi_version() == SHMKIT_ABI_VERSION; }

} // namespace shmkit

#endif // SHMKIT_HPP
