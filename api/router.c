#include "router.h"

#include <stdio.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes len bytes of src into dst; -1 on bad escapes, '/', NUL or overflow. */
static int segment_decode(const char *src, size_t len, char *dst, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = src[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '/' || c == '\0' || o + 1 >= cap)
			return -1;
		dst[o++] = c;
	}
	dst[o] = '\0';
	return 0;
}

/* Matches path against pattern; fills m when given. Returns 1 on a match. */
static int pattern_match(const char *pattern, const char *path, struct router_match *m)
{
	if (m)
		m->n = 0;
	const char *p = pattern, *s = path;
	while (*p && *s) {
		if (*p != '/' || *s != '/')
			return 0;
		p++;
		s++;
		const char *pe = strchr(p, '/');
		const char *se = strchr(s, '/');
		size_t plen = pe ? (size_t)(pe - p) : strlen(p);
		size_t slen = se ? (size_t)(se - s) : strlen(s);
		if (plen > 2 && p[0] == '{' && p[plen - 1] == '}') {
			if (slen == 0)
				return 0;
			if (m) {
				if (m->n >= ROUTER_MAX_PARAMS)
					return 0;
				snprintf(m->params[m->n].name, sizeof(m->params[m->n].name), "%.*s",
					 (int)(plen - 2), p + 1);
				if (segment_decode(s, slen, m->params[m->n].value,
						   sizeof(m->params[m->n].value)))
					return 0;
				m->n++;
			} else {
				char scratch[ROUTER_PARAM_MAX];
				if (segment_decode(s, slen, scratch, sizeof(scratch)))
					return 0;
			}
		} else if (plen != slen || strncmp(p, s, plen) != 0) {
			return 0;
		}
		p += plen;
		s += slen;
	}
	return *p == '\0' && *s == '\0';
}

enum router_result router_find(const void *routes, size_t n, size_t stride, const char *method,
			       const char *path, size_t *index, struct router_match *m,
			       char *allow, size_t allow_cap)
{
	size_t allow_len = 0;
	if (allow_cap)
		allow[0] = '\0';
	int path_seen = 0;
	for (size_t i = 0; i < n; i++) {
		const struct router_route *r =
			(const struct router_route *)((const char *)routes + i * stride);
		if (!pattern_match(r->pattern, path, NULL))
			continue;
		if (strcmp(r->method, method) == 0) {
			/* Fails only for a pattern with more parameters than a match can hold. */
			if (!pattern_match(r->pattern, path, m))
				continue;
			*index = i;
			return ROUTER_FOUND;
		}
		path_seen = 1;
		if (allow_cap > allow_len) {
			int w = snprintf(allow + allow_len, allow_cap - allow_len, "%s%s",
					 allow_len ? ", " : "", r->method);
			if (w > 0)
				allow_len += (size_t)w;
			if (allow_len >= allow_cap)
				allow_len = allow_cap - 1;
		}
	}
	return path_seen ? ROUTER_NO_METHOD : ROUTER_NO_PATH;
}

const char *router_param(const struct router_match *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->params[i].name, name) == 0)
			return m->params[i].value;
	}
	return NULL;
}
