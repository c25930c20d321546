/*
 * What group management reads and writes: the groups of an integration's scope with their links
 * and their members' user links, the integration's linked Google user ids, and group links
 * (the Google group behind a directory group, per integration). Part of the store (see store.h for
 * threading and error mapping); every function filters by tenant and integration.
 *
 * A group link is keyed by (integration, group_id) and names the Google group by its immutable
 * id. Status: pending, creating (a groups.insert is about to be sent: the next run looks the
 * address up before creating again), synced, failed, conflict, skipped, deleted_in_google,
 * unmanaged (the group left the scope: never written again, the Google group kept). Origin:
 * linked (adopted) or provisioned (created by gwsync). It also keeps the member counts of the
 * last run (wanted, actual, not managed).
 */
#ifndef GWSYNC_DB_STORE_GROUPS_SYNC_H
#define GWSYNC_DB_STORE_GROUPS_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * One group of the scope, borrowed for the callback only. Strings never NULL ("" for null).
 * members_json: a JSON array text of {user_id, email, google_id, primary_email, link_status}
 * (null for a member without a link of this integration), ordered by user id.
 */
struct store_group_row {
	const char *group_id;
	bool exists; /* the directory group still exists */
	bool bound;  /* bound to the integration */
	int64_t version;
	const char *email, *name, *description;
	const char *google_id, *link_status, *link_email, *link_origin;
	const char *members_json;
};

typedef int (*store_group_row_fn)(void *ctx, const struct store_group_row *row, struct err *e);

/*
 * Calls fn for every group bound to the integration and every group with a link of it (so a
 * group that left the scope is seen once more), ordered by group id; with group_ids (n_ids > 0)
 * only those, each of them (one neither bound nor linked, or not in the directory, comes with
 * bound / exists false). A non-zero return of fn stops and is returned. E_NOTFOUND: no integration.
 */
int store_groups_scope(struct store *st, const char *tenant_id, const char *integration_id,
		       const char *const *group_ids, size_t n_ids, store_group_row_fn fn, void *ctx,
		       struct err *e);

/*
 * The Google ids of every usable user link of the integration (status synced or suspended), as a
 * malloc'd array of malloc'd strings in *ids (*n of them); free with store_strings_free().
 */
int store_linked_user_ids(struct store *st, const char *tenant_id, const char *integration_id,
			  char ***ids, size_t *n, struct err *e);

void store_strings_free(char **v, size_t n);

/*
 * The groups an earlier run of job job_id created but did not finish (their job item carries
 * error_reason STORE_GROUP_MEMBERS_PENDING), as a malloc'd array of malloc'd strings in *ids (*n);
 * free with store_strings_free().
 */
#define STORE_GROUP_MEMBERS_PENDING "members_pending"
int store_group_items_pending(struct store *st, const char *job_id, char ***ids, size_t *n,
			      struct err *e);

/* How many Google groups the integration's links name (every link with a Google id that gwsync
 * did not delete): a lower bound of the groups Google holds. */
int store_group_links_known(struct store *st, const char *tenant_id, const char *integration_id,
			    long *n, struct err *e);

/*
 * A group link write. NULL keeps a column (google_id, email, origin; "" clears), member counts
 * < 0 keep theirs; error_reason/message always replaced (NULL clears); synced sets last_synced_at.
 * event_type (NULL: none) adds a gws.group.* CloudEvent (subject: the group id) with data
 * event_data_json to the outbox in the same transaction.
 */
struct store_group_link_write {
	const char *group_id; /* required */
	const char *google_id;
	const char *email;
	const char *status; /* required */
	const char *origin;
	int wanted, actual, not_managed;
	const char *error_reason, *error_message;
	bool synced;
	const char *event_type;
	const char *event_data_json;
};

/*
 * Creates or updates group links in one transaction while owner holds the running job job_id
 * (E_NOTFOUND otherwise; nothing written). E_CONFLICT when the google_id is linked to another
 * managed group of the integration (nothing written). The integration row is locked (FOR KEY
 * SHARE): once it is deactivated each link is written as the deactivation leaves one
 * (unmanaged, reason integration_deactivated; deleted stays deleted), keeping its Google id,
 * and, committed, E_CONFLICT reason STORE_REASON_NOT_ACTIVE is returned whenever it is not
 * active (the run stops).
 */
int store_group_links_write(struct store *st, const char *tenant_id, const char *integration_id,
			    const char *job_id, const char *owner,
			    const struct store_group_link_write *w, size_t n, struct err *e);


/* ---- status (API) ---- */

/* A group of the integration as the API shows it: binding and link ("" / -1 when none). */
struct store_group_status {
	char group_id[129];
	char name[1024];
	char email[256];
	bool bound;
	char bound_at[STORE_TIME_LEN];
	char status[24]; /* link status; "" without a link */
	char google_id[64];
	char link_email[256];
	char origin[16];
	int wanted, actual, not_managed;
	char last_error_reason[64];
	char last_error_message[512];
	char last_synced_at[STORE_TIME_LEN];
};

/*
 * Groups of the integration after after_id (NULL: from the start), at most limit, ordered by
 * group id: the bound ones, and with include_unlinked also those with a link that are no longer
 * bound (unmanaged, or about to be). With group_id only that group (bound or linked; *n 0 when it
 * is neither). *out malloc'd (free it). E_NOTFOUND for no such integration.
 */
int store_group_status_list(struct store *st, const char *tenant_id, const char *integration_id,
			    const char *group_id, bool include_unlinked, const char *after_id,
			    int limit, struct store_group_status **out, size_t *n, struct err *e);

/*
 * Asks for the deletion of an unmanaged group's Google group (POST .../delete-in-google): the link
 * moves to delete_requested (audited with actor) and sync_groups is queued for the group, in one
 * transaction. E_NOTFOUND: no such integration, or no link with a Google group; E_CONFLICT: the
 * link is still managed (unbind the group or remove its email first), or the integration is not
 * active or does not manage groups.
 */
int store_group_delete_request(struct store *st, const struct store_actor *actor,
			       const char *tenant_id, const char *integration_id,
			       const char *group_id, struct err *e);

#endif
