/*
 * For the ThreadSanitizer run (scripts/tsan.sh): the library is instrumented by rustc, whose
 * newer LLVM calls these three entry points that the TSan runtime of Debian 12's clang 14
 * does not have yet. They forward to the runtime's checked memcpy, memmove and memset.
 */
#include <string.h>

void *__tsan_memcpy(void *dst, const void *src, size_t n);
void *__tsan_memmove(void *dst, const void *src, size_t n);
void *__tsan_memset(void *dst, int c, size_t n);

void *__tsan_memcpy(void *dst, const void *src, size_t n) { return memcpy(dst, src, n); }
void *__tsan_memmove(void *dst, const void *src, size_t n) { return memmove(dst, src, n); }
void *__tsan_memset(void *dst, int c, size_t n) { return memset(dst, c, n); }
