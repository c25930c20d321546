#include "plan_import.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_shared.h"

static const char *const state_names[IMPORT_STATE_N] = {"linked", "matched", "inactive", "new"};
static const char *const op_names[IMPORT_OP_N] = {"none", "create",   "link",
						  "update", "skip", "conflict"};

const char *import_state_name(enum import_state s)
{
	return s < IMPORT_STATE_N ? state_names[s] : "?";
}

enum import_state import_state_parse(const char *name)
{
	for (int i = 0; i < IMPORT_STATE_N; i++)
		if (name && !strcmp(name, state_names[i]))
			return (enum import_state)i;
	return IMPORT_STATE_N;
}

const char *import_op_name(enum import_op op)
{
	return op < IMPORT_OP_N ? op_names[op] : "?";
}

/* ------------------------------------------------------------------ JSON helpers */

static const char *jstr0(struct json_object *o, const char *key)
{
	const char *s = plan_jstr(o, key);
	return s ? s : "";
}

static void lower_copy(char *dst, size_t cap, const char *s)
{
	size_t i = 0;
	for (; s && s[i] && i + 1 < cap; i++)
		dst[i] = (char)tolower((unsigned char)s[i]);
	dst[i] = 0;
}

/* ------------------------------------------------------------------ the index */

struct ikey {
	char *key;
	size_t dir;
};

struct import_index {
	struct ikey *by_id; /* links (any status) by Google id */
	size_t n_id;
	struct ikey *by_addr; /* match keys of existing directory users */
	size_t n_addr;
};

static int cmp_ikey(const void *a, const void *b)
{
	const struct ikey *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->dir > y->dir) - (x->dir < y->dir);
}

void import_index_free(struct import_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->n_id; i++)
		free(ix->by_id[i].key);
	for (size_t i = 0; i < ix->n_addr; i++)
		free(ix->by_addr[i].key);
	free(ix->by_id);
	free(ix->by_addr);
	free(ix);
}

struct import_index *import_index_build(const struct import_settings *s,
					const struct import_dir *dirs, size_t n)
{
	struct import_index *ix = calloc(1, sizeof(*ix));
	if (!ix)
		return NULL;
	ix->by_id = calloc(n + 1, sizeof(*ix->by_id));
	ix->by_addr = calloc(2 * n + 1, sizeof(*ix->by_addr));
	if (!ix->by_id || !ix->by_addr)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		if (dirs[i].google_id[0]) {
			if (!(ix->by_id[ix->n_id].key = strdup(dirs[i].google_id)))
				goto oom;
			ix->by_id[ix->n_id++].dir = i;
		}
		if (!dirs[i].exists)
			continue;
		char mk[2][320];
		int nk = plan_match_keys(s->match, dirs[i].email, mk);
		for (int k = 0; k < nk; k++) {
			if (!(ix->by_addr[ix->n_addr].key = strdup(mk[k])))
				goto oom;
			ix->by_addr[ix->n_addr++].dir = i;
		}
	}
	if (ix->n_id > 1)
		qsort(ix->by_id, ix->n_id, sizeof(*ix->by_id), cmp_ikey);
	if (ix->n_addr > 1)
		qsort(ix->by_addr, ix->n_addr, sizeof(*ix->by_addr), cmp_ikey);
	return ix;
oom:
	import_index_free(ix);
	return NULL;
}

/* The first index entry with key, or NULL; the ones with the same key follow it. */
static const struct ikey *ikey_first(const struct ikey *v, size_t n, const char *key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(v[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && !strcmp(v[lo].key, key) ? &v[lo] : NULL;
}

size_t import_google_keys(struct json_object *g, char (*keys)[320], size_t max)
{
	size_t n = 0;
	const char *p = plan_jstr(g, "primaryEmail");
	if (p && n < max)
		lower_copy(keys[n++], 320, p);
	const char *arrs[] = {"aliases", "nonEditableAliases"};
	for (int a = 0; a < 2; a++) {
		struct json_object *arr = plan_jarr(g, arrs[a]);
		for (size_t i = 0; arr && i < json_object_array_length(arr) && n < max; i++) {
			const char *s = json_object_get_string(json_object_array_get_idx(arr, i));
			if (s && s[0])
				lower_copy(keys[n++], 320, s);
		}
	}
	return n;
}

void import_match(const struct import_index *ix, const struct import_dir *dirs,
		  struct json_object *g, struct import_match *out)
{
	*out = (struct import_match){.state = IMPORT_NEW, .dir = SIZE_MAX};
	const char *gid = jstr0(g, "id");
	size_t released = SIZE_MAX; /* a released link of this Google id */
	const struct ikey *k = gid[0] ? ikey_first(ix->by_id, ix->n_id, gid) : NULL;
	for (; k && k < ix->by_id + ix->n_id && !strcmp(k->key, gid); k++) {
		if (strcmp(dirs[k->dir].link_status, "released") != 0) {
			out->state = IMPORT_LINKED;
			out->dir = k->dir;
			return;
		}
		if (dirs[k->dir].exists)
			released = k->dir;
	}
	char(*keys)[320] = malloc(IMPORT_MAX_KEYS * sizeof(*keys));
	if (!keys) {
		out->conflict = "out_of_memory"; /* never acted on: it could not be matched */
		return;
	}
	size_t nk = import_google_keys(g, keys, IMPORT_MAX_KEYS);
	size_t found = SIZE_MAX;
	bool several = false;
	for (size_t i = 0; i < nk; i++) {
		const struct ikey *a = ikey_first(ix->by_addr, ix->n_addr, keys[i]);
		for (; a && a < ix->by_addr + ix->n_addr && !strcmp(a->key, keys[i]); a++) {
			if (found == SIZE_MAX)
				found = a->dir;
			else if (found != a->dir)
				several = true;
		}
	}
	free(keys);
	if (found == SIZE_MAX && released != SIZE_MAX)
		found = released; /* matched again: the link is taken up anew */
	if (found != SIZE_MAX) {
		out->state = IMPORT_MATCHED;
		out->dir = found;
		const struct import_dir *d = &dirs[found];
		bool linked_other = d->google_id[0] && strcmp(d->link_status, "released") &&
				    strcmp(d->google_id, gid);
		if (several)
			out->conflict = "ambiguous_match";
		else if (linked_other)
			out->conflict = "linked_to_another_google_user";
		else if (released != SIZE_MAX && released != found)
			out->conflict = "linked_to_another_user";
		return;
	}
	if (plan_jbool(g, "suspended") || plan_jbool(g, "archived"))
		out->state = IMPORT_INACTIVE;
}

/* ------------------------------------------------------------------ Google → replica values */

/* The value of the first entry of arr whose type is type (and that is not primary). */
static const char *typed_value(struct json_object *arr, const char *type, const char *key)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *t = plan_jstr(e, "type");
		if (t && !strcmp(t, type) && !plan_jbool(e, "primary"))
			return jstr0(e, key);
	}
	return "";
}

/* Google's entry e in the replica's form ({type, value}; an address with snake-case keys). */
static struct json_object *replica_entry(struct json_object *e, bool phones)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "type", json_object_new_string(jstr0(e, "type")));
	if (phones) {
		json_object_object_add(o, "value", json_object_new_string(jstr0(e, "value")));
		return o;
	}
	for (size_t k = 0; k < sizeof(plan_address_keys) / sizeof(plan_address_keys[0]); k++) {
		const char *v = plan_jstr(e, plan_address_keys[k][1]);
		if (v && v[0])
			json_object_object_add(o, plan_address_keys[k][0], json_object_new_string(v));
	}
	return o;
}

/*
 * The replica's array after the import: its entries of types not imported, then Google's
 * entries of the imported types. *changed tells whether the imported part differs.
 */
static struct json_object *merge_array(const char *replica_json, struct json_object *garr,
				       unsigned mask, bool phones, bool *changed)
{
	struct json_object *have = json_tokener_parse(replica_json[0] ? replica_json : "[]");
	if (have && !json_object_is_type(have, json_type_array)) {
		json_object_put(have);
		have = NULL;
	}
	char *a = plan_managed_text(have, mask, phones, true),
	     *b = plan_managed_text(garr, mask, phones, false);
	struct json_object *out = a && b ? json_object_new_array() : NULL;
	*changed = a && b && strcmp(a, b) != 0;
	for (size_t i = 0; out && have && i < json_object_array_length(have); i++) {
		struct json_object *e = json_object_array_get_idx(have, i);
		if (!plan_type_managed(plan_jstr(e, "type"), mask, phones))
			json_object_array_add(out, json_object_get(e));
	}
	for (size_t i = 0; out && garr && i < json_object_array_length(garr); i++) {
		struct json_object *e = json_object_array_get_idx(garr, i);
		if (plan_type_managed(plan_jstr(e, "type"), mask, phones))
			json_object_array_add(out, replica_entry(e, phones));
	}
	free(a);
	free(b);
	json_object_put(have);
	return out;
}


/* Collects the fields to write and their changes. */
struct diff {
	struct json_object *fields;
	struct json_object *changes;
	bool oom;
};

static void diff_str(struct diff *d, const char *field, const char *before, const char *after)
{
	if (d->oom || !strcmp(before ? before : "", after ? after : ""))
		return;
	struct json_object *c = json_object_new_object();
	if (!c) {
		d->oom = true;
		return;
	}
	json_object_object_add(c, "field", json_object_new_string(field));
	json_object_object_add(c, "before", before && before[0] ? json_object_new_string(before)
							    : NULL);
	json_object_object_add(c, "after", after && after[0] ? json_object_new_string(after) : NULL);
	json_object_array_add(d->changes, c);
	json_object_object_add(d->fields, field, json_object_new_string(after ? after : ""));
}

static void diff_arr(struct diff *d, const char *field, const char *before_json,
		     struct json_object *garr, unsigned mask, bool phones)
{
	bool changed = false;
	struct json_object *after = merge_array(before_json, garr, mask, phones, &changed);
	if (!after) {
		d->oom = true;
		return;
	}
	if (!changed) {
		json_object_put(after);
		return;
	}
	struct json_object *c = json_object_new_object();
	json_object_object_add(c, "field", json_object_new_string(field));
	json_object_object_add(c, "before", json_tokener_parse(before_json[0] ? before_json : "[]"));
	json_object_object_add(c, "after", json_object_get(after));
	json_object_array_add(d->changes, c);
	json_object_object_add(d->fields, field, after);
}

/* The attributes whose rule is import, from g, against the replica's values (dir NULL: none). */
static void diff_attributes(const struct import_settings *s, struct json_object *g,
			    const struct import_dir *dir, struct diff *d)
{
	static const struct import_dir none = {
		.user_id = "", .email = "", .first_name = "", .last_name = "", .state = "",
		.alternate_email = "", .cost_center = "", .department = "", .employee_type = "",
		.job_title = "", .employee_id = "", .addresses_json = "[]", .phones_json = "[]",
		.google_id = "", .link_status = ""};
	if (!dir)
		dir = &none;
	unsigned m = s->import_mask;
	struct json_object *org = plan_primary_org(g);
	if (m & PLAN_ATTR_JOB_TITLE)
		diff_str(d, "job_title", dir->job_title, jstr0(org, "title"));
	if (m & PLAN_ATTR_DEPARTMENT)
		diff_str(d, "department", dir->department, jstr0(org, "department"));
	if (m & PLAN_ATTR_COST_CENTER)
		diff_str(d, "cost_center", dir->cost_center, jstr0(org, "costCenter"));
	if (m & PLAN_ATTR_EMPLOYEE_TYPE)
		diff_str(d, "employee_type", dir->employee_type, jstr0(org, "description"));
	if (m & PLAN_ATTR_EMPLOYEE_ID)
		diff_str(d, "employee_id", dir->employee_id,
			 typed_value(plan_jarr(g, "externalIds"), "organization", "value"));
	if (m & PLAN_ATTR_ALTERNATE_EMAIL)
		diff_str(d, "alternate_email", dir->alternate_email,
			 typed_value(plan_jarr(g, "emails"), "other", "address"));
	if (m & PLAN_PHONE_BITS)
		diff_arr(d, "phones", dir->phones_json, plan_jarr(g, "phones"), m, true);
	if (m & PLAN_ADDRESS_BITS)
		diff_arr(d, "addresses", dir->addresses_json, plan_jarr(g, "addresses"), m, false);
}

/* The first location as one text: its building, else its area. */
static const char *location_of(struct json_object *g)
{
	struct json_object *locs = plan_jarr(g, "locations");
	struct json_object *l = locs && json_object_array_length(locs)
					? json_object_array_get_idx(locs, 0)
					: NULL;
	const char *b = plan_jstr(l, "buildingId");
	return b && b[0] ? b : jstr0(l, "area");
}

/* ------------------------------------------------------------------ entries */

static int set_reason(struct import_entry *e, enum import_op op, const char *reason,
		      const char *message)
{
	e->op = op;
	free(e->reason);
	free(e->message);
	e->reason = strdup(reason);
	e->message = message ? strdup(message) : NULL;
	return e->reason && (!message || e->message) ? 0 : -1;
}

static void drop_write(struct import_entry *e)
{
	json_object_put(e->fields);
	e->fields = NULL;
	free(e->changes_json);
	e->changes_json = NULL;
}

int import_entry_skip(struct import_entry *e, const char *reason, const char *message)
{
	drop_write(e);
	return set_reason(e, IMPORT_OP_SKIP, reason, message);
}

static const char *conflict_message(const char *reason)
{
	if (!strcmp(reason, "ambiguous_match"))
		return "several directory users match this Google user's addresses";
	if (!strcmp(reason, "linked_to_another_google_user"))
		return "the matching directory user is linked to another Google user";
	if (!strcmp(reason, "several_google_users"))
		return "several Google users match this directory user";
	return "the Google user was linked to another directory user";
}

static int plan_one(const struct import_settings *s, const struct import_index *ix,
		    struct json_object *g, const struct import_dir *dirs, struct import_entry *e)
{
	struct import_match m;
	import_match(ix, dirs, g, &m);
	e->state = m.state;
	e->suspended = plan_jbool(g, "suspended");
	if (!(e->google_id = strdup(jstr0(g, "id"))) ||
	    !(e->primary_email = strdup(jstr0(g, "primaryEmail"))))
		return -1;
	for (char *c = e->primary_email; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	const struct import_dir *d = m.dir != SIZE_MAX ? &dirs[m.dir] : NULL;
	if (d) {
		if (!(e->user_id = strdup(d->user_id)))
			return -1;
		e->user_version = d->version;
	}
	if (m.conflict && m.state != IMPORT_MATCHED)
		return set_reason(e, IMPORT_OP_CONFLICT, m.conflict, "the Google user could not be matched");
	switch (m.state) {
	case IMPORT_INACTIVE:
		return set_reason(e, IMPORT_OP_SKIP, "inactive",
				  plan_jbool(g, "archived") ? "archived in Google: never imported"
						       : "suspended in Google: never imported");
	case IMPORT_NEW:
		if (s->updates_only)
			return set_reason(e, IMPORT_OP_SKIP, "not_linked",
					  "updates_only imports linked users only");
		break;
	case IMPORT_MATCHED:
		if (m.conflict)
			return set_reason(e, IMPORT_OP_CONFLICT, m.conflict,
					  conflict_message(m.conflict));
		if (s->updates_only)
			return set_reason(e, IMPORT_OP_SKIP, "not_linked",
					  "updates_only imports linked users only");
		break;
	case IMPORT_LINKED:
		if (!d->exists)
			return set_reason(e, IMPORT_OP_SKIP, "deleted_in_directory",
					  "the linked directory user was deleted");
		break;
	default:
		break;
	}
	struct diff df = {json_object_new_object(), json_object_new_array(), false};
	if (!df.fields || !df.changes) {
		json_object_put(df.fields);
		json_object_put(df.changes);
		return -1;
	}
	struct json_object *name = NULL;
	json_object_object_get_ex(g, "name", &name);
	if (m.state == IMPORT_NEW) {
		char uid[256];
		snprintf(uid, sizeof(uid), "%s%s", IMPORT_ID_PREFIX, e->google_id);
		if (!(e->user_id = strdup(uid)))
			df.oom = true;
		diff_str(&df, "email", "", e->primary_email);
		diff_str(&df, "first_name", "", jstr0(name, "givenName"));
		diff_str(&df, "last_name", "", jstr0(name, "familyName"));
		diff_str(&df, "company", "", jstr0(plan_primary_org(g), "name"));
		diff_str(&df, "location", "", location_of(g));
		diff_attributes(s, g, NULL, &df);
		e->op = IMPORT_OP_CREATE;
	} else {
		if (s->identity_google) {
			const char *email = d->email;
			char lower_email[320];
			lower_copy(lower_email, sizeof(lower_email), email);
			/* Google holds addresses lower-case; a case difference is no change. */
			if (strcmp(lower_email, e->primary_email))
				diff_str(&df, "email", email, e->primary_email);
			diff_str(&df, "first_name", d->first_name, jstr0(name, "givenName"));
			diff_str(&df, "last_name", d->last_name, jstr0(name, "familyName"));
			if (e->suspended && strcmp(d->state, "suspended"))
				diff_str(&df, "state", d->state, "suspended");
			else if (!e->suspended && !strcmp(d->state, "suspended"))
				diff_str(&df, "state", d->state, "active");
		}
		diff_attributes(s, g, d, &df);
		e->op = m.state == IMPORT_MATCHED ? IMPORT_OP_LINK
			: json_object_array_length(df.changes) ? IMPORT_OP_UPDATE
							       : IMPORT_OP_NONE;
	}
	if (!df.oom && json_object_array_length(df.changes))
		df.oom = !(e->changes_json = strdup(json_object_to_json_string_ext(
				   df.changes, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)));
	json_object_put(df.changes);
	e->fields = df.fields;
	return df.oom ? -1 : 0;
}

static int grow(struct import_plan *p, size_t more)
{
	if (p->n + more <= p->cap)
		return 0;
	size_t cap = p->cap ? p->cap : 256;
	while (cap < p->n + more)
		cap *= 2;
	struct import_entry *v = realloc(p->entries, cap * sizeof(*v));
	if (!v)
		return -1;
	p->entries = v;
	p->cap = cap;
	return 0;
}

static void entry_free(struct import_entry *e)
{
	free(e->google_id);
	free(e->primary_email);
	free(e->user_id);
	free(e->reason);
	free(e->message);
	drop_write(e);
}

int plan_import_run(const struct import_settings *s, struct json_object *const *g, size_t ng,
		    const struct import_dir *dirs, size_t nd, struct import_plan *p)
{
	struct import_index *ix = import_index_build(s, dirs, nd);
	if (!ix || grow(p, ng)) {
		import_index_free(ix);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < ng && !rc; i++) {
		struct import_entry *e = &p->entries[p->n];
		memset(e, 0, sizeof(*e));
		rc = plan_one(s, ix, g[i], dirs, e);
		p->n++; /* counted even when incomplete, so import_plan_free() releases it */
		if (!rc)
			p->counts[e->op]++;
	}
	import_index_free(ix);
	return rc;
}

int plan_import_absent(struct import_plan *p, const char *google_id, const char *reason,
		       const char *message)
{
	if (grow(p, 1))
		return -1;
	struct import_entry *e = &p->entries[p->n];
	memset(e, 0, sizeof(*e));
	e->state = IMPORT_STATE_N;
	e->google_id = strdup(google_id);
	e->primary_email = strdup("");
	p->n++; /* counted even when incomplete, so import_plan_free() releases it */
	if (!e->google_id || !e->primary_email || set_reason(e, IMPORT_OP_SKIP, reason, message))
		return -1;
	p->counts[IMPORT_OP_SKIP]++;
	return 0;
}

struct uref {
	const char *user_id;
	size_t entry;
};

static int cmp_uref(const void *a, const void *b)
{
	const struct uref *x = a, *y = b;
	int c = strcmp(x->user_id, y->user_id);
	return c ? c : (x->entry > y->entry) - (x->entry < y->entry);
}

int plan_import_cross_check(struct import_plan *p)
{
	struct uref *v = calloc(p->n + 1, sizeof(*v));
	if (!v)
		return -1;
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++) {
		enum import_op op = p->entries[i].op;
		if (p->entries[i].user_id &&
		    (op == IMPORT_OP_LINK || op == IMPORT_OP_UPDATE || op == IMPORT_OP_NONE))
			v[n++] = (struct uref){p->entries[i].user_id, i};
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_uref);
	int rc = 0;
	for (size_t i = 0; i < n && !rc;) {
		size_t j = i + 1;
		while (j < n && !strcmp(v[i].user_id, v[j].user_id))
			j++;
		/* A linked one keeps its user; two matches alike both become conflicts. */
		size_t keep = SIZE_MAX;
		for (size_t k = i; j - i > 1 && k < j; k++)
			if (p->entries[v[k].entry].state == IMPORT_LINKED)
				keep = v[k].entry;
		for (size_t k = i; j - i > 1 && k < j && !rc; k++) {
			struct import_entry *e = &p->entries[v[k].entry];
			if (v[k].entry == keep)
				continue;
			p->counts[e->op]--;
			drop_write(e);
			rc = set_reason(e, IMPORT_OP_CONFLICT, "several_google_users",
					conflict_message("several_google_users"));
			p->counts[e->op]++;
		}
		i = j;
	}
	free(v);
	return rc;
}

void import_plan_free(struct import_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		entry_free(&p->entries[i]);
	free(p->entries);
	memset(p, 0, sizeof(*p));
}
