/* The reader of the Win32 tutorial, with shmkit.
 *
 * The original: OpenFileMapping(FILE_MAP_ALL_ACCESS, FALSE, "Global\\MyFileMappingObject") fails
 * with "Could not open file mapping object (2)" if the writer is not running yet, then
 * MapViewOfFile and MessageBox of the bytes. Here: the reader waits for the writer, opens the cell
 * read-only (the operating system refuses writes), and prints the whole message; with --follow
 * it then sleeps until the writer publishes and prints each new message (no polling timer).
 *
 *   reader [NAME] [--follow] [--timeout-ms N]
 */
#include "shmkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_SIZE 256

int main(int argc, char **argv) {
    const char *name = "MyFileMappingObject";
    int follow = 0;
    long long timeout_ms = SHMKIT_FOREVER;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--follow") == 0) {
            follow = 1;
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            timeout_ms = atoll(argv[++i]);
        } else {
            name = argv[i];
        }
    }

    shmkit_cell *cell = NULL;
    if (shmkit_cell_open_wait(name, SHMKIT_READ_ONLY, NULL, timeout_ms, &cell) != SHMKIT_OK) {
        fprintf(stderr, "reader: %s\n", shmkit_last_error());
        return 1;
    }
    char buf[BUF_SIZE + 1];
    uint64_t seq = 0;
    int status = 0;
    for (;;) {
        size_t len = 0;
        /* The writer may not have published yet: wait for a first value. */
        shmkit_status st = shmkit_cell_wait_newer(cell, 0, timeout_ms, NULL);
        if (st == SHMKIT_OK) {
            st = shmkit_cell_read(cell, buf, BUF_SIZE, &len, &seq);
        }
        if (st != SHMKIT_OK) {
            fprintf(stderr, "reader: %s\n", shmkit_last_error());
            status = 1;
            break;
        }
        buf[len] = '\0';
        printf("%s\n", buf);
        fflush(stdout);
        if (!follow) {
            break;
        }
        st = shmkit_cell_wait_newer(cell, seq, SHMKIT_FOREVER, NULL);
        if (st != SHMKIT_OK) {
            fprintf(stderr, "reader: %s\n", shmkit_last_error());
            status = 1;
            break;
        }
    }
    shmkit_cell_close(&cell);
    return status;
}
