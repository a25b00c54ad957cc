/* The writer of the Win32 tutorial ("Creating Named Shared Memory"), with shmkit.
 *
 * The original: CreateFileMapping(INVALID_HANDLE_VALUE, ..., BUF_SIZE, "Global\\MyFileMappingObject"),
 * MapViewOfFile, CopyMemory of "Message from first process.", then _getch() to keep the object
 * alive. Here: a cell, so the reader gets the whole message with its length (never a torn or
 * stale one) and is woken when it changes; the name is checked (a bad one is an error that says
 * why); killed with kill -9 or Task Manager, nothing leaks: the name goes with the last handle.
 *
 *   writer [NAME] [MESSAGE]      then Enter (or end of input) to quit
 *
 * Each further line typed becomes the new message.
 */
#include "shmkit.h"

#include <stdio.h>
#include <string.h>

#define BUF_SIZE 256

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "MyFileMappingObject";
    const char *message = argc > 2 ? argv[2] : "Message from first process.";

    /* Open it if a writer made it already (the next writer takes over), else create it. */
    shmkit_cell *cell = NULL;
    if (shmkit_cell_open_or_create(name, BUF_SIZE, NULL, &cell) != SHMKIT_OK) {
        fprintf(stderr, "writer: %s\n", shmkit_last_error());
        return 1;
    }
    uint64_t seq = 0;
    if (shmkit_cell_publish(cell, message, strlen(message), &seq) != SHMKIT_OK) {
        fprintf(stderr, "writer: %s\n", shmkit_last_error());
        shmkit_cell_close(&cell);
        return 1;
    }
    printf("writer: published #%llu to \"%s\": %s\n", (unsigned long long)seq, name, message);
    printf("writer: type a new message and Enter; an empty line or end of input quits\n");
    fflush(stdout);

    char line[BUF_SIZE + 2];
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') {
            break;
        }
        if (shmkit_cell_publish(cell, line, strlen(line), &seq) != SHMKIT_OK) {
            fprintf(stderr, "writer: %s\n", shmkit_last_error());
            continue;
        }
        printf("writer: published #%llu: %s\n", (unsigned long long)seq, line);
        fflush(stdout);
    }
    shmkit_cell_close(&cell); /* the last handle anywhere removes the name */
    return 0;
}
