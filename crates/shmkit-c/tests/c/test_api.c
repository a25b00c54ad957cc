/* The C API, from C: every kind of handle doing its job, and every error path the header
 * promises (bad name, missing segment, null handle, closed handle, buffer too small, timeout,
 * owner died, bad enumeration values, wrong thread), each checked for its status and message.
 *
 * Built with -Wall -Wextra -Werror -fsanitize=address,undefined by .ci/c.sh, and run once more
 * under valgrind. Names start with "t-" (CI checks that nothing is left in /dev/shm).
 *
 *   test_api              run every test
 *   test_api --child-lock NAME
 *                         (internal) lock NAME's segment and die holding the lock
 */
#define _POSIX_C_SOURCE 200809L
#include "shmkit.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;
static int checks = 0;
static char self_path[4096];

#define EXPECT(cond)                                                                       \
    do {                                                                                   \
        checks++;                                                                          \
        if (!(cond)) {                                                                     \
            failures++;                                                                    \
            fprintf(stderr, "%s:%d: FAILED: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
                    shmkit_last_error());                                                  \
        }                                                                                  \
    } while (0)

/* A call that must return `want`; with a failure status, the message must mention `words`. */
#define EXPECT_STATUS(call, want, words)                                                   \
    do {                                                                                   \
        shmkit_status got_ = (call);                                                       \
        checks++;                                                                          \
        if (got_ != (want)) {                                                              \
            failures++;                                                                    \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n", __FILE__, \
                    __LINE__, #call, shmkit_status_name(got_), shmkit_status_name(want),   \
                    shmkit_last_error());                                                  \
        } else if ((want) != SHMKIT_OK && strstr(shmkit_last_error(), (words)) == NULL) {  \
            failures++;                                                                    \
            fprintf(stderr, "%s:%d: message of %s lacks \"%s\": %s\n", __FILE__, __LINE__, #call, \
                    (words), shmkit_last_error());                                         \
        }                                                                                  \
    } while (0)

#define OK(call) EXPECT_STATUS(call, SHMKIT_OK, "")

static void unique(char *buf, size_t len, const char *what) {
    static int n = 0;
    snprintf(buf, len, "t-c-%s-%d-%d", what, (int)getpid(), n++);
}

static void test_version(void) {
    EXPECT(shmkit_abi_version() == SHMKIT_ABI_VERSION);
    EXPECT(strlen(shmkit_version()) >= 5);
    EXPECT(strcmp(shmkit_status_name(SHMKIT_BUFFER_TOO_SMALL), "SHMKIT_BUFFER_TOO_SMALL") == 0);
    EXPECT(strcmp(shmkit_status_name(12345), "SHMKIT_UNKNOWN_STATUS") == 0);
}

static void test_bad_arguments(void) {
    shmkit_cell *cell = (shmkit_cell *)0x1; /* must be overwritten with NULL on failure */
    EXPECT_STATUS(shmkit_cell_create("../etc/passwd", 64, NULL, &cell), SHMKIT_INVALID_NAME, "../etc/passwd");
    EXPECT(cell == NULL);
    EXPECT_STATUS(shmkit_cell_create("", 64, NULL, &cell), SHMKIT_INVALID_NAME, "");
    EXPECT_STATUS(shmkit_cell_create("a-name-that-is-far-too-long-for-macos", 64, NULL, &cell),
                  SHMKIT_INVALID_NAME, "30");
    EXPECT_STATUS(shmkit_cell_create("\xff\xfe", 64, NULL, &cell), SHMKIT_INVALID_NAME, "UTF-8");
    EXPECT_STATUS(shmkit_cell_create(NULL, 64, NULL, &cell), SHMKIT_INVALID_ARGUMENT, "name is NULL");
    EXPECT_STATUS(shmkit_cell_create("t-c-x", 64, NULL, NULL), SHMKIT_INVALID_ARGUMENT, "out");
    EXPECT_STATUS(shmkit_cell_open("t-c-x", 7, NULL, &cell), SHMKIT_INVALID_ARGUMENT, "access 7");

    char name[64];
    unique(name, sizeof name, "missing");
    EXPECT_STATUS(shmkit_cell_open(name, SHMKIT_READ_ONLY, NULL, &cell), SHMKIT_NOT_FOUND,
                  "is the writer running?");
    EXPECT_STATUS(shmkit_cell_open_wait(name, SHMKIT_READ_ONLY, NULL, 120, &cell), SHMKIT_TIMEOUT,
                  "appeared within");
    shmkit_segment *seg = NULL;
    EXPECT_STATUS(shmkit_segment_open(name, SHMKIT_READ_WRITE, NULL, &seg), SHMKIT_NOT_FOUND, name);
    shmkit_subscriber *sub = NULL;
    EXPECT_STATUS(shmkit_subscriber_open(name, NULL, 0, &sub), SHMKIT_NOT_FOUND, "no such segment");

    /* Null handles. */
    uint64_t seq = 0;
    size_t len = 0;
    char buf[8];
    EXPECT_STATUS(shmkit_cell_publish(NULL, "x", 1, &seq), SHMKIT_INVALID_ARGUMENT, "cell handle is NULL");
    EXPECT_STATUS(shmkit_cell_read(NULL, buf, sizeof buf, &len, &seq), SHMKIT_INVALID_ARGUMENT, "NULL");
    EXPECT_STATUS(shmkit_publisher_send(NULL, "x", 1, 0, NULL), SHMKIT_INVALID_ARGUMENT, "publisher handle is NULL");
    EXPECT_STATUS(shmkit_subscriber_recv(NULL, buf, sizeof buf, 0, NULL), SHMKIT_INVALID_ARGUMENT, "NULL");
    EXPECT_STATUS(shmkit_segment_lock(NULL, 0, NULL, NULL), SHMKIT_INVALID_ARGUMENT, "NULL");
    EXPECT_STATUS(shmkit_notifier_fd(NULL, NULL), SHMKIT_INVALID_ARGUMENT, "NULL");
    EXPECT_STATUS(shmkit_guard_unlock(NULL), SHMKIT_INVALID_ARGUMENT, "NULL");
    EXPECT_STATUS(shmkit_segment_list_len(NULL, &len), SHMKIT_INVALID_ARGUMENT, "NULL");
    /* Closing NULL, or a variable holding NULL, does nothing. */
    shmkit_cell_close(NULL);
    shmkit_cell_close(&cell);
    shmkit_publisher_close(NULL);
    shmkit_subscriber_close(NULL);
    shmkit_segment_close(NULL);
    shmkit_notifier_close(NULL);
    shmkit_segment_list_free(NULL);

    /* Bad options. */
    shmkit_cell_options co = {0};
    co.format = "rgba8:0x10";
    EXPECT_STATUS(shmkit_cell_create("t-c-x", 0, &co, &cell), SHMKIT_INVALID_ARGUMENT, "has none");
    co.format = NULL;
    co.mode = 01000;
    EXPECT_STATUS(shmkit_cell_create("t-c-x", 16, &co, &cell), SHMKIT_INVALID_ARGUMENT, "0777");
    co.mode = 0;
    co.lifetime = 9;
    EXPECT_STATUS(shmkit_cell_create("t-c-x", 16, &co, &cell), SHMKIT_INVALID_ARGUMENT, "lifetime 9");
    shmkit_stream_options so = {0};
    so.policy = 3;
    shmkit_publisher *pub = NULL;
    EXPECT_STATUS(shmkit_publisher_create("t-c-x", &so, &pub), SHMKIT_INVALID_ARGUMENT, "policy 3");
    so.policy = SHMKIT_OVERWRITE;
    so.max_frame = 1 << 20;
    so.ring = 1 << 16;
    EXPECT_STATUS(shmkit_publisher_create("t-c-x", &so, &pub), SHMKIT_INVALID_SIZE, "two frames");
    EXPECT(pub == NULL);
}

static void test_cell(void) {
    char name[64];
    unique(name, sizeof name, "cell");
    shmkit_cell *w = NULL, *r = NULL;
    OK(shmkit_cell_create(name, 32, NULL, &w));
    shmkit_cell *dup = (shmkit_cell *)0x1;
    EXPECT_STATUS(shmkit_cell_create(name, 32, NULL, &dup), SHMKIT_ALREADY_EXISTS, "exists already");
    EXPECT(dup == NULL); /* a failed call leaves NULL in its out-parameter */
    OK(shmkit_cell_open(name, SHMKIT_READ_ONLY, NULL, &r));

    char buf[64];
    size_t len = 99;
    uint64_t seq = 99, newest = 0;
    OK(shmkit_cell_read(r, buf, sizeof buf, &len, &seq));
    EXPECT(len == 0 && seq == 0);
    EXPECT_STATUS(shmkit_cell_wait_newer(r, 0, 50, &newest), SHMKIT_TIMEOUT, "no value newer");

    OK(shmkit_cell_publish(w, "a longer first value", 20, &seq));
    EXPECT(seq == 1);
    OK(shmkit_cell_publish(w, "short", 5, &seq));
    EXPECT(seq == 2);
    OK(shmkit_cell_wait_newer(r, 0, 1000, &newest));
    EXPECT(newest == 2);
    OK(shmkit_cell_read(r, buf, sizeof buf, &len, &seq));
    EXPECT(len == 5 && seq == 2 && memcmp(buf, "short", 5) == 0); /* no stale tail */

    /* Buffer too small: the needed length, nothing copied (no writer races us), the value
       still there. */
    memset(buf, '#', sizeof buf);
    EXPECT_STATUS(shmkit_cell_read(r, buf, 3, &len, &seq), SHMKIT_BUFFER_TOO_SMALL, "more than the 3-byte buffer");
    EXPECT(len == 5 && buf[0] == '#');
    EXPECT_STATUS(shmkit_cell_read(r, NULL, 8, &len, &seq), SHMKIT_INVALID_ARGUMENT, "buf is NULL");

    EXPECT_STATUS(shmkit_cell_publish(r, "x", 1, NULL), SHMKIT_PERMISSION_DENIED, "read-only");
    char big[40] = {0};
    EXPECT_STATUS(shmkit_cell_publish(w, big, sizeof big, NULL), SHMKIT_INVALID_SIZE, "capacity of 32");
    EXPECT_STATUS(shmkit_cell_publish(w, NULL, 3, NULL), SHMKIT_INVALID_ARGUMENT, "data is NULL");
    OK(shmkit_cell_publish(w, NULL, 0, &seq)); /* an empty value is a value */
    EXPECT(seq == 3);

    size_t cap = 0;
    OK(shmkit_cell_capacity(r, &cap));
    EXPECT(cap == 32);
    const char *n = NULL;
    OK(shmkit_cell_name(r, &n));
    EXPECT(n && strcmp(n, name) == 0);
    shmkit_format f;
    OK(shmkit_cell_format(r, &f));
    EXPECT(f.kind == SHMKIT_FORMAT_NONE && f.text && f.text[0] == 0);

    /* A closed handle is NULL: using it is an error, not a crash. */
    shmkit_cell_close(&r);
    EXPECT(r == NULL);
    EXPECT_STATUS(shmkit_cell_read(r, buf, sizeof buf, &len, &seq), SHMKIT_INVALID_ARGUMENT, "NULL");
    shmkit_cell_close(&w);

    /* Open-or-create, with a format, and the mismatch message. */
    shmkit_cell_options co = {0};
    co.format = "gray8:4x2";
    OK(shmkit_cell_open_or_create(name, 0, &co, &w));
    OK(shmkit_cell_format(w, &f));
    EXPECT(f.kind == SHMKIT_FORMAT_IMAGE && f.pixel == SHMKIT_PIXEL_GRAY8 && f.width == 4 &&
           f.height == 2 && f.frame_len == 8 && strcmp(f.text, "gray8:4x2") == 0);
    co.format = "text/plain";
    EXPECT_STATUS(shmkit_cell_open_or_create(name, 0, &co, &r), SHMKIT_INCOMPATIBLE, "format");
    EXPECT_STATUS(shmkit_publisher_open(name, NULL, 0, &(shmkit_publisher *){NULL}), SHMKIT_INCOMPATIBLE, "cell");
    shmkit_cell_close(&w);

    /* An exclusive writer holds the lock while it is open. */
    shmkit_cell_options xo = {0};
    xo.exclusive = 1;
    OK(shmkit_cell_create(name, 16, &xo, &w));
    OK(shmkit_cell_open(name, SHMKIT_READ_ONLY, NULL, &r));
    EXPECT(shmkit_cell_publish(w, "mine", 4, &seq) == SHMKIT_OK && seq == 1);
    EXPECT_STATUS(shmkit_cell_open(name, SHMKIT_READ_WRITE, &xo, &(shmkit_cell *){NULL}), SHMKIT_TIMEOUT,
                  "another writer");
    EXPECT_STATUS(shmkit_cell_open(name, SHMKIT_READ_ONLY, &xo, &(shmkit_cell *){NULL}),
                  SHMKIT_INVALID_ARGUMENT, "read-only");
    shmkit_cell_close(&w);
    OK(shmkit_cell_open(name, SHMKIT_READ_WRITE, &xo, &w));
    EXPECT(shmkit_cell_publish(w, "next", 4, &seq) == SHMKIT_OK && seq == 2);
    shmkit_cell_close(&w);
    shmkit_cell_close(&r);
}

static void test_stream(void) {
    char name[64];
    unique(name, sizeof name, "stream");
    shmkit_stream_options so = {0};
    so.max_frame = 256;
    so.policy = SHMKIT_BLOCK;
    so.format = "text/plain";
    shmkit_publisher *p = NULL;
    shmkit_subscriber *s = NULL;
    OK(shmkit_publisher_create(name, &so, &p));
    EXPECT_STATUS(shmkit_publisher_open(name, NULL, 50, &(shmkit_publisher *){NULL}), SHMKIT_TIMEOUT,
                  "one publisher at a time");
    OK(shmkit_subscriber_open(name, NULL, 0, &s));

    uint64_t seq = 0;
    char buf[300];
    shmkit_received r;
    EXPECT_STATUS(shmkit_subscriber_recv(s, buf, sizeof buf, 0, &r), SHMKIT_TIMEOUT, "no frame now");
    EXPECT_STATUS(shmkit_subscriber_recv(s, buf, sizeof buf, 30, &r), SHMKIT_TIMEOUT, "no frame within");

    OK(shmkit_publisher_send(p, "frame one", 9, SHMKIT_FOREVER, &seq));
    EXPECT(seq == 1);
    OK(shmkit_subscriber_recv(s, buf, sizeof buf, 1000, &r));
    EXPECT(r.seq == 1 && r.len == 9 && r.lost == 0 && r.time_ns > 0 && memcmp(buf, "frame one", 9) == 0);

    /* Too small a buffer keeps the frame for the next call. */
    OK(shmkit_publisher_send(p, "0123456789", 10, 0, &seq));
    EXPECT_STATUS(shmkit_subscriber_recv(s, buf, 4, 1000, &r), SHMKIT_BUFFER_TOO_SMALL, "10 bytes");
    EXPECT(r.len == 10 && r.seq == 2);
    uint64_t lag = 0;
    OK(shmkit_subscriber_lag(s, &lag));
    EXPECT(lag == 1);
    OK(shmkit_subscriber_recv(s, buf, sizeof buf, 0, &r));
    EXPECT(r.seq == 2 && r.len == 10 && memcmp(buf, "0123456789", 10) == 0);

    /* A loan: filled in place, committed shorter than lent. */
    void *mem = NULL;
    OK(shmkit_publisher_loan(p, 100, 1000, &mem));
    EXPECT(mem != NULL);
    EXPECT_STATUS(shmkit_publisher_loan(p, 10, 0, &mem), SHMKIT_INVALID_ARGUMENT, "outstanding");
    EXPECT_STATUS(shmkit_publisher_send(p, "x", 1, 0, NULL), SHMKIT_INVALID_ARGUMENT, "outstanding");
    EXPECT(mem == NULL); /* a failed loan says NULL */
    EXPECT_STATUS(shmkit_publisher_commit(p, 101, NULL), SHMKIT_INVALID_SIZE, "loan of 100");
    /* the loan survived the failed commit: still outstanding */
    EXPECT_STATUS(shmkit_publisher_loan(p, 100, 0, &mem), SHMKIT_INVALID_ARGUMENT, "outstanding");
    EXPECT_STATUS(shmkit_publisher_commit(p, 5, &seq), SHMKIT_OK, "");
    EXPECT(seq == 3);
    EXPECT_STATUS(shmkit_publisher_commit(p, 5, &seq), SHMKIT_INVALID_ARGUMENT, "no loan");
    OK(shmkit_publisher_loan(p, 16, 0, &mem));
    memcpy(mem, "in place", 8);
    OK(shmkit_publisher_commit(p, 8, &seq));
    EXPECT(seq == 4);
    OK(shmkit_publisher_loan(p, 16, 0, &mem));
    OK(shmkit_publisher_abandon(p)); /* nothing published */

    /* The in-place view, with its explicit release. */
    const uint8_t *data = NULL;
    OK(shmkit_subscriber_recv_view(s, 1000, &data, &r));
    EXPECT(r.seq == 3 && r.len == 5);
    OK(shmkit_subscriber_recv_view(s, 1000, &data, &r)); /* the next one releases the previous */
    EXPECT(r.seq == 4 && r.len == 8 && memcmp(data, "in place", 8) == 0);
    bool intact = false;
    OK(shmkit_subscriber_is_intact(s, &intact));
    EXPECT(intact);
    shmkit_received rel;
    OK(shmkit_subscriber_release(s, &rel));
    EXPECT(rel.seq == 4);
    OK(shmkit_subscriber_release(s, &rel)); /* nothing outstanding: nothing to do */
    EXPECT(rel.seq == 0);

    shmkit_format f;
    OK(shmkit_subscriber_format(s, &f));
    EXPECT(f.kind == SHMKIT_FORMAT_MEDIA && strcmp(f.text, "text/plain") == 0);
    shmkit_policy pol = 99;
    OK(shmkit_subscriber_policy(s, &pol));
    EXPECT(pol == SHMKIT_BLOCK);
    size_t subs = 0;
    OK(shmkit_publisher_subscribers(p, &subs));
    EXPECT(subs == 1);

    /* Seek to the newest: skipped frames are not lost. */
    for (int i = 0; i < 5; i++) {
        OK(shmkit_publisher_send(p, "skip", 4, 1000, NULL));
    }
    uint64_t skipped = 0, lost = 9;
    OK(shmkit_subscriber_seek_newest(s, &skipped));
    EXPECT(skipped == 4);
    OK(shmkit_subscriber_recv(s, buf, sizeof buf, 0, &r));
    EXPECT(r.seq == 9 && r.lost == 0);
    OK(shmkit_subscriber_lost(s, &lost));
    EXPECT(lost == 0);

    /* Block: a full ring times out a bounded send. */
    shmkit_status st = SHMKIT_OK;
    int sent = 0;
    while (sent < 10000 && (st = shmkit_publisher_send(p, buf, 256, 0, NULL)) == SHMKIT_OK) {
        sent++;
    }
    EXPECT(st == SHMKIT_TIMEOUT && sent > 0 && sent < 10000);
    EXPECT_STATUS(shmkit_publisher_send(p, buf, 256, 20, NULL), SHMKIT_TIMEOUT, "held the ring full");
    EXPECT_STATUS(shmkit_publisher_send(p, buf, 257, 0, NULL), SHMKIT_INVALID_SIZE, "maximum of 256");

    shmkit_subscriber_close(&s);
    shmkit_publisher_close(&p);
    EXPECT(s == NULL && p == NULL);
}

struct count_ctx {
    int calls;
    size_t len;
    char first;
};

static void on_frame(void *ctx, const uint8_t *data, size_t len) {
    struct count_ctx *c = ctx;
    c->calls++;
    c->len = len;
    c->first = len ? (char)data[0] : 0;
}

struct reenter_ctx {
    shmkit_subscriber *s;
    shmkit_status inner;
};

static void reenter(void *ctx, const uint8_t *data, size_t len) {
    (void)data;
    (void)len;
    struct reenter_ctx *c = ctx;
    uint64_t lost = 0;
    c->inner = shmkit_subscriber_lost(c->s, &lost);
}

static void test_callback_and_overwrite(void) {
    char name[64];
    unique(name, sizeof name, "over");
    shmkit_stream_options so = {0};
    so.max_frame = 1000;
    so.ring = 4096;
    shmkit_publisher *p = NULL;
    shmkit_subscriber *s = NULL;
    OK(shmkit_publisher_create(name, &so, &p));
    OK(shmkit_subscriber_open(name, NULL, 0, &s));

    struct count_ctx c = {0, 0, 0};
    shmkit_received r;
    OK(shmkit_publisher_send(p, "hello", 5, 0, NULL));
    OK(shmkit_subscriber_recv_with(s, 1000, on_frame, &c, &r));
    EXPECT(c.calls == 1 && c.len == 5 && c.first == 'h' && r.seq == 1);
    EXPECT_STATUS(shmkit_subscriber_recv_with(s, 0, NULL, NULL, &r), SHMKIT_INVALID_ARGUMENT, "callback");
    EXPECT_STATUS(shmkit_subscriber_recv_with(s, 10, on_frame, &c, &r), SHMKIT_TIMEOUT, "no frame");

    /* The callback may not use its own subscriber: an error, not a deadlock. */
    struct reenter_ctx rc = {s, SHMKIT_OK};
    OK(shmkit_publisher_send(p, "again", 5, 0, NULL));
    OK(shmkit_subscriber_recv_with(s, 1000, reenter, &rc, &r));
    EXPECT(rc.inner == SHMKIT_INVALID_ARGUMENT);

    /* An overwrite stream: a lapped view reports OVERWRITTEN at release; losses are counted. */
    const uint8_t *data = NULL;
    char frame[1000];
    memset(frame, 'z', sizeof frame);
    OK(shmkit_publisher_send(p, frame, sizeof frame, 0, NULL));
    OK(shmkit_subscriber_recv_view(s, 1000, &data, &r));
    for (int i = 0; i < 20; i++) {
        OK(shmkit_publisher_send(p, frame, sizeof frame, 0, NULL));
    }
    bool intact = true;
    OK(shmkit_subscriber_is_intact(s, &intact));
    EXPECT(!intact);
    EXPECT_STATUS(shmkit_subscriber_release(s, NULL), SHMKIT_OVERWRITTEN, "overwrote frame");
    char buf[1000];
    OK(shmkit_subscriber_recv(s, buf, sizeof buf, 0, &r));
    EXPECT(r.lost > 0);
    uint64_t lost = 0;
    OK(shmkit_subscriber_lost(s, &lost));
    EXPECT(lost == r.lost);
    /* A lapped view not released: the next receive releases it quietly and goes on. */
    /* (drain what is left first) */
    while (shmkit_subscriber_recv(s, buf, sizeof buf, 0, &r) == SHMKIT_OK) {
    }
    OK(shmkit_publisher_send(p, frame, sizeof frame, 0, NULL));
    OK(shmkit_subscriber_recv_view(s, 1000, &data, &r));
    for (int i = 0; i < 20; i++) {
        OK(shmkit_publisher_send(p, frame, sizeof frame, 0, NULL));
    }
    OK(shmkit_subscriber_recv(s, buf, sizeof buf, 1000, &r));
    EXPECT(r.len == sizeof frame && r.lost > 0);

    shmkit_subscriber_close(&s);
    shmkit_publisher_close(&p);
}

static void test_segment_and_lock(void) {
    char name[64];
    unique(name, sizeof name, "seg");
    shmkit_segment *seg = NULL, *ro = NULL;
    OK(shmkit_segment_create(name, 4096, NULL, &seg));
    OK(shmkit_segment_open(name, SHMKIT_READ_ONLY, NULL, &ro));
    size_t size = 0;
    OK(shmkit_segment_size(seg, &size));
    EXPECT(size == 4096);
    OK(shmkit_segment_write(seg, 10, "hello", 5));
    char buf[5];
    OK(shmkit_segment_read(ro, 10, buf, 5));
    EXPECT(memcmp(buf, "hello", 5) == 0);
    EXPECT_STATUS(shmkit_segment_write(ro, 0, "x", 1), SHMKIT_PERMISSION_DENIED, "read-only");
    EXPECT_STATUS(shmkit_segment_read(ro, 4094, buf, 5), SHMKIT_INVALID_SIZE, "outside its 4096 bytes");
    void *w = NULL;
    EXPECT_STATUS(shmkit_segment_data_mut(ro, &w), SHMKIT_PERMISSION_DENIED, "read-only");
    OK(shmkit_segment_data_mut(seg, &w));
    const void *r = NULL;
    OK(shmkit_segment_data(ro, &r));
    ((char *)w)[100] = 'Q';
    EXPECT(((const char *)r)[100] == 'Q');

    /* Change counter and wait. */
    uint32_t seen = 0, now = 0;
    OK(shmkit_segment_change_count(ro, &seen));
    EXPECT_STATUS(shmkit_segment_wait_change(ro, seen, 20, &now), SHMKIT_TIMEOUT, "no change");
    OK(shmkit_segment_notify(seg));
    OK(shmkit_segment_wait_change(ro, seen, 1000, &now));
    EXPECT(now == seen + 1);

    /* The lock: not recursive, bounded waits, and unlock belongs to the locking thread. */
    shmkit_guard *g = NULL, *g2 = NULL;
    bool died = true;
    OK(shmkit_segment_lock(seg, SHMKIT_FOREVER, &g, &died));
    EXPECT(!died);
    EXPECT_STATUS(shmkit_segment_lock(seg, 0, &g2, NULL), SHMKIT_WOULD_DEADLOCK, "holds its lock already");
    EXPECT(g2 == NULL);
    OK(shmkit_guard_unlock(&g));
    EXPECT(g == NULL);
    EXPECT_STATUS(shmkit_guard_unlock(&g), SHMKIT_INVALID_ARGUMENT, "NULL");

    /* A raw segment has no lock and no change counter. */
    char raw_name[64];
    unique(raw_name, sizeof raw_name, "raw");
    shmkit_segment_options ro_opts = {0};
    ro_opts.raw = true;
    shmkit_segment *raw = NULL;
    OK(shmkit_segment_create(raw_name, 100, &ro_opts, &raw));
    EXPECT_STATUS(shmkit_segment_lock(raw, 0, &g, NULL), SHMKIT_INCOMPATIBLE, "raw segment");
    EXPECT_STATUS(shmkit_segment_notify(raw), SHMKIT_INCOMPATIBLE, "raw segment");
    shmkit_segment *not_raw = NULL;
    EXPECT_STATUS(shmkit_segment_open(raw_name, SHMKIT_READ_ONLY, NULL, &not_raw), SHMKIT_INCOMPATIBLE,
                  "open it raw");
    shmkit_segment_close(&raw);

    shmkit_segment_close(&ro);
    shmkit_segment_close(&seg);
}

struct thread_arg {
    shmkit_guard **g;
    shmkit_status st;
};

static void *unlock_elsewhere(void *p) {
    struct thread_arg *a = p;
    a->st = shmkit_guard_unlock(a->g);
    return NULL;
}

static void test_lock_other_thread_and_owner_died(void) {
    char name[64];
    unique(name, sizeof name, "died");
    shmkit_segment *seg = NULL;
    OK(shmkit_segment_create(name, 64, NULL, &seg));

    shmkit_guard *g = NULL;
    OK(shmkit_segment_lock(seg, 0, &g, NULL));
    struct thread_arg a = {&g, SHMKIT_OK};
    pthread_t t;
    EXPECT(pthread_create(&t, NULL, unlock_elsewhere, &a) == 0);
    pthread_join(t, NULL);
    EXPECT(a.st == SHMKIT_INVALID_ARGUMENT && g != NULL);
    OK(shmkit_guard_unlock(&g));

    /* A child process takes the lock and is killed holding it. */
    int ready[2];
    EXPECT(pipe(ready) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", ready[1]);
        execl(self_path, self_path, "--child-lock", name, fd, (char *)NULL);
        _exit(127);
    }
    close(ready[1]);
    char c = 0;
    EXPECT(read(ready[0], &c, 1) == 1 && c == 'L');
    close(ready[0]);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT(WIFSIGNALED(status));

    /* The lock passes on, and says that its owner died. */
    bool died = false;
    OK(shmkit_segment_lock(seg, 5000, &g, &died));
    EXPECT(died);
    bool again = false;
    OK(shmkit_guard_owner_died(g, &again));
    EXPECT(again);
    OK(shmkit_guard_unlock(&g));
    OK(shmkit_segment_lock(seg, 0, &g, &died));
    EXPECT(!died);
    OK(shmkit_guard_unlock(&g));

    /* A lock held by a live process times out naming it. */
    shmkit_segment *other = NULL;
    OK(shmkit_segment_open(name, SHMKIT_READ_WRITE, NULL, &other));
    OK(shmkit_segment_lock(seg, 0, &g, NULL));
    shmkit_guard *g2 = NULL;
    /* Another handle, same thread: the thread already holds this segment's lock. */
    EXPECT_STATUS(shmkit_segment_lock(other, 10, &g2, NULL), SHMKIT_WOULD_DEADLOCK, "");
    OK(shmkit_guard_unlock(&g));
    /* The guard keeps its segment open after the handle closes. */
    OK(shmkit_segment_lock(other, 0, &g, NULL));
    shmkit_segment_close(&other);
    OK(shmkit_guard_unlock(&g));
    shmkit_segment_close(&seg);
}

static int child_lock(const char *name, int fd) {
    shmkit_segment *seg = NULL;
    shmkit_guard *g = NULL;
    if (shmkit_segment_open(name, SHMKIT_READ_WRITE, NULL, &seg) != SHMKIT_OK ||
        shmkit_segment_lock(seg, SHMKIT_FOREVER, &g, NULL) != SHMKIT_OK) {
        fprintf(stderr, "child: %s\n", shmkit_last_error());
        return 1;
    }
    if (write(fd, "L", 1) != 1) {
        return 1;
    }
    for (;;) {
        pause(); /* killed holding the lock */
    }
}

static int poll_readable(int fd, int ms) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void on_change(void *ctx) {
    int *fd = ctx;
    if (write(*fd, "c", 1) != 1) {
        abort();
    }
}

static void test_notifier(void) {
    char name[64];
    unique(name, sizeof name, "notify");
    shmkit_cell *cell = NULL;
    OK(shmkit_cell_create(name, 16, NULL, &cell));

    shmkit_notifier *n = NULL;
    OK(shmkit_notifier_for_cell(cell, NULL, NULL, &n));
    int fd = -1;
    OK(shmkit_notifier_fd(n, &fd));
    EXPECT(fd >= 0);
    EXPECT(!poll_readable(fd, 20));
    OK(shmkit_cell_publish(cell, "1", 1, NULL));
    EXPECT(poll_readable(fd, 5000));
    bool raised = false;
    OK(shmkit_notifier_clear(n, &raised));
    EXPECT(raised);
    EXPECT(!poll_readable(fd, 20));
    shmkit_notifier_close(&n);
    EXPECT(n == NULL);

    /* A callback notifier: called on its own thread at each publish; no descriptor. */
    int pipefd[2];
    EXPECT(pipe(pipefd) == 0);
    OK(shmkit_notifier_for_cell(cell, on_change, &pipefd[1], &n));
    EXPECT_STATUS(shmkit_notifier_fd(n, &fd), SHMKIT_UNSUPPORTED, "no descriptor");
    OK(shmkit_cell_publish(cell, "2", 1, NULL));
    EXPECT(poll_readable(pipefd[0], 5000));
    shmkit_notifier_close(&n);
    close(pipefd[0]);
    close(pipefd[1]);

    /* Streams and segments too. */
    shmkit_publisher *p = NULL;
    shmkit_subscriber *s = NULL;
    char sname[64];
    unique(sname, sizeof sname, "nstream");
    OK(shmkit_publisher_create(sname, NULL, &p));
    OK(shmkit_subscriber_open(sname, NULL, 0, &s));
    OK(shmkit_notifier_for_subscriber(s, NULL, NULL, &n));
    OK(shmkit_notifier_fd(n, &fd));
    OK(shmkit_publisher_send(p, "f", 1, 0, NULL));
    EXPECT(poll_readable(fd, 5000));
    shmkit_notifier_close(&n);
    shmkit_subscriber_close(&s);
    shmkit_publisher_close(&p);
    shmkit_cell_close(&cell);
}

static void test_inspect(void) {
    char name[64];
    unique(name, sizeof name, "info");
    shmkit_stream_options so = {0};
    so.format = "rgba8:4x4";
    shmkit_publisher *p = NULL;
    shmkit_subscriber *s = NULL;
    OK(shmkit_publisher_create(name, &so, &p));
    OK(shmkit_subscriber_open(name, NULL, 0, &s));
    uint8_t px[64] = {0};
    OK(shmkit_publisher_send(p, px, sizeof px, 0, NULL));
    OK(shmkit_publisher_send(p, px, sizeof px, 0, NULL));

    shmkit_segment_list *l = NULL;
    OK(shmkit_info(name, &l));
    size_t len = 0;
    OK(shmkit_segment_list_len(l, &len));
    EXPECT(len == 1);
    const shmkit_segment_info *i = NULL;
    OK(shmkit_segment_list_get(l, 0, &i));
    EXPECT(strcmp(i->name, name) == 0 && strcmp(i->kind, "stream") == 0 && strcmp(i->state, "live") == 0);
    EXPECT(i->is_shmkit && i->problem == NULL && i->lock == SHMKIT_LOCK_HELD && i->lock_pid == (uint32_t)getpid());
    EXPECT(i->format.kind == SHMKIT_FORMAT_IMAGE && i->format.frame_len == 64 && strcmp(i->format.text, "rgba8:4x4") == 0);
    EXPECT(i->details == SHMKIT_DETAILS_STREAM && i->stream.frames == 2 && i->stream.next_seq == 3 &&
           i->stream.max_frame == 64 && i->stream.subscriber_count == 1 &&
           i->stream.subscribers[0].lag == 2 && i->stream.subscribers[0].alive == 1);
    EXPECT_STATUS(shmkit_segment_list_get(l, 1, &i), SHMKIT_INVALID_ARGUMENT, "past the end");
    EXPECT(i == NULL);
    shmkit_segment_list_free(&l);
    EXPECT(l == NULL);

    OK(shmkit_list(&l));
    OK(shmkit_segment_list_len(l, &len));
    int found = 0;
    for (size_t k = 0; k < len; k++) {
        OK(shmkit_segment_list_get(l, k, &i));
        found += strcmp(i->name, name) == 0;
    }
    EXPECT(found == 1);
    shmkit_segment_list_free(&l);

    shmkit_gc_options go = {0};
    go.dry_run = true;
    OK(shmkit_gc(&go, &l));
    OK(shmkit_segment_list_len(l, &len));
    for (size_t k = 0; k < len; k++) {
        OK(shmkit_segment_list_get(l, k, &i));
        EXPECT(strcmp(i->name, name) != 0); /* a live stream is never a leftover */
    }
    shmkit_segment_list_free(&l);

    char missing[64];
    unique(missing, sizeof missing, "gone");
    EXPECT_STATUS(shmkit_info(missing, &l), SHMKIT_NOT_FOUND, "no such segment");
    EXPECT_STATUS(shmkit_remove(missing), SHMKIT_NOT_FOUND, "no such segment");

    /* A persistent cell outlives its handles until removed. */
    shmkit_cell_options co = {0};
    co.lifetime = SHMKIT_PERSISTENT;
    shmkit_cell *c = NULL;
    OK(shmkit_cell_create(missing, 8, &co, &c));
    shmkit_cell_close(&c);
    OK(shmkit_cell_open(missing, SHMKIT_READ_ONLY, NULL, &c));
    shmkit_cell_close(&c);
    OK(shmkit_remove(missing));
    EXPECT_STATUS(shmkit_cell_open(missing, SHMKIT_READ_ONLY, NULL, &c), SHMKIT_NOT_FOUND, "");

    shmkit_subscriber_close(&s);
    shmkit_publisher_close(&p);
}

int main(int argc, char **argv) {
    snprintf(self_path, sizeof self_path, "%s", argv[0]);
    if (argc == 4 && strcmp(argv[1], "--child-lock") == 0) {
        return child_lock(argv[2], atoi(argv[3]));
    }
    test_version();
    test_bad_arguments();
    test_cell();
    test_stream();
    test_callback_and_overwrite();
    test_segment_and_lock();
    test_lock_other_thread_and_owner_died();
    test_notifier();
    test_inspect();
    printf("test_api: %d checks, %d failed\n", checks, failures);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
