/* The C API on Windows (built with MinGW, run under Wine by .ci/c-windows.sh): a notifier has no
 * descriptor there (SHMKIT_UNSUPPORTED, with a message that says to use a callback), and the
 * callback notifier wakes a Win32 event at each publish; the basic error paths hold too. */
#include "shmkit.h"

#include <stdio.h>
#include <string.h>
#include <windows.h>

static int failures = 0, checks = 0;
#define EXPECT(cond)                                                                       \
    do {                                                                                   \
        checks++;                                                                          \
        if (!(cond)) {                                                                     \
            failures++;                                                                    \
            fprintf(stderr, "%s:%d: FAILED: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
                    shmkit_last_error());                                                  \
        }                                                                                  \
    } while (0)

static void on_change(void *ctx) { SetEvent((HANDLE)ctx); }

int main(void) {
    char name[64];
    snprintf(name, sizeof name, "t-cwin-%lu", (unsigned long)GetCurrentProcessId());
    shmkit_cell *cell = NULL, *missing = NULL;
    EXPECT(shmkit_cell_open(name, SHMKIT_READ_ONLY, NULL, &missing) == SHMKIT_NOT_FOUND);
    EXPECT(strstr(shmkit_last_error(), "is the writer running") != NULL);
    EXPECT(shmkit_cell_create("bad\\name", 8, NULL, &cell) == SHMKIT_INVALID_NAME);
    EXPECT(shmkit_cell_create(name, 64, NULL, &cell) == SHMKIT_OK);

    shmkit_notifier *n = NULL;
    EXPECT(shmkit_notifier_for_cell(cell, NULL, NULL, &n) == SHMKIT_UNSUPPORTED);
    EXPECT(n == NULL && strstr(shmkit_last_error(), "callback") != NULL);

    HANDLE ev = CreateEventA(NULL, FALSE, FALSE, NULL);
    EXPECT(shmkit_notifier_for_cell(cell, on_change, ev, &n) == SHMKIT_OK);
    EXPECT(WaitForSingleObject(ev, 50) == WAIT_TIMEOUT);
    EXPECT(shmkit_cell_publish(cell, "hello", 5, NULL) == SHMKIT_OK);
    EXPECT(WaitForSingleObject(ev, 5000) == WAIT_OBJECT_0);
    shmkit_notifier_close(&n);
    CloseHandle(ev);

    char buf[8];
    size_t len = 0;
    uint64_t seq = 0;
    EXPECT(shmkit_cell_read(cell, buf, 2, &len, &seq) == SHMKIT_BUFFER_TOO_SMALL && len == 5);
    EXPECT(shmkit_cell_read(cell, buf, sizeof buf, &len, &seq) == SHMKIT_OK && len == 5 && seq == 1);
    EXPECT(shmkit_cell_wait_newer(cell, 1, 20, NULL) == SHMKIT_TIMEOUT);
    shmkit_cell_close(&cell);
    EXPECT(shmkit_cell_read(cell, buf, sizeof buf, &len, &seq) == SHMKIT_INVALID_ARGUMENT);
    /* Windows frees a section with its last handle: the name is gone. */
    EXPECT(shmkit_cell_open(name, SHMKIT_READ_ONLY, NULL, &missing) == SHMKIT_NOT_FOUND);

    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
