#include "utf8.h"

#include <stdio.h>
#include <string.h>

size_t utf8_decode(const unsigned char *s, size_t left, uint32_t *cp)
{
	if (left == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t len;
	uint32_t min;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		min = 0x80;
		*cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		min = 0x800;
		*cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		min = 0x10000;
		*cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > left)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

/* ---- the JSON text check ---- */

#define JT_DEPTH 64 /* deeper text is refused by the parsers anyway (their limits are lower) */

struct jt {
	const unsigned char *s;
	size_t len, i;
	char *ptr;
	size_t cap, plen; /* the pointer of the value being read */
};

struct jt_level {
	char kind;     /* '{' or '[' */
	size_t outer;  /* pointer length of the container itself */
	size_t index;  /* arrays: the current element */
	int want_key;  /* objects: a string here is a member name */
};

static int hex4(const unsigned char *s, size_t left, uint32_t *out)
{
	if (left < 4)
		return -1;
	uint32_t v = 0;
	for (int k = 0; k < 4; k++) {
		unsigned char c = s[k];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -1;
		v = v * 16 + (uint32_t)d;
	}
	*out = v;
	return 0;
}

/* Appends bytes to the pointer, escaping '~' and '/' (RFC 6901); cut silently at cap. */
static void ptr_put(struct jt *t, const char *s, size_t n, int escape)
{
	for (size_t k = 0; k < n; k++) {
		const char *add = &s[k];
		size_t alen = 1;
		if (escape && s[k] == '~')
			add = "~0", alen = 2;
		else if (escape && s[k] == '/')
			add = "~1", alen = 2;
		if (t->plen + alen + 1 > t->cap)
			return;
		memcpy(t->ptr + t->plen, add, alen);
		t->plen += alen;
	}
	t->ptr[t->plen] = '\0';
}

static void ptr_cut(struct jt *t, size_t at)
{
	t->plen = at < t->plen ? at : t->plen;
	if (t->cap)
		t->ptr[t->plen] = '\0';
}

static void ptr_index(struct jt *t, size_t outer, size_t index)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "/%zu", index);
	ptr_cut(t, outer);
	ptr_put(t, num, (size_t)n, 0);
}

/*
 * Reads the string whose opening quote is at t->i. With key set, its decoded text becomes the
 * last pointer segment. Returns 0 when fine, 1 at a Unicode fault (*at = its offset), -1 when
 * the text is not a JSON string.
 */
static int jt_string(struct jt *t, int key, size_t *at)
{
	t->i++;
	while (t->i < t->len) {
		unsigned char c = t->s[t->i];
		if (c == '"') {
			t->i++;
			return 0;
		}
		if (c == '\\') {
			if (t->i + 1 >= t->len)
				return -1;
			unsigned char e = t->s[t->i + 1];
			if (e != 'u') {
				static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
				const char *f = memchr(from, e, sizeof(from) - 1);
				if (!f)
					return -1;
				if (key)
					ptr_put(t, &to[f - from], 1, 1);
				t->i += 2;
				continue;
			}
			uint32_t cp;
			if (hex4(t->s + t->i + 2, t->len - t->i - 2, &cp))
				return -1;
			size_t start = t->i;
			t->i += 6;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				*at = start;
				return 1;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				uint32_t lo;
				if (t->i + 1 >= t->len || t->s[t->i] != '\\' || t->s[t->i + 1] != 'u' ||
				    hex4(t->s + t->i + 2, t->len - t->i - 2, &lo) || lo < 0xdc00 ||
				    lo > 0xdfff) {
					*at = start;
					return 1;
				}
				t->i += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (key) {
				char u[4];
				size_t n = cp < 0x80	  ? (u[0] = (char)cp, 1)
					   : cp < 0x800	  ? (u[0] = (char)(0xc0 | cp >> 6),
						    u[1] = (char)(0x80 | (cp & 0x3f)), 2)
					   : cp < 0x10000 ? (u[0] = (char)(0xe0 | cp >> 12),
							     u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
							     u[2] = (char)(0x80 | (cp & 0x3f)), 3)
							  : (u[0] = (char)(0xf0 | cp >> 18),
							     u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
							     u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)),
							     u[3] = (char)(0x80 | (cp & 0x3f)), 4);
				ptr_put(t, u, n, 1);
			}
			continue;
		}
		if (c < 0x80) {
			if (key)
				ptr_put(t, (const char *)&t->s[t->i], 1, 1);
			t->i++;
			continue;
		}
		uint32_t cp;
		size_t n = utf8_decode(t->s + t->i, t->len - t->i, &cp);
		if (!n) {
			*at = t->i;
			return 1;
		}
		if (key)
			ptr_put(t, (const char *)&t->s[t->i], n, 1);
		t->i += n;
	}
	return -1;
}

int json_text_unicode_check(const char *text, size_t len, char *pointer, size_t cap,
			    size_t *offset)
{
	struct jt t = {(const unsigned char *)text, len, 0, pointer, cap, 0};
	struct jt_level st[JT_DEPTH];
	int depth = 0;
	if (cap)
		pointer[0] = '\0';
	while (t.i < t.len) {
		unsigned char c = t.s[t.i];
		struct jt_level *top = depth ? &st[depth - 1] : NULL;
		if (c == '"') {
			int key = top && top->kind == '{' && top->want_key;
			size_t at = 0;
			if (key) {
				ptr_cut(&t, top->outer);
				ptr_put(&t, "/", 1, 0);
				top->want_key = 0;
			}
			int r = jt_string(&t, key, &at);
			if (r < 0)
				return 0;
			if (r > 0) {
				if (key)
					ptr_cut(&t, top->outer);
				*offset = at;
				return 1;
			}
			continue;
		}
		if (c == '{' || c == '[') {
			if (depth == JT_DEPTH)
				return 0;
			st[depth] = (struct jt_level){(char)c, t.plen, 0, c == '{'};
			depth++;
			if (c == '[')
				ptr_index(&t, t.plen, 0);
		} else if (c == '}' || c == ']') {
			if (!depth)
				return 0;
			depth--;
			ptr_cut(&t, st[depth].outer);
		} else if (c == ',' && top) {
			if (top->kind == '{')
				top->want_key = 1;
			else
				ptr_index(&t, top->outer, ++top->index);
		}
		t.i++;
	}
	return 0;
}
