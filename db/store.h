/*
 * store — gwsync's durable state in PostgreSQL; the only code that speaks SQL.
 *
 * struct store is a pool of connections shared by all threads of a process. Every function is
 * thread-safe, borrows a connection for its own duration and returns it. PostgreSQL failures are
 * mapped here: unreachable / connection lost → E_UNAVAIL, unique violation → E_CONFLICT, no row →
 * E_NOTFOUND, a pool that stays busy → E_UNAVAIL. Every E_UNAVAIL of the store carries reason
 * STORE_REASON_UNAVAILABLE, so a caller can tell the database being away (worth another try later)
 * from a peer's outage. Every tenant-owned query filters by tenant_id.
 * Result structs are plain values in caller storage; lists are malloc'd arrays the caller frees.
 */
#ifndef GWSYNC_DB_STORE_H
#define GWSYNC_DB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "err.h"

struct store;

/* err.reason of every E_UNAVAIL the store returns: the database is unreachable or went away. */
#define STORE_REASON_UNAVAILABLE "database_unavailable"

/* err.reason of a sync write refused or cut short because the integration is no longer active. */
#define STORE_REASON_NOT_ACTIVE "integration_not_active"

struct store_options {
	const char *url; /* libpq connection URI; copied */
	int pool_size;
	int connect_timeout_s;
	int acquire_timeout_ms;
	int statement_timeout_ms;
	const char *application_name; /* e.g. "gwsync-api" */
};

/* Creates the pool; connections are opened lazily, so this succeeds with the database down. */
int store_open(const struct store_options *opt, struct store **out, struct err *e);

/* Closes every connection; st may be NULL. No other thread may still use st. */
void store_close(struct store *st);

struct store_pool_stats {
	int size;	     /* configured maximum */
	int open;	     /* connections currently open */
	int in_use;	     /* connections lent out */
	uint64_t waits;	     /* acquisitions that had to wait */
	uint64_t timeouts;   /* acquisitions that gave up */
	uint64_t conn_errors; /* failed connection attempts */
};
void store_pool_stats_get(struct store *st, struct store_pool_stats *out);

/* One round trip: E_OK when PostgreSQL answers. */
int store_ping(struct store *st, struct err *e);

/*
 * Who makes a change through the API. Every mutation that takes an actor records an audit event
 * (by trigger, in the same transaction) naming the key and request; action overrides the verb
 * derived from the SQL operation ("deactivate" instead of "update"). NULL actor: not audited.
 */
struct store_actor {
	const char *key_id;
	const char *request_id;
	const char *action;
};

/* ---- migrations (store_migrate.c) ---- */

/* Highest migration version compiled into this binary. */
int store_migrations_latest_known(void);

/*
 * Applies every compiled-in migration not yet recorded, in order, each in its own transaction,
 * under an advisory lock so concurrent migrators queue. A recorded migration whose checksum
 * differs from the compiled one is E_CONFLICT. *applied gets the number applied (0 when current).
 */
int store_migrate(struct store *st, int *applied, struct err *e);

/* Highest version recorded in the database (0 when none). */
int store_migrations_latest_applied(struct store *st, int *version, struct err *e);

/* ---- tenants (store_tenants.c) ---- */

#define STORE_ID_LEN 36
#define STORE_NAME_MAX 255
#define STORE_TIME_LEN 32
#define STORE_EMAIL_MAX 254 /* characters of an email address (ASCII) */

struct store_tenant {
	char id[STORE_ID_LEN + 1];
	char name[STORE_NAME_MAX * 4 + 1]; /* UTF-8 */
	char created_at[STORE_TIME_LEN];   /* RFC 3339, UTC, milliseconds */
};

/* E_CONFLICT when a tenant of that name (ignoring case) exists. actor may be NULL (CLI). */
int store_tenant_create(struct store *st, const struct store_actor *actor, const char *name,
			struct store_tenant *out, struct err *e);
int store_tenant_get(struct store *st, const char *id, struct store_tenant *out, struct err *e);
int store_tenant_get_by_name(struct store *st, const char *name, struct store_tenant *out,
			     struct err *e);

/*
 * Lists up to limit tenants ordered by id, after after_id (NULL: from the start). *out is a
 * malloc'd array of *n entries (NULL when none), freed by the caller with free().
 */
int store_tenant_list(struct store *st, const char *after_id, int limit,
		      struct store_tenant **out, size_t *n, struct err *e);

/* ---- API keys (store_api_keys.c) ---- */

struct store_api_key {
	char id[STORE_ID_LEN + 1];
	char tenant_id[STORE_ID_LEN + 1];
	enum access_role role;
	char prefix[16];
	char created_at[STORE_TIME_LEN];
	char last_used_at[STORE_TIME_LEN]; /* empty when never used */
};

/* Stores a new key by its hash (64 hex digits) and display prefix. */
int store_api_key_create(struct store *st, const struct store_actor *actor,
			 const char *tenant_id, enum access_role role,
			 const char *key_hash, const char *prefix, struct store_api_key *out,
			 struct err *e);

/*
 * Finds the unrevoked key with that hash; E_NOTFOUND when none. Marks it used (at most one write
 * a minute per key).
 */
int store_api_key_authenticate(struct store *st, const char *key_hash, struct store_api_key *out,
			       struct err *e);

/* Keys of one tenant, newest first, after after_id (NULL: from the start); free(*out). */
int store_api_key_list(struct store *st, const char *tenant_id, const char *after_id, int limit,
		       struct store_api_key **out, size_t *n, struct err *e);

/* Revokes a key of that tenant; E_NOTFOUND when the tenant has no such unrevoked key. */
int store_api_key_revoke(struct store *st, const struct store_actor *actor,
			 const char *tenant_id, const char *key_id, struct err *e);

/* ---- audit (store_audit.c) ---- */

struct store_audit_event {
	int64_t id;
	char actor_key_id[STORE_ID_LEN + 1];
	char request_id[136];
	char resource_type[40];
	char resource_id[300];
	char action[40];
	char *before_json; /* malloc'd JSON text or NULL; freed by store_audit_events_free() */
	char *after_json;
	char created_at[STORE_TIME_LEN];
};

/* A tenant's audit events, newest first, with id < before_id (0: from the newest). */
int store_audit_list(struct store *st, const char *tenant_id, int64_t before_id, int limit,
		     struct store_audit_event **out, size_t *n, struct err *e);
void store_audit_events_free(struct store_audit_event *events, size_t n);

/* ---- idempotency (store_idempotency.c) ---- */

enum store_idem_state {
	STORE_IDEM_NEW,	       /* first use: the caller runs the request, then finishes or forgets */
	STORE_IDEM_REPLAY,     /* same key and request seen: answer with the stored response */
	STORE_IDEM_MISMATCH,   /* same key, other request */
	STORE_IDEM_IN_PROGRESS, /* same key still running elsewhere */
};

struct store_idem {
	enum store_idem_state state;
	int status;
	char *body; /* REPLAY: malloc'd, caller frees */
	char location[512];
};

/*
 * Claims (tenant, key) for a request with this hash. Keys live 24 hours; a claim left unfinished
 * for a minute (its process died) is taken over.
 */
int store_idempotency_begin(struct store *st, const char *tenant_id, const char *key,
			    const char *request_hash, struct store_idem *out, struct err *e);
/* Stores the answer of a claimed key. */
int store_idempotency_finish(struct store *st, const char *tenant_id, const char *key,
			     int status, const char *body, const char *location, struct err *e);
/* Releases a claim whose request failed, so the same key may be tried again. */
int store_idempotency_forget(struct store *st, const char *tenant_id, const char *key,
			     struct err *e);

#endif
