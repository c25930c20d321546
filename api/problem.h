/*
 * problem — RFC 9457 problem details (application/problem+json).
 *
 * A struct problem is plain data in caller storage. "type" is "urn:gwsync:problem:<slug>"; the
 * slugs and their meanings are listed in openapi.yaml. Validation problems carry errors[], each
 * with a JSON pointer into the request ("/name") and what is wrong with it.
 */
#ifndef GWSYNC_API_PROBLEM_H
#define GWSYNC_API_PROBLEM_H

#include <stddef.h>

#define PROBLEM_TYPE_PREFIX "urn:gwsync:problem:"
/* Kept small: problems live on CivetWeb's worker stacks, which are only ~100 KiB. */
#define PROBLEM_MAX_ERRORS 12

struct problem_error {
	char pointer[96];
	char detail[160];
};

struct problem {
	int status;
	const char *slug;  /* static string */
	const char *title; /* static string */
	char detail[384];
	size_t n_errors;
	struct problem_error errors[PROBLEM_MAX_ERRORS];
};

/* Sets status, slug, title and a printf-style detail; clears errors. */
void problem_set(struct problem *p, int status, const char *slug, const char *title,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Adds one field error (dropped past PROBLEM_MAX_ERRORS; the count stays right in detail). */
void problem_add_error(struct problem *p, const char *pointer, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Renders p as JSON. extra_json, when not NULL, is a JSON object text whose members are added
 * (extension members such as "checks"). Returns a malloc'd NUL-terminated string (caller frees)
 * and its length in *len, or NULL when out of memory.
 */
char *problem_render(const struct problem *p, const char *extra_json, size_t *len);

#endif
