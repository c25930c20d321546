/*
 * validate — checks of values in requests, shared by the handlers. Pure functions; each returns
 * NULL when the value is acceptable or a static text saying what is wrong.
 */
#ifndef GWSYNC_API_VALIDATE_H
#define GWSYNC_API_VALIDATE_H

#include <stddef.h>

/*
 * A display name: valid UTF-8, 1..max characters (code points), not only white space, no control
 * characters (C0, DEL, C1) and no Unicode non-characters.
 */
const char *validate_name(const char *s, size_t max_chars);

#endif
