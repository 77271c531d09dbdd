/* Imports the C API through include/fwasr/module.modulemap, as Swift's Clang importer does.
 * `@import` is module syntax of Objective-C mode; check.sh compiles this with
 * clang -x objective-c -fmodules (syntax only: no Objective-C runtime is involved), alone and
 * after a textual #include of the same header (-DINCLUDE_FIRST), which must not clash. */
#ifdef INCLUDE_FIRST
#include <fwasr.h>
#endif
@import fwasr;

int main(void) {
    return fwasr_status_str(FWASR_OK)[0] == 'F' ? 0 : 1;
}
