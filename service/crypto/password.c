#include "password.h"

#include <crypt.h>
#include <openssl/evp.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

/* crypt(3)'s alphabet for salts and hashes. */
static const char crypt_alphabet[] =
	"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#define SALT_LEN 16

const char *password_clear_check(const char *pw, size_t len)
{
	if (len < PASSWORD_CLEAR_MIN)
		return "must be at least 8 characters";
	if (len > PASSWORD_CLEAR_MAX)
		return "must be at most 100 characters";
	for (size_t i = 0; i < len; i++) {
		if (pw[i] < 0x20 || pw[i] > 0x7e)
			return "must contain only printable ASCII characters";
	}
	return NULL;
}

int password_hash_sha512(const char *pw, size_t len, char out[PASSWORD_HASH_MAX + 1], struct err *e)
{
	out[0] = '\0';
	if (len > PASSWORD_CLEAR_MAX || memchr(pw, '\0', len))
		return err_set(e, E_INTERNAL, "password not checked before hashing");
	unsigned char raw[SALT_LEN];
	char setting[64];
	if (crypto_random(raw, sizeof(raw)))
		return err_set(e, E_INTERNAL, "no random bytes for the password salt");
	int n = snprintf(setting, sizeof(setting), "$6$rounds=%d$", PASSWORD_CRYPT_ROUNDS);
	for (size_t i = 0; i < SALT_LEN; i++)
		setting[(size_t)n + i] = crypt_alphabet[raw[i] & 63]; /* 64 letters: unbiased */
	setting[(size_t)n + SALT_LEN] = '\0';
	crypto_wipe(raw, sizeof(raw));

	/* crypt_rn wants a NUL-terminated phrase: copy into storage we wipe ourselves. */
	char phrase[PASSWORD_CLEAR_MAX + 1];
	memcpy(phrase, pw, len);
	phrase[len] = '\0';
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	int rc = E_OK;
	if (!cd) {
		rc = err_set(e, E_NOMEM, "password hashing");
	} else {
		const char *h = crypt_rn(phrase, setting, cd, (int)sizeof(*cd));
		if (!h || h[0] == '*' || strlen(h) > PASSWORD_HASH_MAX ||
		    strncmp(h, setting, strlen(setting)) != 0)
			rc = err_set(e, E_INTERNAL, "libcrypt could not hash the password");
		else
			memcpy(out, h, strlen(h) + 1);
		crypto_wipe(cd, sizeof(*cd));
		free(cd);
	}
	crypto_wipe(phrase, sizeof(phrase));
	return rc;
}

static int in_alphabet(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!s[i] || !strchr(crypt_alphabet, s[i]))
			return 0;
	}
	return 1;
}

/* "$<id>$[rounds=N$]salt$hash" of the modular crypt format. */
static const char *crypt_check(const char *h, size_t len)
{
	if (len < 4 || h[0] != '$' || h[2] != '$' || !strchr("156", h[1]))
		return "must be a crypt hash starting with $1$, $5$ or $6$";
	char id = h[1];
	const char *p = h + 3;
	const char *end = h + len;
	if (id != '1' && end - p > 7 && strncmp(p, "rounds=", 7) == 0) {
		p += 7;
		const char *digits = p;
		long rounds = 0;
		while (p < end && isdigit((unsigned char)*p) && p - digits < 9)
			rounds = rounds * 10 + (*p++ - '0');
		if (p == digits || p >= end || *p != '$' || digits[0] == '0')
			return "has a malformed rounds= field";
		if (rounds < 1000 || rounds > 10000)
			return "must use from 1000 to 10000 rounds (Google's maximum is 10000)";
		p++;
	}
	const char *dollar = memchr(p, '$', (size_t)(end - p));
	if (!dollar)
		return "must have a salt and a hash separated by $";
	size_t salt = (size_t)(dollar - p);
	size_t max_salt = id == '1' ? 8 : 16;
	if (salt < 1 || salt > max_salt || !in_alphabet(p, salt))
		return id == '1' ? "must have a salt of 1 to 8 characters from [./0-9A-Za-z]"
				 : "must have a salt of 1 to 16 characters from [./0-9A-Za-z]";
	p = dollar + 1;
	size_t want = id == '1' ? 22 : id == '5' ? 43 : 86;
	if ((size_t)(end - p) != want || !in_alphabet(p, want))
		return id == '1'   ? "must end in 22 characters from [./0-9A-Za-z] ($1$)"
		       : id == '5' ? "must end in 43 characters from [./0-9A-Za-z] ($5$)"
				   : "must end in 86 characters from [./0-9A-Za-z] ($6$)";
	return NULL;
}

static const char *hex_check(const char *h, size_t len, size_t want, char *out)
{
	if (len != want)
		return want == 40 ? "must be 40 hexadecimal digits (SHA-1)"
				  : "must be 32 hexadecimal digits (MD5)";
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)h[i]))
			return "must contain only hexadecimal digits";
		out[i] = (char)tolower((unsigned char)h[i]);
	}
	out[len] = '\0';
	return NULL;
}

/*
 * An LDAP "{SHA}" / "{MD5}" value is the base64 of the raw digest (RFC 2307 userPassword);
 * Google wants the digest as hex (API-NOTES §16). Writes the hex digits into out.
 */
static const char *ldap_digest(const char *b64, size_t len, size_t digest_len, char *out)
{
	unsigned char raw[96]; /* EVP_DecodeBlock writes 3 bytes per 4 characters, padding included */
	if (len == 0 || len % 4 || len > 88)
		return "is not the base64 of a digest";
	char text[96];
	memcpy(text, b64, len);
	text[len] = 0;
	int n = EVP_DecodeBlock(raw, (const unsigned char *)text, (int)len);
	if (n < 0)
		return "is not valid base64";
	size_t pad = (len >= 1 && b64[len - 1] == '=') + (len >= 2 && b64[len - 2] == '=');
	if ((size_t)n - pad != digest_len)
		return digest_len == 20 ? "is not the base64 of a 20-byte SHA-1 digest"
					: "is not the base64 of a 16-byte MD5 digest";
	for (size_t i = 0; i < digest_len; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return NULL;
}

const char *password_hash_normalize(const char *hash, size_t len, const char *function,
				    char out[PASSWORD_HASH_MAX + 1])
{
	out[0] = '\0';
	const char *why;
	if (len > PASSWORD_HASH_MAX)
		return "is too long";
	if (strcmp(function, "SHA-1") == 0 && len > 5 && strncmp(hash, "{SHA}", 5) == 0)
		return ldap_digest(hash + 5, len - 5, 20, out);
	if (strcmp(function, "MD5") == 0 && len > 5 && strncmp(hash, "{MD5}", 5) == 0)
		return ldap_digest(hash + 5, len - 5, 16, out);
	if (strcmp(function, "SHA-1") == 0)
		return hex_check(hash, len, 40, out);
	if (strcmp(function, "MD5") == 0)
		return hex_check(hash, len, 32, out);
	if (strcmp(function, "crypt") != 0)
		return "has an unknown hash function";
	why = crypt_check(hash, len);
	if (!why) {
		memcpy(out, hash, len);
		out[len] = '\0';
	}
	return why;
}
