#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define API_KEY_TAG "gwsk_"

int crypto_random(void *buf, size_t n)
{
	if (n > (size_t)INT32_MAX)
		return -1;
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

int crypto_random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	if (n > sizeof(raw) || crypto_random(raw, n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * n] = '\0';
	return 0;
}

int crypto_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
		return -1;
	for (unsigned int i = 0; i < md_len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

static void to_url_alphabet(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+')
			s[i] = '-';
		else if (s[i] == '/')
			s[i] = '_';
	}
}

int crypto_base64url_encode(const void *data, size_t len, char *out, size_t cap)
{
	static const size_t tail_chars[] = {0, 2, 3};
	size_t whole = len / 3;
	size_t need = whole * 4 + tail_chars[len % 3] + 1;
	if (cap < need || len > (size_t)INT32_MAX / 2)
		return -1;
	/* Whole groups go straight into out; the padded tail goes through a scratch buffer. */
	if (whole)
		EVP_EncodeBlock((unsigned char *)out, data, (int)(whole * 3));
	if (len % 3) {
		char tail[8];
		EVP_EncodeBlock((unsigned char *)tail, (const unsigned char *)data + whole * 3,
				(int)(len % 3));
		memcpy(out + whole * 4, tail, tail_chars[len % 3]);
	}
	out[need - 1] = '\0';
	to_url_alphabet(out, need - 1);
	return (int)(need - 1);
}

int crypto_base64url_decode(const char *text, unsigned char *out, size_t cap)
{
	size_t n = strlen(text);
	while (n > 0 && text[n - 1] == '=')
		n--;
	if (n % 4 == 1 || n > (size_t)INT32_MAX / 2)
		return -1;
	if (n == 0)
		return 0;
	size_t padded = (n + 3) / 4 * 4;
	size_t decoded = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (decoded > cap)
		return -1;
	char *std = malloc(padded + 1);
	unsigned char *tmp = malloc(padded / 4 * 3 + 1);
	int rc = -1;
	if (!std || !tmp)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char c = text[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   (c >= '0' && c <= '9')))
			goto out;
		std[i] = c;
	}
	memset(std + n, '=', padded - n);
	if (EVP_DecodeBlock(tmp, (const unsigned char *)std, (int)padded) < 0)
		goto out;
	memcpy(out, tmp, decoded);
	rc = (int)decoded;
out:
	free(std);
	free(tmp);
	return rc;
}

void crypto_wipe(void *buf, size_t n)
{
	OPENSSL_cleanse(buf, n);
}

int api_key_generate(char out[API_KEY_LEN + 1])
{
	unsigned char raw[32];
	char enc[48];
	if (crypto_random(raw, sizeof(raw)))
		return -1;
	int n = crypto_base64url_encode(raw, sizeof(raw), enc, sizeof(enc));
	crypto_wipe(raw, sizeof(raw));
	if (n != API_KEY_LEN - (int)strlen(API_KEY_TAG))
		return -1;
	memcpy(out, API_KEY_TAG, strlen(API_KEY_TAG));
	memcpy(out + strlen(API_KEY_TAG), enc, (size_t)n + 1);
	crypto_wipe(enc, sizeof(enc));
	return 0;
}

int api_key_well_formed(const char *s)
{
	size_t tag = strlen(API_KEY_TAG);
	if (!s || strlen(s) != API_KEY_LEN || strncmp(s, API_KEY_TAG, tag) != 0)
		return 0;
	for (const char *p = s + tag; *p; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return 0;
	}
	return 1;
}

int api_key_hash(const char *key, char out[65])
{
	return crypto_sha256_hex(key, strlen(key), out);
}
