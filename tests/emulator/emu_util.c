/* SPDX-License-Identifier: MIT */
/* gws-emulator utilities: buffers, JSON writer with field masks, hash map, time, encoding. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "emu.h"

static void oom(void)
{
	fputs("gws-emulator: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom();
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void str_set(char **p, const char *s)
{
	free(*p);
	*p = s ? xstrdup(s) : NULL;
}

char *str_lower(char *s)
{
	for (char *c = s; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return s;
}

bool str_ieq(const char *a, const char *b)
{
	return a && b && strcasecmp(a, b) == 0;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---------------------------------------------------------------- buf */

void buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
}

void buf_cleanup(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

static void buf_grow(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;

	while (cap < need)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void buf_add(struct buf *b, const char *s, size_t n)
{
	buf_grow(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char tmp[512];

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);

	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		buf_add(b, tmp, (size_t)n);
		return;
	}
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_add_jstr(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *c = (const unsigned char *)s;
	const unsigned char *run = c;

	buf_grow(b, strlen(s) + 2);
	buf_add(b, "\"", 1);
	for (; *c; c++) {
		if (*c >= 0x20 && *c != '"' && *c != '\\')
			continue;
		buf_add(b, (const char *)run, (size_t)(c - run));
		run = c + 1;
		switch (*c) {
		case '"':
			buf_add(b, "\\\"", 2);
			break;
		case '\\':
			buf_add(b, "\\\\", 2);
			break;
		case '\n':
			buf_add(b, "\\n", 2);
			break;
		case '\r':
			buf_add(b, "\\r", 2);
			break;
		case '\t':
			buf_add(b, "\\t", 2);
			break;
		default: {
			char e[6] = { '\\', 'u', '0', '0', hex[*c >> 4], hex[*c & 15] };

			buf_add(b, e, 6);
			break;
		}
		}
	}
	buf_add(b, (const char *)run, (size_t)(c - run));
	buf_add(b, "\"", 1);
}

char *buf_steal(struct buf *b)
{
	char *p = b->p ? b->p : xstrdup("");

	memset(b, 0, sizeof(*b));
	return p;
}

/* ---------------------------------------------------------------- field masks */

static struct fmask *fmask_kid(struct fmask *m, const char *name, size_t len)
{
	for (size_t i = 0; i < m->n; i++)
		if (strlen(m->kids[i].name) == len && !strncmp(m->kids[i].name, name, len))
			return &m->kids[i];
	m->kids = xrealloc(m->kids, (m->n + 1) * sizeof(*m->kids));
	struct fmask *k = &m->kids[m->n++];

	memset(k, 0, sizeof(*k));
	k->name = xstrndup(name, len);
	return k;
}

static void fmask_cleanup(struct fmask *m)
{
	for (size_t i = 0; i < m->n; i++)
		fmask_cleanup(&m->kids[i]);
	free(m->kids);
	free(m->name);
}

void fmask_free(struct fmask *m)
{
	if (!m)
		return;
	fmask_cleanup(m);
	free(m);
}

/* list := item (',' item)* ; item := name ('/' name)* [ '(' list ')' ] */
static int fmask_list(struct fmask *m, const char **sp, int depth)
{
	const char *s = *sp;

	if (depth > 16)
		return -1;
	for (;;) {
		struct fmask *cur = m;

		for (;;) {
			while (*s == ' ')
				s++;
			const char *st = s;

			while (*s && (isalnum((unsigned char)*s) || *s == '_' || *s == '@' ||
				      *s == '$' || *s == '.' || *s == '-' || *s == '*'))
				s++;
			if (s == st)
				return -1;
			/* A list of siblings shares the parent; keep descending for a/b. */
			cur = fmask_kid(cur, st, (size_t)(s - st));
			if (*s == '/') {
				/* an intermediate node selects only its kids */
				s++;
				continue;
			}
			break;
		}
		if (*s == '(') {
			s++;
			if (fmask_list(cur, &s, depth + 1))
				return -1;
			if (*s != ')')
				return -1;
			s++;
		} else {
			cur->all = true;
		}
		while (*s == ' ')
			s++;
		if (*s == ',') {
			s++;
			continue;
		}
		break;
	}
	*sp = s;
	return 0;
}

struct fmask *fmask_parse(const char *s, bool *bad)
{
	struct fmask *m = xcalloc(1, sizeof(*m));

	*bad = false;
	if (fmask_list(m, &s, 0) || *s) {
		*bad = true;
		fmask_free(m);
		return NULL;
	}
	return m;
}

/* ---------------------------------------------------------------- JSON writer */

void jw_init(struct jw *w, struct buf *b, const struct fmask *root)
{
	memset(w, 0, sizeof(*w));
	w->b = b;
	w->pending = root;
	w->pending_all = root == NULL;
}

static void jw_sep(struct jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth > 0) {
		if (w->has[w->depth])
			buf_add(w->b, ",", 1);
		w->has[w->depth] = true;
	}
}

static void jw_open(struct jw *w, char c)
{
	jw_sep(w);
	buf_add(w->b, &c, 1);
	if (w->depth + 1 >= JW_MAXDEPTH)
		abort();
	w->depth++;
	w->has[w->depth] = false;
	w->typ[w->depth] = c;
	/* arrays pass their mask on to their elements; objects consume it */
	w->m[w->depth] = w->pending;
	w->mall[w->depth] = w->pending_all;
	if (c == '{') {
		w->pending = NULL;
		w->pending_all = true;
	}
}

void jw_obj(struct jw *w)
{
	jw_open(w, '{');
}

void jw_arr(struct jw *w)
{
	jw_open(w, '[');
}

void jw_end(struct jw *w)
{
	char c = w->typ[w->depth] == '[' ? ']' : '}';

	buf_add(w->b, &c, 1);
	w->depth--;
	w->after_key = false;
	if (c == ']') {
		/* after an array in an object, the next key uses the object's own mask */
		w->pending = NULL;
		w->pending_all = true;
	} else {
		/* the next element of an enclosing array takes the same mask */
		w->pending = w->m[w->depth + 1];
		w->pending_all = w->mall[w->depth + 1];
	}
}

bool jw_k(struct jw *w, const char *key)
{
	const struct fmask *m = w->m[w->depth];
	const struct fmask *kid = NULL;

	if (!w->mall[w->depth] && m && m->n > 0) {
		for (size_t i = 0; i < m->n; i++)
			if (!strcmp(m->kids[i].name, key) || !strcmp(m->kids[i].name, "*")) {
				kid = &m->kids[i];
				break;
			}
		if (!kid)
			return false;
		w->pending = kid->all || kid->n == 0 ? NULL : kid;
		w->pending_all = kid->all || kid->n == 0;
	} else {
		w->pending = NULL;
		w->pending_all = true;
	}
	jw_sep(w);
	buf_add_jstr(w->b, key);
	buf_add(w->b, ":", 1);
	w->after_key = true;
	return true;
}

void jw_str(struct jw *w, const char *s)
{
	jw_sep(w);
	buf_add_jstr(w->b, s ? s : "");
}

void jw_bool(struct jw *w, bool v)
{
	jw_sep(w);
	buf_adds(w->b, v ? "true" : "false");
}

void jw_int(struct jw *w, long long v)
{
	jw_sep(w);
	buf_addf(w->b, "%lld", v);
}

void jw_null(struct jw *w)
{
	jw_sep(w);
	buf_adds(w->b, "null");
}

void jw_i64s(struct jw *w, long long v)
{
	jw_sep(w);
	buf_addf(w->b, "\"%lld\"", v);
}

void jw_time(struct jw *w, long long ms)
{
	char t[32];

	fmt_time(t, ms);
	jw_str(w, t);
}

void jw_json(struct jw *w, struct json_object *jo)
{
	switch (json_object_get_type(jo)) {
	case json_type_object:
		jw_obj(w);
		json_object_object_foreach(jo, k, v) {
			if (jw_k(w, k))
				jw_json(w, v);
		}
		jw_end(w);
		break;
	case json_type_array: {
		size_t n = json_object_array_length(jo);

		jw_arr(w);
		for (size_t i = 0; i < n; i++)
			jw_json(w, json_object_array_get_idx(jo, i));
		jw_end(w);
		break;
	}
	case json_type_null:
		jw_null(w);
		break;
	default:
		jw_sep(w);
		buf_adds(w->b, json_object_to_json_string_ext(jo, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
		break;
	}
}

void jw_raw(struct jw *w, const char *json)
{
	if (w->pending_all || !w->pending) {
		jw_sep(w);
		buf_adds(w->b, json);
		return;
	}
	struct json_object *jo = json_tokener_parse(json);

	jw_json(w, jo);
	json_object_put(jo);
}

/* ---------------------------------------------------------------- map */

static char TOMB[] = "";

static uint32_t map_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h ? h : 1;
}

void map_init(struct map *m)
{
	memset(m, 0, sizeof(*m));
}

void map_cleanup(struct map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->e[i].key && m->e[i].key != TOMB)
			free(m->e[i].key);
	free(m->e);
	memset(m, 0, sizeof(*m));
}

bool map_live(const struct map *m, size_t i)
{
	return m->e[i].key && m->e[i].key != TOMB;
}

static void map_rehash(struct map *m, size_t cap)
{
	struct map_ent *old = m->e;
	size_t ocap = m->cap;

	m->e = xcalloc(cap, sizeof(*m->e));
	m->cap = cap;
	m->used = m->n;
	for (size_t i = 0; i < ocap; i++) {
		if (!old[i].key || old[i].key == TOMB)
			continue;
		size_t j = old[i].hash & (cap - 1);

		while (m->e[j].key)
			j = (j + 1) & (cap - 1);
		m->e[j] = old[i];
	}
	free(old);
}

static size_t map_slot(const struct map *m, const char *key, uint32_t h, bool *found)
{
	size_t j = h & (m->cap - 1);
	size_t tomb = (size_t)-1;

	*found = false;
	while (m->e[j].key) {
		if (m->e[j].key == TOMB) {
			if (tomb == (size_t)-1)
				tomb = j;
		} else if (m->e[j].hash == h && !strcmp(m->e[j].key, key)) {
			*found = true;
			return j;
		}
		j = (j + 1) & (m->cap - 1);
	}
	return tomb != (size_t)-1 ? tomb : j;
}

void *map_get(const struct map *m, const char *key)
{
	bool found;

	if (!m->cap)
		return NULL;
	size_t j = map_slot(m, key, map_hash(key), &found);

	return found ? m->e[j].val : NULL;
}

void map_put(struct map *m, const char *key, void *val)
{
	bool found;

	if ((m->used + 1) * 4 >= m->cap * 3)
		map_rehash(m, m->cap ? (m->n * 2 >= m->cap / 2 ? m->cap * 2 : m->cap) : 64);
	uint32_t h = map_hash(key);
	size_t j = map_slot(m, key, h, &found);

	if (found) {
		m->e[j].val = val;
		return;
	}
	if (!m->e[j].key)
		m->used++;
	m->e[j].key = xstrdup(key);
	m->e[j].val = val;
	m->e[j].hash = h;
	m->n++;
}

void *map_del(struct map *m, const char *key)
{
	bool found;

	if (!m->cap)
		return NULL;
	size_t j = map_slot(m, key, map_hash(key), &found);

	if (!found)
		return NULL;
	void *v = m->e[j].val;

	free(m->e[j].key);
	m->e[j].key = TOMB;
	m->e[j].val = NULL;
	m->n--;
	return v;
}

/* ---------------------------------------------------------------- strv */

void strv_add(struct strv *s, const char *str)
{
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = xstrdup(str);
}

bool strv_del(struct strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcasecmp(s->v[i], str))
			continue;
		free(s->v[i]);
		memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
		s->n--;
		return true;
	}
	return false;
}

bool strv_has(const struct strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcasecmp(s->v[i], str))
			return true;
	return false;
}

void strv_clear(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* ---------------------------------------------------------------- time, random, hashing */

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fmt_time(char out[32], long long ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);

	snprintf(out + n, 32 - n, ".%03uZ", (unsigned)((ms % 1000 + 1000) % 1000));
}

long long parse_time(const char *s)
{
	struct tm tm;
	int ms = 0;

	memset(&tm, 0, sizeof(tm));
	const char *e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

	if (!e)
		return -1;
	if (*e == '.') {
		e++;
		int digits = 0;

		while (isdigit((unsigned char)*e)) {
			if (digits < 3)
				ms = ms * 10 + (*e - '0');
			digits++;
			e++;
		}
		while (digits < 3) {
			ms *= 10;
			digits++;
		}
	}
	if (*e != 'Z' || e[1])
		return -1;
	return (long long)timegm(&tm) * 1000 + ms;
}

void rand_bytes(void *p, size_t n)
{
	if (RAND_bytes(p, (int)n) != 1)
		abort();
}

uint64_t rand_u64(void)
{
	/* xorshift64*, seeded once from OpenSSL; ids need uniqueness, not secrecy */
	static __thread uint64_t s;

	if (!s)
		rand_bytes(&s, sizeof(s));
	if (!s)
		s = 88172645463325252ull;
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return s * 2685821657736338717ull;
}

void rand_token(char *out, size_t n)
{
	static const char al[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char r[256];

	if (n > sizeof(r))
		n = sizeof(r);
	rand_bytes(r, n);
	for (size_t i = 0; i < n; i++)
		out[i] = al[r[i] & 63];
	out[n] = '\0';
}

uint64_t hash64(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *c = p;
	uint64_t h = 1469598103934665603ull ^ seed;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* ---------------------------------------------------------------- encodings */

size_t b64url_encode(const unsigned char *in, size_t n, char *out)
{
	static const char al[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = al[v >> 18 & 63];
		out[o++] = al[v >> 12 & 63];
		out[o++] = al[v >> 6 & 63];
		out[o++] = al[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = al[v >> 18 & 63];
		out[o++] = al[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = al[v >> 18 & 63];
		out[o++] = al[v >> 12 & 63];
		out[o++] = al[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

unsigned char *b64url_decode(const char *in, size_t n, size_t *outlen)
{
	while (n > 0 && in[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return NULL;
	unsigned char *out = xmalloc(n * 3 / 4 + 3);
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)in[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void pct_decode(char *s, bool plus)
{
	char *o = s;

	for (; *s; s++) {
		/* %00 stays as sent: a decoded NUL would cut the value short, so that
		 * "users/a@example.com%00x" found a@example.com and "pageToken=%00" read as none */
		if (*s == '%' && hexval((unsigned char)s[1]) >= 0 && hexval((unsigned char)s[2]) >= 0 &&
		    (s[1] != '0' || s[2] != '0')) {
			*o++ = (char)(hexval((unsigned char)s[1]) * 16 + hexval((unsigned char)s[2]));
			s += 2;
		} else if (*s == '+' && plus) {
			*o++ = ' ';
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

void buf_add_pct(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			buf_add(b, s, 1);
		else
			buf_addf(b, "%%%02X", c);
	}
}

char *form_get(const char *qs, const char *name)
{
	size_t nl = strlen(name);

	if (!qs)
		return NULL;
	while (*qs) {
		const char *amp = strchr(qs, '&');
		size_t len = amp ? (size_t)(amp - qs) : strlen(qs);
		const char *eq = memchr(qs, '=', len);
		size_t kl = eq ? (size_t)(eq - qs) : len;
		char *k = xstrndup(qs, kl);

		pct_decode(k, true);
		if (strlen(k) == nl && !memcmp(k, name, nl)) {
			free(k);
			char *v = eq ? xstrndup(eq + 1, len - kl - 1) : xstrdup("");

			pct_decode(v, true);
			return v;
		}
		free(k);
		qs += len;
		if (*qs == '&')
			qs++;
	}
	return NULL;
}
