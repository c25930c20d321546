/* SPDX-License-Identifier: MIT */
/* gws-emulator validation rules (API-NOTES §8); pure functions, unit tested. */
#include <crypt.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "emu.h"
#include "emu_int.h"

static bool all_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool crypt_char(int c)
{
	return isalnum(c) || c == '.' || c == '/';
}

/* $1$salt$hash, $5$[rounds=N$]salt$hash, $6$[rounds=N$]salt$hash, or 13-char DES. */
static bool valid_crypt(const char *pw)
{
	size_t n = strlen(pw);

	if (n == 13 && pw[0] != '$') {
		for (size_t i = 0; i < n; i++)
			if (!crypt_char((unsigned char)pw[i]))
				return false;
		return true;
	}
	if (pw[0] != '$' || (pw[1] != '1' && pw[1] != '5' && pw[1] != '6') || pw[2] != '$')
		return false;
	const char *p = pw + 3;

	if (!strncmp(p, "rounds=", 7)) {
		if (pw[1] == '1')
			return false;
		p += 7;
		if (!isdigit((unsigned char)*p))
			return false;
		long rounds = 0;

		while (isdigit((unsigned char)*p)) {
			rounds = rounds * 10 + (*p - '0');
			if (rounds > 10000)
				return false;
			p++;
		}
		if (*p++ != '$')
			return false;
	}
	size_t salt = 0;

	while (crypt_char((unsigned char)p[salt]))
		salt++;
	if (salt < 1 || salt > 16 || p[salt] != '$')
		return false;
	p += salt + 1;
	if (!*p)
		return false;
	for (; *p; p++)
		if (!crypt_char((unsigned char)*p))
			return false;
	return true;
}

int valid_password(const char *pw, const char *hash_fn)
{
	if (!pw)
		return PW_BAD;
	if (!hash_fn || !*hash_fn) {
		size_t n = strlen(pw);

		if (n < 8 || n > 100)
			return PW_BAD;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)pw[i] < 0x20 || (unsigned char)pw[i] > 0x7e)
				return PW_BAD;
		return PW_OK;
	}
	if (!strcasecmp(hash_fn, "MD5"))
		return all_hex(pw, 32) ? PW_OK : PW_BAD;
	if (!strcasecmp(hash_fn, "SHA-1") || !strcasecmp(hash_fn, "SHA1"))
		return all_hex(pw, 40) ? PW_OK : PW_BAD;
	if (!strcasecmp(hash_fn, "crypt"))
		return valid_crypt(pw) ? PW_OK : PW_BAD;
	return PW_BAD;
}

/* Counts UTF-8 code points. */
size_t utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

bool valid_name(const char *s)
{
	if (!s)
		return false;
	size_t n = utf8_len(s);
	bool blank = true;

	if (n < 1 || n > 60)
		return false;
	for (const char *c = s; *c; c++) {
		if (*c == '<' || *c == '>' || *c == '=')
			return false;
		if (!isspace((unsigned char)*c))
			blank = false;
	}
	return !blank;
}

bool valid_local_part(const char *local)
{
	size_t n = strlen(local);

	if (n < 1 || n > 64 || local[0] == '.' || local[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)local[i];

		if (c == '.' && local[i + 1] == '.')
			return false;
		if (!(isalnum(c) || c == '-' || c == '_' || c == '\'' || c == '.'))
			return false;
	}
	if (!strcasecmp(local, "abuse") || !strcasecmp(local, "postmaster"))
		return false;
	return true;
}

bool valid_email(const char *email)
{
	const char *at = strchr(email, '@');

	if (!at || strchr(at + 1, '@'))
		return false;
	char *local = xstrndup(email, (size_t)(at - email));
	bool ok = valid_local_part(local);

	free(local);
	return ok && valid_domain_name(at + 1);
}

bool valid_domain_name(const char *d)
{
	size_t n = strlen(d), label = 0;

	if (n < 3 || n > 253 || !strchr(d, '.'))
		return false;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.' || c == '\0') {
			/* RFC 1035: 1..63 characters, no hyphen at either end */
			if (label == 0 || label > 63 || d[i - 1] == '-' || d[i - label] == '-')
				return false;
			label = 0;
		} else if (isalnum(c) || c == '-') {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

bool valid_ou_path(const char *path)
{
	size_t n = strlen(path);

	if (n < 1 || path[0] != '/')
		return false;
	if (n > 1 && path[n - 1] == '/')
		return false;
	return strstr(path, "//") == NULL;
}

/* ---------------------------------------------------------------- query syntax */

void emu_query_free(struct emu_query *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->c[i].value);
	free(q->c);
	memset(q, 0, sizeof(*q));
}

static bool field_known(const char *const *fields, size_t n, const char *f)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(fields[i], f))
			return true;
	return false;
}

/* Reads one value at *sp into b; returns 0, -1 (syntax) or -2 (stray apostrophe). */
static int query_value(const char **sp, struct buf *b)
{
	const char *s = *sp;

	if (*s == '\'' || *s == '"') {
		char qc = *s++;

		while (*s && *s != qc) {
			if (*s == '\\' && s[1])
				s++;
			buf_add(b, s, 1);
			s++;
		}
		if (!*s)
			return qc == '\'' ? -2 : -1;
		s++;
		/* 'O'Brien' : the quote closed early and the rest of the word is left over */
		if (*s && !isspace((unsigned char)*s))
			return -2;
	} else {
		while (*s && !isspace((unsigned char)*s)) {
			if (*s == '\\' && s[1]) {
				s++;
			} else if (*s == '\'') {
				return -2;
			}
			buf_add(b, s, 1);
			s++;
		}
	}
	*sp = s;
	return 0;
}

int emu_query_parse(const char *s, const char *const *fields, size_t n_fields,
		    struct emu_query *q)
{
	struct buf b;
	int rc = 0;

	memset(q, 0, sizeof(*q));
	buf_init(&b);
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return -2;
	while (*s && rc == 0) {
		struct qclause c;
		const char *st = s;

		memset(&c, 0, sizeof(c));
		while (*s && (isalnum((unsigned char)*s) || *s == '.' || *s == '_'))
			s++;
		if (*s == '=' || *s == ':') {
			if ((size_t)(s - st) >= sizeof(c.field)) {
				rc = -1;
				break;
			}
			memcpy(c.field, st, (size_t)(s - st));
			c.op = *s++;
		} else {
			s = st;
			c.op = ':';
		}
		if (!field_known(fields, n_fields, c.field)) {
			rc = strchr(st, '\'') && !strpbrk(st, "=:") ? -2 : -1;
			break;
		}
		buf_reset(&b);
		rc = query_value(&s, &b);
		if (rc)
			break;
		c.value = buf_steal(&b);
		size_t vl = strlen(c.value);

		if (vl && c.value[vl - 1] == '*') {
			c.prefix = true;
			c.value[vl - 1] = '\0';
		}
		if (!*c.value && !c.prefix) {
			free(c.value);
			rc = -1;
			break;
		}
		q->c = xrealloc(q->c, (q->n + 1) * sizeof(*q->c));
		q->c[q->n++] = c;
		while (isspace((unsigned char)*s))
			s++;
	}
	buf_cleanup(&b);
	if (rc)
		emu_query_free(q);
	return rc;
}

/* ---------------------------------------------------------------- password check */

static void hex_digest(const char *md, const char *clear, char *out, size_t outlen)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	out[0] = '\0';
	if (!EVP_Digest(clear, strlen(clear), d, &n, EVP_get_digestbyname(md), NULL))
		return;
	for (unsigned int i = 0; i < n && 2 * i + 2 < outlen; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

int emu_password_check(const char *stored, const char *hash_fn, const char *clear)
{
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	if (!stored || !clear)
		return 0;
	if (!hash_fn || !*hash_fn)
		return strcmp(stored, clear) == 0;
	if (!strcasecmp(hash_fn, "MD5")) {
		hex_digest("MD5", clear, hex, sizeof(hex));
		return strcasecmp(stored, hex) == 0;
	}
	if (!strcasecmp(hash_fn, "SHA-1") || !strcasecmp(hash_fn, "SHA1")) {
		hex_digest("SHA1", clear, hex, sizeof(hex));
		return strcasecmp(stored, hex) == 0;
	}
	if (!strcasecmp(hash_fn, "crypt")) {
		struct crypt_data *cd = xcalloc(1, sizeof(*cd));
		const char *h = crypt_r(clear, stored, cd);
		int ok = h && h[0] != '*' && strcmp(h, stored) == 0;

		free(cd);
		return ok;
	}
	return 0;
}
