/* The Microsoft sample "Creating Named Shared Memory", first process, as its documentation
 * describes it: a paging-file mapping of 256 bytes named Global\MyFileMappingObject, a view with
 * FILE_MAP_ALL_ACCESS, the TCHAR message copied in with CopyMemory (without its NUL: the fresh
 * mapping's zeros end it), then it waits so that a second process can read the message.
 *
 * Written for shmkit's tests from that description, with the one change that lets it run
 * unattended: _getch() is a sleep (SAMPLE_HOLD_MS milliseconds, default 60000; the test ends it
 * sooner). Built twice by .ci/cross.sh: ANSI, and UNICODE (-DUNICODE -D_UNICODE -municode), where
 * TCHAR is a UTF-16 WCHAR. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <tchar.h>

#define BUF_SIZE 256
TCHAR szName[] = TEXT("Global\\MyFileMappingObject");
TCHAR szMsg[] = TEXT("Message from first process.");

static void wait_instead_of_getch(void)
{
    const char *ms = getenv("SAMPLE_HOLD_MS");
    Sleep(ms ? (DWORD)atoi(ms) : 60000);
}

int _tmain(void)
{
    HANDLE hMapFile;
    LPCTSTR pBuf;

    hMapFile = CreateFileMapping(INVALID_HANDLE_VALUE, /* the paging file */
                                 NULL,                 /* default security */
                                 PAGE_READWRITE,
                                 0,                    /* size, high DWORD */
                                 BUF_SIZE,             /* size, low DWORD */
                                 szName);
    if (hMapFile == NULL) {
        _tprintf(TEXT("Could not create file mapping object (%lu).\n"), GetLastError());
        return 1;
    }
    pBuf = (LPTSTR)MapViewOfFile(hMapFile, FILE_MAP_ALL_ACCESS, 0, 0, BUF_SIZE);
    if (pBuf == NULL) {
        _tprintf(TEXT("Could not map view of file (%lu).\n"), GetLastError());
        CloseHandle(hMapFile);
        return 1;
    }

    CopyMemory((PVOID)pBuf, szMsg, (_tcslen(szMsg) * sizeof(TCHAR)));
    wait_instead_of_getch();

    UnmapViewOfFile(pBuf);
    CloseHandle(hMapFile);
    return 0;
}
