/*
 * Integrations (connected Google Workspace accounts), their domains, attribute rules and the
 * bindings of directory users and groups to them. Part of the store (see store.h for threading
 * and error mapping); every function filters by the caller's tenant. Mutations take an actor and
 * are audited in the same transaction.
 */
#ifndef GWSYNC_DB_STORE_INTEGRATIONS_H
#define GWSYNC_DB_STORE_INTEGRATIONS_H

#include "store.h"

#define STORE_DOMAIN_MAX 253
#define STORE_FILTER_MAX 2048

struct store_integration {
	char id[STORE_ID_LEN + 1];
	char name[STORE_NAME_MAX * 4 + 1];
	char status[32];
	bool group_management;
	char default_domain[STORE_DOMAIN_MAX + 1]; /* "" when none */
	char import_filter[STORE_FILTER_MAX * 4 + 1]; /* "" when none */
	char lockout_action[16];
	char password_expiry_action[16];
	int deletion_guard_max_count;
	int deletion_guard_max_percent;
	char deleted_in_google_action[16];
	bool provision_without_password;
	bool import_enabled;
	int import_interval_minutes;
	char import_mode[16];
	char google_customer_id[64];
	char google_primary_domain[STORE_DOMAIN_MAX + 1];
	int64_t version;
	char created_at[STORE_TIME_LEN];
	char updated_at[STORE_TIME_LEN];
	char deactivated_at[STORE_TIME_LEN];
	char group_membership[16]; /* additive | authoritative */
	char identity_source[16];  /* directory | google: who owns email, names, suspension */
	/* Scheduled import (read-only, kept by the scheduler): "" when none */
	char import_last_run_at[STORE_TIME_LEN]; /* the last scheduled import_users queued */
	char import_next_run_at[STORE_TIME_LEN]; /* when the next one is due (schedule on, active) */
	int import_guard_max_count; /* an import creating more waits for approval; 0: off */
};

/*
 * Creates an integration named it->name with it's settings (default_domain must be empty) and the
 * default attribute rules (default_rules: NULL-terminated attribute names, exported). Fills *it
 * with what was stored. E_CONFLICT when the tenant has an integration of that name (ignoring case).
 */
int store_integration_create(struct store *st, const struct store_actor *actor,
			     const char *tenant_id, const char *const *default_rules,
			     struct store_integration *it, struct err *e);

int store_integration_get(struct store *st, const char *tenant_id, const char *id,
			  struct store_integration *out, struct err *e);

/* Page of integrations ordered by id after after_id (NULL: first page); free(*out). */
int store_integration_list(struct store *st, const char *tenant_id, const char *after_id,
			   int limit, struct store_integration **out, size_t *n, struct err *e);

/*
 * Writes name and settings of *it if the stored version is still it->version (else
 * E_PRECONDITION). default_domain must be one of the integration's domains (else E_INVAL).
 * E_CONFLICT on a duplicate name. *it is refreshed on success, import_next_run_at included
 * (computed with import_minute_ms, GWSYNC_IMPORT_MINUTE_MS, as the scheduler does).
 */
int store_integration_update(struct store *st, const struct store_actor *actor,
			     const char *tenant_id, struct store_integration *it,
			     int import_minute_ms, struct err *e);

/*
 * Deletes when the status is pending_authorization or deactivated (else E_CONFLICT). if_version
 * -1 means unconditional, else E_PRECONDITION when it differs.
 */
int store_integration_delete(struct store *st, const struct store_actor *actor,
			     const char *tenant_id, const char *id, int64_t if_version,
			     struct err *e);

/*
 * Deactivate: status deactivated and every user and group binding of the integration removed
 * (Google untouched) and every user link released (kept with its Google id, never written until
 * matched again). Reactivate: from deactivated back to pending_authorization; E_CONFLICT from
 * any other status. *out gets the result; *unbound (deactivate only, may be NULL) counts bindings
 * removed.
 */
int store_integration_deactivate(struct store *st, const struct store_actor *actor,
				 const char *tenant_id, const char *id, int64_t if_version,
				 struct store_integration *out, int *unbound, struct err *e);
int store_integration_reactivate(struct store *st, const struct store_actor *actor,
				 const char *tenant_id, const char *id, int64_t if_version,
				 struct store_integration *out, struct err *e);

/* ---- domains ---- */

struct store_domain {
	char domain[STORE_DOMAIN_MAX + 1];
	int verified; /* -1 unknown (not yet checked in Google), 0 no, 1 yes */
	bool is_default;
	char created_at[STORE_TIME_LEN];
};

/* All domains of an integration (at most a few hundred), by name; free(*out). */
int store_domain_list(struct store *st, const char *tenant_id, const char *integration_id,
		      struct store_domain **out, size_t *n, struct err *e);
/* E_CONFLICT when present already. */
int store_domain_add(struct store *st, const struct store_actor *actor, const char *tenant_id,
		     const char *integration_id, const char *domain, struct store_domain *out,
		     struct err *e);
/* E_CONFLICT while it is the default domain; E_NOTFOUND when absent. */
int store_domain_remove(struct store *st, const struct store_actor *actor, const char *tenant_id,
			const char *integration_id, const char *domain, struct err *e);

/* ---- attribute rules ---- */

struct store_attribute_rule {
	char attribute[40];
	char direction[8]; /* "import" | "export" */
};

int store_attribute_rules_get(struct store *st, const char *tenant_id, const char *integration_id,
			      struct store_attribute_rule **out, size_t *n, int64_t *version,
			      struct err *e);
/* Replaces the whole set (bumps the integration's version); if_version as for delete. */
int store_attribute_rules_replace(struct store *st, const struct store_actor *actor,
				  const char *tenant_id, const char *integration_id,
				  const struct store_attribute_rule *rules, size_t n,
				  int64_t if_version, int64_t *version, struct err *e);

/* ---- bindings ---- */

/*
 * Binds a directory user (group) to an integration. *created is true when new. E_NOTFOUND when
 * the integration or the user (group) does not exist in the tenant; E_CONFLICT when the
 * integration is deactivated.
 */
int store_binding_put(struct store *st, const struct store_actor *actor, const char *tenant_id,
		      const char *integration_id, bool is_group, const char *member_id,
		      bool *created, char created_at[STORE_TIME_LEN], struct err *e);
/* E_NOTFOUND when there is no such direct binding. */
int store_binding_delete(struct store *st, const struct store_actor *actor, const char *tenant_id,
			 const char *integration_id, bool is_group, const char *member_id,
			 struct err *e);

struct store_bound_group {
	char group_id[129];
	char name[STORE_NAME_MAX * 4 + 1];
	char email[256];
	char created_at[STORE_TIME_LEN];
};
int store_bound_groups_list(struct store *st, const char *tenant_id, const char *integration_id,
			    const char *after_id, int limit, struct store_bound_group **out,
			    size_t *n, struct err *e);

/* A user bound directly and/or through bound groups, with the link to its Google user. */
struct store_bound_user {
	char user_id[129];
	char email[256];
	char first_name[256];
	char last_name[256];
	char state[16];
	bool direct;
	char groups[2048]; /* comma-separated ids of the bound groups that contain the user */
	char status[24];   /* link status; "pending" without a link */
	char google_id[64];
	char primary_email[256];
	char last_error_reason[64];
	char last_error_message[512];
	char last_synced_at[STORE_TIME_LEN];
	char origin[16]; /* linked | provisioned | imported; "" when unknown or no link */
};

/* Page of bound users ordered by user id; status filters on link status (NULL: all). */
int store_bound_users_list(struct store *st, const char *tenant_id, const char *integration_id,
			   const char *status, const char *after_id, int limit,
			   struct store_bound_user **out, size_t *n, struct err *e);

/*
 * One user of the integration, bound or not, with its link: E_NOTFOUND when the integration does
 * not exist or the user is neither bound nor linked (a link of any status, released included).
 * A user deleted from the directory but still linked has state "deleted", the link's address as
 * email and empty names.
 */
int store_bound_user_get(struct store *st, const char *tenant_id, const char *integration_id,
			 const char *user_id, struct store_bound_user *out, struct err *e);

#endif
