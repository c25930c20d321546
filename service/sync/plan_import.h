/*
 * plan_import — the user import planner: what each Google user of a listing (or of a chosen set)
 * means for the directory replica. Pure: no I/O, no clock; the runner gathers the inputs (a page
 * of Google users and the directory users they may be, from the store), the applier writes the
 * output (issue "User import engine"; DESIGN.md §4 Import).
 *
 * Match state, in this precedence (the preview shows it, the import acts on it):
 * - linked:   a link of this integration (not released) holds the Google user's id;
 * - matched:  a directory user of the tenant matches it by the export's rule (plan_match_keys:
 *             the email, or the email rewritten to the default domain, is the Google user's
 *             primaryEmail or one of its aliases, ignoring case), bound or not;
 * - inactive: suspended or archived in Google (never created);
 * - new.
 *
 * What the import does (mode full: create new users, link and update matched and linked ones;
 * updates_only: linked ones only):
 * - a new user becomes the replica user `google:<Google id>`, state staged, email = primaryEmail,
 *   names, every attribute whose rule is import, company and location from the primary
 *   organization and the first location; it is bound and linked (origin imported);
 * - a matched user is bound and linked and gets the import-rule attributes;
 * - a linked user gets the import-rule attributes; with identity_source google also the email,
 *   the names, and the suspension (suspended ↔ active; a staged user only becomes suspended).
 * Attributes whose rule is export never flow back. Only fields that differ are written: a run
 * over an unchanged account plans nothing but `none`.
 *
 * Ownership: inputs are borrowed; plan_import_run() fills a struct import_plan whose entries own
 * their strings and JSON; import_plan_free() releases them. Thread-safe.
 */
#ifndef GWSYNC_SYNC_PLAN_IMPORT_H
#define GWSYNC_SYNC_PLAN_IMPORT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan_users.h"

#define IMPORT_ID_PREFIX "google:" /* replica id of an imported user: google:<Google id> */
#define IMPORT_MAX_KEYS 64	  /* addresses of one Google user matched (primary and aliases) */

enum import_state { IMPORT_LINKED, IMPORT_MATCHED, IMPORT_INACTIVE, IMPORT_NEW, IMPORT_STATE_N };

/* "linked", "matched", "inactive", "new"; IMPORT_STATE_N for an unknown name. */
const char *import_state_name(enum import_state s);
enum import_state import_state_parse(const char *name);

/*
 * A directory user the import may meet: one linked (in this integration) to a Google user of
 * the page, or one whose address matches one. Strings never NULL ("" for null).
 */
struct import_dir {
	const char *user_id;
	bool exists; /* false: only a link of a user deleted from the directory */
	int64_t version;
	const char *email, *first_name, *last_name, *state;
	const char *alternate_email, *cost_center, *department, *employee_type, *job_title,
		*employee_id;
	const char *addresses_json, *phones_json; /* JSON array texts */
	const char *google_id, *link_status;	  /* this integration's link ("" when none) */
};

struct import_settings {
	const struct plan_settings *match; /* allowed domains and default domain (matching) */
	unsigned import_mask;		   /* PLAN_ATTR_* bits whose rule is import */
	bool identity_google;		   /* settings.identity_source = google */
	bool updates_only;		   /* mode updates_only: linked users only */
};

/* The match of one Google user among dirs. dir is SIZE_MAX for inactive and new. */
struct import_match {
	enum import_state state;
	size_t dir;
	const char *conflict; /* NULL, or why it cannot be linked (ambiguous_match, ...) */
};

/*
 * An index of dirs for matching: by linked Google id and by match key. Build once per page with
 * import_index_build(), free with import_index_free().
 */
struct import_index;
struct import_index *import_index_build(const struct import_settings *s,
					const struct import_dir *dirs, size_t n);
void import_index_free(struct import_index *ix);

/* Classifies Google user g (a users.list / users.get resource). */
void import_match(const struct import_index *ix, const struct import_dir *dirs,
		  struct json_object *g, struct import_match *out);

enum import_op {
	IMPORT_OP_NONE,	    /* unchanged */
	IMPORT_OP_CREATE,   /* a new replica user, bound and linked */
	IMPORT_OP_LINK,	    /* a matched user: bound, linked, attributes written */
	IMPORT_OP_UPDATE,   /* a linked user: attributes written */
	IMPORT_OP_SKIP,	    /* with a reason */
	IMPORT_OP_CONFLICT, /* with a reason */
	IMPORT_OP_N
};

/* "none", "create", "link", "update", "skip", "conflict" */
const char *import_op_name(enum import_op op);

struct import_entry {
	enum import_op op;
	enum import_state state;
	char *google_id, *primary_email;
	char *user_id;		 /* the replica user (created: google:<id>); NULL when none */
	int64_t user_version;	 /* the directory version planned from (0 for a create) */
	char *reason, *message;	 /* NULL unless skipped or conflict */
	struct json_object *fields; /* replica columns to write ({email, first_name, ...}); NULL */
	char *changes_json;	 /* [{field, before, after}] of what is written; NULL when none */
	bool suspended;		 /* Google's suspension (the link's status) */
};

struct import_plan {
	struct import_entry *entries;
	size_t n, cap;
	int counts[IMPORT_OP_N];
};

/*
 * Plans the Google users g[0..ng) against dirs (what the store found for them), appending one
 * entry per Google user to p (which may hold earlier pages' entries). Returns 0, or -1 when out
 * of memory.
 */
int plan_import_run(const struct import_settings *s, struct json_object *const *g, size_t ng,
		    const struct import_dir *dirs, size_t nd, struct import_plan *p);

/*
 * A chosen Google user Google does not hold (users.get answered 404): one skip entry with reason
 * (e.g. not_found_in_google), no address and no user, state IMPORT_STATE_N, so that the plan, the
 * dry run and the progress show it like any other. Returns 0 or -1 (out of memory).
 */
int plan_import_absent(struct import_plan *p, const char *google_id, const char *reason,
		       const char *message);

/*
 * Across pages: two Google users linked to one directory user (the second and later become a
 * conflict `several_google_users`). p->counts follow. Returns 0 or -1 (out of memory).
 */
int plan_import_cross_check(struct import_plan *p);

/* Turns e into a skip with reason (its write dropped); the caller keeps p->counts right. */
int import_entry_skip(struct import_entry *e, const char *reason, const char *message);

void import_plan_free(struct import_plan *p);

/*
 * The keys a Google user is matched by: its primaryEmail and aliases (both kinds), lower-case,
 * into keys (up to max; import_match() uses IMPORT_MAX_KEYS), for the store lookup. Returns how
 * many.
 */
size_t import_google_keys(struct json_object *g, char (*keys)[320], size_t max);

#endif
