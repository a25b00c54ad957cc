/* The writer of the Qt-over-Win32 dialogs, without the Qt GUI: at start it creates the
 * paging-file mapping "test_shared_memory" (no namespace prefix: the session's, as the dialogs
 * name it) with CreateFileMapping and maps a view; each click of its send button copies the line
 * edit's text, a UNICODE (UTF-16) string with its NUL, into the view. Here each line read from
 * stdin is one click; the mapping lives until stdin closes (the dialog is closed). */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

#define BUF_SIZE 1024

int wmain(void)
{
    HANDLE hMapFile = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, BUF_SIZE,
                                         L"test_shared_memory");
    if (hMapFile == NULL) {
        printf("Could not create file mapping object (%lu).\n", GetLastError());
        return 1;
    }
    WCHAR *pBuf = (WCHAR *)MapViewOfFile(hMapFile, FILE_MAP_ALL_ACCESS, 0, 0, BUF_SIZE);
    if (pBuf == NULL) {
        printf("Could not map view of file (%lu).\n", GetLastError());
        CloseHandle(hMapFile);
        return 1;
    }
    printf("READY\n");
    fflush(stdout);

    char line[BUF_SIZE / 2];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        WCHAR text[BUF_SIZE / 2];
        int n = MultiByteToWideChar(CP_UTF8, 0, line, -1, text, BUF_SIZE / 2);
        if (n > 0)
            CopyMemory(pBuf, text, n * sizeof(WCHAR)); /* the text and its NUL */
        printf("SENT\n");
        fflush(stdout);
    }

    UnmapViewOfFile(pBuf);
    CloseHandle(hMapFile);
    return 0;
}
