/*
 * plan_users — the user export planner: what gwsync wants Google to hold for each directory user
 * in an integration's scope, compared with what Google holds (or, in a targeted run, with what
 * gwsync last wrote), as one operation per user. Pure: no I/O, no clock, no randomness; the
 * runner gathers the inputs, the applier executes the output (DESIGN.md §2, §4; issue "User export
 * engine").
 *
 * Rules (DESIGN.md §4, Appendix A; API-NOTES §8, §16):
 * - primaryEmail: the email when its domain is allowed, else local-part@default_domain, else skip
 *   `domain_not_configured` (`domain_not_verified` when the domain is configured on the
 *   integration but Google has not verified it); lower-cased as Google stores it.
 * - Google's rules before any call: names 1–60 characters without < > =; the local part 1–64 of
 *   a-z 0-9 - _ ' . without a leading, trailing or double period, not abuse/postmaster.
 * - Matching (unlinked users) tries the original then the rewritten address; the runner resolves
 *   each to a Google user (primary or alias). Two directory users on one Google user, two wanting
 *   one primaryEmail, the two addresses on different Google users, or a Google user linked to
 *   another directory user: `conflict`, never written. The last is decided first (a takeover of
 *   such a Google user is `linked_to_another_user` whatever address it shares), so a targeted run
 *   and a full reconcile name it alike. An address held by a Google group
 *   (the runner's groups.get of each create's or rename's address, plan_entry_group_holds()):
 *   `conflict`, reason `address_in_use`.
 * - Only exported attributes (plus email and names) are compared; typed arrays are rebuilt whole:
 *   entries of the types gwsync manages replaced, Google's other entries sent back unchanged.
 * - suspended: true for a deleted, unbound, suspended user (and locked / password-expired ones
 *   when the integration's action is suspend); false for an active bound one; untouched for
 *   staged ones. Super admins and the authorizing admin never get suspended or a new password;
 *   under a delegated (non-super) admin, admins get no write at all (`protected_admin`).
 * - identity_google (integration setting identity_source: google): Google owns the identity of
 *   linked users. Their primaryEmail, names and `suspended` are never written (no rename, no
 *   suspension, not even of unbound or deleted users); a difference found there is left alone
 *   and listed in the entry's `kept` with reason `identity_source_google`. A takeover (link) is
 *   a linked user from then on: the same. Creates still send primaryEmail and names (a new
 *   Google user needs them). Google's rules on names and usernames are checked only for creates.
 *
 * Ownership: inputs are borrowed. plan_users_run() fills a struct plan whose ops own their
 * strings and JSON; plan_free() releases them. Thread-safe (no shared state).
 */
#ifndef GWSYNC_SYNC_PLAN_USERS_H
#define GWSYNC_SYNC_PLAN_USERS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum plan_op {
	PLAN_NONE,	/* nothing to write: unchanged */
	PLAN_LINK,	/* take over a matched Google user (and write what differs) */
	PLAN_CREATE,	/* provision a new Google user */
	PLAN_RENAME,	/* update whose changes include primaryEmail */
	PLAN_SUSPEND,	/* update that sets suspended: true */
	PLAN_UNSUSPEND, /* update that sets suspended: false */
	PLAN_UPDATE,	/* update of attributes */
	PLAN_SET_PASSWORD, /* update of the password alone */
	PLAN_SKIP,	/* waits, with a reason (staged, awaiting_password, ...) */
	PLAN_CONFLICT,	/* never written, with a reason */
	PLAN_FAIL,	/* breaks a Google rule or cannot be done, with a reason */
	PLAN_DELETED_IN_GOOGLE, /* the linked Google user is gone: mark the link */
	PLAN_OP_N
};

/* "none", "link", "create", "rename", ... */
const char *plan_op_name(enum plan_op op);

/* What the runner learnt from Google about one user (by id or by address). */
enum plan_gstate {
	PLAN_G_UNKNOWN,	  /* not read */
	PLAN_G_FOUND,	  /* g is the resource */
	PLAN_G_NOT_FOUND, /* 404 */
	PLAN_G_DELETED,	  /* 412 "User is deleted." */
};

struct plan_settings {
	const char *const *domains; /* allowed (verified) domains, lower-case */
	size_t n_domains;
	const char *const *unverified; /* configured but not verified in Google: skip reason
					  domain_not_verified instead of domain_not_configured */
	size_t n_unverified;
	const char *default_domain; /* NULL or "" when none */
	unsigned export_mask;	    /* PLAN_ATTR_* bits set to export */
	bool provision_without_password;
	bool lockout_suspend;	     /* lockout_action = suspend */
	bool password_expiry_suspend; /* password_expiry_action = suspend */
	bool recreate_deleted;	     /* deleted_in_google_action = recreate */
	bool integration_active;     /* unbinding suspends only while active */
	const char *admin_email;     /* the authorizing admin (protected), lower-case or NULL */
	bool delegated_admin;	     /* authorized as a non-super admin: admins get no write */
	bool full;		     /* full reconcile: compare with Google; else with link hashes */
	bool identity_google;	     /* identity_source google: see the rules above */
};

/* Attributes a rule can export (DESIGN Appendix A). */
enum plan_attr {
	PLAN_ATTR_PASSWORD = 1u << 0,
	PLAN_ATTR_STATE = 1u << 1,
	PLAN_ATTR_MANAGER = 1u << 2,
	PLAN_ATTR_ALTERNATE_EMAIL = 1u << 3,
	PLAN_ATTR_COST_CENTER = 1u << 4,
	PLAN_ATTR_DEPARTMENT = 1u << 5,
	PLAN_ATTR_EMPLOYEE_TYPE = 1u << 6,
	PLAN_ATTR_JOB_TITLE = 1u << 7,
	PLAN_ATTR_EMPLOYEE_ID = 1u << 8,
	PLAN_ATTR_HOME_ADDRESSES = 1u << 9,
	PLAN_ATTR_WORK_ADDRESSES = 1u << 10,
	PLAN_ATTR_OTHER_ADDRESSES = 1u << 11,
	PLAN_ATTR_HOME_PHONES = 1u << 12,
	PLAN_ATTR_MOBILE_PHONES = 1u << 13,
	PLAN_ATTR_OTHER_PHONES = 1u << 14,
	PLAN_ATTR_WORK_PHONES = 1u << 15,
	PLAN_ATTR_WORK_FAX_PHONES = 1u << 16,
	PLAN_ATTR_WORK_MOBILE_PHONES = 1u << 17,
};

/*
 * The Google fields besides the always-read ones that the planner compares under export_mask,
 * as a fields= suffix (",organizations,phones", or "" when none). Static text.
 */
const char *plan_google_fields(unsigned export_mask, char *buf, size_t cap);

/* The bit of a rule name ("job_title" → PLAN_ATTR_JOB_TITLE), 0 when it is not exportable. */
unsigned plan_attr_bit(const char *rule_name);

/*
 * One user of the scope. Directory strings are never NULL ("" for null); addresses_json and
 * phones_json are the replica's JSON array texts. password_digest identifies the stored hash
 * (the runner's digest of function and hash; "" when none); the hash itself never enters the
 * planner. field_hashes is the link's {field: digest} object (NULL: none).
 */
struct plan_user {
	const char *user_id;
	bool exists, in_scope;
	int64_t version;
	const char *email, *first_name, *last_name, *state;
	const char *alternate_email, *cost_center, *department, *employee_type, *job_title,
		*employee_id;
	const char *addresses_json, *phones_json;
	const char *manager_email; /* the manager's linked primaryEmail; NULL: none or not linked */
	bool has_manager;	   /* the directory names a manager (linked or not) */
	const char *password_digest;
	bool locked, password_expired;
	/* link ("" when none) */
	const char *google_id, *link_status, *link_primary_email, *link_password_digest;
	struct json_object *field_hashes;
	/* Google */
	enum plan_gstate g_state;	/* of the linked id */
	struct json_object *g;		/* the linked user's resource when FOUND */
	enum plan_gstate m_state[2];	/* lookups of the original [0] and rewritten [1] address */
	struct json_object *m[2];	/* their resources when FOUND */
	bool g_linked_elsewhere;	/* the matched Google id is linked to another user */
	bool primary_taken;		/* the desired primaryEmail belongs to another Google user or
					   group (known in a full reconcile) */
	/*
	 * A context entry: another user of the scope that a targeted run does not plan, given so
	 * the cross-user checks see what a full plan would (its Google matches among what the
	 * run read). It is planned like any user for the checks only, then dropped by
	 * plan_users_finish(): a context entry is never in the plan, never stored, never applied,
	 * and never settled; it only turns the planned users it meets into a `conflict`.
	 */
	bool context;
};

struct plan_change {
	char *field;  /* Google field name: "name.givenName", "phones", "password", ... */
	char *before; /* JSON text, NULL when unknown (targeted run) */
	char *after;  /* JSON text; NULL for the password (only "changed") */
};

struct plan_entry {
	enum plan_op op;
	size_t user; /* index into the input */
	char *reason;	     /* NULL or a reason code */
	char *message;	     /* NULL or a human text naming the rule */
	char *google_id;     /* the Google user written or linked (NULL for a create) */
	char *primary_email; /* the desired primaryEmail (NULL when none) */
	struct plan_change *changes;
	size_t n_changes;
	struct json_object *body; /* users.insert / users.update body without the password */
	bool send_password;	  /* the applier adds password + hashFunction from the replica */
	bool random_password;	  /* create without a hash: random password, change at next login */
	bool clear_change_at_login; /* a real password follows a random one */
	bool guarded;		  /* counts against the deletion guard (suspension) */
	bool protected_check;	  /* needs a fresh read of the user before writing (done by runner) */
	struct json_object *hashes; /* {field: digest} of what the link records after success */
	struct plan_change *kept;   /* differences left alone (identity_google), not written */
	size_t n_kept;
};

struct plan {
	struct plan_entry *entries; /* one per input user but context ones, in execution order */
	size_t n;
	int counts[PLAN_OP_N];
};

/*
 * Whether a targeted run must read the user's Google resource before planning: unlinked users
 * (address lookups), users whose managed typed arrays changed since the last write (the rebuild
 * needs Google's other entries), users who would get a suspension or password write
 * (protected-admin check from a fresh read), and under a delegated admin every user with a write
 * (admins get none). Scalars (primaryEmail, names, unsuspension) need no read. Under
 * identity_source google the identity fields are never written, but a suspension the directory
 * asks for is read when no digest tells Google's value, so the plan reports it left alone. Pure.
 */
bool plan_user_needs_read(const struct plan_settings *s, const struct plan_user *u);

/*
 * Whether the run releases u's link (status released, its error cleared, no Google call): a user
 * no longer in the scope (unbound, or gone from the directory) whose link holds no Google user but
 * still reports on a provisioning that is no longer wanted (conflict, failed, skipped, pending).
 * A user linked to a Google user is suspended instead; one who returns is matched afresh. Pure.
 */
bool plan_link_release_due(const struct plan_user *u);

/* The desired primaryEmail of u into out (cap ≥ 256), or false with *reason set. Pure. */
bool plan_primary_email(const struct plan_settings *s, const char *email, char *out, size_t cap,
			const char **reason);

/*
 * The one matching rule of both directions: the addresses by which a directory user's email
 * matches a Google user (its primaryEmail or an alias, ignoring case): the email itself and, when
 * it differs, the email rewritten per plan_primary_email(), both lower-case, into keys. Returns
 * how many (0-2). The export's runner looks them up in Google; the import looks Google's
 * addresses up among them (plan_import.c). Pure.
 */
int plan_match_keys(const struct plan_settings *s, const char *email, char keys[2][320]);

/*
 * Plans every user of users[0..n). Returns 0, or -1 when out of memory (*p then empty).
 * Entries come in execution order: renames, updates, links, creates, suspensions, then the rest.
 * Same as plan_users_chunk() then plan_users_finish() without settled entries.
 */
int plan_users_run(const struct plan_settings *s, const struct plan_user *users, size_t n,
		   struct plan *p);

/*
 * Planning a large scope in chunks, with the cross-user checks still exact:
 * plan_users_chunk() plans each user on its own (entries[i] is users[i], nothing sorted, no
 * cross-user check). An entry plan_entry_settled() calls final can never be changed by the
 * cross-user checks (unchanged with no difference left alone, and wanting no address or linked
 * under it): the caller may act on it and drop it, keeping only its keys (plan_settled_add()).
 * The other entries, with their
 * users gathered into one array, go to plan_users_finish(): the checks (duplicate primaryEmail,
 * several users on one Google user, a Google user linked to someone else) against each other
 * and against the settled keys, then execution order and counts (of these entries only).
 * plan_users_finish() drops context entries (struct plan_user) once the checks are done.
 */
struct plan_keyset { /* strings in one arena; sorted by plan_keyset_seal() */
	char *arena;
	size_t len, cap;
	size_t *off;
	size_t n, cap_off;
	bool sorted;
};

struct plan_settled {
	struct plan_keyset primary; /* primaryEmail of settled entries (lower-case) */
	struct plan_keyset linked;  /* Google ids their users are linked to (not released) */
	size_t n;		    /* how many entries were settled */
};

int plan_users_chunk(const struct plan_settings *s, const struct plan_user *users, size_t n,
		     struct plan *p);
bool plan_entry_settled(const struct plan_user *u, const struct plan_entry *e);
int plan_settled_add(struct plan_settled *st, const struct plan_user *u,
		     const struct plan_entry *e);
/* Seal both key sets (sort) before plan_users_finish(). 0, or -1 when out of memory. */
int plan_keyset_seal(struct plan_keyset *ks);
int plan_keyset_add(struct plan_keyset *ks, const char *key);
bool plan_keyset_has(const struct plan_keyset *ks, const char *key);
void plan_keyset_free(struct plan_keyset *ks);
void plan_settled_free(struct plan_settled *st);
/* settled may be NULL. Returns 0, or -1 when out of memory (*p then empty). */
int plan_users_finish(const struct plan_settings *s, const struct plan_user *users,
		      struct plan *p, const struct plan_settled *settled);

/* Frees what one entry owns and zeroes it (an entry moved out of a plan, or dropped). */
void plan_entry_release(struct plan_entry *e);

void plan_free(struct plan *p);

/*
 * Turns an entry into a skip with reason (and message): its write, changes and hashes are
 * dropped. The caller adjusts p->counts. Returns 0, or -1 when out of memory.
 */
int plan_entry_skip(struct plan_entry *e, const char *reason, const char *message);

/*
 * Whether e would take an address in Google: a create, or a rename onto a new primaryEmail. Only
 * such entries get the runner's lookup among Google's groups (a users.get never sees a group).
 */
bool plan_entry_claims_address(const struct plan_entry *e);

/*
 * The runner found e's primaryEmail held by a Google group (groups.get by the address answers
 * the group, whose email or alias it is): a create or rename becomes `conflict`, reason
 * `address_in_use` (what the applier records on a 409), never written; other entries are left
 * as they are. Call before plan_users_finish(), which counts. 0, or -1 when out of memory.
 */
int plan_entry_group_holds(struct plan_entry *e);

/* The JSON text of a string value as json-c writes it (malloc'd; NULL when out of memory). */
char *plan_json_string_text(const char *s);

/*
 * The change list of e as a JSON array text ([{field, before, after}], password "changed"), then
 * the differences left alone as {field, before, after, left_alone: "identity_source_google"}.
 */
char *plan_changes_json(const struct plan_entry *e);

#endif
