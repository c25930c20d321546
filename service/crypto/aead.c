#include "aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

#define AEAD_VERSION "v1"
#define AEAD_RING_MAX 16

struct aead_key {
	char kid[AEAD_KID_MAX + 1];
	unsigned char key[AEAD_KEY_LEN];
};

struct aead_ring {
	size_t n; /* keys[0] is the current key */
	struct aead_key keys[AEAD_RING_MAX];
};

static int kid_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Parses one "kid:base64key" of entry_len bytes into k. */
static int parse_entry(const char *entry, size_t entry_len, struct aead_key *k, struct err *e)
{
	const char *colon = memchr(entry, ':', entry_len);
	if (!colon)
		return err_set(e, E_INVAL, "secret key: expected kid:base64key");
	size_t kid_len = (size_t)(colon - entry);
	if (kid_len == 0 || kid_len > AEAD_KID_MAX)
		return err_set(e, E_INVAL, "secret key: kid must be 1..%d characters",
			       AEAD_KID_MAX);
	for (size_t i = 0; i < kid_len; i++) {
		if (!kid_char(entry[i]))
			return err_set(e, E_INVAL, "secret key: kid must be [A-Za-z0-9_-]");
	}
	memcpy(k->kid, entry, kid_len);
	k->kid[kid_len] = '\0';

	/* Accept the standard alphabet as well: keys are usually made with `openssl rand -base64`.
	 */
	size_t b64_len = entry_len - kid_len - 1;
	char b64[128];
	unsigned char raw[96];
	int rc = E_OK;
	if (b64_len == 0 || b64_len >= sizeof(b64))
		return err_set(e, E_INVAL, "secret key %s: key must be 32 bytes in base64", k->kid);
	for (size_t i = 0; i < b64_len; i++) {
		char c = colon[1 + i];
		b64[i] = c == '+' ? '-' : c == '/' ? '_' : c;
	}
	b64[b64_len] = '\0';
	int n = crypto_base64url_decode(b64, raw, sizeof(raw));
	if (n != AEAD_KEY_LEN)
		rc = err_set(e, E_INVAL, "secret key %s: key must be 32 bytes in base64", k->kid);
	else
		memcpy(k->key, raw, AEAD_KEY_LEN);
	OPENSSL_cleanse(b64, sizeof(b64));
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

static const struct aead_key *ring_find(const struct aead_ring *ring, const char *kid,
					size_t kid_len)
{
	for (size_t i = 0; i < ring->n; i++) {
		if (strlen(ring->keys[i].kid) == kid_len &&
		    memcmp(ring->keys[i].kid, kid, kid_len) == 0)
			return &ring->keys[i];
	}
	return NULL;
}

static int ring_add(struct aead_ring *ring, const char *entry, size_t len, struct err *e)
{
	/* Tolerate blanks around list items ("k1:..., k0:..."). */
	while (len && (*entry == ' ' || *entry == '\t')) {
		entry++;
		len--;
	}
	while (len && (entry[len - 1] == ' ' || entry[len - 1] == '\t'))
		len--;
	if (ring->n == AEAD_RING_MAX)
		return err_set(e, E_INVAL, "secret key: at most %d keys", AEAD_RING_MAX);
	struct aead_key *k = &ring->keys[ring->n];
	int rc = parse_entry(entry, len, k, e);
	if (rc)
		return rc;
	if (ring_find(ring, k->kid, strlen(k->kid))) {
		rc = err_set(e, E_INVAL, "secret key: kid %s given twice", k->kid);
		OPENSSL_cleanse(k, sizeof(*k));
		return rc;
	}
	ring->n++;
	return E_OK;
}

int aead_ring_new(const char *current, const char *previous, struct aead_ring **out, struct err *e)
{
	*out = NULL;
	if (!current || !*current)
		return err_set(e, E_INVAL, "secret key: not set");
	struct aead_ring *ring = calloc(1, sizeof(*ring));
	if (!ring)
		return err_set(e, E_NOMEM, "secret key ring");
	int rc = ring_add(ring, current, strlen(current), e);
	const char *p = previous;
	while (!rc && p && *p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		rc = ring_add(ring, p, len, e);
		p = comma ? comma + 1 : NULL;
	}
	if (rc) {
		aead_ring_free(ring);
		return rc;
	}
	*out = ring;
	return E_OK;
}

void aead_ring_free(struct aead_ring *ring)
{
	if (!ring)
		return;
	OPENSSL_cleanse(ring, sizeof(*ring));
	free(ring);
}

const char *aead_ring_current_kid(const struct aead_ring *ring)
{
	return ring->keys[0].kid;
}

/* Authenticated header: the version and kid travel with the caller's aad. */
static int gcm_aad(EVP_CIPHER_CTX *ctx, const char *kid, const void *aad, size_t aad_len)
{
	int outl = 0;
	char hdr[sizeof(AEAD_VERSION) + AEAD_KID_MAX + 2];
	int n = snprintf(hdr, sizeof(hdr), AEAD_VERSION ".%s.", kid);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -1;
	if (EVP_CipherUpdate(ctx, NULL, &outl, (const unsigned char *)hdr, n) != 1)
		return -1;
	if (aad_len && EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1)
		return -1;
	return 0;
}

int aead_seal(const struct aead_ring *ring, const void *plaintext, size_t len, const void *aad,
	      size_t aad_len, char **out_text, struct err *e)
{
	*out_text = NULL;
	if (len > AEAD_PLAIN_MAX || aad_len > AEAD_PLAIN_MAX || (len && !plaintext) ||
	    (aad_len && !aad))
		return err_set(e, E_INVAL, "seal: input too large or missing");
	const struct aead_key *k = &ring->keys[0];
	size_t raw_len = AEAD_NONCE_LEN + len + AEAD_TAG_LEN;
	size_t text_cap = strlen(AEAD_VERSION) + 1 + strlen(k->kid) + 1 + (raw_len * 4 + 2) / 3 + 1;
	unsigned char *raw = malloc(raw_len);
	char *text = malloc(text_cap);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int rc = E_INTERNAL;
	int outl = 0;
	if (!raw || !text || !ctx) {
		rc = err_set(e, E_NOMEM, "seal");
		goto out;
	}
	if (crypto_random(raw, AEAD_NONCE_LEN)) {
		err_set(e, rc, "seal: no random bytes");
		goto out;
	}
	unsigned char *ct = raw + AEAD_NONCE_LEN;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, AEAD_NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, k->key, raw) != 1 ||
	    gcm_aad(ctx, k->kid, aad, aad_len) ||
	    (len && EVP_EncryptUpdate(ctx, ct, &outl, plaintext, (int)len) != 1) ||
	    EVP_EncryptFinal_ex(ctx, ct + len, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AEAD_TAG_LEN, ct + len) != 1) {
		err_set(e, rc, "seal: cipher failed");
		goto out;
	}
	int hdr = snprintf(text, text_cap, AEAD_VERSION ".%s.", k->kid);
	if (hdr < 0 ||
	    crypto_base64url_encode(raw, raw_len, text + hdr, text_cap - (size_t)hdr) < 0) {
		err_set(e, rc, "seal: encoding failed");
		goto out;
	}
	*out_text = text;
	text = NULL;
	rc = E_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (raw)
		OPENSSL_cleanse(raw, raw_len);
	free(raw);
	free(text);
	return rc;
}

/* Splits "v1.<kid>.<payload>"; returns the kid's start and length and the payload, or -1. */
static int split_text(const char *text, const char **kid, size_t *kid_len, const char **payload)
{
	size_t vlen = strlen(AEAD_VERSION);
	if (!text || strncmp(text, AEAD_VERSION ".", vlen + 1) != 0)
		return -1;
	const char *k = text + vlen + 1;
	const char *dot = strchr(k, '.');
	if (!dot || dot == k || (size_t)(dot - k) > AEAD_KID_MAX)
		return -1;
	*kid = k;
	*kid_len = (size_t)(dot - k);
	*payload = dot + 1;
	return 0;
}

int aead_open(const struct aead_ring *ring, const char *text, const void *aad, size_t aad_len,
	      unsigned char **out, size_t *len, struct err *e)
{
	*out = NULL;
	*len = 0;
	const char *kid, *payload;
	size_t kid_len;
	if (split_text(text, &kid, &kid_len, &payload))
		return err_set(e, E_INVAL, "open: not a sealed text");
	if (aad_len > AEAD_PLAIN_MAX || (aad_len && !aad))
		return err_set(e, E_INVAL, "open: aad too large or missing");
	const struct aead_key *k = ring_find(ring, kid, kid_len);
	if (!k)
		return err_set(e, E_INVAL, "open: unknown key id");
	size_t plen = strlen(payload);
	if (plen > (size_t)AEAD_PLAIN_MAX * 2)
		return err_set(e, E_INVAL, "open: sealed text too long");
	size_t raw_cap = plen / 4 * 3 + 3;
	unsigned char *raw = malloc(raw_cap);
	unsigned char *plain = NULL;
	size_t plain_len = 0;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int rc = E_INVAL;
	if (!raw || !ctx) {
		rc = err_set(e, E_NOMEM, "open");
		goto out;
	}
	int n = crypto_base64url_decode(payload, raw, raw_cap);
	if (n < AEAD_NONCE_LEN + AEAD_TAG_LEN) {
		err_set(e, rc, "open: not a sealed text");
		goto out;
	}
	plain_len = (size_t)n - AEAD_NONCE_LEN - AEAD_TAG_LEN;
	plain = malloc(plain_len + 1);
	if (!plain) {
		rc = err_set(e, E_NOMEM, "open");
		goto out;
	}
	const unsigned char *ct = raw + AEAD_NONCE_LEN;
	int outl = 0;
	/* The tag is set before Final, which then fails on any mismatch. */
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, AEAD_NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, raw) != 1 ||
	    gcm_aad(ctx, k->kid, aad, aad_len) ||
	    (plain_len && EVP_DecryptUpdate(ctx, plain, &outl, ct, (int)plain_len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AEAD_TAG_LEN,
				(void *)(ct + plain_len)) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain + plain_len, &outl) != 1) {
		err_set(e, rc, "open: authentication failed (wrong key, aad or tampered text)");
		goto out;
	}
	plain[plain_len] = '\0';
	*out = plain;
	*len = plain_len;
	plain = NULL;
	rc = E_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (raw)
		OPENSSL_cleanse(raw, raw_cap);
	free(raw);
	aead_plain_free(plain, plain_len + 1);
	return rc;
}

void aead_plain_free(unsigned char *plain, size_t len)
{
	if (!plain)
		return;
	OPENSSL_cleanse(plain, len);
	free(plain);
}

int aead_is_current(const struct aead_ring *ring, const char *text)
{
	const char *kid, *payload;
	size_t kid_len;
	if (split_text(text, &kid, &kid_len, &payload))
		return 0;
	const char *cur = ring->keys[0].kid;
	return strlen(cur) == kid_len && memcmp(cur, kid, kid_len) == 0;
}
