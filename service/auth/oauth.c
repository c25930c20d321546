#include "oauth.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"

#define FORM_FIELDS_MAX 8
#define TOKEN_BODY_MAX (64 * 1024)

enum tokens_kind { TOKENS_SA, TOKENS_REFRESH };

struct oauth_tokens {
	pthread_mutex_t mu;
	enum tokens_kind kind;
	char *token_url;
	char *user_agent;
	char *ca_file;
	struct oauth_options o; /* strings point at the copies above */

	struct jwt_sa_key *key; /* TOKENS_SA */
	char *subject;
	char *scopes;

	char *client_id; /* TOKENS_REFRESH */
	char *client_secret;
	char *refresh_token;

	char token[OAUTH_TOKEN_MAX];
	long long expires_at;
	unsigned long fetches;
};

static void wipe_free(char *s)
{
	if (s)
		crypto_wipe(s, strlen(s));
	free(s);
}

static long long now_s(const struct oauth_options *o)
{
	return o->clock ? o->clock(o->clock_ctx) : (long long)time(NULL);
}

static const char *token_url(const struct oauth_options *o)
{
	return o->token_url && *o->token_url ? o->token_url : OAUTH_DEFAULT_TOKEN_URL;
}

void oauth_grant_cleanup(struct oauth_grant *g)
{
	if (!g)
		return;
	wipe_free(g->access_token);
	wipe_free(g->refresh_token);
	free(g->scope);
	memset(g, 0, sizeof(*g));
}

/* Copies at most cap-1 bytes of s into dst, control characters made blanks. */
static void copy_text(char *dst, size_t cap, const char *s)
{
	size_t i = 0;
	for (; s && s[i] && i + 1 < cap; i++)
		dst[i] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
	dst[i] = '\0';
}

static struct json_object *parse_json(const char *body, size_t len)
{
	if (!body || len == 0 || len > TOKEN_BODY_MAX)
		return NULL;
	struct json_tokener *tok = json_tokener_new_ex(8);
	if (!tok)
		return NULL;
	struct json_object *jo = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(jo);
		jo = NULL;
	}
	json_tokener_free(tok);
	if (jo && !json_object_is_type(jo, json_type_object)) {
		json_object_put(jo);
		jo = NULL;
	}
	return jo;
}

static const char *get_str(struct json_object *jo, const char *key)
{
	struct json_object *v = NULL;
	if (!jo || !json_object_object_get_ex(jo, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static const struct {
	const char *error;
	enum err_code code;
} oauth_errors[] = {
	{"unauthorized_client", E_FORBIDDEN},	/* delegation not set up / scope not allowed */
	{"admin_policy_enforced", E_FORBIDDEN}, /* the org's API controls block the client */
	{"access_denied", E_FORBIDDEN},		/* consent refused, account restricted */
	{"invalid_grant", E_UNAUTH},		/* unknown admin, revoked or expired grant */
	{"invalid_client", E_UNAUTH},		/* wrong client id or secret */
	{"invalid_request", E_INVAL},
	{"invalid_scope", E_INVAL},
	{"unsupported_grant_type", E_INVAL},
	{"unsupported_response_type", E_INVAL},
	{"internal_failure", E_UNAVAIL},
	{"server_error", E_UNAVAIL},
	{"temporarily_unavailable", E_UNAVAIL},
	{"rate_limit_exceeded", E_RATELIMIT},
};

static enum err_code code_from_status(long status)
{
	if (status == 429)
		return E_RATELIMIT;
	if (status >= 500)
		return E_UNAVAIL;
	if (status == 401)
		return E_UNAUTH;
	if (status == 403)
		return E_FORBIDDEN;
	if (status == 404)
		return E_NOTFOUND;
	if (status == 400)
		return E_INVAL;
	return E_UPSTREAM;
}

int oauth_error_classify(long status, const char *body, size_t len, struct err *e)
{
	if (status >= 200 && status < 300)
		return E_OK;
	struct json_object *jo = parse_json(body, len);
	const char *error = get_str(jo, "error");
	const char *desc = get_str(jo, "error_description");
	enum err_code code = code_from_status(status);
	for (size_t i = 0; error && i < sizeof(oauth_errors) / sizeof(oauth_errors[0]); i++) {
		if (strcmp(error, oauth_errors[i].error) == 0) {
			code = oauth_errors[i].code;
			break;
		}
	}
	if (e) {
		char msg[sizeof(e->msg)];
		copy_text(msg, sizeof(msg), desc);
		if (msg[0])
			err_set(e, code, "%s", msg);
		else if (error)
			err_set(e, code, "token endpoint: %.64s", error);
		else
			err_set(e, code, "token endpoint answered HTTP %ld", status);
		copy_text(e->reason, sizeof(e->reason), error);
		e->upstream_status = (int)status;
	}
	json_object_put(jo);
	return code;
}

/* name=value& pairs, values percent-encoded; the result is a secret (wipe_free). */
struct form_field {
	const char *name;
	const char *value; /* NULL: left out */
};

static char *form_build(const struct form_field *f, size_t n)
{
	char *enc[FORM_FIELDS_MAX] = {0};
	size_t total = 1;
	char *out = NULL;
	for (size_t i = 0; i < n && i < FORM_FIELDS_MAX; i++) {
		if (!f[i].value)
			continue;
		if (httpc_urlencode(f[i].value, &enc[i], NULL))
			goto out;
		total += strlen(f[i].name) + 1 + strlen(enc[i]) + 1;
	}
	out = malloc(total);
	if (!out)
		goto out;
	char *w = out;
	for (size_t i = 0; i < n && i < FORM_FIELDS_MAX; i++) {
		if (!enc[i])
			continue;
		w += sprintf(w, "%s%s=%s", w == out ? "" : "&", f[i].name, enc[i]);
	}
	*w = '\0';
out:
	for (size_t i = 0; i < FORM_FIELDS_MAX; i++)
		wipe_free(enc[i]);
	return out;
}

static int grant_parse(const char *body, size_t len, struct oauth_grant *g, struct err *e)
{
	struct json_object *jo = parse_json(body, len);
	const char *at = get_str(jo, "access_token");
	int rc = E_OK;
	if (!at || !*at || strlen(at) >= OAUTH_TOKEN_MAX) {
		rc = err_set(e, E_UPSTREAM, "token endpoint: answer without a usable access_token");
		goto out;
	}
	const char *rt = get_str(jo, "refresh_token");
	const char *scope = get_str(jo, "scope");
	struct json_object *v = NULL;
	g->expires_in = 3600;
	if (json_object_object_get_ex(jo, "expires_in", &v) &&
	    (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_string)))
		g->expires_in = json_object_get_int64(v);
	g->access_token = strdup(at);
	g->refresh_token = rt && *rt && strlen(rt) < OAUTH_TOKEN_MAX ? strdup(rt) : NULL;
	g->scope = scope ? strdup(scope) : NULL;
	if (!g->access_token || (rt && *rt && !g->refresh_token) || (scope && !g->scope)) {
		oauth_grant_cleanup(g);
		rc = err_set(e, E_NOMEM, "token answer");
	}
out:
	if (jo) {
		/* The tokens inside json-c's copy are secrets too. */
		static const char *const keys[] = {"access_token", "refresh_token", "id_token"};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			const char *s = get_str(jo, keys[i]);
			if (s)
				crypto_wipe((void *)s, strlen(s));
		}
		json_object_put(jo);
	}
	return rc;
}

/* POSTs form to the token endpoint; one more try after a 5xx or internal_failure. */
static int token_post(const struct oauth_options *o, const char *form, struct oauth_grant *out,
		      struct err *e)
{
	static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded",
					      "Accept: application/json"};
	struct httpc *h = NULL;
	struct httpc_response resp = {0};
	memset(out, 0, sizeof(*out));
	int rc = httpc_new(&o->http, &h, e);
	for (int attempt = 0; !rc && attempt < 2; attempt++) {
		struct httpc_request rq = {.method = "POST",
					   .url = token_url(o),
					   .headers = headers,
					   .n_headers = 2,
					   .body = form,
					   .body_len = strlen(form)};
		httpc_response_cleanup(&resp);
		rc = httpc_send(h, &rq, &resp, e);
		if (!rc && resp.status >= 200 && resp.status < 300) {
			rc = grant_parse(resp.body, resp.body_len, out, e);
			break;
		}
		if (!rc)
			rc = oauth_error_classify(resp.status, resp.body, resp.body_len, e);
		/* Google's libraries try once more after an internal failure or a lost
		 * connection; anything else is an answer. */
		if (rc != E_UNAVAIL || attempt == 1)
			break;
		struct timespec ts = {0, 250 * 1000 * 1000};
		nanosleep(&ts, NULL);
		rc = E_OK;
	}
	httpc_response_cleanup(&resp);
	httpc_free(h);
	return rc;
}

int oauth_jwt_grant(const struct oauth_options *o, const char *assertion, struct oauth_grant *out,
		    struct err *e)
{
	struct form_field f[] = {{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
				 {"assertion", assertion}};
	memset(out, 0, sizeof(*out));
	if (!assertion || !*assertion)
		return err_set(e, E_INVAL, "jwt grant without an assertion");
	char *form = form_build(f, 2);
	if (!form)
		return err_set(e, E_NOMEM, "token request");
	int rc = token_post(o, form, out, e);
	wipe_free(form);
	return rc;
}

int oauth_code_exchange(const struct oauth_options *o, const char *client_id,
			const char *client_secret, const char *code, const char *redirect_uri,
			const char *code_verifier, struct oauth_grant *out, struct err *e)
{
	struct form_field f[] = {{"grant_type", "authorization_code"},
				 {"code", code},
				 {"client_id", client_id},
				 {"client_secret", client_secret},
				 {"redirect_uri", redirect_uri},
				 {"code_verifier", code_verifier}};
	memset(out, 0, sizeof(*out));
	if (!code || !*code || !client_id || !client_secret || !redirect_uri)
		return err_set(e, E_INVAL, "code exchange: code, client and redirect_uri required");
	char *form = form_build(f, sizeof(f) / sizeof(f[0]));
	if (!form)
		return err_set(e, E_NOMEM, "token request");
	int rc = token_post(o, form, out, e);
	wipe_free(form);
	return rc;
}

int oauth_refresh_grant(const struct oauth_options *o, const char *client_id,
			const char *client_secret, const char *refresh_token,
			struct oauth_grant *out, struct err *e)
{
	struct form_field f[] = {{"grant_type", "refresh_token"},
				 {"client_id", client_id},
				 {"client_secret", client_secret},
				 {"refresh_token", refresh_token}};
	memset(out, 0, sizeof(*out));
	if (!refresh_token || !*refresh_token || !client_id || !client_secret)
		return err_set(e, E_INVAL, "refresh grant: client and refresh token required");
	char *form = form_build(f, sizeof(f) / sizeof(f[0]));
	if (!form)
		return err_set(e, E_NOMEM, "token request");
	int rc = token_post(o, form, out, e);
	wipe_free(form);
	return rc;
}

int oauth_consent_url(const char *auth_url, const char *client_id, const char *redirect_uri,
		      const char *scopes, const char *state, const char *code_challenge,
		      const char *login_hint, char **out, struct err *e)
{
	*out = NULL;
	if (!auth_url || !client_id || !redirect_uri || !scopes || !state || !code_challenge)
		return err_set(e, E_INVAL, "consent URL: a parameter is missing");
	struct form_field f[] = {{"client_id", client_id},	     {"redirect_uri", redirect_uri},
				 {"response_type", "code"},	     {"scope", scopes},
				 {"access_type", "offline"},	     {"prompt", "consent"},
				 {"include_granted_scopes", "true"}, {"state", state}};
	char *q1 = form_build(f, sizeof(f) / sizeof(f[0]));
	struct form_field g[] = {{"code_challenge", code_challenge},
				 {"code_challenge_method", "S256"},
				 {"login_hint", login_hint}};
	char *q2 = form_build(g, sizeof(g) / sizeof(g[0]));
	int rc = E_OK;
	if (!q1 || !q2) {
		rc = err_set(e, E_NOMEM, "consent URL");
		goto out;
	}
	size_t n = strlen(auth_url) + strlen(q1) + strlen(q2) + 3;
	*out = malloc(n);
	if (!*out) {
		rc = err_set(e, E_NOMEM, "consent URL");
		goto out;
	}
	snprintf(*out, n, "%s%c%s&%s", auth_url, strchr(auth_url, '?') ? '&' : '?', q1, q2);
out:
	free(q1);
	free(q2);
	return rc;
}

static int tokens_alloc(const struct oauth_options *o, enum tokens_kind kind,
			struct oauth_tokens **out, struct err *e)
{
	struct oauth_tokens *t = calloc(1, sizeof(*t));
	*out = NULL;
	if (!t)
		return err_set(e, E_NOMEM, "token source");
	t->kind = kind;
	t->o = *o;
	t->token_url = strdup(token_url(o));
	t->user_agent = o->http.user_agent ? strdup(o->http.user_agent) : NULL;
	t->ca_file = o->http.ca_file ? strdup(o->http.ca_file) : NULL;
	t->o.token_url = t->token_url;
	t->o.http.user_agent = t->user_agent;
	t->o.http.ca_file = t->ca_file;
	if (!t->o.refresh_margin_s)
		t->o.refresh_margin_s = OAUTH_DEFAULT_REFRESH_MARGIN_S;
	if (!t->token_url || (o->http.user_agent && !t->user_agent) ||
	    (o->http.ca_file && !t->ca_file) || pthread_mutex_init(&t->mu, NULL)) {
		free(t->token_url);
		free(t->user_agent);
		free(t->ca_file);
		free(t);
		return err_set(e, E_NOMEM, "token source");
	}
	*out = t;
	return E_OK;
}

int oauth_tokens_new_sa(const struct oauth_options *o, struct jwt_sa_key *key, const char *subject,
			const char *scopes, struct oauth_tokens **out, struct err *e)
{
	*out = NULL;
	if (!key || !scopes || !*scopes)
		return err_set(e, E_INVAL, "token source: key and scopes required");
	struct oauth_tokens *t;
	int rc = tokens_alloc(o, TOKENS_SA, &t, e);
	if (rc)
		return rc;
	t->subject = subject && *subject ? strdup(subject) : NULL;
	t->scopes = strdup(scopes);
	if ((subject && *subject && !t->subject) || !t->scopes) {
		oauth_tokens_free(t);
		return err_set(e, E_NOMEM, "token source");
	}
	t->key = key; /* now owned by t */
	*out = t;
	return E_OK;
}

int oauth_tokens_new_refresh(const struct oauth_options *o, const char *client_id,
			     const char *client_secret, const char *refresh_token,
			     struct oauth_tokens **out, struct err *e)
{
	*out = NULL;
	if (!client_id || !client_secret || !refresh_token || !*refresh_token)
		return err_set(e, E_INVAL, "token source: client and refresh token required");
	struct oauth_tokens *t;
	int rc = tokens_alloc(o, TOKENS_REFRESH, &t, e);
	if (rc)
		return rc;
	t->client_id = strdup(client_id);
	t->client_secret = strdup(client_secret);
	t->refresh_token = strdup(refresh_token);
	if (!t->client_id || !t->client_secret || !t->refresh_token) {
		oauth_tokens_free(t);
		return err_set(e, E_NOMEM, "token source");
	}
	*out = t;
	return E_OK;
}

void oauth_tokens_free(struct oauth_tokens *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->mu);
	jwt_sa_key_free(t->key);
	free(t->subject);
	free(t->scopes);
	free(t->client_id);
	wipe_free(t->client_secret);
	wipe_free(t->refresh_token);
	free(t->token_url);
	free(t->user_agent);
	free(t->ca_file);
	crypto_wipe(t->token, sizeof(t->token));
	free(t);
}

/* Goes to the token endpoint; called with t->mu held. */
static int tokens_fetch(struct oauth_tokens *t, struct err *e)
{
	struct oauth_grant g = {0};
	long long now = now_s(&t->o);
	int rc;
	t->fetches++;
	if (t->kind == TOKENS_SA) {
		char *assertion = NULL;
		rc = jwt_sa_assertion(t->key, t->subject, t->scopes, t->token_url, now, &assertion,
				      e);
		if (!rc)
			rc = oauth_jwt_grant(&t->o, assertion, &g, e);
		wipe_free(assertion);
	} else {
		rc = oauth_refresh_grant(&t->o, t->client_id, t->client_secret, t->refresh_token,
					 &g, e);
	}
	if (rc)
		goto out;
	if (g.refresh_token) {
		wipe_free(t->refresh_token);
		t->refresh_token = g.refresh_token;
		g.refresh_token = NULL;
	}
	crypto_wipe(t->token, sizeof(t->token));
	snprintf(t->token, sizeof(t->token), "%s", g.access_token);
	t->expires_at = now + (g.expires_in > 0 ? g.expires_in : 3600);
out:
	oauth_grant_cleanup(&g);
	return rc;
}

int oauth_tokens_get(void *ctx, int force_refresh, char *out, size_t cap, struct err *e)
{
	struct oauth_tokens *t = ctx;
	int rc = E_OK;
	pthread_mutex_lock(&t->mu);
	long long now = now_s(&t->o);
	int fresh = t->token[0] && now < t->expires_at - t->o.refresh_margin_s;
	/* After a 401 every thread asks for a refresh; the first one fetches, the others find a
	 * token different from the one that was refused and take it. */
	int refused = force_refresh && (!out[0] || strcmp(out, t->token) == 0);
	if (!fresh || refused)
		rc = tokens_fetch(t, e);
	if (!rc && strlen(t->token) >= cap)
		rc = err_set(e, E_INVAL, "token buffer too small");
	if (!rc)
		memcpy(out, t->token, strlen(t->token) + 1);
	pthread_mutex_unlock(&t->mu);
	if (rc && cap)
		out[0] = '\0';
	return rc;
}

unsigned long oauth_tokens_fetches(struct oauth_tokens *t)
{
	pthread_mutex_lock(&t->mu);
	unsigned long n = t->fetches;
	pthread_mutex_unlock(&t->mu);
	return n;
}
