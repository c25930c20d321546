#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
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

/* A member name read, decoded: s[0..n) (NULs kept) in struct jt's name buffer. */
struct jt_name {
	const char *s;
	size_t n;
	size_t quote; /* offset of its opening quote */
};

struct jt {
	const unsigned char *s;
	size_t len, i;
	char *ptr;
	size_t cap, plen; /* the pointer of the value being read */
	/* The names of the objects still open, innermost last; the decoded bytes in buf (len
	 * bytes: a decoded name is never longer than its raw text). */
	char *buf;
	size_t buf_len;
	struct jt_name *names;
	size_t n_names, names_cap;
};

struct jt_level {
	char kind;	   /* '{' or '[' */
	size_t outer;	   /* pointer length of the container itself */
	size_t index;	   /* arrays: the current element */
	int want_key;	   /* objects: a string here is a member name */
	size_t first_name; /* objects: where its names start in t->names and t->buf */
	size_t buf_start;
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

/* A decoded piece of a member name: into the pointer (escaped, cut to fit) and, whole, the buffer. */
static void key_put(struct jt *t, const char *s, size_t n)
{
	ptr_put(t, s, n, 1);
	memcpy(t->buf + t->buf_len, s, n);
	t->buf_len += n;
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
 * last pointer segment (and the name being read). Returns 0 when fine, 1 at a Unicode fault
 * (*at = its offset), -1 when the text is not a JSON string.
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
					key_put(t, &to[f - from], 1);
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
				key_put(t, u, n);
			}
			continue;
		}
		if (c < 0x80) {
			if (key)
				key_put(t, (const char *)&t->s[t->i], 1);
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
			key_put(t, (const char *)&t->s[t->i], n);
		t->i += n;
	}
	return -1;
}

static int name_cmp(const void *a, const void *b)
{
	const struct jt_name *x = a, *y = b;
	int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
	if (c)
		return c;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return x->quote < y->quote ? -1 : x->quote > y->quote;
}

/*
 * The object of level lv closes: sorts its names (O(n log n) per object, whatever the names) and
 * finds the earliest one in the text that repeats an earlier one. Returns 1 with the pointer and
 * *offset set when there is one; the names are dropped either way.
 */
static int names_repeat(struct jt *t, const struct jt_level *lv, size_t *offset)
{
	struct jt_name *v = t->names + lv->first_name;
	size_t n = t->n_names - lv->first_name;
	const struct jt_name *found = NULL;
	if (n > 1) {
		qsort(v, n, sizeof(*v), name_cmp);
		for (size_t k = 1; k < n; k++) {
			if (v[k].n == v[k - 1].n && !memcmp(v[k].s, v[k - 1].s, v[k].n) &&
			    (!found || v[k].quote < found->quote))
				found = &v[k];
		}
	}
	if (found) {
		ptr_cut(t, lv->outer);
		ptr_put(t, "/", 1, 0);
		ptr_put(t, found->s, found->n, 1);
		*offset = found->quote;
	}
	t->n_names = lv->first_name;
	t->buf_len = lv->buf_start;
	return found != NULL;
}

static enum json_text_fault jt_walk(struct jt *t, size_t *offset)
{
	struct jt_level *st = NULL;
	size_t depth = 0, cap = 0;
	enum json_text_fault fault = JSON_TEXT_OK;
	while (t->i < t->len) {
		unsigned char c = t->s[t->i];
		struct jt_level *top = depth ? &st[depth - 1] : NULL;
		if (c == '"') {
			int key = top && top->kind == '{' && top->want_key;
			size_t at = 0, quote = t->i, start = t->buf_len;
			if (key) {
				ptr_cut(t, top->outer);
				ptr_put(t, "/", 1, 0);
				top->want_key = 0;
			}
			int r = jt_string(t, key, &at);
			if (r < 0)
				break;
			if (r > 0) {
				if (key)
					ptr_cut(t, top->outer);
				*offset = at;
				fault = JSON_TEXT_BAD_UNICODE;
				break;
			}
			if (key) {
				if (t->n_names == t->names_cap) {
					size_t ncap = t->names_cap ? t->names_cap * 2 : 32;
					struct jt_name *grown =
						realloc(t->names, ncap * sizeof(*grown));
					if (!grown) {
						fault = JSON_TEXT_NOMEM;
						break;
					}
					t->names = grown;
					t->names_cap = ncap;
				}
				t->names[t->n_names++] = (struct jt_name){
					t->buf + start, t->buf_len - start, quote};
			}
			continue;
		}
		if (c == '{' || c == '[') {
			if (depth == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct jt_level *grown = realloc(st, ncap * sizeof(*st));
				if (!grown) {
					fault = JSON_TEXT_NOMEM;
					break;
				}
				st = grown;
				cap = ncap;
			}
			st[depth] = (struct jt_level){(char)c, t->plen, 0,	    c == '{',
						      t->n_names,  t->buf_len};
			depth++;
			if (c == '[')
				ptr_index(t, t->plen, 0);
		} else if (c == '}' || c == ']') {
			if (!depth)
				break;
			depth--;
			if (st[depth].kind == '{' && names_repeat(t, &st[depth], offset)) {
				fault = JSON_TEXT_DUPLICATE_NAME;
				break;
			}
			ptr_cut(t, st[depth].outer);
		} else if (c == ',' && top) {
			if (top->kind == '{')
				top->want_key = 1;
			else
				ptr_index(t, top->outer, ++top->index);
		}
		t->i++;
	}
	free(st);
	return fault;
}

enum json_text_fault json_text_check(const char *text, size_t len, char *pointer, size_t cap,
				     size_t *offset)
{
	struct jt t = {.s = (const unsigned char *)text, .len = len, .ptr = pointer, .cap = cap};
	if (cap)
		pointer[0] = '\0';
	*offset = 0;
	t.buf = malloc(len + 1);
	enum json_text_fault fault = t.buf ? jt_walk(&t, offset) : JSON_TEXT_NOMEM;
	free(t.buf);
	free(t.names);
	if (fault == JSON_TEXT_NOMEM && cap)
		pointer[0] = '\0';
	return fault;
}
