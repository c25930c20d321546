#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
	if (!e)
		return code;
	e->code = code;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	} else {
		e->msg[0] = '\0';
	}
	return code;
}

int err_vset_reason(struct err *e, enum err_code code, const char *reason, const char *fmt,
		    va_list ap)
{
	if (!e)
		return code;
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	return code;
}

int err_set_reason(struct err *e, enum err_code code, const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = err_vset_reason(e, code, reason, fmt, ap);
	va_end(ap);
	return rc;
}

void err_clear(struct err *e)
{
	if (e)
		memset(e, 0, sizeof(*e));
}

const char *err_code_name(enum err_code code)
{
	switch (code) {
	case E_OK:
		return "ok";
	case E_NOMEM:
		return "out_of_memory";
	case E_INVAL:
		return "invalid";
	case E_NOTFOUND:
		return "not_found";
	case E_CONFLICT:
		return "conflict";
	case E_PRECONDITION:
		return "precondition_failed";
	case E_UNAUTH:
		return "unauthenticated";
	case E_FORBIDDEN:
		return "forbidden";
	case E_RATELIMIT:
		return "rate_limited";
	case E_UNAVAIL:
		return "unavailable";
	case E_TIMEOUT:
		return "timeout";
	case E_UPSTREAM:
		return "upstream";
	case E_INTERNAL:
		return "internal";
	}
	return "unknown";
}
