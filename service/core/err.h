/*
 * err — gwsync's error codes and the detail that travels with them.
 *
 * Fallible functions return an int that is an enum err_code (E_OK == 0) and take an optional
 * struct err * last. The detail is plain data in caller storage: nothing to free. It never holds a
 * secret (callers must not format one into msg). The code is turned into a protocol error once, at
 * the edge (an HTTP problem, a retry decision, an exit status).
 */
#ifndef GWSYNC_CORE_ERR_H
#define GWSYNC_CORE_ERR_H

#include <stdarg.h>

enum err_code {
	E_OK = 0,
	E_NOMEM,
	E_INVAL,
	E_NOTFOUND,
	E_CONFLICT,
	E_PRECONDITION, /* a condition of the request (If-Match) no longer holds */
	E_UNAUTH,
	E_FORBIDDEN,
	E_RATELIMIT,
	E_UNAVAIL,
	E_TIMEOUT,
	E_UPSTREAM,
	E_INTERNAL,
};

struct err {
	enum err_code code;
	int retry_after_s;
	int upstream_status;
	char reason[64];
	char msg[256];
};

/* Records code and a printf-style message in e (when e is not NULL); returns code. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* err_set that also names the cause: reason, a stable snake_case name (e.g. "email_in_use"). */
int err_set_reason(struct err *e, enum err_code code, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int err_vset_reason(struct err *e, enum err_code code, const char *reason, const char *fmt,
		    va_list ap) __attribute__((format(printf, 4, 0)));

/* Clears e to E_OK with empty texts. e may be NULL. */
void err_clear(struct err *e);

/* Stable snake_case name of a code ("not_found"), for logs. Never NULL. */
const char *err_code_name(enum err_code code);

#endif
