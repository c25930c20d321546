#include "log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"

#define LOG_LINE_MAX 8192
#define LOG_VALUE_MAX 2048 /* one value's share of a line; longer values are cut, not the line */
#define LOG_CTX_MAX 130	   /* a request id of 128 characters, kept whole */
/* Kept free at the end of a line for ,"truncated":true}\n. */
#define LOG_RESERVE 24

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

/*
 * A line is built field by field; a field that does not fit is left out whole and a string value
 * is cut at a character boundary, so whatever a client sends the line stays one valid JSON object.
 */
struct line {
	char buf[LOG_LINE_MAX];
	size_t len;
	int full; /* a write did not fit: the field being written is rolled back */
	int cut;  /* something was cut or left out: the line says "truncated":true */
};

static void line_raw(struct line *l, const char *s, size_t n)
{
	if (l->full || n > sizeof(l->buf) - LOG_RESERVE - l->len) {
		l->full = 1;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/*
 * Writes s as a JSON string of at most max bytes (quotes included). Bytes that are not UTF-8 are
 * written as U+FFFD; a value that does not fit is cut before the character that would not fit.
 */
static void line_str(struct line *l, const char *s, size_t max)
{
	size_t room = sizeof(l->buf) - LOG_RESERVE - l->len;
	if (l->full || room < 2) {
		l->full = 1;
		return;
	}
	size_t end = l->len + (max < room ? max : room) - 1; /* the closing quote's place */
	line_raw(l, "\"", 1);
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);
	while (left > 0) {
		char esc[8];
		const char *out = esc;
		size_t n, used = 1;
		uint32_t cp;
		switch (*p) {
		case '"':
			out = "\\\"", n = 2;
			break;
		case '\\':
			out = "\\\\", n = 2;
			break;
		case '\n':
			out = "\\n", n = 2;
			break;
		case '\r':
			out = "\\r", n = 2;
			break;
		case '\t':
			out = "\\t", n = 2;
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *p);
			} else if (*p < 0x80) {
				out = (const char *)p, n = 1;
			} else if ((used = utf8_decode(p, left, &cp)) != 0) {
				out = (const char *)p, n = used;
			} else {
				out = "\\ufffd", n = 6, used = 1;
			}
		}
		if (l->len + n > end) {
			l->cut = 1;
			break;
		}
		memcpy(l->buf + l->len, out, n);
		l->len += n;
		p += used;
		left -= used;
	}
	line_raw(l, "\"", 1);
}

/* Starts a field; returns where it began, for line_end_field. */
static size_t line_key(struct line *l, const char *key)
{
	size_t mark = l->len;
	line_raw(l, ",", 1);
	line_str(l, key, LOG_VALUE_MAX);
	line_raw(l, ":", 1);
	return mark;
}

/* A field that did not fit is taken out whole; the next one may still fit. */
static void line_end_field(struct line *l, size_t mark)
{
	if (l->full) {
		l->len = mark;
		l->full = 0;
		l->cut = 1;
	}
}

static void line_field_str(struct line *l, const char *key, const char *val)
{
	size_t mark = line_key(l, key);
	if (val)
		line_str(l, val, LOG_VALUE_MAX);
	else
		line_raw(l, "null", 4);
	line_end_field(l, mark);
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
	l.full = 0;
	l.cut = 0;

	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char tbuf[40];
	size_t tl = strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(tbuf + tl, sizeof(tbuf) - tl, ".%03ldZ", ts.tv_nsec / 1000000);

	line_raw(&l, "{\"ts\":", 6);
	line_str(&l, tbuf, LOG_VALUE_MAX);
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
			size_t mark = line_key(&l, fields[i].key);
			line_raw(&l, num, (size_t)k);
			line_end_field(&l, mark);
		} else {
			line_field_str(&l, fields[i].key, fields[i].str);
		}
	}
	if (l.cut) {
		static const char flag[] = ",\"truncated\":true";
		memcpy(l.buf + l.len, flag, sizeof(flag) - 1); /* LOG_RESERVE keeps room for it */
		l.len += sizeof(flag) - 1;
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
