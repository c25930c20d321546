/*
 * google_groups — the Directory API groups and members calls of group management (API-NOTES
 * §6, §16): one complete listing of the customer's groups, the members of one group (paged, each
 * entry's type and role read from the entry), and the paths of groups.insert / groups.update and
 * members.insert / members.delete for single calls and batch parts.
 *
 * Groups are listed by `customer=my_customer` only (never `domain`: it hides secondary domains).
 * Member entries are not all users: `type` USER, GROUP, CUSTOMER (an id, no email, no status) or
 * EXTERNAL; `status` may be absent on any entry; `email` is the address the member was added
 * with (maybe an alias of the user), `id` the user's immutable id; `role` OWNER, MANAGER or
 * MEMBER is read from each entry (the `roles=` filter is not trusted).
 *
 * Threads and ownership as google_client.h; group resources are json-c objects borrowed for the
 * callback (take a reference with json_object_get() to keep one); member entries are plain
 * structs whose strings are borrowed for the callback.
 */
#ifndef GWSYNC_GOOGLE_GROUPS_H
#define GWSYNC_GOOGLE_GROUPS_H

#include <stddef.h>

#include "err.h"
#include "google_client.h"

struct json_object;

/* What the group planner reads of a group. */
#define GOOGLE_GROUP_FIELDS "id,email,name,description,aliases,nonEditableAliases,etag"

#define GOOGLE_GROUPS_PAGE 200	/* groups.list maxResults upper bound */
#define GOOGLE_MEMBERS_PAGE 200 /* members.list maxResults upper bound */

/* "/admin/directory/v1/groups" (groups.insert). */
#define GOOGLE_GROUPS_PATH "/admin/directory/v1/groups"

enum google_member_type {
	GOOGLE_MEMBER_OTHER, /* a type this client does not know: never touched */
	GOOGLE_MEMBER_USER,
	GOOGLE_MEMBER_GROUP,
	GOOGLE_MEMBER_CUSTOMER,
	GOOGLE_MEMBER_EXTERNAL,
};

enum google_member_role {
	GOOGLE_ROLE_MEMBER,
	GOOGLE_ROLE_MANAGER,
	GOOGLE_ROLE_OWNER,
};

/* One entry of members.list. Strings are "" when Google left the field out, never NULL. */
struct google_member {
	const char *id;
	const char *email;
	const char *status; /* "" when absent */
	enum google_member_type type;
	enum google_member_role role;
};

typedef int (*google_group_fn)(void *ctx, struct json_object *group, struct err *e);
typedef int (*google_member_fn)(void *ctx, const struct google_member *m, struct err *e);

/*
 * Lists every group of the customer and calls fn once per group. A non-zero return of fn stops
 * and is returned. Errors: google_call's, E_UPSTREAM for a looping page token.
 */
int google_groups_list_all(struct google_client *gc, google_group_fn fn, void *ctx, struct err *e);

/*
 * Lists every member of the group group_key (an id or an address) and calls fn once per entry
 * (entries without an id and an email are skipped). A non-zero return of fn stops and is
 * returned. Errors: google_call's (E_NOTFOUND for an unknown group), E_UPSTREAM for a looping
 * page token.
 */
int google_members_list_all(struct google_client *gc, const char *group_key, google_member_fn fn,
			    void *ctx, struct err *e);

/* The member type / role of Google's string (case-sensitive as Google sends it; NULL → OTHER /
 * MEMBER). Pure. */
enum google_member_type google_member_type_parse(const char *s);
enum google_member_role google_member_role_parse(const char *s);

/*
 * "/admin/directory/v1/groups/<group_key>" (groups.get / groups.update) with the key
 * percent-encoded, then suffix (NULL: none) into out. Returns 0, or -1 when it does not fit.
 */
int google_group_path(const char *group_key, const char *suffix, char *out, size_t cap);

/*
 * "/admin/directory/v1/groups/<group_key>/members" (members.insert; member_key NULL) or
 * ".../members/<member_key>" (members.delete), keys percent-encoded, into out. Returns 0, or -1
 * when it does not fit.
 */
int google_member_path(const char *group_key, const char *member_key, char *out, size_t cap);

#endif
