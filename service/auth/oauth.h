/*
 * oauth — access tokens from Google's token endpoint (API-NOTES §9): the service-account JWT
 * grant, the authorization-code exchange, the refresh-token grant, and a per-integration token
 * source that caches the access token until shortly before it expires.
 *
 * Secrets: keys, client secrets, refresh and access tokens live in heap buffers wiped before they
 * are freed (crypto_wipe). None of them ever enters struct err or a log line; token errors carry
 * Google's `error` in e->reason and `error_description` in e->msg.
 *
 * Errors (oauth_error_classify): unauthorized_client, admin_policy_enforced, access_denied →
 * E_FORBIDDEN; invalid_grant, invalid_client → E_UNAUTH (re-authorization needed); invalid_request,
 * invalid_scope, unsupported_grant_type → E_INVAL; 429 → E_RATELIMIT; 5xx, internal_failure →
 * E_UNAVAIL (retried once here); transport failures as httpc reports them (E_TIMEOUT, E_UNAVAIL).
 *
 * Threads: the one-shot grant functions are thread-safe (each uses its own HTTP client). A struct
 * oauth_tokens may be shared by any number of threads: oauth_tokens_get() serialises refreshes.
 */
#ifndef GWSYNC_AUTH_OAUTH_H
#define GWSYNC_AUTH_OAUTH_H

#include <stddef.h>

#include "err.h"
#include "httpc.h"
#include "jwt.h"

#define OAUTH_TOKEN_MAX 4096 /* longest access or refresh token accepted */
#define OAUTH_DEFAULT_TOKEN_URL "https://oauth2.googleapis.com/token"
#define OAUTH_DEFAULT_REFRESH_MARGIN_S 60

/* Wall-clock seconds since the epoch (tests pass a fake one). */
typedef long long (*oauth_clock_fn)(void *ctx);

struct oauth_options {
	const char *token_url;	   /* NULL → OAUTH_DEFAULT_TOKEN_URL; also the JWT's aud */
	struct httpc_options http; /* timeouts, allow_http (emulator) */
	int refresh_margin_s;	   /* 0 → OAUTH_DEFAULT_REFRESH_MARGIN_S */
	oauth_clock_fn clock;	   /* NULL → time() */
	void *clock_ctx;
};

/* A token endpoint answer. Every string is owned (NULL when absent); cleanup wipes them. */
struct oauth_grant {
	char *access_token;
	char *refresh_token; /* only from the code exchange (and rarely a refresh) */
	char *scope;
	long long expires_in; /* seconds */
};

/* Wipes and frees what g owns; zeroes g. NULL is a no-op. */
void oauth_grant_cleanup(struct oauth_grant *g);

/*
 * Classifies a token-endpoint (or OAuth-form API) error answer: status and the JSON body
 * {"error","error_description"} (a non-JSON body falls back to the status). Fills e (reason =
 * Google's error, msg = its description, both cut to fit) and returns the code. A 2xx returns
 * E_OK.
 */
int oauth_error_classify(long status, const char *body, size_t len, struct err *e);

/* The service-account grant: POSTs grant_type=jwt-bearer with the assertion. */
int oauth_jwt_grant(const struct oauth_options *o, const char *assertion, struct oauth_grant *out,
		    struct err *e);

/* The authorization-code exchange (code flow with PKCE; code_verifier may be NULL). */
int oauth_code_exchange(const struct oauth_options *o, const char *client_id,
			const char *client_secret, const char *code, const char *redirect_uri,
			const char *code_verifier, struct oauth_grant *out, struct err *e);

/* The refresh-token grant. A missing refresh_token in the answer means: keep the old one. */
int oauth_refresh_grant(const struct oauth_options *o, const char *client_id,
			const char *client_secret, const char *refresh_token,
			struct oauth_grant *out, struct err *e);

/*
 * The consent URL of the code flow (API-NOTES §9.3): auth_url?client_id&redirect_uri&
 * response_type=code&scope&access_type=offline&prompt=consent&include_granted_scopes=true&state&
 * code_challenge&code_challenge_method=S256[&login_hint]. login_hint may be NULL. *out is owned
 * by the caller (free()). Errors: E_INVAL, E_NOMEM.
 */
int oauth_consent_url(const char *auth_url, const char *client_id, const char *redirect_uri,
		      const char *scopes, const char *state, const char *code_challenge,
		      const char *login_hint, char **out, struct err *e);

struct oauth_tokens;

/*
 * A cached token source for one integration using the service-account grant: impersonates
 * subject (the admin; may be NULL) with scopes (space-separated). Takes ownership of key on
 * success only. *out owned by the caller (oauth_tokens_free). Errors: E_INVAL, E_NOMEM.
 */
int oauth_tokens_new_sa(const struct oauth_options *o, struct jwt_sa_key *key, const char *subject,
			const char *scopes, struct oauth_tokens **out, struct err *e);

/* A cached token source using the refresh-token grant; the strings are copied (and the copies
 * wiped on free). Errors: E_INVAL, E_NOMEM. */
int oauth_tokens_new_refresh(const struct oauth_options *o, const char *client_id,
			     const char *client_secret, const char *refresh_token,
			     struct oauth_tokens **out, struct err *e);

/* Wipes every secret and frees t. NULL is a no-op. */
void oauth_tokens_free(struct oauth_tokens *t);

/*
 * Writes a valid access token (NUL-terminated) into out (cap bytes), from the cache unless it is
 * within the refresh margin of expiry or force_refresh is set (the API answered 401). With
 * force_refresh, out must hold the token that was refused (or ""): when another thread already
 * replaced it, the newer token is returned without another fetch. ctx is a struct oauth_tokens *,
 * so this is a google_token_fn. The caller wipes out after use. Errors as oauth_error_classify,
 * or E_INVAL when cap is too small; out is "" then.
 */
int oauth_tokens_get(void *ctx, int force_refresh, char *out, size_t cap, struct err *e);

/* How many times t went to the token endpoint (for tests and metrics). */
unsigned long oauth_tokens_fetches(struct oauth_tokens *t);

#endif
