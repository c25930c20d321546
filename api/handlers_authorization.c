/*
 * Authorizing an integration against Google: POST/GET .../authorization, .../authorization/verify
 * and the consent flow's callback. These are the handlers that talk to Google synchronously
 * (through service/connect): the one exception api/README.md names. Every failure Google
 * gives becomes its own problem type with advice; no key, token or secret is ever answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "handlers_integrations.h"
#include "httpc.h"
#include "log.h"
#include "store_authorization.h"

#define QUERY_VALUE_MAX 2048

static json_object *authorization_json(const struct store_credential *c)
{
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "integration_id", c->integration_id);
	api_json_put_str(jo, "type", c->kind);
	api_json_put_str_or_null(jo, "client_email", c->client_email);
	api_json_put_str(jo, "client_id", c->client_id);
	api_json_put_str_or_null(jo, "admin_email", c->admin_email);
	json_object *scopes = json_object_new_array();
	char buf[STORE_SCOPES_MAX + 1];
	snprintf(buf, sizeof(buf), "%s", c->scopes);
	char *save = NULL;
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
		json_object_array_add(scopes, json_object_new_string(t));
	api_json_put(jo, "scopes", scopes);
	api_json_put_str(jo, "authorized_at", c->authorized_at);
	api_json_put_str_or_null(jo, "last_used_at", c->last_used_at);
	if (c->last_error_reason[0]) {
		json_object *le = json_object_new_object();
		api_json_put_str(le, "reason", c->last_error_reason);
		api_json_put_str(le, "message", c->last_error_message);
		api_json_put_str(le, "at", c->last_error_at);
		api_json_put(jo, "last_error", le);
	} else {
		json_object_object_add(jo, "last_error", NULL);
	}
	return jo;
}

static json_object *google_json(const struct connect_outcome *o)
{
	json_object *g = json_object_new_object();
	api_json_put_str(g, "customer_id", o->customer_id);
	api_json_put_str(g, "primary_domain", o->primary_domain);
	json_object *ds = json_object_new_array();
	for (size_t i = 0; i < o->n_domains; i++) {
		json_object *d = json_object_new_object();
		api_json_put_str(d, "domain", o->domains[i]);
		api_json_put(d, "verified", json_object_new_boolean(o->domain_verified[i]));
		json_object_array_add(ds, d);
	}
	api_json_put(g, "domains", ds);
	return g;
}

/* {integration, authorization, google}: what a successful authorization or verification shows. */
static json_object *result_json(struct api_request *rq, const char *tenant_id,
				const struct connect_outcome *o)
{
	json_object *jo = json_object_new_object();
	if (o->it)
		api_json_put(jo, "integration", api_integration_json(o->it));
	struct store_credential *c = calloc(1, sizeof(*c));
	struct err e = {0};
	if (c && !store_credential_get(rq->ctx->st, tenant_id, o->it ? o->it->id : "", c, &e))
		api_json_put(jo, "authorization", authorization_json(c));
	if (c) {
		store_credential_cleanup(c);
		free(c);
	}
	api_json_put(jo, "google", google_json(o));
	return jo;
}

/* Google's own words, as extension members of a problem. */
static void put_google(json_object *ext, const struct connect_outcome *o)
{
	if (o->e.reason[0])
		api_json_put_str(ext, "google_error", o->e.reason);
	if (o->e.msg[0])
		api_json_put_str(ext, "google_message", o->e.msg);
}

/*
 * Fills p (and ext's members) for a failed authorization. Returns the slug for redirects.
 * Advice names what the Google admin must change, in the Admin console's words.
 */
static const char *failure_problem(const struct connect_outcome *o, struct problem *p,
				   json_object *ext)
{
	switch (o->failure) {
	case CONNECT_MISSING_PRIVILEGES: {
		json_object *names = json_object_new_array();
		char list[160] = "";
		for (int i = 0; i < CONNECT_PRIV_N; i++) {
			if (!(o->missing & (1u << i)))
				continue;
			json_object_array_add(names, json_object_new_string(connect_priv_name(i)));
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 list[0] ? ", " : "", connect_priv_name(i));
		}
		api_json_put(ext, "missing_privileges", names);
		if (o->it) {
			api_json_put_str(ext, "integration_status", o->it->status);
		}
		problem_set(p, 403, "google-missing-privileges", "The admin lacks privileges",
			    "Google accepted the authorization, but the admin lacks: %s. Give the "
			    "admin a role with these privileges in the Admin console (Account > "
			    "Admin roles), or use a super admin, then POST "
			    ".../authorization/verify. The integration stays %s until then.",
			    list, o->it ? o->it->status : "pending_authorization");
		return p->slug;
	}
	case CONNECT_CUSTOMER_IN_USE:
		api_json_put_str(ext, "integration_id", o->other_id);
		api_json_put_str(ext, "integration_name", o->other_name);
		problem_set(p, 409, "google-account-in-use", "Google account already connected",
			    "Google customer %s is already connected by integration %s (\"%.100s\") "
			    "of this tenant; one Google account can be connected once.",
			    o->customer_id, o->other_id, o->other_name);
		return p->slug;
	case CONNECT_ADMIN_POLICY:
		api_json_put_str(ext, "client_id", o->client_id);
		problem_set(p, 403, "google-admin-policy-enforced", "Blocked by the admin's policy",
			    "The Google organization's API controls block gwsync's app. In the Admin "
			    "console, Security > Access and data control > API controls > Manage "
			    "third-party app access, mark client %s as Trusted, then authorize again.",
			    o->client_id[0] ? o->client_id : "(gwsync's client)");
		break;
	case CONNECT_ACCESS_DENIED:
		problem_set(p, 403, "google-access-denied", "Consent denied",
			    "The admin declined the consent screen. Authorize again and allow every "
			    "requested permission.");
		break;
	case CONNECT_UNAUTHORIZED_CLIENT: {
		json_object *scopes = json_object_new_array();
		char list[1024];
		snprintf(list, sizeof(list), "%s", CONNECT_SCOPES);
		char *save = NULL;
		for (char *t = strtok_r(list, " ", &save); t; t = strtok_r(NULL, " ", &save))
			json_object_array_add(scopes, json_object_new_string(t));
		api_json_put_str(ext, "client_id", o->client_id);
		api_json_put(ext, "scopes", scopes);
		char comma[1024];
		snprintf(comma, sizeof(comma), "%s", CONNECT_SCOPES);
		for (char *c = comma; *c; c++)
			*c = *c == ' ' ? ',' : *c;
		problem_set(p, 403, "google-unauthorized-client", "Delegation not set up",
			    "Google does not let client %s act for the admin with the scopes gwsync "
			    "needs. In the Admin console, Security > Access and data control > API "
			    "controls > Manage domain-wide delegation, add client ID %s with the "
			    "scopes %s (changes may take a while to apply), then authorize again.",
			    o->client_id, o->client_id, comma);
		break;
	}
	case CONNECT_INVALID_GRANT:
		problem_set(p, 422, "google-invalid-grant", "Google refused the grant",
			    "Google refused the grant: %s. Check that the admin email names an "
			    "existing admin of this Google account (and that the key or consent is "
			    "still valid), then authorize again.",
			    o->e.msg[0] ? o->e.msg : "invalid_grant");
		break;
	case CONNECT_EDITION:
		problem_set(p, 403, "google-edition-unsupported", "Edition without API access",
			    "This Google Workspace account cannot use the Admin SDK (\"Domain cannot "
			    "use apis\"). Editions without API access (Google Workspace for "
			    "Nonprofits, Essentials Starter, G Suite legacy free edition) are not "
			    "supported; upgrade the edition or turn on API access.");
		break;
	case CONNECT_API_DISABLED:
		problem_set(p, 403, "google-api-disabled", "Admin SDK API disabled",
			    "The Admin SDK API is not enabled in the Google Cloud project of the "
			    "service account or OAuth client. Enable it (APIs & Services > Library > "
			    "Admin SDK API), wait a few minutes, then authorize again.");
		break;
	case CONNECT_UNREACHABLE:
		problem_set(p, 503, "google-unreachable", "Google unreachable",
			    "Google could not be reached or kept failing (%s); nothing was changed. "
			    "Retry later.",
			    o->e.msg);
		break;
	case CONNECT_INVALID_KEY:
		/* The body has the shape the contract asks for; the key in it does not load. */
		problem_set(p, 422, "key-invalid", "Service-account key not usable",
			    "the service-account key does not load");
		problem_add_error(p, "/key", "%s", o->e.msg);
		return p->slug;
	case CONNECT_STATE:
		api_json_put_str(ext, "state", o->e.reason);
		problem_set(p, 400, "oauth-state-invalid", "Consent link not valid",
			    "The consent response does not match a pending request (%s state): "
			    "a state is good once and for 10 minutes. Ask for a new consent URL.",
			    o->e.reason[0] ? o->e.reason : "unknown");
		return p->slug;
	case CONNECT_NOT_CONFIGURED:
		problem_set(p, 409, "oauth-not-configured", "Consent flow not configured", "%s",
			    o->e.msg);
		return p->slug;
	case CONNECT_REAUTH_REQUIRED:
		problem_set(p, 409, "reauthorization-required", "Authorize again",
			    "Google no longer accepts this integration's grant; nothing is sent to "
			    "Google until an admin authorizes it again (POST .../authorization).");
		break;
	case CONNECT_NOT_AUTHORIZED:
		problem_set(p, 409, "not-authorized", "Not authorized",
			    "the integration has not been authorized yet; POST .../authorization");
		return p->slug;
	case CONNECT_GOOGLE_ERROR:
		problem_set(p, 502, "google-error", "Google error", "Google answered: %s",
			    o->e.msg[0] ? o->e.msg : "an error");
		break;
	case CONNECT_OK:
	case CONNECT_STORE:
		return NULL;
	}
	put_google(ext, o);
	return p->slug;
}

/* Answers a failed outcome as its problem (or the store's error). */
static void reply_failure(struct api_response *rs, const struct connect_outcome *o)
{
	struct problem *p = malloc(sizeof(*p));
	json_object *ext = json_object_new_object();
	const char *slug = p && ext ? failure_problem(o, p, ext) : NULL;
	if (!slug && o->e.code == E_INVAL)
		/* A stored secret no configured key opens: the operator's keys are wrong. */
		api_reply_error(rs, 500, "internal", "Internal error", "%s", o->e.msg);
	else if (!slug)
		api_reply_err(rs, &o->e);
	else
		api_reply_problem(rs, p, json_object_to_json_string_ext(ext, JSON_C_TO_STRING_PLAIN));
	json_object_put(ext);
	free(p);
}

void api_reply_google_error(struct api_response *rs, int rc, const struct err *e)
{
	struct connect_outcome *o = calloc(1, sizeof(*o));
	if (!o) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		return;
	}
	o->e = *e;
	o->e.code = rc;
	/* What is not Google's (no such integration, a deactivated one, the database) keeps its
	 * own answer. */
	if (rc == E_NOTFOUND || rc == E_CONFLICT || rc == E_NOMEM || rc == E_INVAL ||
	    rc == E_INTERNAL)
		o->failure = CONNECT_STORE;
	else
		o->failure = connect_classify(rc, e);
	reply_failure(rs, o);
	connect_outcome_cleanup(o);
	free(o);
}

static bool email_plausible(const char *s)
{
	size_t n = strlen(s);
	const char *at = strchr(s, '@');
	return n >= 3 && n <= STORE_EMAIL_MAX && at && at != s && at[1] && !strchr(at + 1, '@') &&
	       !strpbrk(s, " \t\r\n<>\"");
}

/* Wipes a json-c string in place (the key's private part must not linger in freed memory). */
static void json_string_wipe(json_object *jo)
{
	if (jo && json_object_is_type(jo, json_type_string)) {
		char *s = (char *)json_object_get_string(jo);
		crypto_wipe(s, (size_t)json_object_get_string_len(jo));
	}
}

static void authorize_oauth(struct api_request *rq, struct api_response *rs, const char *id,
			    const char *login_hint)
{
	char *url = NULL;
	enum connect_failure f = CONNECT_OK;
	struct connect_outcome *o = calloc(1, sizeof(*o));
	if (!o) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		return;
	}
	int rc = connect_oauth_start(rq->ctx->conn, rq->who.tenant_id, id, login_hint,
				     rq->who.key_id, &url, &f, &o->e);
	if (rc) {
		o->failure = f;
		reply_failure(rs, o);
	} else {
		json_object *jo = json_object_new_object();
		api_json_put_str(jo, "type", "oauth");
		api_json_put_str(jo, "consent_url", url);
		api_json_put(jo, "expires_in", json_object_new_int(CONNECT_STATE_TTL_S));
		api_reply_json(rs, 200, jo);
	}
	free(url);
	free(o);
}

void handle_authorization_post(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	if (!id)
		return;
	json_object *body = NULL;
	struct problem *p = malloc(sizeof(*p));
	struct connect_outcome *o = calloc(1, sizeof(*o));
	char *key_text = NULL;
	size_t key_len = 0;
	if (!p || !o) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		goto out;
	}
	static const char *const allowed[] = {"type", "key", "admin_email", NULL};
	body = api_body_begin(rq, rs, "the authorization is not valid", allowed, NULL, p);
	if (!body)
		goto out;
	json_object *type = NULL, *key = NULL, *admin = NULL;
	json_object_object_get_ex(body, "type", &type);
	json_object_object_get_ex(body, "key", &key);
	json_object_object_get_ex(body, "admin_email", &admin);
	const char *t = type && json_object_is_type(type, json_type_string)
				? json_object_get_string(type)
				: "";
	bool sa = !strcmp(t, "service_account"), oauth = !strcmp(t, "oauth");
	if (!sa && !oauth)
		problem_add_error(p, "/type", "must be service_account or oauth");
	const char *admin_email = NULL;
	if (admin && (!json_object_is_type(admin, json_type_string) ||
		      !email_plausible(json_object_get_string(admin))))
		problem_add_error(p, "/admin_email", "must be an email address");
	else if (admin)
		admin_email = json_object_get_string(admin);
	if (sa && !admin_email && !admin)
		problem_add_error(p, "/admin_email",
				  "is required: the admin the service account acts for");
	if (sa && (!key || !json_object_is_type(key, json_type_object)))
		problem_add_error(p, "/key", "must be the service account's JSON key (an object)");
	if (oauth && key)
		problem_add_error(p, "/key", "is only for type service_account");
	if (p->n_errors) {
		api_reply_problem(rs, p, NULL);
		goto out;
	}
	if (oauth) {
		authorize_oauth(rq, rs, id, admin_email);
		goto out;
	}
	const char *txt = json_object_to_json_string_ext(key, JSON_C_TO_STRING_PLAIN);
	key_len = txt ? strlen(txt) : 0;
	key_text = txt ? strndup(txt, key_len) : NULL;
	if (txt)
		crypto_wipe((char *)txt, key_len);
	json_object *pk = NULL;
	if (json_object_object_get_ex(key, "private_key", &pk))
		json_string_wipe(pk);
	if (!key_text) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		goto out;
	}
	struct store_actor actor = api_actor(rq, "authorize");
	struct google_deadline deadline;
	google_deadline_begin(&deadline, rq->ctx->cfg->google_request_deadline_ms);
	int rc = connect_authorize_service_account(rq->ctx->conn, &actor, rq->who.tenant_id, id,
						   key_text, key_len, admin_email, o);
	google_deadline_end(&deadline);
	if (rc == E_OK)
		api_reply_json(rs, 200, result_json(rq, rq->who.tenant_id, o));
	else
		reply_failure(rs, o);
out:
	if (key_text) {
		crypto_wipe(key_text, key_len);
		free(key_text);
	}
	if (o)
		connect_outcome_cleanup(o);
	free(o);
	free(p);
	json_object_put(body);
}

void handle_authorization_get(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	if (!id)
		return;
	struct store_integration *it = malloc(sizeof(*it));
	struct store_credential *c = calloc(1, sizeof(*c));
	struct err e = {0};
	if (!it || !c) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
	} else if (store_integration_get(rq->ctx->st, rq->who.tenant_id, id, it, &e)) {
		api_reply_err(rs, &e);
	} else if (store_credential_get(rq->ctx->st, rq->who.tenant_id, id, c, &e)) {
		if (e.code == E_NOTFOUND)
			api_reply_error(rs, 404, "not-authorized", "Not authorized",
					"the integration has not been authorized yet");
		else
			api_reply_err(rs, &e);
	} else {
		json_object *jo = authorization_json(c);
		api_json_put_str(jo, "integration_status", it->status);
		api_reply_json(rs, 200, jo);
	}
	if (c)
		store_credential_cleanup(c);
	free(c);
	free(it);
}

void handle_authorization_verify(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	if (!id)
		return;
	struct connect_outcome *o = calloc(1, sizeof(*o));
	if (!o) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		return;
	}
	struct store_actor actor = api_actor(rq, "verify_authorization");
	struct google_deadline deadline;
	google_deadline_begin(&deadline, rq->ctx->cfg->google_request_deadline_ms);
	int rc = connect_verify(rq->ctx->conn, &actor, rq->who.tenant_id, id, o);
	google_deadline_end(&deadline);
	if (rc == E_OK)
		api_reply_json(rs, 200, result_json(rq, rq->who.tenant_id, o));
	else
		reply_failure(rs, o);
	connect_outcome_cleanup(o);
	free(o);
}

/* Appends "&name=value" (value percent-encoded) to a growing URL; returns NULL on failure. */
static char *url_add(char *url, const char *name, const char *value)
{
	char *enc = NULL;
	if (!url || httpc_urlencode(value ? value : "", &enc, NULL)) {
		free(url);
		return NULL;
	}
	size_t n = strlen(url) + strlen(name) + strlen(enc) + 3;
	char *grown = realloc(url, n);
	if (grown)
		snprintf(grown + strlen(grown), n - strlen(grown), "%c%s=%s",
			 strchr(grown, '?') ? '&' : '?', name, enc);
	else
		free(url);
	free(enc);
	return grown;
}

void handle_oauth_callback(struct api_request *rq, struct api_response *rs)
{
	char *state = malloc(QUERY_VALUE_MAX), *code = malloc(QUERY_VALUE_MAX);
	char *error = malloc(QUERY_VALUE_MAX);
	struct connect_outcome *o = calloc(1, sizeof(*o));
	if (!state || !code || !error || !o) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		goto out;
	}
	int has_state = api_query_get(rq, "state", state, QUERY_VALUE_MAX);
	int has_code = api_query_get(rq, "code", code, QUERY_VALUE_MAX);
	int has_error = api_query_get(rq, "error", error, QUERY_VALUE_MAX);
	struct google_deadline deadline;
	google_deadline_begin(&deadline, rq->ctx->cfg->google_request_deadline_ms);
	int rc = connect_oauth_finish(rq->ctx->conn, has_state ? state : NULL,
				      has_code ? code : NULL, has_error ? error : NULL, o);
	google_deadline_end(&deadline);
	const char *ret = rq->ctx->cfg->oauth_return_url;
	if (ret && *ret) {
		struct problem *p = malloc(sizeof(*p));
		json_object *ext = json_object_new_object();
		const char *slug = rc && p && ext ? failure_problem(o, p, ext) : NULL;
		char *url = strdup(ret);
		url = url_add(url, "integration_id", o->integration_id);
		url = url_add(url, "outcome",
			      rc == E_OK			     ? "authorized"
			      : o->failure == CONNECT_MISSING_PRIVILEGES ? "missing_privileges"
									 : "failed");
		if (rc)
			url = url_add(url, "problem", slug ? slug : "internal");
		json_object_put(ext);
		free(p);
		if (!url) {
			api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
			goto out;
		}
		rs->status = 302;
		rs->redirect = url;
		rs->body = strdup("");
		rs->len = 0;
		rs->content_type = "text/plain";
	} else if (rc == E_OK) {
		api_reply_json(rs, 200, result_json(rq, o->tenant_id, o));
	} else {
		reply_failure(rs, o);
	}
out:
	if (code)
		crypto_wipe(code, QUERY_VALUE_MAX);
	if (state)
		crypto_wipe(state, QUERY_VALUE_MAX);
	free(state);
	free(code);
	free(error);
	if (o)
		connect_outcome_cleanup(o);
	free(o);
}
