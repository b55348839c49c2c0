/* Small file-system helpers shared by the server's modules. */
#ifndef UTIL_FSUTIL_H
#define UTIL_FSUTIL_H

#include <sys/types.h>

/* mkdir -p: create path and its missing parents with mode (existing ones are kept as they
 * are). 0, or -1 with errno (ENOTDIR when path or a parent exists but is not a directory). */
int util_mkdirs(const char *path, mode_t mode);

#endif
