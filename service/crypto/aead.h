/*
 * aead — AES-256-GCM for secrets kept at rest (service-account keys, refresh tokens).
 *
 * A keyring holds the current key and any previous keys, each a 32-byte key with a key id (kid).
 * It is built once from configuration strings "kid:base64key" and is immutable afterwards, so
 * every function here may be called from any thread at once. Keys are wiped when the ring is
 * freed.
 *
 * Sealed text: "v1.<kid>.<base64url(12-byte random nonce || ciphertext || 16-byte tag)>". The
 * version and kid are authenticated together with the caller's aad (bind it to where the secret
 * lives, e.g. "integration:<id>:refresh_token", so a sealed value cannot be moved elsewhere).
 * Rotation: seal with the current key, open with any key of the ring, and re-seal texts for which
 * aead_is_current() says 0.
 *
 * Errors come back as E_* codes with detail in struct err; detail names the kid at most, never a
 * key or plaintext.
 */
#ifndef GWSYNC_CRYPTO_AEAD_H
#define GWSYNC_CRYPTO_AEAD_H

#include <stddef.h>

#include "err.h"

#define AEAD_KEY_LEN 32
#define AEAD_NONCE_LEN 12
#define AEAD_TAG_LEN 16
#define AEAD_KID_MAX 32 /* kid: 1..AEAD_KID_MAX of [A-Za-z0-9_-] */
#define AEAD_PLAIN_MAX (1024 * 1024)

struct aead_ring;

/*
 * Builds a ring. current is "kid:base64key" (standard or url alphabet, padding optional, 32 bytes
 * decoded); previous is NULL, "" or a comma-separated list of the same form (keys that may still
 * open old texts). Kids must be distinct. *out is owned by the caller (aead_ring_free), NULL on
 * failure. The caller wipes its own copies of the strings. Errors: E_INVAL (shape, length,
 * duplicate kid), E_NOMEM.
 */
int aead_ring_new(const char *current, const char *previous, struct aead_ring **out, struct err *e);

/* Wipes the keys and frees the ring. NULL is a no-op. */
void aead_ring_free(struct aead_ring *ring);

/* The current kid (borrowed; lives as long as ring). */
const char *aead_ring_current_kid(const struct aead_ring *ring);

/*
 * Seals len bytes of plaintext (≤ AEAD_PLAIN_MAX) under the current key with a fresh random
 * nonce. aad (aad_len bytes) may be NULL when aad_len is 0. *out_text is a NUL-terminated string
 * owned by the caller (free()); it is not secret. NULL on failure. Errors: E_INVAL, E_NOMEM,
 * E_INTERNAL (RNG or cipher failure).
 */
int aead_seal(const struct aead_ring *ring, const void *plaintext, size_t len, const void *aad,
	      size_t aad_len, char **out_text, struct err *e);

/*
 * Opens a sealed text with the key its kid names. On success *out holds *len plaintext bytes and
 * a trailing NUL (so a text secret can be used as a string); *out is owned by the caller, who
 * wipes and frees it with aead_plain_free(). On failure *out is NULL and *len 0. Errors: E_INVAL
 * for a malformed text, an unknown kid, a wrong aad or any tampering (they are not told apart on
 * purpose); E_NOMEM.
 */
int aead_open(const struct aead_ring *ring, const char *text, const void *aad, size_t aad_len,
	      unsigned char **out, size_t *len, struct err *e);

/* Wipes len bytes of plain (from aead_open) and frees it. NULL is a no-op. */
void aead_plain_free(unsigned char *plain, size_t len);

/*
 * 1 when text is a v1 sealed text under the ring's current kid, else 0 (an old kid, or not a
 * sealed text at all): the signal to re-seal on rotation. Does not authenticate the text.
 */
int aead_is_current(const struct aead_ring *ring, const char *text);

#endif
