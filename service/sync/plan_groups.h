/*
 * plan_groups — the group management planner: for each directory group of an integration (bound,
 * with an email, with at least one member), what Google must hold, compared with what it holds,
 * as one group operation plus the membership changes. Pure: no I/O, no clock; the runner gathers
 * the inputs (links, Google's groups, member listings), the applier executes the output
 * (DESIGN.md §4 "Groups"; issue 13; API-NOTES §16).
 *
 * Rules:
 * - In scope: the directory group exists, is bound, has an email. A linked group that leaves the
 *   scope becomes `unmanaged` (never deleted in Google); an unlinked one is left alone. The only
 *   deletion: an out-of-scope link in status `delete_requested` (an explicit API request).
 * - The email is never rewritten: a domain outside the allowed ones is a per-group skip
 *   `domain_not_configured`; a malformed one fails `invalid_email`.
 * - Google's rules before any call: name 1–73 characters without `<>=` (`invalid_name`),
 *   description at most
 *   4,096 characters (`invalid_description`).
 * - Unlinked: the address owned by a Google user (primary or alias) is a `conflict`
 *   (`email_owned_by_user`); a Google group with that address (primary or alias) is adopted
 *   (`link`) unless another group of this integration is linked to it (`conflict`,
 *   `linked_elsewhere`); else the group is created when it has at least one member (else skipped
 *   `no_members`).
 * - Linked: the Google group is found by id; gone → `deleted_in_google` (never re-created
 *   silently). A changed email renames it (groups.update; Google keeps the old address as an
 *   alias) unless the new address belongs to a user or another group (`conflict`). Name and
 *   description follow the directory group.
 * - Membership is a set difference. Wanted: the group's members that are linked Google users of
 *   the integration. A Google entry matches a wanted member by id first, then by the member's
 *   primary address or any alias, ignoring case. Unmatched entries: OWNER and MANAGER, GROUP,
 *   CUSTOMER and unknown types are never touched, nor entries that match a directory member not
 *   yet linked; Google users linked in this integration are removed; other USER and EXTERNAL
 *   entries are removed only in authoritative mode. Wanted members without an entry are added.
 *
 * Ownership: inputs are borrowed. plan_groups_run() fills a struct plan_groups whose entries own
 * their strings and JSON; plan_groups_free() releases them. Thread-safe (no shared state).
 */
#ifndef GWSYNC_SYNC_PLAN_GROUPS_H
#define GWSYNC_SYNC_PLAN_GROUPS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan_users.h"

#define PLAN_GROUP_NAME_MAX 73
#define PLAN_GROUP_DESCRIPTION_MAX 4096

enum plan_group_op {
	PLAN_GROUP_NONE,     /* the group itself is unchanged (members may still change) */
	PLAN_GROUP_LINK,     /* adopt a Google group found by address (and write what differs) */
	PLAN_GROUP_CREATE,   /* groups.insert, then every wanted member */
	PLAN_GROUP_RENAME,   /* groups.update whose changes include the email */
	PLAN_GROUP_UPDATE,   /* groups.update of name / description */
	PLAN_GROUP_UNMANAGE, /* the link becomes unmanaged; Google is not written */
	PLAN_GROUP_SKIP,     /* waits, with a reason (domain_not_configured, no_members, ...) */
	PLAN_GROUP_CONFLICT, /* never written, with a reason */
	PLAN_GROUP_FAIL,     /* breaks a Google rule, with a reason */
	PLAN_GROUP_DELETED_IN_GOOGLE, /* the linked Google group is gone: mark the link */
	PLAN_GROUP_DELETE, /* groups.delete of an unmanaged group, asked for through the API */
	PLAN_GROUP_OP_N
};

/* "none", "link_group", "create_group", "rename_group", ... (the stored plan's op names). */
const char *plan_group_op_name(enum plan_group_op op);

enum plan_gm_type { PLAN_GM_OTHER, PLAN_GM_USER, PLAN_GM_GROUP, PLAN_GM_CUSTOMER, PLAN_GM_EXTERNAL };
enum plan_gm_role { PLAN_GM_MEMBER, PLAN_GM_MANAGER, PLAN_GM_OWNER };

/* One entry of Google's member listing ("" for an absent field). */
struct plan_gm {
	const char *id, *email;
	enum plan_gm_type type;
	enum plan_gm_role role;
};

/*
 * One directory member of a group. google_id "" when the user has no usable link in this
 * integration (not yet provisioned, conflict, ...): such a member is neither added nor removed.
 * addresses: the linked Google user's primary address and aliases (may be empty; then the link's
 * primary_email is used), for matching entries listed under an alias.
 */
struct plan_dmember {
	const char *user_id;
	const char *email;	   /* the directory email */
	const char *google_id;	   /* "" when not linked */
	const char *primary_email; /* the link's primaryEmail ("" when not linked) */
	const char *const *addresses;
	size_t n_addresses;
};

struct plan_groups_settings {
	const char *const *domains; /* allowed (verified) domains, lower-case */
	size_t n_domains;
	bool authoritative; /* settings.group_membership = authoritative */
	/* Every Google user id linked in this integration (any order; not owned). */
	const char *const *linked_user_ids;
	size_t n_linked_user_ids;
};

/*
 * One directory group (or a link whose group left the scope). Strings never NULL ("" for null).
 * g: the linked Google group (looked up by link google_id) when found; g_missing: it was looked
 * up and is gone. by_addr: the Google group whose email or alias is the desired email (NULL when
 * none); by_addr_linked_elsewhere: that group is linked to another directory group.
 * addr_is_user: a Google user holds the desired email (primary or alias). gm: the members of the
 * Google group that will be reconciled (g, else by_addr), gm_read says whether they were listed.
 */
struct plan_group {
	const char *group_id;
	bool exists, bound;
	int64_t version;
	const char *email, *name, *description;
	const struct plan_dmember *members;
	size_t n_members;
	/* link */
	const char *google_id, *link_status, *link_email;
	/* Google */
	struct json_object *g;
	bool g_missing;
	struct json_object *by_addr;
	bool by_addr_linked_elsewhere;
	bool addr_is_user;
	const struct plan_gm *gm;
	size_t n_gm;
	bool gm_read;
};

/* A membership change: add (email + the user's Google id) or remove (key = id, else email). */
struct plan_member_change {
	char *user_id; /* the directory user ("" for an entry gwsync does not know) */
	char *key;     /* members.insert email / members.delete memberKey */
	char *google_id; /* the Google user's id ("" when unknown) */
};

struct plan_group_entry {
	enum plan_group_op op;
	size_t group; /* index into the input */
	char *reason, *message;
	char *google_id; /* the Google group written or adopted (NULL for a create) */
	char *email;	 /* the desired email */
	struct plan_change *changes;
	size_t n_changes;
	struct json_object *body; /* groups.insert / groups.update body (NULL: no group write) */
	struct plan_member_change *adds, *removes;
	size_t n_adds, n_removes;
	int wanted;	 /* wanted members (linked directory members) */
	int actual;	 /* Google's entries before the run */
	int not_managed; /* Google's entries gwsync keeps without managing */
};

struct plan_groups {
	struct plan_group_entry *entries; /* one per input group, in input order */
	size_t n;
	int counts[PLAN_GROUP_OP_N];
	int n_adds, n_removes;
};

/* Plans every group of groups[0..n). Returns 0, or -1 when out of memory (*p then empty). */
int plan_groups_run(const struct plan_groups_settings *s, const struct plan_group *groups, size_t n,
		    struct plan_groups *p);

void plan_groups_free(struct plan_groups *p);

/* Whether the group is in scope (exists, bound, with an email). Pure. */
bool plan_group_in_scope(const struct plan_group *g);

/* Whether planning the group needs what Google holds: in scope, and neither Google's rules nor
 * the allowed domains decide it first (then nothing is read for it). Pure. */
bool plan_group_needs_google(const struct plan_groups_settings *s, const struct plan_group *g);

/* The group-level change list of e as a JSON array text ([{field, before, after}]); malloc'd. */
char *plan_group_changes_json(const struct plan_group_entry *e);

#endif
