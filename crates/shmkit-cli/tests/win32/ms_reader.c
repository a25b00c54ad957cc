/* The Microsoft sample "Creating Named Shared Memory", second process, as its documentation
 * describes it: OpenFileMapping of Global\MyFileMappingObject with FILE_MAP_ALL_ACCESS, a view of
 * 256 bytes, and the TCHAR text shown with MessageBox.
 *
 * Written for shmkit's tests from that description, with the one change that lets it run
 * unattended: MessageBox is a print of the same text to stdout (as UTF-8, so that a UNICODE
 * build's text arrives whole). Built ANSI and UNICODE, as the first process. */
#include <windows.h>
#include <stdio.h>
#include <tchar.h>

#define BUF_SIZE 256
TCHAR szName[] = TEXT("Global\\MyFileMappingObject");

/* What MessageBox(NULL, text, TEXT("Process2"), MB_OK) shows, printed instead. */
static void show(LPCTSTR text)
{
#ifdef UNICODE
    char utf8[BUF_SIZE * 3];
    WideCharToMultiByte(CP_UTF8, 0, text, -1, utf8, sizeof utf8, NULL, NULL);
    printf("%s\n", utf8);
#else
    printf("%s\n", text);
#endif
}

int _tmain(void)
{
    HANDLE hMapFile;
    LPCTSTR pBuf;

    hMapFile = OpenFileMapping(FILE_MAP_ALL_ACCESS, /* read/write access */
                               FALSE,               /* do not inherit the name */
                               szName);
    if (hMapFile == NULL) {
        _tprintf(TEXT("Could not open file mapping object (%lu).\n"), GetLastError());
        return 1;
    }
    pBuf = (LPTSTR)MapViewOfFile(hMapFile, FILE_MAP_ALL_ACCESS, 0, 0, BUF_SIZE);
    if (pBuf == NULL) {
        _tprintf(TEXT("Could not map view of file (%lu).\n"), GetLastError());
        CloseHandle(hMapFile);
        return 1;
    }

    show(pBuf); /* MessageBox(NULL, pBuf, TEXT("Process2"), MB_OK); */

    UnmapViewOfFile(pBuf);
    CloseHandle(hMapFile);
    return 0;
}
