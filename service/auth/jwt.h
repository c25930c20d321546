/*
 * jwt — Google service-account keys, RS256 JWT assertions (API-NOTES §9.2) and PKCE (RFC 7636).
 *
 * Owns: parsing Google's JSON key file into struct jwt_sa_key (the private key is a secret: it is
 * wiped when the struct is freed and never copied into struct err or a log line), signing the JWT
 * bearer assertion with OpenSSL (EVP_DigestSign, SHA-256, RSASSA-PKCS1-v1_5), and the PKCE
 * verifier/challenge pair of the authorization-code flow.
 *
 * Ownership: *out results are allocated here and freed by the caller with the named function
 * (jwt_sa_key_free, free()). Errors: E_INVAL for input that is not what Google issues, E_NOMEM,
 * E_INTERNAL for an OpenSSL failure. Threads: every function is thread-safe; a struct jwt_sa_key
 * is immutable after parsing and may be shared for reading.
 */
#ifndef GWSYNC_AUTH_JWT_H
#define GWSYNC_AUTH_JWT_H

#include <stddef.h>

#include "err.h"

#define JWT_LIFETIME_S 3600	   /* exp - iat; Google refuses more than an hour */
#define JWT_SA_KEY_MAX_BYTES 16384 /* a Google key file is about 2.3 KiB */
#define JWT_PKCE_VERIFIER_LEN 64   /* RFC 7636: 43..128 characters */
#define JWT_PKCE_CHALLENGE_LEN 43  /* base64url of a SHA-256, no padding */

struct jwt_sa_key {
	char *client_email;   /* iss of the assertion */
	char *client_id;      /* the numeric id an admin allows for domain-wide delegation */
	char *private_key_id; /* kid of the JWT header; may be NULL */
	char *token_uri;      /* may be NULL */
	char *project_id;     /* may be NULL */
	char *private_key;    /* PEM PKCS#8: secret, wiped on free */
	size_t private_key_len;
};

/*
 * Parses a Google service-account key (JSON, len bytes ≤ JWT_SA_KEY_MAX_BYTES): type must be
 * "service_account", client_email and private_key are required and the key must load as an RSA
 * private key. *out is owned by the caller (jwt_sa_key_free), NULL on failure. The caller still
 * wipes json. Errors: E_INVAL naming the field that is wrong, E_NOMEM.
 */
int jwt_sa_key_parse(const char *json, size_t len, struct jwt_sa_key **out, struct err *e);

/* Wipes the private key and frees k. NULL is a no-op. */
void jwt_sa_key_free(struct jwt_sa_key *k);

struct jwt_claims {
	const char *iss;   /* client_email */
	const char *sub;   /* the admin impersonated; NULL or "" → no sub claim */
	const char *scope; /* space-separated scopes */
	const char *aud;   /* the token endpoint URL */
	long long iat;	   /* seconds since the epoch; exp = iat + JWT_LIFETIME_S */
};

/*
 * Signs a compact JWT: header {"alg":"RS256","typ":"JWT"[,"kid":kid]}, claims {iss, sub, scope,
 * aud, iat, exp}. key_pem (key_len bytes) is a PEM private RSA key; kid may be NULL. *out_jwt is
 * a NUL-terminated string owned by the caller, who wipes (it is a credential for an hour) and
 * frees it. Errors: E_INVAL (bad key or claims), E_NOMEM, E_INTERNAL.
 */
int jwt_sign_rs256(const char *key_pem, size_t key_len, const char *kid, const struct jwt_claims *c,
		   char **out_jwt, struct err *e);

/* jwt_sign_rs256 with iss, kid and the key taken from k. */
int jwt_sa_assertion(const struct jwt_sa_key *k, const char *sub, const char *scope,
		     const char *aud, long long iat, char **out_jwt, struct err *e);

/* Writes a fresh PKCE code_verifier: JWT_PKCE_VERIFIER_LEN base64url characters (384 random
 * bits) and a NUL. Returns E_OK or E_INTERNAL (no random bytes). */
int jwt_pkce_verifier(char out[JWT_PKCE_VERIFIER_LEN + 1]);

/* Writes the S256 code_challenge of verifier: base64url(SHA-256(verifier)) without padding and a
 * NUL. Errors: E_INVAL (verifier not 43..128 unreserved characters), E_INTERNAL. */
int jwt_pkce_challenge_s256(const char *verifier, char out[JWT_PKCE_CHALLENGE_LEN + 1]);

#endif
