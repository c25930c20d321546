/*
 * The directory replica: the platform's users, groups and group members as far as gwsync needs
 * them. Part of the store (see store.h for threading and error mapping); every function filters by
 * the caller's tenant. Mutations take an actor and are audited (by trigger) in the same
 * transaction; the audit rows never carry a password hash.
 *
 * Ids are the platform's (checked by the caller). Every user and group row has a version that
 * grows by one on each change that alters it (a write that changes nothing keeps it); it is the
 * ETag. Conditional writes take if_version: -1 unconditional, 0 "the row must exist" (If-Match: *),
 * else the version the row must still have (E_PRECONDITION when it does not).
 */
#ifndef GWSYNC_DB_STORE_DIRECTORY_H
#define GWSYNC_DB_STORE_DIRECTORY_H

#include "store.h"

#define STORE_DIR_ID_MAX 128	  /* characters of a user or group id (ASCII) */
/*
 * Characters the replica holds (service/core/validate.h checks them on every path in): what the
 * platform may hold, not Google's limits, which the sync planner reports per object.
 */
#define STORE_PERSON_NAME_MAX 255 /* characters of a first or last name */
#define STORE_USER_ATTR_MAX 255	  /* characters of each optional text attribute */
#define STORE_GROUP_NAME_MAX 255  /* characters of a group name */
#define STORE_GROUP_DESC_MAX 4096 /* characters of a group description */

/*
 * A user as stored. Text columns are cut to their buffer when a row written elsewhere is longer;
 * "" means null for the optional ones. addresses_json and phones_json are malloc'd JSON array
 * texts (never NULL after a successful read), freed by store_user_cleanup().
 */
struct store_user {
	char id[STORE_DIR_ID_MAX + 1];
	char email[STORE_EMAIL_MAX + 1];
	char first_name[STORE_PERSON_NAME_MAX * 4 + 1]; /* UTF-8 */
	char last_name[STORE_PERSON_NAME_MAX * 4 + 1];
	char state[16]; /* staged | active | suspended */
	char alternate_email[STORE_EMAIL_MAX + 1];
	char manager_id[STORE_DIR_ID_MAX + 1];
	char cost_center[STORE_USER_ATTR_MAX * 4 + 1];
	char department[STORE_USER_ATTR_MAX * 4 + 1];
	char employee_type[STORE_USER_ATTR_MAX * 4 + 1];
	char job_title[STORE_USER_ATTR_MAX * 4 + 1];
	char employee_id[STORE_USER_ATTR_MAX * 4 + 1];
	char company[STORE_USER_ATTR_MAX * 4 + 1];
	char location[STORE_USER_ATTR_MAX * 4 + 1];
	char *addresses_json;
	char *phones_json;
	bool password_set;		      /* a hash is stored (the hash itself is never read) */
	char password_hash_function[8];	      /* crypt | SHA-1 | MD5; "" when none */
	char password_set_at[STORE_TIME_LEN]; /* "" when never */
	int64_t version;
	char created_at[STORE_TIME_LEN];
	char updated_at[STORE_TIME_LEN];
};

/*
 * What a write sets: every field of the user but its password. Pointers are borrowed for the
 * call. email, first_name, last_name and state are required; a NULL optional text stores null;
 * addresses_json and phones_json are JSON array texts (NULL stores []).
 */
struct store_user_input {
	const char *email;
	const char *first_name;
	const char *last_name;
	const char *state;
	const char *alternate_email;
	const char *manager_id;
	const char *cost_center;
	const char *department;
	const char *employee_type;
	const char *job_title;
	const char *employee_id;
	const char *company;
	const char *location;
	const char *addresses_json;
	const char *phones_json;
};

/* Frees what a struct store_user owns (not the struct); u may be NULL. */
void store_user_cleanup(struct store_user *u);

/* Frees an array from store_user_list(). */
void store_users_free(struct store_user *users, size_t n);

/*
 * Creates the user or replaces every field but the password (*created tells which). With
 * if_version ≥ 0 only an existing user is replaced (never created): E_PRECONDITION when there is
 * none or its version differs. E_CONFLICT when another user of the tenant has the email (ignoring
 * case); E_INVAL with e->reason "/manager_id" when manager_id names no user of the tenant.
 * *out is filled on success (clean it up with store_user_cleanup()).
 */
int store_user_put(struct store *st, const struct store_actor *actor, const char *tenant_id,
		   const char *id, const struct store_user_input *in, int64_t if_version,
		   struct store_user *out, bool *created, struct err *e);

/*
 * Replaces every field but the password of an existing user whose version is still version
 * (≥ 1). E_NOTFOUND when there is no such user, E_PRECONDITION when its version differs; other
 * errors as store_user_put().
 */
int store_user_update(struct store *st, const struct store_actor *actor, const char *tenant_id,
		      const char *id, const struct store_user_input *in, int64_t version,
		      struct store_user *out, struct err *e);

/* Reads one user; E_NOTFOUND when the tenant has none with that id. */
int store_user_get(struct store *st, const char *tenant_id, const char *id, struct store_user *out,
		   struct err *e);

/*
 * A page of users ordered by id after after_id (NULL: first page), optionally only those whose
 * email equals email ignoring case and those in state (NULL: any). free with store_users_free().
 */
int store_user_list(struct store *st, const char *tenant_id, const char *email, const char *state,
		    const char *after_id, int limit, struct store_user **out, size_t *n,
		    struct err *e);

/*
 * Deletes a user, with its group memberships and bindings. Users it managed lose their manager
 * (and get a new version). E_NOTFOUND, or E_PRECONDITION when if_version ≥ 1 differs.
 */
int store_user_delete(struct store *st, const struct store_actor *actor, const char *tenant_id,
		      const char *id, int64_t if_version, struct err *e);

/*
 * Stores a password hash (never clear text: the caller hashed or checked it) with its Google
 * hashFunction ("crypt", "SHA-1", "MD5") and the time it was set. E_NOTFOUND, or E_PRECONDITION
 * when if_version ≥ 1 differs. *out is the user afterwards.
 */
int store_user_set_password(struct store *st, const struct store_actor *actor,
			    const char *tenant_id, const char *id, const char *hash,
			    const char *hash_function, int64_t if_version, struct store_user *out,
			    struct err *e);

/* A group as stored; description is malloc'd ("" when none), freed by store_group_cleanup(). */
struct store_group {
	char id[STORE_DIR_ID_MAX + 1];
	char name[STORE_GROUP_NAME_MAX * 4 + 1]; /* UTF-8 */
	char *description;
	char email[STORE_EMAIL_MAX + 1]; /* "" when the group has none */
	int64_t version;
	char created_at[STORE_TIME_LEN];
	char updated_at[STORE_TIME_LEN];
};

/* Borrowed for the call: name required; description and email NULL when none. */
struct store_group_input {
	const char *name;
	const char *description;
	const char *email;
};

void store_group_cleanup(struct store_group *g);
void store_groups_free(struct store_group *groups, size_t n);

/*
 * Creates or replaces a group (*created tells which); if_version as store_user_put(). E_CONFLICT
 * when another group of the tenant has the email (ignoring case).
 */
int store_group_put(struct store *st, const struct store_actor *actor, const char *tenant_id,
		    const char *id, const struct store_group_input *in, int64_t if_version,
		    struct store_group *out, bool *created, struct err *e);

int store_group_get(struct store *st, const char *tenant_id, const char *id,
		    struct store_group *out, struct err *e);

/* A page of groups ordered by id after after_id (NULL: first page); store_groups_free(). */
int store_group_list(struct store *st, const char *tenant_id, const char *after_id, int limit,
		     struct store_group **out, size_t *n, struct err *e);

/* Deletes a group with its memberships and bindings; E_NOTFOUND, E_PRECONDITION. */
int store_group_delete(struct store *st, const struct store_actor *actor, const char *tenant_id,
		       const char *id, int64_t if_version, struct err *e);

/* A membership, with the member's email for convenience. */
struct store_member {
	char group_id[STORE_DIR_ID_MAX + 1];
	char user_id[STORE_DIR_ID_MAX + 1];
	char email[STORE_EMAIL_MAX + 1];
	char created_at[STORE_TIME_LEN];
};

/*
 * Makes the user a member of the group (*created: it was not one before). E_NOTFOUND when the
 * group or the user does not exist (the message says which).
 */
int store_member_put(struct store *st, const struct store_actor *actor, const char *tenant_id,
		     const char *group_id, const char *user_id, struct store_member *out,
		     bool *created, struct err *e);

/*
 * Ends a membership. Memberships never change, so their version is always 1: if_version > 1
 * gives E_PRECONDITION when the membership exists. E_NOTFOUND when it does not.
 */
int store_member_delete(struct store *st, const struct store_actor *actor, const char *tenant_id,
			const char *group_id, const char *user_id, int64_t if_version,
			struct err *e);

/*
 * A page of the group's members ordered by user id after after_user_id (NULL: first page);
 * free(*out). E_NOTFOUND when the group does not exist.
 */
int store_member_list(struct store *st, const char *tenant_id, const char *group_id,
		      const char *after_user_id, int limit, struct store_member **out, size_t *n,
		      struct err *e);

#endif
