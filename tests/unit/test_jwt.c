/*
 * Unit tests of service/auth/jwt.h: Google service-account keys, the RS256 assertion, base64url
 * and PKCE S256. The key pair is made here and the signature verified against its public half by
 * the openssl tool (`openssl dgst -sha256 -verify`), independently of the code under test; the
 * tool keeps OpenSSL's headers out of tests/unit (tests/static/test_layout.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <unistd.h>

#include "crypto.h"
#include "jwt.h"

#define SCOPES                                                                                     \
	"https://www.googleapis.com/auth/admin.directory.user "                                    \
	"https://www.googleapis.com/auth/admin.directory.group"
#define AUD "https://oauth2.googleapis.com/token"

static char dir[128];  /* a fresh directory under $TMPDIR for keys and signatures */
static char *rsa_pem;  /* PKCS#8 private key made by the openssl tool */
static char *key_json; /* a Google-shaped key file around it */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = calloc(1, 16384);
	size_t n = fread(buf, 1, 16383, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Runs a shell command formatted printf-style at the call site. */
static char cmdbuf[1024];
#define SH(...) (snprintf(cmdbuf, sizeof(cmdbuf), __VA_ARGS__), system(cmdbuf))

/* A new private key of the given genpkey options, as PEM text. */
static char *genkey(const char *opts)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "openssl genpkey %s -out %s/k.pem 2>/dev/null", opts, dir);
	if (system(cmd) != 0)
		return NULL;
	snprintf(cmd, sizeof(cmd), "%s/k.pem", dir);
	return slurp(cmd);
}

static char *key_file(const char *pem, const char *drop)
{
	struct json_object *jo = json_object_new_object();
	const char *fields[][2] = {
		{"type", "service_account"},
		{"project_id", "gwsync-test"},
		{"private_key_id", "0123456789abcdef0123456789abcdef01234567"},
		{"private_key", pem},
		{"client_email", "sync@gwsync-test.iam.gserviceaccount.com"},
		{"client_id", "112233445566778899000"},
		{"auth_uri", "https://accounts.google.com/o/oauth2/auth"},
		{"token_uri", AUD},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (drop && strcmp(drop, fields[i][0]) == 0)
			continue;
		json_object_object_add(jo, fields[i][0], json_object_new_string(fields[i][1]));
	}
	char *s = strdup(json_object_to_json_string_ext(jo, JSON_C_TO_STRING_PRETTY));
	json_object_put(jo);
	return s;
}

static int setup(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/gwsync-jwt-XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
	if (!mkdtemp(dir))
		return -1;
	rsa_pem = genkey("-algorithm RSA -pkeyopt rsa_keygen_bits:2048");
	if (!rsa_pem || !strstr(rsa_pem, "-----BEGIN PRIVATE KEY-----") ||
	    SH("openssl pkey -in %s/k.pem -pubout -out %s/pub.pem 2>/dev/null", dir, dir) != 0)
		return -1;
	key_json = key_file(rsa_pem, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	SH("rm -f %s/k.pem %s/pub.pem %s/in %s/sig; rmdir %s", dir, dir, dir, dir, dir);
	free(rsa_pem);
	free(key_json);
	return 0;
}

static struct json_object *decode_segment(const char *seg, size_t len)
{
	char *text = strndup(seg, len);
	unsigned char raw[2048];
	int n = crypto_base64url_decode(text, raw, sizeof(raw) - 1);
	free(text);
	assert_true(n > 0);
	raw[n] = '\0';
	struct json_object *jo = json_tokener_parse((const char *)raw);
	assert_non_null(jo);
	return jo;
}

static const char *str_of(struct json_object *jo, const char *key)
{
	struct json_object *v = NULL;
	assert_true(json_object_object_get_ex(jo, key, &v));
	return json_object_get_string(v);
}

static long long int_of(struct json_object *jo, const char *key)
{
	struct json_object *v = NULL;
	assert_true(json_object_object_get_ex(jo, key, &v));
	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_int64(v);
}

/* 1 when the openssl tool accepts the JWT's signature under the public key. */
static int verify(const char *jwt)
{
	const char *dot2 = strrchr(jwt, '.');
	unsigned char sig[1024];
	int n = crypto_base64url_decode(dot2 + 1, sig, sizeof(sig));
	if (n <= 0)
		return 0;
	char path[sizeof(dir) + 8];
	snprintf(path, sizeof(path), "%s/in", dir);
	FILE *f = fopen(path, "wb");
	fwrite(jwt, 1, (size_t)(dot2 - jwt), f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/sig", dir);
	f = fopen(path, "wb");
	fwrite(sig, 1, (size_t)n, f);
	fclose(f);
	return SH("openssl dgst -sha256 -verify %s/pub.pem -signature %s/sig %s/in >/dev/null 2>&1",
		  dir, dir, dir) == 0;
}

static void test_sa_key_parse(void **state)
{
	(void)state;
	struct jwt_sa_key *k = NULL;
	struct err e = {0};
	assert_int_equal(jwt_sa_key_parse(key_json, strlen(key_json), &k, &e), E_OK);
	assert_string_equal(k->client_email, "sync@gwsync-test.iam.gserviceaccount.com");
	assert_string_equal(k->client_id, "112233445566778899000");
	assert_string_equal(k->private_key_id, "0123456789abcdef0123456789abcdef01234567");
	assert_string_equal(k->token_uri, AUD);
	assert_true(strncmp(k->private_key, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
	assert_int_equal(k->private_key_len, strlen(k->private_key));
	jwt_sa_key_free(k);
	jwt_sa_key_free(NULL);
}

static void test_sa_key_errors(void **state)
{
	(void)state;
	struct jwt_sa_key *k = (struct jwt_sa_key *)1;
	struct err e = {0};
	const char *pem = rsa_pem;

	char *no_email = key_file(pem, "client_email");
	assert_int_equal(jwt_sa_key_parse(no_email, strlen(no_email), &k, &e), E_INVAL);
	assert_null(k);
	assert_non_null(strstr(e.msg, "client_email"));
	free(no_email);

	char *no_key = key_file(pem, "private_key");
	assert_int_equal(jwt_sa_key_parse(no_key, strlen(no_key), &k, &e), E_INVAL);
	free(no_key);

	/* An EC key is not what Google issues. */
	char *ec_pem = genkey("-algorithm EC -pkeyopt ec_paramgen_curve:P-256");
	assert_non_null(ec_pem);
	char *ec_file = key_file(ec_pem, NULL);
	assert_int_equal(jwt_sa_key_parse(ec_file, strlen(ec_file), &k, &e), E_INVAL);
	assert_null(strstr(e.msg, "PRIVATE KEY"));
	free(ec_file);
	free(ec_pem);

	static const char *const junk[] = {"", "{", "[]", "{\"type\":\"authorized_user\"}",
					   "{\"client_email\":1}"};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		assert_int_equal(jwt_sa_key_parse(junk[i], strlen(junk[i]), &k, &e), E_INVAL);
		assert_null(k);
	}
	/* Trailing garbage after the object is refused as well. */
	size_t n = strlen(key_json);
	char *tail = malloc(n + 3);
	memcpy(tail, key_json, n);
	memcpy(tail + n, "xx", 3);
	assert_int_equal(jwt_sa_key_parse(tail, n + 2, &k, &e), E_INVAL);
	free(tail);
}

static void test_assertion_signed_and_shaped(void **state)
{
	(void)state;
	struct jwt_sa_key *k = NULL;
	assert_int_equal(jwt_sa_key_parse(key_json, strlen(key_json), &k, NULL), E_OK);
	char *jwt = NULL;
	const long long iat = 1767225600; /* 2026-01-01 */
	assert_int_equal(jwt_sa_assertion(k, "admin@example.com", SCOPES, AUD, iat, &jwt, NULL),
			 E_OK);

	/* Three base64url segments, no padding, no standard-alphabet characters. */
	const char *dot1 = strchr(jwt, '.');
	const char *dot2 = strrchr(jwt, '.');
	assert_non_null(dot1);
	assert_true(dot2 > dot1);
	assert_null(strpbrk(jwt, "=+/ \n"));

	struct json_object *hdr = decode_segment(jwt, (size_t)(dot1 - jwt));
	assert_string_equal(str_of(hdr, "alg"), "RS256");
	assert_string_equal(str_of(hdr, "typ"), "JWT");
	assert_string_equal(str_of(hdr, "kid"), "0123456789abcdef0123456789abcdef01234567");
	assert_int_equal(json_object_object_length(hdr), 3);
	json_object_put(hdr);

	struct json_object *cl = decode_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	assert_string_equal(str_of(cl, "iss"), "sync@gwsync-test.iam.gserviceaccount.com");
	assert_string_equal(str_of(cl, "sub"), "admin@example.com");
	assert_string_equal(str_of(cl, "scope"), SCOPES);
	assert_string_equal(str_of(cl, "aud"), AUD);
	assert_int_equal(int_of(cl, "iat"), iat);
	assert_int_equal(int_of(cl, "exp") - int_of(cl, "iat"), 3600);
	json_object_put(cl);

	/* RSASSA-PKCS1-v1_5 / SHA-256 over "header.claims", checked with the public key. */
	assert_true(verify(jwt));
	char *bad = strdup(jwt);
	bad[dot1 - jwt + 5] = bad[dot1 - jwt + 5] == 'A' ? 'B' : 'A';
	assert_false(verify(bad));
	free(bad);

	free(jwt);
	jwt_sa_key_free(k);
}

static void test_sign_without_sub_or_kid(void **state)
{
	(void)state;
	const char *pem = rsa_pem;
	struct jwt_claims c = {
		.iss = "a@b.iam.gserviceaccount.com", .scope = "s", .aud = AUD, .iat = 1000};
	char *jwt = NULL;
	assert_int_equal(jwt_sign_rs256(pem, strlen(pem), NULL, &c, &jwt, NULL), E_OK);
	const char *dot1 = strchr(jwt, '.');
	struct json_object *hdr = decode_segment(jwt, (size_t)(dot1 - jwt));
	assert_false(json_object_object_get_ex(hdr, "kid", NULL));
	json_object_put(hdr);
	const char *dot2 = strrchr(jwt, '.');
	struct json_object *cl = decode_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	assert_false(json_object_object_get_ex(cl, "sub", NULL));
	assert_int_equal(int_of(cl, "exp"), 4600);
	json_object_put(cl);
	assert_true(verify(jwt));
	free(jwt);

	struct err e = {0};
	c.iss = NULL;
	assert_int_equal(jwt_sign_rs256(pem, strlen(pem), NULL, &c, &jwt, &e), E_INVAL);
	assert_null(jwt);
	c.iss = "x";
	assert_int_equal(jwt_sign_rs256("not a key", 9, NULL, &c, &jwt, &e), E_INVAL);
	assert_null(jwt);
}

static void test_base64url_of_binary(void **state)
{
	(void)state;
	/* Bytes that give '+' and '/' in standard base64 must come out as '-' and '_'. */
	const unsigned char raw[] = {0xfb, 0xff, 0xbf, 0xfe};
	char out[16];
	assert_int_equal(crypto_base64url_encode(raw, sizeof(raw), out, sizeof(out)), 6);
	assert_string_equal(out, "-_-__g");
	unsigned char back[8];
	assert_int_equal(crypto_base64url_decode(out, back, sizeof(back)), 4);
	assert_memory_equal(back, raw, 4);
}

static void test_pkce(void **state)
{
	(void)state;
	/* RFC 7636 Appendix B. */
	char ch[JWT_PKCE_CHALLENGE_LEN + 1];
	assert_int_equal(jwt_pkce_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", ch),
			 E_OK);
	assert_string_equal(ch, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");

	char v1[JWT_PKCE_VERIFIER_LEN + 1], v2[JWT_PKCE_VERIFIER_LEN + 1];
	assert_int_equal(jwt_pkce_verifier(v1), E_OK);
	assert_int_equal(jwt_pkce_verifier(v2), E_OK);
	assert_int_equal(strlen(v1), JWT_PKCE_VERIFIER_LEN);
	assert_string_not_equal(v1, v2);
	assert_int_equal(
		strspn(v1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"),
		JWT_PKCE_VERIFIER_LEN);
	assert_int_equal(jwt_pkce_challenge_s256(v1, ch), E_OK);
	assert_int_equal(strlen(ch), JWT_PKCE_CHALLENGE_LEN);

	assert_int_equal(jwt_pkce_challenge_s256("too-short", ch), E_INVAL);
	assert_int_equal(jwt_pkce_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX/", ch),
			 E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sa_key_parse),
		cmocka_unit_test(test_sa_key_errors),
		cmocka_unit_test(test_assertion_signed_and_shaped),
		cmocka_unit_test(test_sign_without_sub_or_kid),
		cmocka_unit_test(test_base64url_of_binary),
		cmocka_unit_test(test_pkce),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
