/* The C side of the consumer: the library's version, and an error message. */
#include <shmkit.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    shmkit_cell *c = NULL;
    shmkit_status s = shmkit_cell_open("t-consumer-none", SHMKIT_READ_ONLY, NULL, &c);
    printf("shmkit %s (ABI %u): %s\n", shmkit_version(), shmkit_abi_version(), shmkit_last_error());
    return s == SHMKIT_NOT_FOUND && strstr(shmkit_last_error(), "no such segment") ? 0 : 1;
}
