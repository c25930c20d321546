#include "connect.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aead.h"
#include "crypto.h"
#include "google_directory.h"
#include "jwt.h"
#include "clock.h"
#include "log.h"
#include "oauth.h"
#include "store_authorization.h"

#define TOUCH_INTERVAL_MS 60000

/* One integration's Google client and token source; shared by handles, freed at refs == 0. */
struct entry {
	char integration_id[STORE_ID_LEN + 1];
	struct connect *c;
	struct oauth_tokens *tokens;
	struct google_client *gc;
	int refs;	/* handles out (under c->mu) */
	int in_registry; /* (under c->mu) */
	atomic_int dead; /* Google refused the grant for good */
	atomic_llong last_touch_ms;
};

struct connect {
	struct store *st;
	struct aead_ring *ring;
	struct oauth_options oo;
	struct google_client_options go;
	char *api_url, *token_url, *auth_url;
	char *client_id, *client_secret, *redirect_url;

	pthread_mutex_t mu;
	struct entry **entries;
	size_t n_entries, cap_entries;
	struct google_metrics retired; /* counters of clients already freed */
};

static const char *const priv_names[CONNECT_PRIV_N] = {"User Management Admin", "Groups Admin",
						       "Domain Management"};

const char *connect_priv_name(int i)
{
	return i >= 0 && i < CONNECT_PRIV_N ? priv_names[i] : "?";
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

static char *secret_dup(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

static void secret_free(char *s)
{
	if (s) {
		crypto_wipe(s, strlen(s));
		free(s);
	}
}

void connect_outcome_cleanup(struct connect_outcome *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n_domains; i++)
		free(o->domains[i]);
	free(o->domains);
	free(o->domain_verified);
	free(o->it);
	memset(o, 0, sizeof(*o));
}

int connect_new(const struct config *cfg, struct store *st, struct connect **out, struct err *e)
{
	*out = NULL;
	struct connect *c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(e, E_NOMEM, "connect");
	pthread_mutex_init(&c->mu, NULL);
	c->st = st;
	struct err ke = {0};
	if (!cfg->secret_key) {
		connect_free(c);
		return err_set(e, E_INVAL, "GWSYNC_SECRET_KEY is not set");
	}
	if (aead_ring_new(cfg->secret_key, cfg->secret_keys_previous, &c->ring, &ke)) {
		connect_free(c);
		return err_set(e, E_INVAL, "GWSYNC_SECRET_KEY / GWSYNC_SECRET_KEYS_PREVIOUS: %s",
			       ke.msg);
	}
	c->api_url = dup_or_null(cfg->google_api_url);
	c->token_url = dup_or_null(cfg->google_token_url);
	c->auth_url = dup_or_null(cfg->google_auth_url);
	c->client_id = dup_or_null(cfg->google_oauth_client_id);
	c->client_secret = secret_dup(cfg->google_oauth_client_secret);
	c->redirect_url = dup_or_null(cfg->oauth_redirect_url);

	c->oo.token_url = c->token_url;
	c->oo.http.allow_http = cfg->google_allow_http;
	c->oo.http.connect_timeout_ms = cfg->google_connect_timeout_ms;
	c->oo.http.timeout_ms = cfg->google_timeout_ms;

	c->go.api_base = c->api_url;
	c->go.allow_http = cfg->google_allow_http;
	c->go.connect_timeout_ms = cfg->google_connect_timeout_ms;
	c->go.timeout_ms = cfg->google_timeout_ms;
	c->go.retry.max_attempts = cfg->google_retry_max_attempts;
	c->go.retry.base_ms = cfg->google_retry_base_ms;
	c->go.retry.cap_ms = cfg->google_retry_cap_ms;
	c->go.retry.max_total_ms = cfg->google_retry_max_total_ms;
	c->go.ratelimit_options.per_minute = cfg->google_qpm;
	*out = c;
	return E_OK;
}

static void metrics_add(struct google_metrics *dst, const struct google_metrics *src)
{
	for (int m = 0; m < GOOGLE_METHOD_N; m++)
		for (int o = 0; o < GOOGLE_OUTCOME_N; o++)
			dst->requests[m][o] += src->requests[m][o];
	dst->calls += src->calls;
	dst->calls_failed += src->calls_failed;
	dst->retries += src->retries;
	dst->token_refreshes += src->token_refreshes;
	dst->ratelimit_waits += src->ratelimit_waits;
	dst->ratelimit_wait_ms += src->ratelimit_wait_ms;
	dst->ratelimit_cuts += src->ratelimit_cuts;
	dst->batch_parts += src->batch_parts;
	dst->latency_count += src->latency_count;
	dst->latency_sum_ms += src->latency_sum_ms;
	for (int b = 0; b < GOOGLE_LATENCY_BUCKETS; b++)
		dst->latency_buckets[b] += src->latency_buckets[b];
}

/* Frees an entry, keeping its counters; c->mu held (or no other thread). */
static void entry_free_locked(struct connect *c, struct entry *en)
{
	if (!en)
		return;
	if (en->gc) {
		struct google_metrics m;
		google_client_metrics(en->gc, &m);
		metrics_add(&c->retired, &m);
	}
	google_client_free(en->gc);
	oauth_tokens_free(en->tokens);
	free(en);
}

static void entry_free(struct connect *c, struct entry *en)
{
	pthread_mutex_lock(&c->mu);
	entry_free_locked(c, en);
	pthread_mutex_unlock(&c->mu);
}

void connect_free(struct connect *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_entries; i++)
		entry_free_locked(c, c->entries[i]);
	free(c->entries);
	aead_ring_free(c->ring);
	free(c->api_url);
	free(c->token_url);
	free(c->auth_url);
	free(c->client_id);
	secret_free(c->client_secret);
	free(c->redirect_url);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/*
 * The token callback of every client: a grant Google refused for good stops the client for
 * good, and (once installed in the registry) moves the integration to reauthorization_required.
 */
static int entry_token(void *ctx, int force_refresh, char *out, size_t cap, struct err *e)
{
	struct entry *en = ctx;
	if (atomic_load(&en->dead)) {
		if (cap)
			out[0] = '\0';
		int rc = err_set(e, E_UNAUTH, "the integration must be authorized again");
		if (e)
			snprintf(e->reason, sizeof(e->reason), "reauthorization_required");
		return rc;
	}
	int rc = oauth_tokens_get(en->tokens, force_refresh, out, cap, e);
	if (rc == E_UNAUTH && (!e || !strcmp(e->reason, "invalid_grant"))) {
		int was = atomic_exchange(&en->dead, 1);
		pthread_mutex_lock(&en->c->mu);
		int installed = en->in_registry;
		pthread_mutex_unlock(&en->c->mu);
		if (!was && installed) {
			bool changed = false;
			struct err se = {0};
			if (store_integration_mark_reauth(en->c->st, en->integration_id,
							  e ? e->reason : "invalid_grant",
							  e ? e->msg : "", &changed, &se))
				log_write(LOG_WARN, "connect", "reauth_mark_failed", se.msg, NULL, 0);
			log_write(LOG_WARN, "connect", "integration_reauthorization_required",
				  "Google refused the grant for good; no further calls are made",
				  (struct log_field[]){LOG_STR("integration", en->integration_id),
						       LOG_STR("reason", e ? e->reason : ""),
						       LOG_STR("google_message", e ? e->msg : ""),
						       LOG_NUM("changed", changed)},
				  4);
		}
	}
	return rc;
}

/* Wraps a token source into a new entry with its client. Takes tokens in every case. */
static int entry_new(struct connect *c, const char *integration_id, struct oauth_tokens *tokens,
		     struct entry **out, struct err *e)
{
	*out = NULL;
	struct entry *en = calloc(1, sizeof(*en));
	if (!en) {
		oauth_tokens_free(tokens);
		return err_set(e, E_NOMEM, "connect entry");
	}
	snprintf(en->integration_id, sizeof(en->integration_id), "%s", integration_id);
	en->c = c;
	en->tokens = tokens;
	atomic_store(&en->last_touch_ms, clock_monotonic_ms());
	struct google_client_options go = c->go;
	go.token = entry_token;
	go.token_ctx = en;
	int rc = google_client_new(&go, &en->gc, e);
	if (rc) {
		entry_free(c, en);
		return rc;
	}
	*out = en;
	return E_OK;
}

/* Builds an entry from a credential's plaintext secret. */
static int entry_from_secret(struct connect *c, const char *integration_id, const char *kind,
			     const char *plain, size_t plain_len, const char *admin_email,
			     const char *scopes, struct entry **out, struct err *e)
{
	struct oauth_tokens *tokens = NULL;
	int rc;
	if (!strcmp(kind, "service_account")) {
		struct jwt_sa_key *key = NULL;
		rc = jwt_sa_key_parse(plain, plain_len, &key, e);
		if (!rc) {
			rc = oauth_tokens_new_sa(&c->oo, key, admin_email && *admin_email ? admin_email
											: NULL,
						 scopes, &tokens, e);
			if (rc)
				jwt_sa_key_free(key);
		}
	} else {
		if (!c->client_id || !c->client_secret)
			return err_set(e, E_INVAL, "the OAuth client is not configured "
						   "(GWSYNC_GOOGLE_OAUTH_CLIENT_ID/_SECRET)");
		rc = oauth_tokens_new_refresh(&c->oo, c->client_id, c->client_secret, plain,
					      &tokens, e);
	}
	if (rc)
		return rc;
	return entry_new(c, integration_id, tokens, out, e);
}

/* Puts en into the registry in place of any entry of the same integration. */
static void registry_install(struct connect *c, struct entry *en)
{
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n_entries; i++) {
		struct entry *old = c->entries[i];
		if (strcmp(old->integration_id, en->integration_id) != 0)
			continue;
		old->in_registry = 0;
		if (old->refs == 0)
			entry_free_locked(c, old);
		c->entries[i] = c->entries[--c->n_entries];
		break;
	}
	if (c->n_entries == c->cap_entries) {
		size_t cap = c->cap_entries ? c->cap_entries * 2 : 16;
		struct entry **grown = realloc(c->entries, cap * sizeof(*grown));
		if (!grown) {
			/* Not cached: it still serves the handles that hold it. */
			if (en->refs == 0)
				entry_free_locked(c, en);
			pthread_mutex_unlock(&c->mu);
			return;
		}
		c->entries = grown;
		c->cap_entries = cap;
	}
	en->in_registry = 1;
	c->entries[c->n_entries++] = en;
	pthread_mutex_unlock(&c->mu);
}

static struct entry *registry_take(struct connect *c, const char *integration_id)
{
	struct entry *found = NULL;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n_entries; i++) {
		if (!strcmp(c->entries[i]->integration_id, integration_id) &&
		    !atomic_load(&c->entries[i]->dead)) {
			found = c->entries[i];
			found->refs++;
			break;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return found;
}

void connect_client_release(struct connect *c, struct connect_handle *h)
{
	struct entry *en = (struct entry *)h;
	if (!en)
		return;
	pthread_mutex_lock(&c->mu);
	if (--en->refs == 0 && !en->in_registry)
		entry_free_locked(c, en);
	pthread_mutex_unlock(&c->mu);
}

static int open_secret(struct connect *c, const char *sealed, const char *aad, unsigned char **plain,
		       size_t *len, struct err *e)
{
	int rc = aead_open(c->ring, sealed, aad, strlen(aad), plain, len, e);
	if (rc)
		return err_set(e, E_INVAL, "the stored secret cannot be opened with the configured "
					   "keys (GWSYNC_SECRET_KEY, GWSYNC_SECRET_KEYS_PREVIOUS)");
	return E_OK;
}

int connect_client_acquire(struct connect *c, const char *tenant_id, const char *integration_id,
			   struct connect_handle **out, struct err *e)
{
	*out = NULL;
	struct store_integration *it = malloc(sizeof(*it));
	if (!it)
		return err_set(e, E_NOMEM, "integration");
	int rc = store_integration_get(c->st, tenant_id, integration_id, it, e);
	if (!rc && !strcmp(it->status, "reauthorization_required")) {
		rc = err_set(e, E_UNAUTH, "the integration must be authorized again");
		if (e)
			snprintf(e->reason, sizeof(e->reason), "reauthorization_required");
	} else if (!rc && !strcmp(it->status, "deactivated")) {
		rc = err_set(e, E_CONFLICT, "the integration is deactivated");
	}
	free(it);
	if (rc)
		return rc;
	struct entry *en = registry_take(c, integration_id);
	if (en) {
		*out = (struct connect_handle *)en;
		return E_OK;
	}
	struct store_credential cred;
	rc = store_credential_get(c->st, tenant_id, integration_id, &cred, e);
	if (rc)
		return rc;
	unsigned char *plain = NULL;
	size_t len = 0;
	rc = open_secret(c, cred.secret, integration_id, &plain, &len, e);
	if (!rc)
		rc = entry_from_secret(c, integration_id, cred.kind, (const char *)plain, len,
				       cred.admin_email, cred.scopes, &en, e);
	aead_plain_free(plain, len);
	store_credential_cleanup(&cred);
	if (rc)
		return rc;
	/* Another thread may have built one meanwhile; the newest wins, both stay usable. */
	pthread_mutex_lock(&c->mu);
	en->refs = 1;
	pthread_mutex_unlock(&c->mu);
	registry_install(c, en);
	*out = (struct connect_handle *)en;
	return E_OK;
}

struct google_client *connect_handle_client(struct connect_handle *h)
{
	return ((struct entry *)h)->gc;
}

void connect_handle_used(struct connect_handle *h)
{
	struct entry *en = (struct entry *)h;
	long long now = clock_monotonic_ms();
	long long last = atomic_load(&en->last_touch_ms);
	if (now - last < TOUCH_INTERVAL_MS ||
	    !atomic_compare_exchange_strong(&en->last_touch_ms, &last, now))
		return;
	struct err e = {0};
	if (store_credential_touch(en->c->st, en->integration_id, NULL, &e))
		log_write(LOG_WARN, "connect", "touch_failed", e.msg, NULL, 0);
}

int connect_call(struct connect_handle *h, const char *method, const char *path_and_query,
		 const char *json_body, int *status, char **body_out, size_t *body_len,
		 struct err *e)
{
	int rc = google_call(connect_handle_client(h), method, path_and_query, json_body, status,
			     body_out, body_len, e);
	if (!rc)
		connect_handle_used(h);
	return rc;
}

void connect_domains_free(char **list)
{
	for (size_t i = 0; list && list[i]; i++)
		free(list[i]);
	free(list);
}

int connect_domains_verified(struct connect *c, const char *tenant_id, const char *integration_id,
			     char ***out, struct err *e)
{
	*out = NULL;
	struct connect_handle *h = NULL;
	int rc = connect_client_acquire(c, tenant_id, integration_id, &h, e);
	if (rc)
		return rc;
	struct google_probe p;
	rc = google_domains_read(connect_handle_client(h), &p, e);
	if (!rc) {
		connect_handle_used(h);
		char **list = calloc(p.n_domains + 1, sizeof(*list));
		size_t k = 0;
		for (size_t i = 0; list && i < p.n_domains; i++) {
			if (!p.verified[i])
				continue;
			/* Taken from the probe: google_probe_cleanup frees only what is left. */
			list[k++] = p.domains[i];
			p.domains[i] = NULL;
		}
		if (!list)
			rc = err_set(e, E_NOMEM, "domains");
		*out = list;
		google_probe_cleanup(&p);
	}
	connect_client_release(c, h);
	return rc;
}

int connect_domains_refresh(struct connect *c, const struct store_actor *actor,
			    const char *tenant_id, const char *integration_id, struct err *e)
{
	char **verified = NULL;
	int rc = connect_domains_verified(c, tenant_id, integration_id, &verified, e);
	if (!rc)
		rc = store_domains_verified_set(c->st, actor, tenant_id, integration_id,
						(const char *const *)verified, e);
	connect_domains_free(verified);
	return rc;
}

void connect_metrics(struct connect *c, struct google_metrics *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->retired;
	for (size_t i = 0; i < c->n_entries; i++) {
		struct google_metrics m;
		google_client_metrics(c->entries[i]->gc, &m);
		metrics_add(out, &m);
	}
	pthread_mutex_unlock(&c->mu);
}

/* ---- classification ---- */

enum connect_failure connect_classify(int rc, const struct err *e)
{
	const char *r = e->reason;
	if (!strcmp(r, "admin_policy_enforced"))
		return CONNECT_ADMIN_POLICY;
	if (!strcmp(r, "access_denied"))
		return CONNECT_ACCESS_DENIED;
	if (!strcmp(r, "unauthorized_client"))
		return CONNECT_UNAUTHORIZED_CLIENT;
	if (!strcmp(r, "invalid_grant"))
		return CONNECT_INVALID_GRANT;
	if (!strcmp(r, "reauthorization_required"))
		return CONNECT_REAUTH_REQUIRED;
	if (!strcmp(r, "domainCannotUseApis") || strstr(e->msg, "Domain cannot use apis"))
		return CONNECT_EDITION;
	if (!strcmp(r, "accessNotConfigured") || !strcmp(r, "SERVICE_DISABLED") ||
	    strstr(e->msg, "has not been used in project"))
		return CONNECT_API_DISABLED;
	if (rc == E_UNAVAIL || rc == E_TIMEOUT)
		return CONNECT_UNREACHABLE;
	return CONNECT_GOOGLE_ERROR;
}

static int fail(struct connect_outcome *o, enum connect_failure f, int rc, const struct err *e)
{
	o->failure = f;
	if (e && e != &o->e)
		o->e = *e;
	if (!o->e.code)
		o->e.code = rc ? rc : E_INTERNAL;
	return o->e.code;
}

/* Copies Google's domains (and the probe's findings) into the outcome. */
static int outcome_take_probe(struct connect_outcome *o, struct google_probe *p)
{
	snprintf(o->customer_id, sizeof(o->customer_id), "%s", p->customer_id);
	snprintf(o->primary_domain, sizeof(o->primary_domain), "%s", p->primary_domain);
	o->missing = (p->missing & GOOGLE_PRIV_USERS ? CONNECT_PRIV_USERS : 0) |
		     (p->missing & GOOGLE_PRIV_GROUPS ? CONNECT_PRIV_GROUPS : 0) |
		     (p->missing & GOOGLE_PRIV_DOMAINS ? CONNECT_PRIV_DOMAINS : 0);
	o->domains = p->domains;
	o->domain_verified = p->verified;
	o->n_domains = p->n_domains;
	p->domains = NULL;
	p->verified = NULL;
	p->n_domains = 0;
	return E_OK;
}

/*
 * Stores what the probe found (o holds it): the credential when given, customer, domains'
 * verified flags, status. E_OK when complete; E_FORBIDDEN with CONNECT_MISSING_PRIVILEGES when
 * recorded but privileges are missing; else the failure (nothing recorded).
 */
static int record_outcome(struct connect *c, const struct store_actor *actor,
			  const char *tenant_id, const char *integration_id,
			  const struct store_credential *cred, struct connect_outcome *o)
{
	struct err e = {0};
	const char **verified = calloc(o->n_domains + 1, sizeof(*verified));
	if (!verified)
		return fail(o, CONNECT_STORE, E_NOMEM, NULL);
	size_t nv = 0;
	for (size_t i = 0; i < o->n_domains; i++)
		if (o->domain_verified[i])
			verified[nv++] = o->domains[i];
	char missing[160] = "";
	for (int i = 0; i < CONNECT_PRIV_N; i++) {
		if (o->missing & (1u << i))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
				 "%s%s", missing[0] ? ", " : "", priv_names[i]);
	}
	char message[256];
	snprintf(message, sizeof(message), "the admin lacks these privileges: %s", missing);
	struct store_authorization a = {
		.cred = cred,
		.customer_id = o->customer_id,
		.primary_domain = o->primary_domain,
		.verified_domains = verified,
		.complete = o->missing == 0,
		.missing_reason = "missing_privileges",
		.missing_message = message,
	};
	o->it = malloc(sizeof(*o->it));
	int rc = o->it ? store_authorization_record(c->st, actor, tenant_id, integration_id, &a,
						     o->it, o->other_id, o->other_name,
						     sizeof(o->other_name), &e)
		       : err_set(&e, E_NOMEM, "integration");
	free(verified);
	if (rc) {
		free(o->it);
		o->it = NULL;
		if (rc == E_CONFLICT && !strcmp(e.reason, "customer_in_use"))
			return fail(o, CONNECT_CUSTOMER_IN_USE, rc, &e);
		return fail(o, CONNECT_STORE, rc, &e);
	}
	o->recorded = true;
	if (o->missing) {
		err_set(&o->e, E_FORBIDDEN, "%s", message);
		o->failure = CONNECT_MISSING_PRIVILEGES;
		return E_FORBIDDEN;
	}
	return E_OK;
}

/*
 * The common tail of every authorization: token, probe, record, install. Takes en (and cred's
 * sealed secret stays the caller's). actor may be NULL. On success or missing privileges the
 * entry goes into the registry; otherwise it is freed.
 */
static int authorize_with(struct connect *c, const struct store_actor *actor,
			  const char *tenant_id, const char *integration_id, struct entry *en,
			  const struct store_credential *cred, struct connect_outcome *o)
{
	struct err e = {0};
	char *tok = malloc(GOOGLE_BEARER_MAX);
	int rc = tok ? oauth_tokens_get(en->tokens, 0, tok, GOOGLE_BEARER_MAX, &e)
		     : err_set(&e, E_NOMEM, "token");
	if (tok) {
		crypto_wipe(tok, GOOGLE_BEARER_MAX);
		free(tok);
	}
	struct google_probe probe;
	memset(&probe, 0, sizeof(probe));
	if (!rc)
		rc = google_probe_run(en->gc, &probe, &e);
	if (rc) {
		entry_free(c, en);
		google_probe_cleanup(&probe);
		return fail(o, connect_classify(rc, &e), rc, &e);
	}
	outcome_take_probe(o, &probe);
	google_probe_cleanup(&probe);

	rc = record_outcome(c, actor, tenant_id, integration_id, cred, o);
	if (rc && !o->recorded) {
		entry_free(c, en);
		return rc;
	}
	registry_install(c, en);
	log_write(LOG_INFO, "connect", o->missing ? "google_privileges_missing" : "google_authorized",
		  o->missing ? o->e.msg : NULL,
		  (struct log_field[]){LOG_STR("integration", integration_id),
				       LOG_STR("customer_id", o->customer_id),
				       LOG_STR("status", o->it->status)},
		  3);
	return rc;
}

static int seal(struct connect *c, const void *plain, size_t len, const char *aad, char **out,
		struct err *e)
{
	return aead_seal(c->ring, plain, len, aad, strlen(aad), out, e);
}

int connect_authorize_service_account(struct connect *c, const struct store_actor *actor,
				      const char *tenant_id, const char *integration_id,
				      const char *key_json, size_t key_len,
				      const char *admin_email, struct connect_outcome *o)
{
	memset(o, 0, sizeof(*o));
	struct store_credential *cred = calloc(1, sizeof(*cred));
	struct jwt_sa_key *key = NULL;
	struct oauth_tokens *tokens = NULL;
	struct entry *en = NULL;
	struct err e = {0};
	int rc;
	if (!cred)
		return fail(o, CONNECT_STORE, E_NOMEM, NULL);
	rc = jwt_sa_key_parse(key_json, key_len, &key, &e);
	if (rc) {
		free(cred);
		return fail(o, CONNECT_INVALID_KEY, rc, &e);
	}
	snprintf(cred->kind, sizeof(cred->kind), "service_account");
	snprintf(cred->client_email, sizeof(cred->client_email), "%s", key->client_email);
	snprintf(cred->client_id, sizeof(cred->client_id), "%s",
		 key->client_id ? key->client_id : key->client_email);
	snprintf(cred->admin_email, sizeof(cred->admin_email), "%s", admin_email);
	snprintf(cred->scopes, sizeof(cred->scopes), "%s", CONNECT_SCOPES);
	snprintf(o->client_id, sizeof(o->client_id), "%s", cred->client_id);
	rc = oauth_tokens_new_sa(&c->oo, key, admin_email, CONNECT_SCOPES, &tokens, &e);
	if (rc) {
		jwt_sa_key_free(key);
		free(cred);
		return fail(o, CONNECT_INVALID_KEY, rc, &e);
	}
	rc = entry_new(c, integration_id, tokens, &en, &e);
	if (!rc)
		rc = seal(c, key_json, key_len, integration_id, &cred->secret, &e);
	if (rc) {
		entry_free(c, en);
		free(cred);
		return fail(o, CONNECT_STORE, rc, &e);
	}
	snprintf(cred->key_id, sizeof(cred->key_id), "%s", aead_ring_current_kid(c->ring));
	rc = authorize_with(c, actor, tenant_id, integration_id, en, cred, o);
	store_credential_cleanup(cred);
	free(cred);
	if (rc && o->failure != CONNECT_MISSING_PRIVILEGES)
		log_write(LOG_WARN, "connect", "google_authorization_failed", o->e.msg,
			  (struct log_field[]){LOG_STR("integration", integration_id),
					       LOG_STR("kind", "service_account"),
					       LOG_STR("reason", o->e.reason)},
			  3);
	return rc;
}

int connect_oauth_start(struct connect *c, const char *tenant_id, const char *integration_id,
			const char *login_hint, const char *actor_key_id, char **url,
			enum connect_failure *failure, struct err *e)
{
	*url = NULL;
	*failure = CONNECT_OK;
	if (!c->client_id || !c->client_secret || !c->redirect_url || !c->auth_url) {
		*failure = CONNECT_NOT_CONFIGURED;
		return err_set(e, E_CONFLICT,
			       "the consent flow is not configured: set GWSYNC_GOOGLE_OAUTH_CLIENT_ID, "
			       "GWSYNC_GOOGLE_OAUTH_CLIENT_SECRET and GWSYNC_OAUTH_REDIRECT_URL");
	}
	unsigned char raw[32];
	char state[64], hash[65], verifier[JWT_PKCE_VERIFIER_LEN + 1];
	char challenge[JWT_PKCE_CHALLENGE_LEN + 1];
	char *sealed = NULL;
	int rc = E_OK;
	if (crypto_random(raw, sizeof(raw)) ||
	    crypto_base64url_encode(raw, sizeof(raw), state, sizeof(state)) < 0 ||
	    crypto_sha256_hex(state, strlen(state), hash) || jwt_pkce_verifier(verifier) ||
	    jwt_pkce_challenge_s256(verifier, challenge))
		rc = err_set(e, E_INTERNAL, "no random state");
	if (!rc)
		rc = seal(c, verifier, strlen(verifier), hash, &sealed, e);
	if (!rc)
		rc = store_oauth_state_create(c->st, hash, tenant_id, integration_id, actor_key_id,
					      login_hint, sealed, aead_ring_current_kid(c->ring),
					      c->redirect_url, CONNECT_STATE_TTL_S, e);
	if (!rc)
		rc = oauth_consent_url(c->auth_url, c->client_id, c->redirect_url, CONNECT_SCOPES,
				       state, challenge, login_hint, url, e);
	if (rc)
		*failure = CONNECT_STORE;
	free(sealed);
	crypto_wipe(raw, sizeof(raw));
	crypto_wipe(state, sizeof(state));
	crypto_wipe(verifier, sizeof(verifier));
	return rc;
}

/* Google's error parameter, kept only when it is a plain token. */
static void error_param(const char *error, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *s = error; s && *s && n + 1 < cap; s++) {
		char ch = *s;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'))
			break;
		out[n++] = ch;
	}
	out[n] = '\0';
}

int connect_oauth_finish(struct connect *c, const char *state, const char *code,
			 const char *error, struct connect_outcome *o)
{
	memset(o, 0, sizeof(*o));
	struct err e = {0};
	char hash[65];
	if (!state || !*state || strlen(state) > 512) {
		err_set(&o->e, E_NOTFOUND, "the request carries no state");
		snprintf(o->e.reason, sizeof(o->e.reason), "missing");
		return fail(o, CONNECT_STATE, E_NOTFOUND, NULL);
	}
	if (crypto_sha256_hex(state, strlen(state), hash))
		return fail(o, CONNECT_STORE, E_INTERNAL, NULL);
	struct store_oauth_state *s = calloc(1, sizeof(*s));
	if (!s)
		return fail(o, CONNECT_STORE, E_NOMEM, NULL);
	int rc = store_oauth_state_consume(c->st, hash, s, &e);
	if (rc) {
		free(s);
		return fail(o, e.reason[0] ? CONNECT_STATE : CONNECT_STORE, rc, &e);
	}
	snprintf(o->tenant_id, sizeof(o->tenant_id), "%s", s->tenant_id);
	snprintf(o->integration_id, sizeof(o->integration_id), "%s", s->integration_id);
	snprintf(o->client_id, sizeof(o->client_id), "%s", c->client_id ? c->client_id : "");
	log_ctx_set_tenant(s->tenant_id);
	struct store_actor actor = {.key_id = s->actor_key_id[0] ? s->actor_key_id : NULL,
				    .action = "authorize"};
	unsigned char *verifier = NULL;
	size_t vlen = 0;
	struct oauth_grant grant = {0};
	struct store_credential *cred = NULL;
	struct entry *en = NULL;

	if (error && *error) {
		char name[64];
		error_param(error, name, sizeof(name));
		snprintf(e.reason, sizeof(e.reason), "%s", name);
		snprintf(e.msg, sizeof(e.msg), "Google answered %s at consent", name);
		e.code = E_FORBIDDEN;
		fail(o, connect_classify(E_FORBIDDEN, &e), E_FORBIDDEN, &e);
		goto out;
	}
	if (!code || !*code) {
		err_set(&e, E_INVAL, "Google sent neither a code nor an error");
		fail(o, CONNECT_GOOGLE_ERROR, E_INVAL, &e);
		goto out;
	}
	if (!c->client_id || !c->client_secret) {
		err_set(&e, E_CONFLICT, "the consent flow is not configured");
		fail(o, CONNECT_NOT_CONFIGURED, E_CONFLICT, &e);
		goto out;
	}
	rc = open_secret(c, s->secret, hash, &verifier, &vlen, &e);
	if (!rc)
		rc = oauth_code_exchange(&c->oo, c->client_id, c->client_secret, code,
					 s->redirect_uri, (const char *)verifier, &grant, &e);
	if (rc) {
		fail(o, connect_classify(rc, &e), rc, &e);
		goto out;
	}
	if (!grant.refresh_token) {
		err_set(&e, E_UPSTREAM, "Google returned no refresh token");
		fail(o, CONNECT_GOOGLE_ERROR, E_UPSTREAM, &e);
		goto out;
	}
	cred = calloc(1, sizeof(*cred));
	struct oauth_tokens *tokens = NULL;
	rc = cred ? oauth_tokens_new_refresh(&c->oo, c->client_id, c->client_secret,
					     grant.refresh_token, &tokens, &e)
		  : err_set(&e, E_NOMEM, "credential");
	if (!rc)
		rc = entry_new(c, s->integration_id, tokens, &en, &e);
	if (!rc)
		rc = seal(c, grant.refresh_token, strlen(grant.refresh_token), s->integration_id,
			  &cred->secret, &e);
	if (rc) {
		entry_free(c, en);
		fail(o, CONNECT_STORE, rc, &e);
		goto out;
	}
	snprintf(cred->kind, sizeof(cred->kind), "oauth");
	snprintf(cred->client_id, sizeof(cred->client_id), "%s", c->client_id);
	snprintf(cred->admin_email, sizeof(cred->admin_email), "%s", s->admin_email);
	snprintf(cred->scopes, sizeof(cred->scopes), "%s",
		 grant.scope && *grant.scope ? grant.scope : CONNECT_SCOPES);
	snprintf(cred->key_id, sizeof(cred->key_id), "%s", aead_ring_current_kid(c->ring));
	rc = authorize_with(c, actor.key_id ? &actor : NULL, s->tenant_id, s->integration_id, en,
			    cred, o);
out:
	if (o->failure && o->failure != CONNECT_MISSING_PRIVILEGES) {
		struct err ignored;
		store_credential_error(c->st, s->integration_id, o->e.reason[0] ? o->e.reason
										: "error",
				       o->e.msg, &ignored);
		log_write(LOG_WARN, "connect", "google_authorization_failed", o->e.msg,
			  (struct log_field[]){LOG_STR("integration", s->integration_id),
					       LOG_STR("kind", "oauth"),
					       LOG_STR("reason", o->e.reason)},
			  3);
	}
	aead_plain_free(verifier, vlen);
	oauth_grant_cleanup(&grant);
	if (cred)
		store_credential_cleanup(cred);
	free(cred);
	free(s->secret);
	free(s);
	return o->failure ? o->e.code : E_OK;
}

int connect_verify(struct connect *c, const struct store_actor *actor, const char *tenant_id,
		   const char *integration_id, struct connect_outcome *o)
{
	memset(o, 0, sizeof(*o));
	struct err e = {0};
	struct connect_handle *h = NULL;
	int rc = connect_client_acquire(c, tenant_id, integration_id, &h, &e);
	if (rc) {
		if (rc == E_UNAUTH)
			return fail(o, CONNECT_REAUTH_REQUIRED, rc, &e);
		if (rc == E_NOTFOUND && strstr(e.msg, "authorized"))
			return fail(o, CONNECT_NOT_AUTHORIZED, rc, &e);
		return fail(o, CONNECT_STORE, rc, &e);
	}
	struct entry *en = (struct entry *)h;
	struct google_probe probe;
	rc = google_probe_run(en->gc, &probe, &e);
	if (rc) {
		connect_client_release(c, h);
		fail(o, connect_classify(rc, &e), rc, &e);
		if (o->failure == CONNECT_REAUTH_REQUIRED)
			o->failure = CONNECT_INVALID_GRANT;
		struct err ignored;
		store_credential_error(c->st, integration_id, e.reason[0] ? e.reason : "error",
				       e.msg, &ignored);
		return o->e.code;
	}
	connect_handle_used(h);
	outcome_take_probe(o, &probe);
	google_probe_cleanup(&probe);
	connect_client_release(c, h);
	return record_outcome(c, actor, tenant_id, integration_id, NULL, o);
}

/* ---- rotation ---- */

static int reseal_one(void *ctx, const char *aad, const char *text, char **out, char kid_out[40],
		      struct err *e)
{
	struct connect *c = ctx;
	unsigned char *plain = NULL;
	size_t len = 0;
	int rc = aead_open(c->ring, text, aad, strlen(aad), &plain, &len, e);
	if (!rc)
		rc = aead_seal(c->ring, plain, len, aad, strlen(aad), out, e);
	aead_plain_free(plain, len);
	if (!rc)
		snprintf(kid_out, 40, "%s", aead_ring_current_kid(c->ring));
	return rc;
}

int connect_rotate_secrets(struct connect *c, int *resealed, int *failed, struct err *e)
{
	return store_secrets_reseal(c->st, aead_ring_current_kid(c->ring), reseal_one, c, resealed,
				    failed, e);
}
