/* The reader of the Qt-over-Win32 dialogs, without the Qt GUI: a 200 ms timer whose slot opens
 * "test_shared_memory" with OpenFileMapping (read access), maps a view and shows the UTF-16 text
 * in a label. Here the label is a line on stdout, printed when the text changes; it stops after
 * DIALOG_CHANGES texts (default 1) or 30 s. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#define BUF_SIZE 1024

int wmain(void)
{
    const char *env = getenv("DIALOG_CHANGES");
    int want = env ? atoi(env) : 1, seen = 0;
    WCHAR shown[BUF_SIZE / 2] = L"";
    for (int tick = 0; tick < 150 && seen < want; tick++) {
        Sleep(200); /* the dialog's QTimer */
        HANDLE hMapFile = OpenFileMappingW(FILE_MAP_READ, FALSE, L"test_shared_memory");
        if (hMapFile == NULL)
            continue;
        const WCHAR *pBuf = (const WCHAR *)MapViewOfFile(hMapFile, FILE_MAP_READ, 0, 0, BUF_SIZE);
        if (pBuf != NULL) {
            if (pBuf[0] != 0 && wcsncmp(pBuf, shown, BUF_SIZE / 2 - 1) != 0) {
                wcsncpy(shown, pBuf, BUF_SIZE / 2 - 1);
                char utf8[BUF_SIZE * 2];
                WideCharToMultiByte(CP_UTF8, 0, shown, -1, utf8, sizeof utf8, NULL, NULL);
                printf("%s\n", utf8); /* label->setText(text) */
                fflush(stdout);
                seen++;
            }
            UnmapViewOfFile(pBuf);
        }
        CloseHandle(hMapFile);
    }
    return seen >= want ? 0 : 1;
}
