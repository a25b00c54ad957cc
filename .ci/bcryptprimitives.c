/* Stand-in for bcryptprimitives.dll, which Wine 8.0 (Debian 12) lacks (added in Wine 8.13).
   Rust std >= 1.78 imports ProcessPrng from it (random HashMap keys). Test prefix only. */
#include <windows.h>
#include <ntsecapi.h> /* RtlGenRandom = advapi32!SystemFunction036 */

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x7fffffffUL ? 0x7fffffffUL : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
