#include "jwt.h"

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "json_put.h"

#define JSON_OUT_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

void jwt_sa_key_free(struct jwt_sa_key *k)
{
	if (!k)
		return;
	if (k->private_key)
		OPENSSL_cleanse(k->private_key, k->private_key_len);
	free(k->private_key);
	free(k->client_email);
	free(k->client_id);
	free(k->private_key_id);
	free(k->token_uri);
	free(k->project_id);
	free(k);
}

/* Loads a PEM private RSA key; NULL when it is not one. */
static EVP_PKEY *load_rsa_key(const char *pem, size_t len)
{
	if (len > JWT_SA_KEY_MAX_BYTES)
		return NULL;
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return NULL;
	/* A NULL password callback would prompt on a terminal for an encrypted key; "" refuses. */
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	BIO_free(bio);
	if (pkey && !EVP_PKEY_is_a(pkey, "RSA")) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

/* Copies the string member name of jo into *dst; missing is fine unless required. */
static int take_string(struct json_object *jo, const char *name, int required, char **dst,
		       struct err *e)
{
	struct json_object *v = NULL;
	*dst = NULL;
	if (!json_object_object_get_ex(jo, name, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return err_set(e, E_INVAL, "service account key: %s is missing", name);
		return E_OK;
	}
	if (!json_object_is_type(v, json_type_string) ||
	    (required && json_object_get_string_len(v) == 0))
		return err_set(e, E_INVAL, "service account key: %s must be a non-empty string",
			       name);
	*dst = strndup(json_object_get_string(v), (size_t)json_object_get_string_len(v));
	return *dst ? E_OK : err_set(e, E_NOMEM, "service account key");
}

int jwt_sa_key_parse(const char *json, size_t len, struct jwt_sa_key **out, struct err *e)
{
	*out = NULL;
	if (!json || len == 0 || len > JWT_SA_KEY_MAX_BYTES)
		return err_set(e, E_INVAL, "service account key: empty or larger than %d bytes",
			       JWT_SA_KEY_MAX_BYTES);
	struct json_tokener *tok = json_tokener_new_ex(8);
	if (!tok)
		return err_set(e, E_NOMEM, "service account key");
	struct json_object *jo = json_tokener_parse_ex(tok, json, (int)len);
	int complete = json_tokener_get_error(tok) == json_tokener_success &&
		       json_tokener_get_parse_end(tok) == len;
	json_tokener_free(tok);
	struct jwt_sa_key *k = calloc(1, sizeof(*k));
	int rc = E_OK;
	char *type = NULL;
	if (!k) {
		rc = err_set(e, E_NOMEM, "service account key");
		goto out;
	}
	if (!jo || !complete || !json_object_is_type(jo, json_type_object)) {
		rc = err_set(e, E_INVAL, "service account key: not a JSON object");
		goto out;
	}
	rc = take_string(jo, "type", 0, &type, e);
	if (!rc && type && strcmp(type, "service_account") != 0)
		rc = err_set(e, E_INVAL, "service account key: type is not service_account");
	if (!rc)
		rc = take_string(jo, "client_email", 1, &k->client_email, e);
	if (!rc)
		rc = take_string(jo, "private_key", 1, &k->private_key, e);
	if (!rc)
		rc = take_string(jo, "client_id", 0, &k->client_id, e);
	if (!rc)
		rc = take_string(jo, "private_key_id", 0, &k->private_key_id, e);
	if (!rc)
		rc = take_string(jo, "token_uri", 0, &k->token_uri, e);
	if (!rc)
		rc = take_string(jo, "project_id", 0, &k->project_id, e);
	if (rc)
		goto out;
	k->private_key_len = strlen(k->private_key);
	EVP_PKEY *pkey = load_rsa_key(k->private_key, k->private_key_len);
	if (!pkey) {
		rc = err_set(e, E_INVAL, "service account key: private_key is not a PEM RSA key");
		goto out;
	}
	EVP_PKEY_free(pkey);
	*out = k;
	k = NULL;
out:
	/* json-c's copy of the private key goes away with the object; wipe it first. */
	if (jo) {
		struct json_object *pk = NULL;
		if (json_object_object_get_ex(jo, "private_key", &pk) &&
		    json_object_is_type(pk, json_type_string))
			OPENSSL_cleanse((void *)json_object_get_string(pk),
					(size_t)json_object_get_string_len(pk));
		json_object_put(jo);
	}
	free(type);
	jwt_sa_key_free(k);
	return rc;
}

/* base64url of a JSON object's text into a new string. */
static char *b64_json(struct json_object *jo)
{
	size_t len = 0;
	const char *s = json_object_to_json_string_length(jo, JSON_OUT_FLAGS, &len);
	if (!s)
		return NULL;
	size_t cap = (len * 4 + 2) / 3 + 1;
	char *out = malloc(cap);
	if (out && crypto_base64url_encode(s, len, out, cap) < 0) {
		free(out);
		out = NULL;
	}
	return out;
}

static int add_str(struct json_object *jo, const char *key, const char *val)
{
	return json_put(jo, key, json_object_new_string(val));
}

static int add_int(struct json_object *jo, const char *key, long long val)
{
	return json_put(jo, key, json_object_new_int64(val));
}

/* "b64(header).b64(claims)" in a new string. */
static int signing_input(const char *kid, const struct jwt_claims *c, char **out)
{
	struct json_object *hdr = json_object_new_object();
	struct json_object *cl = json_object_new_object();
	char *h64 = NULL, *c64 = NULL;
	int rc = -1;
	*out = NULL;
	if (!hdr || !cl || add_str(hdr, "alg", "RS256") || add_str(hdr, "typ", "JWT") ||
	    (kid && *kid && add_str(hdr, "kid", kid)))
		goto out;
	if (add_str(cl, "iss", c->iss) || (c->sub && *c->sub && add_str(cl, "sub", c->sub)) ||
	    add_str(cl, "scope", c->scope) || add_str(cl, "aud", c->aud) ||
	    add_int(cl, "iat", c->iat) || add_int(cl, "exp", c->iat + JWT_LIFETIME_S))
		goto out;
	h64 = b64_json(hdr);
	c64 = b64_json(cl);
	if (!h64 || !c64)
		goto out;
	size_t n = strlen(h64) + 1 + strlen(c64) + 1;
	*out = malloc(n);
	if (!*out)
		goto out;
	snprintf(*out, n, "%s.%s", h64, c64);
	rc = 0;
out:
	json_object_put(hdr);
	json_object_put(cl);
	free(h64);
	free(c64);
	return rc;
}

int jwt_sign_rs256(const char *key_pem, size_t key_len, const char *kid, const struct jwt_claims *c,
		   char **out_jwt, struct err *e)
{
	*out_jwt = NULL;
	if (!c || !c->iss || !*c->iss || !c->scope || !c->aud || !*c->aud || c->iat <= 0)
		return err_set(e, E_INVAL, "jwt: iss, scope, aud and iat are required");
	EVP_PKEY *pkey = load_rsa_key(key_pem, key_len);
	if (!pkey)
		return err_set(e, E_INVAL, "jwt: the private key is not a PEM RSA key");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *input = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	int rc = E_INTERNAL;
	if (!md || signing_input(kid, c, &input)) {
		rc = err_set(e, E_NOMEM, "jwt");
		goto out;
	}
	size_t in_len = strlen(input);
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *)input, in_len) != 1) {
		err_set(e, rc, "jwt: cannot sign");
		goto out;
	}
	sig = malloc(sig_len);
	if (!sig) {
		rc = err_set(e, E_NOMEM, "jwt");
		goto out;
	}
	if (EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)input, in_len) != 1) {
		err_set(e, rc, "jwt: cannot sign");
		goto out;
	}
	size_t cap = in_len + 1 + (sig_len * 4 + 2) / 3 + 1;
	char *jwt = malloc(cap);
	if (!jwt) {
		rc = err_set(e, E_NOMEM, "jwt");
		goto out;
	}
	memcpy(jwt, input, in_len);
	jwt[in_len] = '.';
	if (crypto_base64url_encode(sig, sig_len, jwt + in_len + 1, cap - in_len - 1) < 0) {
		free(jwt);
		err_set(e, rc, "jwt: cannot encode");
		goto out;
	}
	*out_jwt = jwt;
	rc = E_OK;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	free(input);
	free(sig);
	return rc;
}

int jwt_sa_assertion(const struct jwt_sa_key *k, const char *sub, const char *scope,
		     const char *aud, long long iat, char **out_jwt, struct err *e)
{
	struct jwt_claims c = {
		.iss = k->client_email, .sub = sub, .scope = scope, .aud = aud, .iat = iat};
	return jwt_sign_rs256(k->private_key, k->private_key_len, k->private_key_id, &c, out_jwt,
			      e);
}

int jwt_pkce_verifier(char out[JWT_PKCE_VERIFIER_LEN + 1])
{
	unsigned char raw[JWT_PKCE_VERIFIER_LEN / 4 * 3];
	int rc = E_INTERNAL;
	if (crypto_random(raw, sizeof(raw)) == 0 &&
	    crypto_base64url_encode(raw, sizeof(raw), out, JWT_PKCE_VERIFIER_LEN + 1) ==
		    JWT_PKCE_VERIFIER_LEN)
		rc = E_OK;
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int jwt_pkce_challenge_s256(const char *verifier, char out[JWT_PKCE_CHALLENGE_LEN + 1])
{
	size_t n = verifier ? strlen(verifier) : 0;
	out[0] = '\0';
	if (n < 43 || n > 128)
		return E_INVAL;
	for (size_t i = 0; i < n; i++) {
		char c = verifier[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || c == '~'))
			return E_INVAL;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	if (EVP_Digest(verifier, n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
		return E_INTERNAL;
	if (crypto_base64url_encode(md, md_len, out, JWT_PKCE_CHALLENGE_LEN + 1) !=
	    JWT_PKCE_CHALLENGE_LEN)
		return E_INTERNAL;
	return E_OK;
}
