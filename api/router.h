/*
 * router — matches a method and a path against a table of routes with {parameters}.
 *
 * Patterns are literal segments and "{name}" segments ("/v1/tenants/{tenant_id}"). Matching is
 * exact per segment; a trailing slash does not match. The path is the raw request path (still
 * percent-encoded: the caller must not decode it): it is split at its slashes, then each parameter
 * value is percent-decoded once into the caller's struct router_match ("%2541" gives "%41", '+'
 * stays '+'); a value that decodes to contain '/' or NUL, or holds a bad escape, does not match.
 * Pure functions over caller storage; thread-safe.
 */
#ifndef GWSYNC_API_ROUTER_H
#define GWSYNC_API_ROUTER_H

#include <stddef.h>

#define ROUTER_MAX_PARAMS 4
#define ROUTER_PARAM_MAX 256

struct router_route {
	const char *method;
	const char *pattern;
};

struct router_match {
	size_t n;
	struct {
		char name[32];
		char value[ROUTER_PARAM_MAX];
	} params[ROUTER_MAX_PARAMS];
};

enum router_result {
	ROUTER_FOUND,
	ROUTER_NO_PATH,	  /* 404 */
	ROUTER_NO_METHOD, /* 405: the path exists with other methods */
};

/*
 * Finds the route for method and path among n routes of stride bytes each (the route struct
 * must start with struct router_route, so callers can extend it). On ROUTER_FOUND *index is the
 * route and m holds its parameters; on ROUTER_NO_METHOD, allow gets the allowed methods
 * ("GET, PUT"), cut to allow_cap.
 */
enum router_result router_find(const void *routes, size_t n, size_t stride, const char *method,
			       const char *path, size_t *index, struct router_match *m,
			       char *allow, size_t allow_cap);

/* The value of parameter name, or NULL. Borrowed from m. */
const char *router_param(const struct router_match *m, const char *name);

#endif
