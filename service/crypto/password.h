/*
 * password — what gwsync accepts as a user's password and how it keeps it.
 *
 * A clear-text password is checked against Google's rule, hashed at once with SHA-512 crypt
 * (libcrypt) and the clear text wiped by its owner; only the hash is ever stored. A hash given by
 * the platform is checked for the shape Google accepts for its hashFunction. Pure functions over
 * caller storage, thread-safe. No function copies, logs or reports the password it is given.
 */
#ifndef GWSYNC_CRYPTO_PASSWORD_H
#define GWSYNC_CRYPTO_PASSWORD_H

#include <stddef.h>

#include "err.h"

/* Google's limits on a clear-text password, in bytes of printable ASCII. */
#define PASSWORD_CLEAR_MIN 8
#define PASSWORD_CLEAR_MAX 100

/* Rounds of the SHA-512 crypt gwsync produces; Google accepts at most 10,000. */
#define PASSWORD_CRYPT_ROUNDS 10000

/* Longest hash accepted or produced, without the NUL. */
#define PASSWORD_HASH_MAX 160

/*
 * Google's rule for a clear-text password: PASSWORD_CLEAR_MIN..PASSWORD_CLEAR_MAX printable ASCII
 * characters (0x20..0x7e). pw holds len bytes (it may contain NUL). Returns NULL when acceptable,
 * else a static text saying what is wrong (never quoting the password).
 */
const char *password_clear_check(const char *pw, size_t len);

/*
 * Hashes pw (len bytes, already checked) with SHA-512 crypt: "$6$rounds=PASSWORD_CRYPT_ROUNDS$"
 * then 16 random salt characters. out gets the NUL-terminated hash. pw is not modified or copied
 * anywhere that outlives the call (libcrypt's work area is wiped and freed); the caller wipes pw.
 * Errors: E_NOMEM, E_INTERNAL (no random bytes, libcrypt failed); out is empty then.
 */
int password_hash_sha512(const char *pw, size_t len, char out[PASSWORD_HASH_MAX + 1],
			 struct err *e);

/*
 * Checks a hash for a Google hashFunction and writes its canonical form into out:
 *   "crypt": $1$<salt ≤8>$<22>, $5$[rounds=N$]<salt ≤16>$<43> or $6$[rounds=N$]<salt ≤16>$<86>,
 *            salt and hash from [./0-9A-Za-z], N from 1000 to 10000 (Google's maximum);
 *   "SHA-1": 40 hex digits; "MD5": 32 hex digits (both lower-cased into out).
 * Returns NULL when acceptable, else a static text saying what is wrong (out is empty then).
 */
const char *password_hash_normalize(const char *hash, size_t len, const char *function,
				    char out[PASSWORD_HASH_MAX + 1]);

#endif
