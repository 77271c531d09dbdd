/* The installed header, found through pkg-config's include path. */
#include <fwasr.h>
