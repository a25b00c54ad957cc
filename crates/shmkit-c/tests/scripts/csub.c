/* A tiny C subscriber for the cross-language test: waits for the stream NAME, receives COUNT
 * frames into a buffer and writes each, then a newline, to stdout (byte for byte). */
#include "shmkit.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: csub NAME COUNT\n");
        return 2;
    }
    shmkit_stream_options o = {0};
    o.from = SHMKIT_JOIN_OLDEST; /* frames published before we joined count too */
    shmkit_subscriber *s = NULL;
    if (shmkit_subscriber_open(argv[1], &o, 10000, &s) != SHMKIT_OK) {
        fprintf(stderr, "csub: %s\n", shmkit_last_error());
        return 1;
    }
    size_t cap = 0;
    shmkit_subscriber_max_frame(s, &cap);
    unsigned char *buf = malloc(cap);
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
        shmkit_received r;
        if (shmkit_subscriber_recv(s, buf, cap, 10000, &r) != SHMKIT_OK) {
            fprintf(stderr, "csub: %s\n", shmkit_last_error());
            free(buf);
            shmkit_subscriber_close(&s);
            return 1;
        }
        fwrite(buf, 1, r.len, stdout);
        fputc('\n', stdout);
    }
    free(buf);
    shmkit_subscriber_close(&s);
    return 0;
}
