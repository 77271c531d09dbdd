/*
 * Test scaffolding for Wine 8, never shipped: Rust's standard library imports ProcessPrng from
 * bcryptprimitives.dll (Windows 10 and later), which Wine 8 lacks, so every Rust program stops
 * at load. scripts/windows-tests.sh puts this stand-in into its own Wine prefix when the
 * prefix has no bcryptprimitives.dll: ProcessPrng over RtlGenRandom (SystemFunction036).
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
