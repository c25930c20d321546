/*
 * Unit tests of service/crypto/aead.h: AES-256-GCM sealing of stored secrets, key rotation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aead.h"
#include "crypto.h"

/* 32-byte keys: standard base64 (with padding) and base64url without. */
#define K1 "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K2 "k2:__79_Pv6-fj39vX08_Lx8O_u7ezr6uno5-bl5OPi4eA"
#define AAD "integration:42:refresh_token"

static struct aead_ring *ring_of(const char *cur, const char *prev)
{
	struct aead_ring *ring = NULL;
	struct err e = {0};
	assert_int_equal(aead_ring_new(cur, prev, &ring, &e), E_OK);
	assert_non_null(ring);
	return ring;
}

/*
 * Seals into the caller's *text. Not a function returning the text: aead_seal() is handed the
 * address of the variable it fills, so the compiler cannot rule out that it stored that address
 * there, and returning a local that might point at itself is a dangling pointer to it
 * (-Wdangling-pointer in optimised builds).
 */
static void seal(struct aead_ring *ring, const char *plain, const char *aad, char **text)
{
	*text = NULL;
	assert_int_equal(aead_seal(ring, plain, strlen(plain), aad, strlen(aad), text, NULL),
			 E_OK);
	assert_non_null(*text);
}

static int open_rc(struct aead_ring *ring, const char *text, const char *aad)
{
	unsigned char *out = (unsigned char *)"sentinel";
	size_t len = 99;
	int rc = aead_open(ring, text, aad, strlen(aad), &out, &len, NULL);
	if (rc) {
		assert_null(out);
		assert_int_equal(len, 0);
	}
	aead_plain_free(out, len);
	return rc;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct aead_ring *ring = ring_of(K1, NULL);
	const char *secret = "1//0refresh-token-value";
	char *text;
	seal(ring, secret, AAD, &text);
	assert_true(strncmp(text, "v1.k1.", 6) == 0);
	assert_null(strstr(text, secret));
	/* nonce 12 + ciphertext + tag 16, base64url without padding */
	assert_int_equal(strlen(text + 6), ((12 + strlen(secret) + 16) * 4 + 2) / 3);

	unsigned char *plain = NULL;
	size_t len = 0;
	assert_int_equal(aead_open(ring, text, AAD, strlen(AAD), &plain, &len, NULL), E_OK);
	assert_int_equal(len, strlen(secret));
	assert_memory_equal(plain, secret, len);
	assert_int_equal(plain[len], '\0');
	aead_plain_free(plain, len);

	/* Fresh nonce each time: the same secret never seals to the same text. */
	char *again;
	seal(ring, secret, AAD, &again);
	assert_string_not_equal(text, again);
	free(again);
	free(text);

	/* Empty plaintext and empty aad work too. */
	assert_int_equal(aead_seal(ring, "", 0, NULL, 0, &text, NULL), E_OK);
	assert_int_equal(aead_open(ring, text, NULL, 0, &plain, &len, NULL), E_OK);
	assert_int_equal(len, 0);
	aead_plain_free(plain, len);
	free(text);
	aead_ring_free(ring);
}

/* Flips one bit of the decoded payload at byte `at` (negative: from the end). */
static char *flip(const char *text, long at)
{
	const char *payload = strrchr(text, '.') + 1;
	unsigned char raw[256];
	int n = crypto_base64url_decode(payload, raw, sizeof(raw));
	assert_true(n > 0);
	long i = at >= 0 ? at : n + at;
	raw[i] ^= 0x01;
	size_t hdr = (size_t)(payload - text);
	char *out = malloc(hdr + 400);
	memcpy(out, text, hdr);
	assert_true(crypto_base64url_encode(raw, (size_t)n, out + hdr, 400) > 0);
	return out;
}

static void test_tamper_detected(void **state)
{
	(void)state;
	struct aead_ring *ring = ring_of(K1, NULL);
	char *text;
	seal(ring, "service-account-private-key", AAD, &text);
	assert_int_equal(open_rc(ring, text, AAD), E_OK);

	const long spots[] = {0, 11, 12, 20, -17, -1}; /* nonce, ciphertext, tag */
	for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		char *bad = flip(text, spots[i]);
		assert_int_equal(open_rc(ring, bad, AAD), E_INVAL);
		free(bad);
	}
	/* Wrong aad, unknown kid, kid swapped, truncated, not a sealed text. */
	assert_int_equal(open_rc(ring, text, "integration:43:refresh_token"), E_INVAL);
	char *swapped = strdup(text);
	swapped[4] = '2'; /* v1.k2. */
	assert_int_equal(open_rc(ring, swapped, AAD), E_INVAL);
	free(swapped);
	char *cut = strdup(text);
	cut[strlen(cut) - 4] = '\0';
	assert_int_equal(open_rc(ring, cut, AAD), E_INVAL);
	free(cut);
	assert_int_equal(open_rc(ring, "v1.k1.", AAD), E_INVAL);
	assert_int_equal(open_rc(ring, "v2.k1.AAAA", AAD), E_INVAL);
	assert_int_equal(open_rc(ring, "plain text", AAD), E_INVAL);
	free(text);
	aead_ring_free(ring);
}

static void test_rotation(void **state)
{
	(void)state;
	struct aead_ring *old = ring_of(K1, NULL);
	char *text;
	seal(old, "secret", AAD, &text);
	assert_true(aead_is_current(old, text));

	/* Rotate: k2 current, k1 previous. The old text still opens but is not current. */
	struct aead_ring *ring = ring_of(K2, " " K1 " ");
	assert_string_equal(aead_ring_current_kid(ring), "k2");
	assert_int_equal(open_rc(ring, text, AAD), E_OK);
	assert_false(aead_is_current(ring, text));
	char *resealed;
	seal(ring, "secret", AAD, &resealed);
	assert_true(strncmp(resealed, "v1.k2.", 6) == 0);
	assert_true(aead_is_current(ring, resealed));
	/* The old ring cannot open what the new key sealed. */
	assert_int_equal(open_rc(old, resealed, AAD), E_INVAL);
	assert_false(aead_is_current(ring, "garbage"));
	assert_false(aead_is_current(ring, "v1.k2"));

	/* After k1 is dropped from the ring, its texts are refused. */
	struct aead_ring *only2 = ring_of(K2, "");
	assert_int_equal(open_rc(only2, text, AAD), E_INVAL);
	assert_int_equal(open_rc(only2, resealed, AAD), E_OK);

	free(text);
	free(resealed);
	aead_ring_free(old);
	aead_ring_free(ring);
	aead_ring_free(only2);
}

static void test_ring_config_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"nokid",
		":AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"k1:AAECAwQF",					       /* 6 bytes */
		"k.1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",    /* '.' in kid */
		"k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8fHw==", /* 34 bytes */
		"k1:!!!!",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct aead_ring *ring = (struct aead_ring *)1;
		struct err e = {0};
		assert_int_equal(aead_ring_new(bad[i], NULL, &ring, &e), E_INVAL);
		assert_null(ring);
		/* The detail never quotes key material. */
		assert_null(strstr(e.msg, "AAECAwQF"));
	}
	struct aead_ring *ring = NULL;
	assert_int_equal(aead_ring_new(K1, K1, &ring, NULL), E_INVAL); /* duplicate kid */
	assert_int_equal(aead_ring_new(K1, "k0:short", &ring, NULL), E_INVAL);
	assert_null(ring);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_tamper_detected),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_ring_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
