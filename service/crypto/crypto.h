/*
 * crypto — random bytes, digests, base64url and API keys, on OpenSSL.
 *
 * All functions write into caller storage and are thread-safe. Buffers that held a secret are
 * wiped with crypto_wipe() (OPENSSL_cleanse) by whoever owns them.
 */
#ifndef GWSYNC_CRYPTO_H
#define GWSYNC_CRYPTO_H

#include <stddef.h>

/* Fills buf with n cryptographically strong random bytes. Returns 0, or -1 when the RNG fails. */
int crypto_random(void *buf, size_t n);

/* Writes 2*n lower-case hex digits of n random bytes and a NUL into out (size ≥ 2*n+1). */
int crypto_random_hex(char *out, size_t n);

/* SHA-256 of data as 64 lower-case hex digits and a NUL (out size ≥ 65). Returns 0 or -1. */
int crypto_sha256_hex(const void *data, size_t len, char out[65]);

/*
 * base64url without padding (RFC 4648 §5). Writes at most cap bytes including the NUL; returns
 * the encoded length, or -1 when cap is too small.
 */
int crypto_base64url_encode(const void *data, size_t len, char *out, size_t cap);

/*
 * Decodes base64url (padding optional) into out; returns the decoded length, or -1 when the
 * text is not base64url or out (cap bytes) is too small.
 */
int crypto_base64url_decode(const char *text, unsigned char *out, size_t cap);

/* Overwrites n bytes so the compiler cannot skip it. */
void crypto_wipe(void *buf, size_t n);

/*
 * API keys: "gwsk_" followed by 43 base64url characters (256 random bits). Only the SHA-256 of
 * the whole key is stored; the first API_KEY_PREFIX_LEN characters are kept to tell keys apart.
 */
#define API_KEY_LEN 48
#define API_KEY_PREFIX_LEN 12
int api_key_generate(char out[API_KEY_LEN + 1]);

/* 1 when s has the shape of an API key (prefix, length, alphabet), else 0. */
int api_key_well_formed(const char *s);

/* SHA-256 hex of the key (what the database stores). */
int api_key_hash(const char *key, char out[65]);

#endif
