/* SPDX-License-Identifier: MIT */
/* gws-emulator validation rules (API-NOTES §8); pure functions, unit tested. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

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
static size_t utf8_len(const char *s)
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
	const char *d = at + 1;
	size_t dl = strlen(d);

	if (!ok || dl < 3 || dl > 253 || !strchr(d, '.') || d[0] == '.' || d[dl - 1] == '.')
		return false;
	for (; *d; d++)
		if (!(isalnum((unsigned char)*d) || *d == '-' || *d == '.'))
			return false;
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
