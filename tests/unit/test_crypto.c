/*
 * Unit tests of service/crypto/crypto.h: base64url, SHA-256 and API keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"

/* RFC 4648 §10 test vectors; without padding, as base64url is written here. */
static const struct {
	const char *plain;
	const char *enc;
} rfc4648[] = {
	{"", ""},	    {"f", "Zg"},	  {"fo", "Zm8"},	  {"foo", "Zm9v"},
	{"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static int is_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

static void test_b64url_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		char out[32];
		unsigned char back[32];
		size_t plen = strlen(rfc4648[i].plain);
		int n = crypto_base64url_encode(rfc4648[i].plain, plen, out, sizeof(out));
		assert_int_equal(n, (int)strlen(rfc4648[i].enc));
		assert_string_equal(out, rfc4648[i].enc);

		n = crypto_base64url_decode(rfc4648[i].enc, back, sizeof(back));
		assert_int_equal(n, (int)plen);
		assert_memory_equal(back, rfc4648[i].plain, plen);
	}
}

static void test_b64url_padding_optional(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *plain;
	} padded[] = {
		{"Zg==", "f"},
		{"Zm8=", "fo"},
		{"Zm9vYg==", "foob"},
		{"Zm9vYmE=", "fooba"},
	};
	for (size_t i = 0; i < sizeof(padded) / sizeof(padded[0]); i++) {
		unsigned char back[16];
		int n = crypto_base64url_decode(padded[i].text, back, sizeof(back));
		assert_int_equal(n, (int)strlen(padded[i].plain));
		assert_memory_equal(back, padded[i].plain, (size_t)n);
	}
}

static void test_b64url_url_alphabet(void **state)
{
	(void)state;
	/* Where the standard alphabet has '+' and '/', base64url has '-' and '_'. */
	static const unsigned char plus[] = {0xfb, 0xef, 0xbe};	 /* std "++++" */
	static const unsigned char slash[] = {0xff, 0xff, 0xff}; /* std "////" */
	static const unsigned char mixed[] = {0xfb, 0xff};	 /* std "+/8=" */
	char out[16];
	unsigned char back[16];

	assert_int_equal(crypto_base64url_encode(plus, sizeof(plus), out, sizeof(out)), 4);
	assert_string_equal(out, "----");
	assert_int_equal(crypto_base64url_encode(slash, sizeof(slash), out, sizeof(out)), 4);
	assert_string_equal(out, "____");
	assert_int_equal(crypto_base64url_encode(mixed, sizeof(mixed), out, sizeof(out)), 3);
	assert_string_equal(out, "-_8");

	assert_int_equal(crypto_base64url_decode("-_8", back, sizeof(back)), 2);
	assert_memory_equal(back, mixed, sizeof(mixed));
	assert_int_equal(crypto_base64url_decode("----", back, sizeof(back)), 3);
	assert_memory_equal(back, plus, sizeof(plus));
	assert_int_equal(crypto_base64url_decode("____", back, sizeof(back)), 3);
	assert_memory_equal(back, slash, sizeof(slash));
}

static void test_b64url_round_trip_all_lengths(void **state)
{
	(void)state;
	unsigned char data[200];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof(data); len++) {
		char text[300];
		unsigned char back[200];
		int n = crypto_base64url_encode(data, len, text, sizeof(text));
		/* Unpadded length: ceil(4 * len / 3). */
		assert_int_equal(n, (int)((4 * len + 2) / 3));
		assert_int_equal(strlen(text), (size_t)n);
		for (int i = 0; i < n; i++)
			assert_true(is_b64url_char(text[i]));
		assert_int_equal(crypto_base64url_decode(text, back, sizeof(back)), (int)len);
		assert_memory_equal(back, data, len);
	}
}

static void test_b64url_random_round_trip(void **state)
{
	(void)state;
	for (int round = 0; round < 64; round++) {
		unsigned char data[33], back[33];
		char text[64];
		assert_int_equal(crypto_random(data, sizeof(data)), 0);
		int n = crypto_base64url_encode(data, sizeof(data), text, sizeof(text));
		assert_int_equal(n, 44);
		assert_int_equal(crypto_base64url_decode(text, back, sizeof(back)), 33);
		assert_memory_equal(back, data, sizeof(data));
	}
}

static void test_b64url_decode_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"Zm9v+g",	/* standard alphabet */
		"Zm9v/g",	/* standard alphabet */
		"Zm 9v",	/* space */
		"Zm9v\n",	/* newline */
		"Zm9v.A",	/* not in any alphabet */
		"Zm9v*",	/* not in any alphabet */
		"Z",		/* one character cannot be a byte */
		"Zm9vY",	/* 4k + 1 characters */
		"Zg==Zg",	/* padding in the middle */
		"=Zg",		/* padding at the start */
		"Zm9v\xc3\xa9", /* non-ASCII */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char out[64];
		int n = crypto_base64url_decode(bad[i], out, sizeof(out));
		if (n != -1)
			fail_msg("decode(\"%s\"): want -1, got %d", bad[i], n);
	}
}

static void test_b64url_cap_too_small(void **state)
{
	(void)state;
	char text[16];
	unsigned char out[16];

	/* "foobar" → "Zm9vYmFy": 8 characters and the NUL. */
	memset(text, 'Q', sizeof(text));
	assert_int_equal(crypto_base64url_encode("foobar", 6, text, 8), -1);
	assert_int_equal(crypto_base64url_encode("foobar", 6, text, 0), -1);
	assert_int_equal(crypto_base64url_encode("foobar", 6, text, 9), 8);
	assert_string_equal(text, "Zm9vYmFy");
	assert_int_equal(crypto_base64url_encode("foo", 3, text, 4), -1);
	assert_int_equal(crypto_base64url_encode("", 0, text, 1), 0);
	assert_string_equal(text, "");

	/* Decoding into too little room fails without writing past cap. */
	memset(out, 0xa5, sizeof(out));
	assert_int_equal(crypto_base64url_decode("Zm9vYmFy", out, 5), -1);
	for (size_t i = 5; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xa5);
	assert_int_equal(crypto_base64url_decode("Zm9vYmE", out, 4), -1);
	assert_int_equal(crypto_base64url_decode("Zm9vYmE", out, 5), 5);
	assert_memory_equal(out, "fooba", 5);
	assert_int_equal(out[5], 0xa5);
	assert_int_equal(crypto_base64url_decode("Zm9vYmFy", out, 6), 6);
	assert_memory_equal(out, "foobar", 6);
	assert_int_equal(crypto_base64url_decode("", out, 0), 0);
}

/*
 * Known bug (left out of the default run): the encoder checks cap against the padded length
 * (4 * ceil(len / 3) + 1) although it writes no padding, so an exact-size buffer is refused when
 * len is not a multiple of 3: encode("f", 1, out, 3) should give 2 ("Zg"), gives -1.
 */
static void test_b64url_encode_exact_cap(void **state)
{
	(void)state;
	char text[16];
	assert_int_equal(crypto_base64url_encode("f", 1, text, 3), 2);
	assert_string_equal(text, "Zg");
	assert_int_equal(crypto_base64url_encode("fooba", 5, text, 8), 7);
	assert_string_equal(text, "Zm9vYmE");
}

/*
 * Known contract gap: decode refuses text longer than 4096 characters even when out is big
 * enough; the header promises -1 only for bad text or a small out.
 */
static void test_b64url_decode_long(void **state)
{
	(void)state;
	static unsigned char data[3100], back[3100];
	static char text[4200];
	memset(data, 0x42, sizeof(data));
	int n = crypto_base64url_encode(data, sizeof(data), text, sizeof(text));
	assert_true(n > 4096);
	assert_int_equal(crypto_base64url_decode(text, back, sizeof(back)), (int)sizeof(data));
}

static void test_sha256_vectors(void **state)
{
	(void)state;
	char hex[65];
	/* FIPS 180-2 examples. */
	assert_int_equal(crypto_sha256_hex("abc", 3, hex), 0);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
				 "b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(crypto_sha256_hex("", 0, hex), 0);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
				 "27ae41e4649b934ca495991b7852b855");
	static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	assert_int_equal(crypto_sha256_hex(two_blocks, strlen(two_blocks), hex), 0);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039"
				 "a33ce45964ff2167f6ecedd419db06c1");
	/* Binary input with NULs counts by length, not as a string. */
	static const unsigned char zeros[4] = {0};
	assert_int_equal(crypto_sha256_hex(zeros, 1, hex), 0);
	assert_string_equal(hex, "6e340b9cffb37a989ca544e6bb780a2c"
				 "78901d3fb33738768511a30617afa01d");
	assert_int_equal(crypto_sha256_hex(zeros, sizeof(zeros), hex), 0);
	assert_string_equal(hex, "df3f619804a92fdb4057192dc43dd748"
				 "ea778adc52bc498ce80524c014b81119");
}

static void test_random(void **state)
{
	(void)state;
	unsigned char a[32], b[32];
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(crypto_random(a, sizeof(a)), 0);
	assert_int_equal(crypto_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));

	char hex[2 * 16 + 2];
	memset(hex, 'Q', sizeof(hex));
	assert_int_equal(crypto_random_hex(hex, 16), 0);
	assert_int_equal(strlen(hex), 32);
	for (size_t i = 0; i < 32; i++)
		assert_non_null(strchr("0123456789abcdef", hex[i]));
	assert_int_equal(hex[33], 'Q');
}

static void test_wipe(void **state)
{
	(void)state;
	unsigned char buf[16];
	memset(buf, 0xa5, sizeof(buf));
	crypto_wipe(buf, 8);
	for (size_t i = 0; i < 8; i++)
		assert_int_not_equal(buf[i], 0xa5);
	for (size_t i = 8; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xa5);
}

static void test_api_key_generate(void **state)
{
	(void)state;
	char k1[API_KEY_LEN + 1], k2[API_KEY_LEN + 1];
	assert_int_equal(api_key_generate(k1), 0);
	assert_int_equal(api_key_generate(k2), 0);

	assert_int_equal(strlen(k1), API_KEY_LEN);
	assert_int_equal(API_KEY_LEN, 5 + 43);
	assert_true(strncmp(k1, "gwsk_", 5) == 0);
	for (size_t i = 5; i < API_KEY_LEN; i++)
		assert_true(is_b64url_char(k1[i]));
	assert_true(api_key_well_formed(k1));
	assert_true(api_key_well_formed(k2));
	assert_string_not_equal(k1, k2);
	/* The prefix kept to tell keys apart differs too (42 random bits). */
	assert_true(strncmp(k1, k2, API_KEY_PREFIX_LEN) != 0);

	/* 256 random bits: the 43 characters decode to 32 bytes. */
	unsigned char raw[64];
	assert_int_equal(crypto_base64url_decode(k1 + 5, raw, sizeof(raw)), 32);
}

static void test_api_key_well_formed(void **state)
{
	(void)state;
	/* 43 characters after the tag. */
	static const char good[] = "gwsk_AAAAAAAAAAbbbbbbbbbb0123456789-_zzzzzzzzzZZ";
	assert_int_equal(strlen(good), API_KEY_LEN);
	assert_true(api_key_well_formed(good));

	static const char *const bad[] = {
		"",
		"gwsk_",
		"gwsx_AAAAAAAAAAbbbbbbbbbb0123456789-_zzzzzzzzzZZ",	  /* wrong tag */
		"GWSK_AAAAAAAAAAbbbbbbbbbb0123456789-_zzzzzzzzzZZ",	  /* tag case */
		"gwskAAAAAAAAAAAbbbbbbbbbb0123456789-_zzzzzzzzzZZ",	  /* no underscore */
		"xgwsk_AAAAAAAAAbbbbbbbbbb0123456789-_zzzzzzzzzZZ",	  /* tag not at the start */
		"gwsk_AAAAAAAAAAbbbbbbbbbb0123456789-_zzzzzzzzzZ",	  /* 47 */
		"gwsk_AAAAAAAAAAbbbbbbbbbb0123456789-_zzzzzzzzzZZZ",	  /* 49 */
		"gwsk_AAAAAAAAAAbbbbbbbbbb0123456789+_zzzzzzzzzZZ",	  /* '+' */
		"gwsk_AAAAAAAAAAbbbbbbbbbb0123456789-/zzzzzzzzzZZ",	  /* '/' */
		"gwsk_AAAAAAAAAAbbbbbbbbbb0123456789-_zzzzzzzzzZ=",	  /* padding */
		"gwsk_AAAAAAAAAAbbbbbbbbbb0123456789-_zzzzzzzz zZ",	  /* space */
		"gwsk_AAAAAAAAAAbbbbbbbbbb0123456789-_zzzzzzzzz.Z",	  /* '.' */
		"gwsk_AAAAAAAAAAbbbbbbbbbb0123456789-_zzzzzzzz\xc3\xa9Z", /* non-ASCII, 48 bytes */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (api_key_well_formed(bad[i]))
			fail_msg("\"%s\": want not well formed", bad[i]);
	}
	assert_false(api_key_well_formed(NULL));
}

static void test_api_key_hash(void **state)
{
	(void)state;
	char key[API_KEY_LEN + 1], h1[65], h2[65];
	assert_int_equal(api_key_generate(key), 0);
	assert_int_equal(api_key_hash(key, h1), 0);
	assert_int_equal(crypto_sha256_hex(key, strlen(key), h2), 0);
	assert_string_equal(h1, h2);
	assert_int_equal(strlen(h1), 64);

	/* The whole key counts, not just its prefix. */
	char other[API_KEY_LEN + 1];
	memcpy(other, key, sizeof(other));
	other[API_KEY_LEN - 1] = other[API_KEY_LEN - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(api_key_hash(other, h2), 0);
	assert_string_not_equal(h1, h2);

	assert_int_equal(api_key_hash("abc", h1), 0);
	assert_string_equal(h1, "ba7816bf8f01cfea414140de5dae2223"
				"b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_rfc4648_vectors),
		cmocka_unit_test(test_b64url_padding_optional),
		cmocka_unit_test(test_b64url_url_alphabet),
		cmocka_unit_test(test_b64url_round_trip_all_lengths),
		cmocka_unit_test(test_b64url_random_round_trip),
		cmocka_unit_test(test_b64url_decode_rejects),
		cmocka_unit_test(test_b64url_cap_too_small),
		cmocka_unit_test(test_b64url_encode_exact_cap),
		cmocka_unit_test(test_b64url_decode_long),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_wipe),
		cmocka_unit_test(test_api_key_generate),
		cmocka_unit_test(test_api_key_well_formed),
		cmocka_unit_test(test_api_key_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
