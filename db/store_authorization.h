/*
 * Authorization of integrations against Google: the stored credential of each integration, the
 * outcome of an authorization (customer, domains' verified flags, status), the single-use states
 * of the consent flow, last-use bookkeeping and the re-sealing of stored secrets.
 *
 * Part of the store (see store.h for threading and error mapping). Secrets reach this module
 * sealed (aead text) and leave it sealed: the database never holds a plaintext key or token, and
 * the audit trigger strips the `secret` column. Functions that take an actor are audited.
 */
#ifndef GWSYNC_DB_STORE_AUTHORIZATION_H
#define GWSYNC_DB_STORE_AUTHORIZATION_H

#include "store.h"
#include "store_integrations.h"

#define STORE_SCOPES_MAX 1024

struct store_credential {
	char integration_id[STORE_ID_LEN + 1];
	char kind[24]; /* "service_account" | "oauth" */
	char client_email[STORE_EMAIL_MAX + 1];
	char client_id[256];
	char admin_email[STORE_EMAIL_MAX + 1];
	char scopes[STORE_SCOPES_MAX + 1];
	char *secret; /* sealed text, malloc'd; store_credential_cleanup() frees it */
	char key_id[40];
	char authorized_at[STORE_TIME_LEN];
	char last_used_at[STORE_TIME_LEN]; /* "" when never */
	char last_error_reason[64];	   /* "" when none */
	char last_error_message[512];
	char last_error_at[STORE_TIME_LEN];
};

/* Frees c->secret; leaves the rest. NULL is a no-op. */
void store_credential_cleanup(struct store_credential *c);

/* The credential of an integration of the tenant. E_NOTFOUND when it has none. */
int store_credential_get(struct store *st, const char *tenant_id, const char *integration_id,
			 struct store_credential *out, struct err *e);

/* What an authorization (or a verification) found in Google. */
struct store_authorization {
	const struct store_credential *cred; /* NULL: keep the stored one (verify) */
	const char *customer_id;
	const char *primary_domain;
	const char *const *verified_domains; /* NULL-terminated, lower case */
	const char *const *unverified_domains;
	bool complete;		    /* every privilege present → status active */
	const char *missing_reason; /* when !complete: the last error to record */
	const char *missing_message;
};

/*
 * Records an authorization in one audited transaction: refuses a deactivated integration
 * (E_CONFLICT) and a customer id that another (not deactivated) integration of the tenant holds
 * (E_CONFLICT with e->reason "customer_in_use", other_id and other_name naming it; either may be
 * NULL); stores the credential (replacing any), the customer id and primary domain, sets the
 * verified flag of each of the integration's domains (true when Google lists it verified, false
 * otherwise), and the status: active when a->complete, else unchanged (pending_authorization or
 * reauthorization_required) with a->missing_* as the credential's last error. *out gets the
 * integration afterwards.
 */
int store_authorization_record(struct store *st, const struct store_actor *actor,
			       const char *tenant_id, const char *integration_id,
			       const struct store_authorization *a, struct store_integration *out,
			       char other_id[STORE_ID_LEN + 1], char *other_name, size_t name_cap,
			       struct err *e);

/*
 * Sets the verified flag of each of the integration's domains from Google's list (NULL-terminated,
 * lower case): true when listed, false otherwise; only changed flags are written. actor may be
 * NULL (a sync run). Used by the domain check and the sync runs' refresh; stamps the check's time.
 */
int store_domains_verified_set(struct store *st, const struct store_actor *actor,
			       const char *tenant_id, const char *integration_id,
			       const char *const *verified_domains, struct err *e);

/*
 * *due true when the integration's domains were never checked with Google (store_domains_verified_set,
 * an authorization) or not within the last max_age_ms (0: always due). Measured on the database's
 * clock, so replicas agree. On an error *due is true as well.
 */
int store_domains_check_due(struct store *st, const char *tenant_id, const char *integration_id,
			    int max_age_ms, bool *due, struct err *e);

/* Sets the credential's last error (not audited; reason/message from Google, never a secret). */
int store_credential_error(struct store *st, const char *integration_id, const char *reason,
			   const char *message, struct err *e);

/*
 * Marks the credential used now, unless it was marked within the last minute (one write a
 * minute at most, whatever the number of calls). *written (may be NULL) says whether it wrote.
 */
int store_credential_touch(struct store *st, const char *integration_id, bool *written,
			   struct err *e);

/*
 * Google refused the grant for good (invalid_grant, admin deleted): an active or pending
 * integration with a credential moves to reauthorization_required and the credential records
 * why. *changed (may be NULL) says whether the status changed. Not audited (no API actor).
 */
int store_integration_mark_reauth(struct store *st, const char *integration_id,
				  const char *reason, const char *message, bool *changed,
				  struct err *e);

/*
 * The periodic check: every active integration whose credential was last used (or, never used,
 * authorized) more than days ago moves to reauthorization_required (reason "unused"). *n (may be
 * NULL) gets how many moved.
 */
int store_integrations_mark_stale(struct store *st, int days, int *n, struct err *e);

/* ---- consent-flow states ---- */

/*
 * Stores a state (its SHA-256 hex) bound to tenant and integration, with the sealed PKCE verifier
 * and the redirect URI, valid for ttl_s seconds. Expired states older than a day are deleted on
 * the way. E_NOTFOUND when the integration is not the tenant's; E_CONFLICT when deactivated.
 */
int store_oauth_state_create(struct store *st, const char *state_hash, const char *tenant_id,
			     const char *integration_id, const char *actor_key_id,
			     const char *admin_email,
			     const char *sealed_verifier, const char *key_id,
			     const char *redirect_uri, int ttl_s, struct err *e);

struct store_oauth_state {
	char tenant_id[STORE_ID_LEN + 1];
	char integration_id[STORE_ID_LEN + 1];
	char admin_email[STORE_EMAIL_MAX + 1];
	char actor_key_id[STORE_ID_LEN + 1]; /* "" when none */
	char redirect_uri[1024];
	char *secret; /* sealed verifier, malloc'd; free() */
};

/*
 * Consumes a state: marks it used and returns what it was bound to. A state never issued is
 * E_NOTFOUND (reason "unknown"), one used before E_CONFLICT (reason "used"), one past its expiry
 * E_PRECONDITION (reason "expired"); nothing is changed then.
 */
int store_oauth_state_consume(struct store *st, const char *state_hash,
			      struct store_oauth_state *out, struct err *e);

/* ---- key rotation ---- */

/*
 * Re-seals one secret: given its aad (the integration id or the state hash) and sealed text,
 * returns E_OK and a new sealed text in *out (malloc'd) with its kid in kid_out, or an error
 * (the text cannot be opened).
 */
typedef int (*store_reseal_fn)(void *ctx, const char *aad, const char *text, char **out,
			       char kid_out[40], struct err *e);

/*
 * Re-seals every stored secret whose key_id is not current_kid, each row in its own short
 * transaction. *resealed and *failed count rows (a failed row is left as it was).
 */
int store_secrets_reseal(struct store *st, const char *current_kid, store_reseal_fn fn, void *ctx,
			 int *resealed, int *failed, struct err *e);

#endif
