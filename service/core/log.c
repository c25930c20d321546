#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 8192
#define LOG_CTX_MAX 64

/* Written once by log_setup() in main before threads start; read-only afterwards. */
static struct {
	char role[32];
	enum log_level min_level;
} log_settings = {"gwsync", LOG_INFO};

static _Thread_local struct {
	char req_id[LOG_CTX_MAX];
	char tenant[LOG_CTX_MAX];
	char integration[LOG_CTX_MAX];
	char job_id[LOG_CTX_MAX];
} log_ctx;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(const char *role, enum log_level min_level)
{
	snprintf(log_settings.role, sizeof(log_settings.role), "%s", role ? role : "gwsync");
	log_settings.min_level = min_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (s && strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

struct line {
	char buf[LOG_LINE_MAX];
	size_t len;
};

static void line_raw(struct line *l, const char *s, size_t n)
{
	/* Keep room for the closing "}\n". */
	size_t room = sizeof(l->buf) - 2 - l->len;
	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void line_str(struct line *l, const char *s)
{
	line_raw(l, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		switch (*p) {
		case '"':
			line_raw(l, "\\\"", 2);
			break;
		case '\\':
			line_raw(l, "\\\\", 2);
			break;
		case '\n':
			line_raw(l, "\\n", 2);
			break;
		case '\r':
			line_raw(l, "\\r", 2);
			break;
		case '\t':
			line_raw(l, "\\t", 2);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(esc, sizeof(esc), "\\u%04x", *p);
				line_raw(l, esc, 6);
			} else {
				line_raw(l, (const char *)p, 1);
			}
		}
	}
	/* A cut in the middle must still leave a closing quote. */
	if (l->len >= sizeof(l->buf) - 3)
		l->len = sizeof(l->buf) - 3;
	line_raw(l, "\"", 1);
}

static void line_key(struct line *l, const char *key)
{
	line_raw(l, ",", 1);
	line_str(l, key);
	line_raw(l, ":", 1);
}

static void line_field_str(struct line *l, const char *key, const char *val)
{
	line_key(l, key);
	if (val)
		line_str(l, val);
	else
		line_raw(l, "null", 4);
}

static void line_ctx(struct line *l, const char *key, const char *val)
{
	if (val[0])
		line_field_str(l, key, val);
}

void log_write(enum log_level level, const char *mod, const char *event, const char *msg,
	       const struct log_field *fields, size_t n)
{
	if (level < log_settings.min_level)
		return;
	struct line l;
	l.len = 0;

	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char tbuf[40];
	size_t tl = strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(tbuf + tl, sizeof(tbuf) - tl, ".%03ldZ", ts.tv_nsec / 1000000);

	line_raw(&l, "{\"ts\":", 6);
	line_str(&l, tbuf);
	line_field_str(&l, "level", level_names[level]);
	line_field_str(&l, "role", log_settings.role);
	line_field_str(&l, "mod", mod);
	line_field_str(&l, "event", event);
	if (msg)
		line_field_str(&l, "msg", msg);
	line_ctx(&l, "req_id", log_ctx.req_id);
	line_ctx(&l, "tenant", log_ctx.tenant);
	line_ctx(&l, "integration", log_ctx.integration);
	line_ctx(&l, "job_id", log_ctx.job_id);
	for (size_t i = 0; i < n; i++) {
		if (fields[i].is_num) {
			char num[32];
			int k = snprintf(num, sizeof(num), "%lld", fields[i].num);
			line_key(&l, fields[i].key);
			line_raw(&l, num, (size_t)k);
		} else {
			line_field_str(&l, fields[i].key, fields[i].str);
		}
	}
	l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';

	const char *p = l.buf;
	size_t left = l.len;
	while (left > 0) {
		ssize_t w = write(STDOUT_FILENO, p, left);
		if (w <= 0)
			return;
		p += w;
		left -= (size_t)w;
	}
}

void log_msg(enum log_level level, const char *mod, const char *event, const char *fmt, ...)
{
	if (level < log_settings.min_level)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_write(level, mod, event, msg, NULL, 0);
}

static void ctx_copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

void log_ctx_set_request(const char *req_id)
{
	ctx_copy(log_ctx.req_id, sizeof(log_ctx.req_id), req_id);
}

void log_ctx_set_tenant(const char *tenant)
{
	ctx_copy(log_ctx.tenant, sizeof(log_ctx.tenant), tenant);
}

void log_ctx_set_integration(const char *integration)
{
	ctx_copy(log_ctx.integration, sizeof(log_ctx.integration), integration);
}

void log_ctx_set_job(const char *job_id)
{
	ctx_copy(log_ctx.job_id, sizeof(log_ctx.job_id), job_id);
}

void log_ctx_clear(void)
{
	memset(&log_ctx, 0, sizeof(log_ctx));
}
