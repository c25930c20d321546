/*
 * connect — connecting an integration to a Google Workspace account and keeping it connected.
 *
 * Owns: the two ways to authorize (service account with domain-wide delegation; the admin's
 * consent through the authorization-code flow with state and PKCE), the probe that runs after a
 * token (customer id and primary domain, the domains and their verified flags, the privileges
 * gwsync needs), sealing the credential (AES-256-GCM under GWSYNC_SECRET_KEY, aad = the
 * integration id) and the process-wide registry of Google clients, one per integration, each
 * with its cached token source and token bucket.
 *
 * Staying authorized: a token refresh that Google refuses for good (invalid_grant: revoked,
 * expired, admin deleted) moves the integration to reauthorization_required and its client stops
 * making calls; a later authorization replaces the client. Successful calls mark the credential
 * used at most once a minute per integration.
 *
 * Secrets: keys, refresh tokens, verifiers and access tokens live in wiped heap buffers and
 * never enter struct err, a log line or the database in plain text.
 *
 * Threads: every function may be called from any thread at once, except _new/_free. A handle
 * from connect_client_acquire() may be used by several threads; release it once.
 */
#ifndef GWSYNC_CONNECT_H
#define GWSYNC_CONNECT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"
#include "google_client.h"
#include "store.h"
#include "store_integrations.h"

#define CONNECT_SCOPES                                                                            \
	"https://www.googleapis.com/auth/admin.directory.user "                                   \
	"https://www.googleapis.com/auth/admin.directory.group "                                  \
	"https://www.googleapis.com/auth/admin.directory.group.member "                           \
	"https://www.googleapis.com/auth/admin.directory.domain.readonly "                        \
	"https://www.googleapis.com/auth/admin.directory.customer.readonly "                      \
	"https://www.googleapis.com/auth/apps.groups.settings"

#define CONNECT_STATE_TTL_S 600 /* a consent URL is good for 10 minutes, once */

/* The privileges gwsync needs, as bits. */
enum connect_priv {
	CONNECT_PRIV_USERS = 1,	  /* "User Management Admin" */
	CONNECT_PRIV_GROUPS = 2,  /* "Groups Admin" */
	CONNECT_PRIV_DOMAINS = 4, /* "Domain Management" */
};
#define CONNECT_PRIV_N 3

/* The name an admin knows privilege bit i (0..CONNECT_PRIV_N-1) by. */
const char *connect_priv_name(int i);

/* Why an authorization did not (fully) succeed; the API turns each into its own problem. */
enum connect_failure {
	CONNECT_OK = 0,
	CONNECT_MISSING_PRIVILEGES,  /* recorded; status unchanged; see missing */
	CONNECT_CUSTOMER_IN_USE,     /* another integration of the tenant has this customer */
	CONNECT_ADMIN_POLICY,	     /* admin_policy_enforced */
	CONNECT_ACCESS_DENIED,	     /* the admin refused consent */
	CONNECT_UNAUTHORIZED_CLIENT, /* delegation not set up / scopes not allowed */
	CONNECT_INVALID_GRANT,	     /* unknown admin, revoked or expired grant, bad code */
	CONNECT_EDITION,	     /* domainCannotUseApis */
	CONNECT_API_DISABLED,	     /* accessNotConfigured / SERVICE_DISABLED */
	CONNECT_UNREACHABLE,	     /* no answer from Google (or 5xx after retries) */
	CONNECT_INVALID_KEY,	     /* the service-account key is not one Google issues */
	CONNECT_STATE,		     /* consent state unknown, used or expired (e.reason) */
	CONNECT_NOT_CONFIGURED,	     /* consent flow without client id / redirect URL */
	CONNECT_REAUTH_REQUIRED,     /* the integration must be authorized again */
	CONNECT_NOT_AUTHORIZED,	     /* verify: no credential stored yet */
	CONNECT_GOOGLE_ERROR,	     /* any other answer from Google */
	CONNECT_STORE,		     /* the database (e.code says how) */
};

/*
 * The failure a Google error (rc, e from google_call or a token fetch) amounts to: Google's
 * reason first (admin policy, invalid grant, edition, API disabled, reauthorization), then
 * E_UNAVAIL / E_TIMEOUT (a request deadline that passed included) → CONNECT_UNREACHABLE, else
 * CONNECT_GOOGLE_ERROR. The API answers each with its problem (api_reply_google_error).
 */
enum connect_failure connect_classify(int rc, const struct err *e);

/* What an authorization or a verification came to. Caller storage; connect_outcome_cleanup(). */
struct connect_outcome {
	enum connect_failure failure;
	struct err e;	  /* detail; e.reason is Google's error or reason when it spoke */
	unsigned missing; /* CONNECT_PRIV_* bits */
	char customer_id[64];
	char primary_domain[256];
	char **domains; /* Google's domains (owned), n_domains, with domain_verified[i] */
	bool *domain_verified;
	size_t n_domains;
	char other_id[STORE_ID_LEN + 1]; /* CONNECT_CUSTOMER_IN_USE */
	char other_name[256];
	char client_id[256]; /* the client an admin must allow (unauthorized_client advice) */
	char tenant_id[STORE_ID_LEN + 1];	/* connect_oauth_finish: from the state */
	char integration_id[STORE_ID_LEN + 1];
	bool recorded;		     /* the result was stored; it holds the integration after */
	struct store_integration *it; /* owned; NULL unless recorded */
};

void connect_outcome_cleanup(struct connect_outcome *o);

struct connect;

/*
 * Builds the context from the configuration: the keyring (E_INVAL when GWSYNC_SECRET_KEY or the
 * previous keys are malformed; the detail never shows a key), Google URLs, timeouts, retry policy
 * and quota. st is borrowed. *out owned by the caller (connect_free).
 */
int connect_new(const struct config *cfg, struct store *st, struct connect **out, struct err *e);

/* Frees every client of the registry. NULL is a no-op. No thread may still use c. */
void connect_free(struct connect *c);

/*
 * Service account: key_json (key_len bytes, a Google JSON key; the caller wipes its copy) and the
 * admin to impersonate. Gets a token, probes, seals and records (actor audited). Returns E_OK when
 * the integration is active; otherwise o->failure says why (and the return is o->e.code).
 */
int connect_authorize_service_account(struct connect *c, const struct store_actor *actor,
				      const char *tenant_id, const char *integration_id,
				      const char *key_json, size_t key_len,
				      const char *admin_email, struct connect_outcome *o);

/*
 * Consent flow, first half: a single-use state bound to tenant and integration (10 minutes),
 * a PKCE verifier (sealed in the database), and the consent URL in *url (malloc'd; the caller
 * frees it). login_hint may be NULL; actor_key_id (the API key asking) audits the callback. Errors: E_CONFLICT with failure CONNECT_NOT_CONFIGURED
 * via *failure when the client id or redirect URL is not configured; store errors.
 */
int connect_oauth_start(struct connect *c, const char *tenant_id, const char *integration_id,
			const char *login_hint, const char *actor_key_id, char **url,
			enum connect_failure *failure, struct err *e);

/*
 * Consent flow, second half (the callback): consumes state (CONNECT_STATE when unknown, used or
 * expired), then either turns error (Google's error parameter, may be NULL) into the failure, or
 * exchanges code, probes, seals the refresh token and records. o->tenant_id/integration_id name
 * the integration once the state was found.
 */
int connect_oauth_finish(struct connect *c, const char *state, const char *code,
			 const char *error, struct connect_outcome *o);

/* Re-runs the probe with the stored credential and records what it finds (actor audited). */
int connect_verify(struct connect *c, const struct store_actor *actor, const char *tenant_id,
		   const char *integration_id, struct connect_outcome *o);

/* ---- the registry ---- */

struct connect_handle;

/*
 * A Google client for the integration, from the registry or built from the stored credential.
 * Errors: E_NOTFOUND (no credential), E_UNAUTH with e->reason "reauthorization_required" when the
 * integration needs authorizing again (no call is made then), E_CONFLICT when deactivated,
 * E_INVAL when the stored secret cannot be opened with the configured keys.
 */
int connect_client_acquire(struct connect *c, const char *tenant_id, const char *integration_id,
			   struct connect_handle **out, struct err *e);

/* The client of a handle (borrowed while the handle is held). */
struct google_client *connect_handle_client(struct connect_handle *h);

/* google_call() through the handle; a success marks the credential used (coalesced). */
int connect_call(struct connect_handle *h, const char *method, const char *path_and_query,
		 const char *json_body, int *status, char **body_out, size_t *body_len,
		 struct err *e);

/* Marks the credential used after a success made with the client directly (coalesced). */
void connect_handle_used(struct connect_handle *h);

void connect_client_release(struct connect *c, struct connect_handle *h);

/* ---- the account's domains ---- */

/*
 * The domains Google lists as verified for the integration's account (domains.list through the
 * registry's client): *out a NULL-terminated list of lower-case names, owned by the caller
 * (connect_domains_free). Errors as connect_client_acquire() and google_call().
 */
int connect_domains_verified(struct connect *c, const char *tenant_id, const char *integration_id,
			     char ***out, struct err *e);
void connect_domains_free(char **list);

/*
 * Reads them and stores every domain's verified flag of the integration (changed ones only;
 * actor may be NULL: a sync run).
 */
int connect_domains_refresh(struct connect *c, const struct store_actor *actor,
			    const char *tenant_id, const char *integration_id, struct err *e);

/* The sum of the metrics of every Google client this process made (live and retired). */
void connect_metrics(struct connect *c, struct google_metrics *out);

/*
 * Key rotation (gwsync keys rotate-secret): re-seals every stored secret not under the current
 * kid. *resealed and *failed count them (failed: no configured key opens it).
 */
int connect_rotate_secrets(struct connect *c, int *resealed, int *failed, struct err *e);

#endif
