/* SPDX-License-Identifier: MIT */
/*
 * gws-emulator OAuth: the token endpoint (JWT bearer with RS256 verification, authorization
 * code with PKCE, refresh token), the consent page, service accounts and key generation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "emu.h"
#include "emu_int.h"

#define TOKEN_URI "https://oauth2.googleapis.com/token"

/* ---------------------------------------------------------------- lifecycle */

void emu_sa_free(struct emu_sa *sa)
{
	if (!sa)
		return;
	free(sa->email);
	free(sa->client_id);
	free(sa->key_id);
	free(sa->project_id);
	EVP_PKEY_free((EVP_PKEY *)sa->pub);
	strv_clear(&sa->scopes);
	free(sa);
}

void emu_token_free(struct emu_token *t)
{
	if (!t)
		return;
	OPENSSL_cleanse(t->token, strlen(t->token));
	free(t->token);
	free(t->subject_id);
	free(t->client);
	free(t->scope);
	free(t);
}

void emu_code_free(struct emu_code *c)
{
	if (!c)
		return;
	free(c->code);
	free(c->client_id);
	free(c->redirect_uri);
	free(c->challenge);
	free(c->method);
	free(c->subject_id);
	free(c->scope);
	free(c);
}

void emu_client_free(struct emu_client *c)
{
	if (!c)
		return;
	free(c->id);
	free(c->secret);
	strv_clear(&c->redirect_uris);
	free(c);
}

struct emu_token *emu_token_mint(struct emu *em, const char *subject_id, const char *client,
				 const char *scope, bool refresh, int ttl_s)
{
	struct emu_token *t = xcalloc(1, sizeof(*t));
	char rnd[96];
	bool unknown;

	rand_token(rnd, refresh ? 64 : 80);
	t->token = xmalloc(strlen(rnd) + 8);
	sprintf(t->token, "%s%s", refresh ? "1//" : "ya29.", rnd);
	t->subject_id = subject_id ? xstrdup(subject_id) : NULL;
	t->client = client ? xstrdup(client) : NULL;
	t->scope = xstrdup(scope ? scope : "");
	t->scopes = scopes_parse(t->scope, &unknown);
	t->exp_ms = ttl_s > 0 ? now_ms() + (long long)ttl_s * 1000 : (long long)1 << 62;
	t->is_refresh = refresh;
	map_put(&em->tokens, t->token, t);
	return t;
}

/* ---------------------------------------------------------------- service accounts */

static EVP_PKEY *pem_key(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = NULL;

	if (!bio)
		return NULL;
	if (strstr(pem, "PRIVATE KEY"))
		k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	else
		k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return k;
}

static const char *jget(struct json_object *jo, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(jo, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

const struct emu_jspec emu_sa_spec[] = {
	{ "client_email", EMU_JT_STR, NULL },	{ "private_key", EMU_JT_STR, NULL },
	{ "public_key", EMU_JT_STR, NULL },	{ "client_id", EMU_JT_STR, NULL },
	{ "private_key_id", EMU_JT_STR, NULL }, { "project_id", EMU_JT_STR, NULL },
	{ "scopes", EMU_JT_STR_OR_ARR_STR, NULL }, { "adminRole", EMU_JT_BOOL, NULL },
	{ NULL, 0, NULL },
};

int emu_sa_register(struct emu *em, struct json_object *jo, char *err, size_t errlen)
{
	if (emu_json_check(jo, emu_sa_spec, err, errlen))
		return -1;

	const char *email = jget(jo, "client_email");
	const char *pem = jget(jo, "private_key");
	struct json_object *v;

	if (!pem)
		pem = jget(jo, "public_key");
	if (!email || !pem) {
		snprintf(err, errlen, "client_email and private_key (or public_key) are required");
		return -1;
	}
	EVP_PKEY *k = pem_key(pem);

	if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		snprintf(err, errlen, "key is not an RSA PEM key");
		return -1;
	}
	struct emu_sa *sa = xcalloc(1, sizeof(*sa));

	sa->email = str_lower(xstrdup(email));
	sa->client_id = xstrdup(jget(jo, "client_id") ? jget(jo, "client_id") : "");
	sa->key_id = xstrdup(jget(jo, "private_key_id") ? jget(jo, "private_key_id") : "");
	sa->project_id = xstrdup(jget(jo, "project_id") ? jget(jo, "project_id") : "");
	sa->pub = (struct evp_pkey_st *)k;
	if (json_object_object_get_ex(jo, "scopes", &v) && !json_object_is_type(v, json_type_null)) {
		if (json_object_is_type(v, json_type_array)) {
			for (size_t i = 0; i < json_object_array_length(v); i++)
				strv_add(&sa->scopes,
					 json_object_get_string(json_object_array_get_idx(v, i)));
		} else {
			char *d = xstrdup(json_object_get_string(v));
			char *save = NULL;

			for (char *t = strtok_r(d, " ,", &save); t; t = strtok_r(NULL, " ,", &save))
				strv_add(&sa->scopes, t);
			free(d);
		}
	} else {
		/* delegate every Admin SDK scope unless told otherwise */
		static const char *const all[] = {
			"admin.directory.user",		"admin.directory.user.readonly",
			"admin.directory.user.alias",	"admin.directory.user.alias.readonly",
			"admin.directory.group",	"admin.directory.group.readonly",
			"admin.directory.group.member", "admin.directory.group.member.readonly",
			"admin.directory.domain",	"admin.directory.domain.readonly",
			"admin.directory.customer",	"admin.directory.customer.readonly",
			"apps.groups.settings",		"admin.directory.orgunit",
			"admin.directory.orgunit.readonly", "cloud-platform",
		};
		char s[128];

		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
			snprintf(s, sizeof(s), "https://www.googleapis.com/auth/%s", all[i]);
			strv_add(&sa->scopes, s);
		}
	}
	sa->admin_role = json_object_object_get_ex(jo, "adminRole", &v) &&
			 json_object_get_boolean(v);
	em->sas = xrealloc(em->sas, (em->n_sas + 1) * sizeof(*em->sas));
	em->sas[em->n_sas++] = sa;
	return 0;
}

int emu_keygen(const char *path, const char *email, const char *project, char *err,
	       size_t errlen)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = -1;

	if (!k || !bio || !PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL)) {
		snprintf(err, errlen, "key generation failed");
		goto out;
	}
	char *pem = NULL;
	long plen = BIO_get_mem_data(bio, &pem);
	char *pemz = xstrndup(pem, (size_t)plen);
	unsigned char kid[20];
	char kidhex[41], cid[32], em_def[256], url[512];

	rand_bytes(kid, sizeof(kid));
	for (size_t i = 0; i < sizeof(kid); i++)
		snprintf(kidhex + 2 * i, 3, "%02x", kid[i]);
	snprintf(cid, sizeof(cid), "1%010llu%010llu",
		 (unsigned long long)(rand_u64() % 10000000000ull),
		 (unsigned long long)(rand_u64() % 10000000000ull));
	if (!project)
		project = "gwsync-emulator";
	if (!email) {
		snprintf(em_def, sizeof(em_def), "gwsync@%s.iam.gserviceaccount.com", project);
		email = em_def;
	}
	struct json_object *jo = json_object_new_object();

	json_object_object_add(jo, "type", json_object_new_string("service_account"));
	json_object_object_add(jo, "project_id", json_object_new_string(project));
	json_object_object_add(jo, "private_key_id", json_object_new_string(kidhex));
	json_object_object_add(jo, "private_key", json_object_new_string(pemz));
	json_object_object_add(jo, "client_email", json_object_new_string(email));
	json_object_object_add(jo, "client_id", json_object_new_string(cid));
	json_object_object_add(jo, "auth_uri",
			       json_object_new_string("https://accounts.google.com/o/oauth2/auth"));
	json_object_object_add(jo, "token_uri", json_object_new_string(TOKEN_URI));
	json_object_object_add(
		jo, "auth_provider_x509_cert_url",
		json_object_new_string("https://www.googleapis.com/oauth2/v1/certs"));
	struct buf u;

	buf_init(&u);
	buf_add_pct(&u, email);
	snprintf(url, sizeof(url), "https://www.googleapis.com/robot/v1/metadata/x509/%s", u.p);
	buf_cleanup(&u);
	json_object_object_add(jo, "client_x509_cert_url", json_object_new_string(url));
	json_object_object_add(jo, "universe_domain", json_object_new_string("googleapis.com"));
	umask(077);
	if (json_object_to_file_ext(path, jo,
				    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)) {
		snprintf(err, errlen, "cannot write %s", path);
	} else {
		rc = 0;
	}
	json_object_put(jo);
	OPENSSL_cleanse(pemz, strlen(pemz));
	free(pemz);
out:
	BIO_free(bio);
	EVP_PKEY_free(k);
	return rc;
}

/* ---------------------------------------------------------------- token endpoint */

static void oauth_err(struct emu_resp *rs, int status, const char *error, const char *desc)
{
	rs->status = status;
	buf_reset(&rs->body);
	snprintf(rs->ctype, sizeof(rs->ctype), "application/json; charset=utf-8");
	buf_adds(&rs->body, "{\n  \"error\": ");
	buf_add_jstr(&rs->body, error);
	if (desc) {
		buf_adds(&rs->body, ",\n  \"error_description\": ");
		buf_add_jstr(&rs->body, desc);
	}
	buf_adds(&rs->body, "\n}");
}

static void token_ok(struct emu *em, struct emu_resp *rs, const struct emu_token *at,
		     const struct emu_token *rt, bool with_scope)
{
	rs->status = 200;
	buf_reset(&rs->body);
	snprintf(rs->ctype, sizeof(rs->ctype), "application/json; charset=utf-8");
	buf_adds(&rs->body, "{\n  \"access_token\": ");
	buf_add_jstr(&rs->body, at->token);
	buf_addf(&rs->body, ",\n  \"expires_in\": %d", em->token_ttl_s);
	if (rt) {
		buf_adds(&rs->body, ",\n  \"refresh_token\": ");
		buf_add_jstr(&rs->body, rt->token);
	}
	if (with_scope) {
		buf_adds(&rs->body, ",\n  \"scope\": ");
		buf_add_jstr(&rs->body, at->scope);
	}
	buf_adds(&rs->body, ",\n  \"token_type\": \"Bearer\"\n}");
}

static struct json_object *b64_json(const char *s, size_t n)
{
	size_t len;
	unsigned char *raw = b64url_decode(s, n, &len);

	if (!raw)
		return NULL;
	struct json_tokener *tk = json_tokener_new_ex(16);
	struct json_object *jo = json_tokener_parse_ex(tk, (char *)raw, (int)len);

	if (json_tokener_get_error(tk) != json_tokener_success ||
	    !json_object_is_type(jo, json_type_object)) {
		json_object_put(jo);
		jo = NULL;
	}
	json_tokener_free(tk);
	free(raw);
	return jo;
}

static bool verify_rs256(EVP_PKEY *k, const char *data, size_t dlen, const unsigned char *sig,
			 size_t slen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = false;

	if (ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k) == 1)
		ok = EVP_DigestVerify(ctx, sig, slen, (const unsigned char *)data, dlen) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static bool aud_ok(struct emu *em, const char *aud)
{
	char own[300];

	snprintf(own, sizeof(own), "%s/token", em->base_url);
	return aud && (!strcmp(aud, TOKEN_URI) || !strcmp(aud, own) ||
		       !strcmp(aud, "https://www.googleapis.com/oauth2/v4/token") ||
		       !strcmp(aud, "https://accounts.google.com/o/oauth2/token"));
}

static long long jint(struct json_object *jo, const char *k, bool *ok)
{
	struct json_object *v;

	if (!json_object_object_get_ex(jo, k, &v) ||
	    (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))) {
		*ok = false;
		return 0;
	}
	return json_object_get_int64(v);
}

#define MSG_SHORT_LIVED                                                                           \
	"Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "         \
	"timeframe. Check your iat and exp values in the JWT claim."
#define MSG_UNAUTH_CLIENT                                                                         \
	"Client is unauthorized to retrieve access tokens using this method, or client not "      \
	"authorized for any of the scopes requested."

static void grant_jwt(struct emu *em, const char *assertion, struct emu_resp *rs)
{
	struct json_object *hdr = NULL, *cl = NULL;
	const char *d1 = assertion ? strchr(assertion, '.') : NULL;
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	unsigned char *sig = NULL;
	size_t slen = 0;

	if (!d2 || strchr(d2 + 1, '.')) {
		oauth_err(rs, 400, "invalid_grant", "Invalid JWT format.");
		return;
	}
	hdr = b64_json(assertion, (size_t)(d1 - assertion));
	cl = b64_json(d1 + 1, (size_t)(d2 - d1 - 1));
	sig = b64url_decode(d2 + 1, strlen(d2 + 1), &slen);
	if (!hdr || !cl || !sig) {
		oauth_err(rs, 400, "invalid_grant", "Invalid JWT format.");
		goto out;
	}
	const char *alg = jget(hdr, "alg");
	const char *iss = jget(cl, "iss");

	if (!alg || strcmp(alg, "RS256")) {
		oauth_err(rs, 400, "invalid_grant", "Invalid JWT Signature.");
		goto out;
	}
	bool known = false, verified = false;
	struct emu_sa *sa = NULL;

	for (size_t i = 0; iss && i < em->n_sas; i++) {
		if (strcasecmp(em->sas[i]->email, iss))
			continue;
		known = true;
		if (verify_rs256((EVP_PKEY *)em->sas[i]->pub, assertion,
				 (size_t)(d2 - assertion), sig, slen)) {
			verified = true;
			sa = em->sas[i];
			break;
		}
	}
	if (!known) {
		oauth_err(rs, 400, "invalid_grant", "Invalid grant: account not found");
		goto out;
	}
	if (!verified) {
		oauth_err(rs, 400, "invalid_grant", "Invalid JWT Signature.");
		goto out;
	}
	if (!aud_ok(em, jget(cl, "aud"))) {
		oauth_err(rs, 400, "invalid_grant",
			  "Invalid JWT: Failed audience check. The expected value is " TOKEN_URI);
		goto out;
	}
	bool ok = true;
	long long iat = jint(cl, "iat", &ok), exp = jint(cl, "exp", &ok);
	long long now = now_ms() / 1000;

	if (!ok || iat > now + em->jwt_skew_s || exp < now - em->jwt_skew_s || exp <= iat ||
	    exp - iat > 3600) {
		oauth_err(rs, 400, "invalid_grant", MSG_SHORT_LIVED);
		goto out;
	}
	const char *scope = jget(cl, "scope");
	bool unknown = false;

	if (scope)
		scopes_parse(scope, &unknown);
	/* a scope Google does not know is refused before any delegation check */
	if (!scope || !*scope || unknown) {
		oauth_err(rs, 400, "invalid_scope",
			  "Invalid OAuth scope or ID token audience provided.");
		goto out;
	}
	const char *sub = jget(cl, "sub");
	struct emu_user *u = NULL;

	if (sub) {
		if (!strchr(sub, '@')) {
			struct buf m;

			buf_init(&m);
			buf_addf(&m, "Invalid impersonation \"sub\" field: %s", sub);
			oauth_err(rs, 400, "invalid_request", m.p);
			buf_cleanup(&m);
			goto out;
		}
		u = emu_user_find(em, sub);
		if (!u) {
			oauth_err(rs, 400, "invalid_grant", "Invalid email or User ID");
			goto out;
		}
		/* every requested scope must be delegated to this client */
		char *d = xstrdup(scope);
		char *save = NULL;
		bool all = true;

		for (char *t = strtok_r(d, " ", &save); t; t = strtok_r(NULL, " ", &save))
			if (!strv_has(&sa->scopes, t))
				all = false;
		free(d);
		if (!all) {
			oauth_err(rs, 401, "unauthorized_client", MSG_UNAUTH_CLIENT);
			goto out;
		}
	}
	struct emu_token *t = emu_token_mint(em, u ? u->id : NULL, sa->email, scope, false,
					     em->token_ttl_s);

	t->admin_role = sa->admin_role && !u;
	token_ok(em, rs, t, NULL, false);
out:
	json_object_put(hdr);
	json_object_put(cl);
	free(sig);
}

static struct emu_client *client_find(struct emu *em, const char *id)
{
	for (size_t i = 0; id && i < em->n_clients; i++)
		if (!strcmp(em->clients[i]->id, id))
			return em->clients[i];
	return NULL;
}

/* Returns the client if id and secret match; otherwise writes invalid_client. */
static struct emu_client *client_auth(struct emu *em, const char *id, const char *secret,
				      struct emu_resp *rs)
{
	struct emu_client *c = client_find(em, id);

	if (!c) {
		oauth_err(rs, 401, "invalid_client", "The OAuth client was not found.");
		return NULL;
	}
	if (!secret || strcmp(c->secret, secret)) {
		oauth_err(rs, 401, "invalid_client", "Unauthorized");
		return NULL;
	}
	return c;
}

static void grant_code(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	char *cid = form_get(rq->body, "client_id"), *sec = form_get(rq->body, "client_secret");
	char *code = form_get(rq->body, "code"), *ru = form_get(rq->body, "redirect_uri");
	char *ver = form_get(rq->body, "code_verifier");
	struct emu_code *c;

	if (!client_auth(em, cid, sec, rs))
		goto out;
	c = code ? map_get(&em->codes, code) : NULL;
	if (!c || c->used || c->exp_ms < now_ms() || strcmp(c->client_id, cid)) {
		oauth_err(rs, 400, "invalid_grant", "Bad Request");
		goto out;
	}
	if (!ru || strcmp(ru, c->redirect_uri)) {
		oauth_err(rs, 400, "redirect_uri_mismatch", "Bad Request");
		goto out;
	}
	if (c->challenge) {
		if (!ver) {
			oauth_err(rs, 400, "invalid_grant", "Missing code verifier.");
			goto out;
		}
		char calc[64];

		if (c->method && !strcmp(c->method, "S256")) {
			unsigned char dg[SHA256_DIGEST_LENGTH];

			SHA256((const unsigned char *)ver, strlen(ver), dg);
			b64url_encode(dg, sizeof(dg), calc);
		} else {
			snprintf(calc, sizeof(calc), "%s", ver);
		}
		if (strcmp(calc, c->challenge)) {
			oauth_err(rs, 400, "invalid_grant", "Invalid code verifier.");
			goto out;
		}
	}
	c->used = true;
	struct emu_token *at = emu_token_mint(em, c->subject_id, cid, c->scope, false,
					      em->token_ttl_s);
	struct emu_token *rt = emu_token_mint(em, c->subject_id, cid, c->scope, true,
					      em->refresh_ttl_s);

	token_ok(em, rs, at, rt, true);
out:
	free(cid);
	free(sec);
	free(code);
	free(ru);
	free(ver);
}

static void grant_refresh(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	char *cid = form_get(rq->body, "client_id"), *sec = form_get(rq->body, "client_secret");
	char *rtok = form_get(rq->body, "refresh_token");
	struct emu_token *rt;

	if (!client_auth(em, cid, sec, rs))
		goto out;
	rt = rtok ? map_get(&em->tokens, rtok) : NULL;
	if (!rt || !rt->is_refresh || rt->revoked || rt->exp_ms < now_ms() ||
	    strcmp(rt->client, cid)) {
		oauth_err(rs, 400, "invalid_grant", "Token has been expired or revoked.");
		goto out;
	}
	struct emu_token *at = emu_token_mint(em, rt->subject_id, cid, rt->scope, false,
					      em->token_ttl_s);

	token_ok(em, rs, at, NULL, true);
out:
	free(cid);
	free(sec);
	free(rtok);
}

void emu_token_endpoint(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	if (!strcmp(rq->path, "/revoke")) {
		char *t = form_get(rq->body, "token");

		if (!t)
			t = emu_qp(rq, "token");
		struct emu_token *tok = t ? map_get(&em->tokens, t) : NULL;

		if (!tok || tok->revoked) {
			oauth_err(rs, 400, "invalid_token", "Token expired or revoked");
		} else {
			tok->revoked = true;
			rs->status = 200;
			buf_reset(&rs->body);
			buf_adds(&rs->body, "{}");
		}
		free(t);
		return;
	}
	if (strcmp(rq->method, "POST")) {
		oauth_err(rs, 405, "invalid_request", "Method not allowed.");
		return;
	}
	char *gt = form_get(rq->body, "grant_type");

	if (!gt) {
		oauth_err(rs, 400, "unsupported_grant_type", "Invalid grant_type: ");
	} else if (!strcmp(em->consent, "admin_policy_enforced") &&
		   (!strcmp(gt, "urn:ietf:params:oauth:grant-type:jwt-bearer") ||
		    !strcmp(gt, "refresh_token"))) {
		/* The organization blocks the app: token calls fail too (FlowCrypt #1409). */
		oauth_err(rs, 400, "admin_policy_enforced",
			  "Access to your account data is restricted by policies within your "
			  "organization. Please contact the administrator of your organization "
			  "for more information.");
	} else if (!strcmp(gt, "urn:ietf:params:oauth:grant-type:jwt-bearer")) {
		char *a = form_get(rq->body, "assertion");

		if (!a)
			oauth_err(rs, 400, "invalid_request", "Missing required parameter: assertion");
		else
			grant_jwt(em, a, rs);
		free(a);
	} else if (!strcmp(gt, "authorization_code")) {
		grant_code(em, rq, rs);
	} else if (!strcmp(gt, "refresh_token")) {
		grant_refresh(em, rq, rs);
	} else {
		struct buf m;

		buf_init(&m);
		buf_addf(&m, "Invalid grant_type: %s", gt);
		oauth_err(rs, 400, "unsupported_grant_type", m.p);
		buf_cleanup(&m);
	}
	free(gt);
}

/* ---------------------------------------------------------------- consent page */

static void consent_html(struct emu_resp *rs, int status, const char *error, const char *text)
{
	rs->status = status;
	buf_reset(&rs->body);
	snprintf(rs->ctype, sizeof(rs->ctype), "text/html; charset=utf-8");
	buf_addf(&rs->body,
		 "<!DOCTYPE html><html><head><title>Error %d: %s</title></head><body>"
		 "<h1>Access blocked</h1><p>Error %d: %s</p><p>%s</p></body></html>\n",
		 status, error, status, error, text);
}

void emu_consent_page(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	char *cid = emu_qp(rq, "client_id"), *ru = emu_qp(rq, "redirect_uri");
	char *scope = emu_qp(rq, "scope"), *state = emu_qp(rq, "state");
	char *ch = emu_qp(rq, "code_challenge"), *chm = emu_qp(rq, "code_challenge_method");
	char *hint = emu_qp(rq, "login_hint"), *rtype = emu_qp(rq, "response_type");
	struct emu_client *c = client_find(em, cid);
	struct buf loc;
	bool unknown = false;

	buf_init(&loc);
	if (!c) {
		consent_html(rs, 401, "invalid_client", "The OAuth client was not found.");
		goto out;
	}
	if (!ru || !strv_has(&c->redirect_uris, ru)) {
		consent_html(rs, 400, "redirect_uri_mismatch",
			     "You can't sign in to this app because it doesn't comply with Google's "
			     "OAuth 2.0 policy.");
		goto out;
	}
	if (!rtype || strcmp(rtype, "code")) {
		consent_html(rs, 400, "unsupported_response_type", "Invalid response_type.");
		goto out;
	}
	scopes_parse(scope, &unknown);
	if (!scope || !*scope || unknown) {
		consent_html(rs, 400, "invalid_scope", "Some requested scopes were invalid.");
		goto out;
	}
	if (chm && strcmp(chm, "S256") && strcmp(chm, "plain")) {
		consent_html(rs, 400, "invalid_request", "Invalid code_challenge_method.");
		goto out;
	}
	if (!strcmp(em->consent, "admin_policy_enforced")) {
		consent_html(rs, 400, "admin_policy_enforced",
			     "Access to your account data is restricted by policies within your "
			     "organization. Please contact the administrator of your organization "
			     "for more information.");
		goto out;
	}
	buf_adds(&loc, "Location: ");
	buf_adds(&loc, ru);
	buf_adds(&loc, strchr(ru, '?') ? "&" : "?");
	if (!strcmp(em->consent, "access_denied")) {
		buf_adds(&loc, "error=access_denied");
	} else {
		struct emu_user *u = hint ? emu_user_find(em, hint) : NULL;
		struct emu_code *code = xcalloc(1, sizeof(*code));
		char rnd[64];

		if (!u)
			u = em->consent_user ? emu_user_by_id(em, em->consent_user) : NULL;
		rand_token(rnd, 40);
		code->code = xmalloc(strlen(rnd) + 8);
		sprintf(code->code, "4/0A%s", rnd);
		code->client_id = xstrdup(cid);
		code->redirect_uri = xstrdup(ru);
		code->challenge = ch ? xstrdup(ch) : NULL;
		code->method = xstrdup(chm ? chm : "plain");
		code->subject_id = u ? xstrdup(u->id) : NULL;
		code->scope = xstrdup(scope);
		code->exp_ms = now_ms() + (long long)em->code_ttl_s * 1000;
		map_put(&em->codes, code->code, code);
		buf_adds(&loc, "code=");
		buf_add_pct(&loc, code->code);
		buf_adds(&loc, "&scope=");
		buf_add_pct(&loc, scope);
	}
	if (state) {
		buf_adds(&loc, "&state=");
		buf_add_pct(&loc, state);
	}
	buf_adds(&loc, "\r\n");
	rs->status = 302;
	buf_reset(&rs->body);
	buf_add(&rs->hdrs, loc.p, loc.len);
	snprintf(rs->ctype, sizeof(rs->ctype), "text/html; charset=UTF-8");
	buf_adds(&rs->body, "<HTML><HEAD><TITLE>Moved Temporarily</TITLE></HEAD></HTML>\n");
out:
	buf_cleanup(&loc);
	free(cid);
	free(ru);
	free(scope);
	free(state);
	free(ch);
	free(chm);
	free(hint);
	free(rtype);
}
