/*
 * log — one JSON object per line on stdout, each written with a single write(2).
 *
 * Fields: ts, level, role, mod, event (stable snake_case), msg, then the calling thread's context
 * (req_id, tenant, integration, job_id) and any extra fields. Lines are bounded (8 KiB) and always
 * one valid JSON object whatever the values hold: a long value is cut (2 KiB each, at a character
 * boundary), a field that no longer fits is left out, and such a line says "truncated":true; bytes
 * that are not UTF-8 are written as U+FFFD. The context holds a request id of 128 characters whole.
 * log_setup() is called once in main before any thread starts; after that every
 * function here is thread-safe. The context is thread-local: set it at a boundary (request entry,
 * message dequeue) and clear it when done. Never pass a secret, token, key or password.
 */
#ifndef GWSYNC_CORE_LOG_H
#define GWSYNC_CORE_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

struct log_field {
	const char *key;
	const char *str; /* used when is_num is 0; NULL is written as null */
	long long num;
	int is_num;
};

#define LOG_STR(k, v) ((struct log_field){.key = (k), .str = (v)})
#define LOG_NUM(k, v) ((struct log_field){.key = (k), .num = (long long)(v), .is_num = 1})

/* Sets the role written on every line and the lowest level written. Call once, single-threaded. */
void log_setup(const char *role, enum log_level min_level);

/* Parses "debug" | "info" | "warn" | "error"; returns 0 on success, -1 otherwise. */
int log_level_parse(const char *s, enum log_level *out);

/* Writes one line with extra fields (n may be 0). msg may be NULL. */
void log_write(enum log_level level, const char *mod, const char *event, const char *msg,
	       const struct log_field *fields, size_t n);

/* Writes one line whose msg is formatted printf-style. */
void log_msg(enum log_level level, const char *mod, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Thread-local context; values are copied (and cut to fit). NULL clears one field. */
void log_ctx_set_request(const char *req_id);
void log_ctx_set_tenant(const char *tenant);
void log_ctx_set_integration(const char *integration);
void log_ctx_set_job(const char *job_id);
void log_ctx_clear(void);

#endif
