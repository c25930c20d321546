/*
 * export_users and full_sync: read the scope and what Google holds, plan (plan_users), guard,
 * store the plan, then apply it (apply_users). See runner_export.h.
 */
#include "runner_export.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apply_users.h"
#include "crypto.h"
#include "google_batch.h"
#include "google_users.h"
#include "log.h"
#include "plan_users.h"
#include "store_authorization.h"
#include "store_export.h"
#include "store_integrations.h"

#define GUARD_WINDOW_S 3600
#define GUARD_MIN_LINKED 50
#define READ_BATCH 500

/* ------------------------------------------------------------------ the scope, copied */

static void xfree_str(const char *s)
{
	free((void *)(uintptr_t)s);
}

static void user_free(struct export_user *x)
{
	struct plan_user *u = &x->pu;
	const char *strs[] = {u->user_id, u->email, u->first_name, u->last_name, u->state,
			      u->alternate_email, u->cost_center, u->department, u->employee_type,
			      u->job_title, u->employee_id, u->addresses_json, u->phones_json,
			      u->password_digest, u->google_id, u->link_status,
			      u->link_primary_email, u->link_password_digest, x->manager_id,
			      x->link_origin};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		xfree_str(strs[i]);
	if (x->hash) {
		crypto_wipe(x->hash, strlen(x->hash));
		free(x->hash);
	}
	free(x->hash_function);
	if (u->field_hashes)
		json_object_put(u->field_hashes);
	if (u->g)
		json_object_put(u->g);
	for (int i = 0; i < 2; i++)
		if (u->m[i])
			json_object_put(u->m[i]);
}

void export_scope_free(struct export_scope *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		user_free(&sc->users[i]);
	free(sc->users);
	memset(sc, 0, sizeof(*sc));
}

static int scope_row(void *ctx, const struct store_export_row *r, struct err *e)
{
	struct export_scope *sc = ctx;
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 256;
		struct export_user *nu = realloc(sc->users, cap * sizeof(*nu));
		if (!nu)
			return err_set(e, E_NOMEM, "scope");
		sc->users = nu;
		sc->cap = cap;
	}
	struct export_user *x = &sc->users[sc->n];
	memset(x, 0, sizeof(*x));
	struct plan_user *u = &x->pu;
	bool ok = true;
#define DUP(dst, src)                                                                          \
	do {                                                                                   \
		(dst) = strdup((src) ? (src) : "");                                            \
		ok = ok && (dst);                                                              \
	} while (0)
	DUP(u->user_id, r->user_id);
	DUP(u->email, r->email);
	DUP(u->first_name, r->first_name);
	DUP(u->last_name, r->last_name);
	DUP(u->state, r->state);
	DUP(u->alternate_email, r->alternate_email);
	DUP(u->cost_center, r->cost_center);
	DUP(u->department, r->department);
	DUP(u->employee_type, r->employee_type);
	DUP(u->job_title, r->job_title);
	DUP(u->employee_id, r->employee_id);
	DUP(u->addresses_json, r->addresses_json[0] ? r->addresses_json : "[]");
	DUP(u->phones_json, r->phones_json[0] ? r->phones_json : "[]");
	DUP(u->google_id, r->google_id);
	DUP(u->link_status, r->link_status);
	DUP(u->link_primary_email, r->link_primary_email);
	DUP(u->link_password_digest, r->password_digest);
	DUP(x->manager_id, r->manager_id);
	DUP(x->link_origin, r->link_origin);
#undef DUP
	char digest[65] = "";
	if (ok && r->password_hash[0]) {
		x->hash = strdup(r->password_hash);
		x->hash_function = strdup(r->password_hash_function);
		ok = x->hash && x->hash_function;
		/* The digest names the hash without being it: function and hash, hashed. */
		size_t l = strlen(r->password_hash) + strlen(r->password_hash_function) + 2;
		char *buf = ok ? malloc(l) : NULL;
		if (buf) {
			snprintf(buf, l, "%s:%s", r->password_hash_function, r->password_hash);
			ok = crypto_sha256_hex(buf, l - 1, digest) == 0;
			crypto_wipe(buf, l);
			free(buf);
		} else {
			ok = false;
		}
	}
	u->password_digest = strdup(digest);
	ok = ok && u->password_digest;
	u->exists = r->exists;
	u->in_scope = r->in_scope;
	u->version = r->version;
	u->locked = r->locked;
	u->password_expired = r->password_expired;
	u->has_manager = r->manager_id[0] != 0;
	if (ok && r->field_hashes_json[0])
		u->field_hashes = json_tokener_parse(r->field_hashes_json);
	sc->n++; /* counted even when incomplete, so user_free() releases it */
	return ok ? E_OK : err_set(e, E_NOMEM, "scope");
}

static int cmp_user_id(const void *key, const void *elem)
{
	return strcmp(key, ((const struct export_user *)elem)->pu.user_id);
}

/* The manager's linked primaryEmail, for every user with a manager in the scope. */
static void resolve_managers(struct export_scope *sc)
{
	for (size_t i = 0; i < sc->n; i++) {
		struct export_user *x = &sc->users[i];
		if (!x->manager_id[0])
			continue;
		struct export_user *m = bsearch(x->manager_id, sc->users, sc->n, sizeof(*sc->users),
						cmp_user_id);
		if (m && m->pu.google_id[0] && strcmp(m->pu.link_status, "released") &&
		    m->pu.link_primary_email[0])
			x->pu.manager_email = m->pu.link_primary_email;
	}
}

/* ------------------------------------------------------------------ what Google holds */

struct gentry {
	const char *key; /* lower-case address or id (owned by the object or the index) */
	struct json_object *user;
};

struct gindex {
	struct gentry *v;
	size_t n, cap;
	char **owned; /* lower-cased keys */
	size_t n_owned, cap_owned;
	struct json_object *all; /* array holding every user kept (one reference each) */
	char **wanted;		 /* sorted keys (ids, lower-case addresses) the scope may match */
	size_t n_wanted;
};

static int gindex_add(struct gindex *gi, const char *key, bool copy_lower,
		      struct json_object *user)
{
	if (!key || !key[0])
		return 0;
	if (gi->n == gi->cap) {
		size_t cap = gi->cap ? gi->cap * 2 : 1024;
		void *nv = realloc(gi->v, cap * sizeof(*gi->v));
		if (!nv)
			return -1;
		gi->v = nv;
		gi->cap = cap;
	}
	if (copy_lower) {
		if (gi->n_owned == gi->cap_owned) {
			size_t c = gi->cap_owned ? gi->cap_owned * 2 : 1024;
			char **no = realloc(gi->owned, c * sizeof(*no));
			if (!no)
				return -1;
			gi->owned = no;
			gi->cap_owned = c;
		}
		char *k = strdup(key);
		if (!k)
			return -1;
		for (char *c = k; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		gi->owned[gi->n_owned++] = k;
		key = k;
	}
	gi->v[gi->n].key = key;
	gi->v[gi->n].user = user;
	gi->n++;
	return 0;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool wanted_key(const struct gindex *gi, const char *key)
{
	if (!key || !key[0])
		return false;
	char lk[320];
	snprintf(lk, sizeof(lk), "%s", key);
	for (char *c = lk; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	const char *k = lk;
	return bsearch(&k, gi->wanted, gi->n_wanted, sizeof(*gi->wanted), cmp_strp) != NULL;
}

/* Whether the scope can match this Google user (by id, primary address or alias). */
static bool gindex_wants(const struct gindex *gi, struct json_object *user)
{
	if (wanted_key(gi, jstr(user, "id")) || wanted_key(gi, jstr(user, "primaryEmail")))
		return true;
	const char *keys[] = {"aliases", "nonEditableAliases"};
	for (int k = 0; k < 2; k++) {
		struct json_object *arr;
		if (!json_object_object_get_ex(user, keys[k], &arr) ||
		    !json_object_is_type(arr, json_type_array))
			continue;
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			if (wanted_key(gi, json_object_get_string(json_object_array_get_idx(arr, i))))
				return true;
	}
	return false;
}

static int gindex_user(void *ctx, struct json_object *user, struct err *e)
{
	struct gindex *gi = ctx;
	/* Google users the scope cannot match are not kept: memory follows the scope. */
	if (!gindex_wants(gi, user))
		return E_OK;
	json_object_array_add(gi->all, json_object_get(user));
	int rc = gindex_add(gi, jstr(user, "id"), false, user) ||
		 gindex_add(gi, jstr(user, "primaryEmail"), true, user);
	const char *keys[] = {"aliases", "nonEditableAliases"};
	for (int k = 0; k < 2 && !rc; k++) {
		struct json_object *arr;
		if (!json_object_object_get_ex(user, keys[k], &arr) ||
		    !json_object_is_type(arr, json_type_array))
			continue;
		for (size_t i = 0; i < json_object_array_length(arr) && !rc; i++)
			rc = gindex_add(gi, json_object_get_string(json_object_array_get_idx(arr, i)),
					true, user);
	}
	return rc ? err_set(e, E_NOMEM, "google index") : E_OK;
}

static int cmp_gkey(const void *a, const void *b)
{
	return strcmp(((const struct gentry *)a)->key, ((const struct gentry *)b)->key);
}

static struct json_object *gindex_find(const struct gindex *gi, const char *key)
{
	if (!gi->n || !key[0])
		return NULL;
	char lk[320];
	snprintf(lk, sizeof(lk), "%s", key);
	for (char *c = lk; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	struct gentry k = {lk, NULL};
	const struct gentry *hit = bsearch(&k, gi->v, gi->n, sizeof(*gi->v), cmp_gkey);
	return hit ? hit->user : NULL;
}

static void gindex_free(struct gindex *gi)
{
	for (size_t i = 0; i < gi->n_owned; i++)
		free(gi->owned[i]);
	free(gi->owned);
	for (size_t i = 0; i < gi->n_wanted; i++)
		free(gi->wanted[i]);
	free(gi->wanted);
	free(gi->v);
	if (gi->all)
		json_object_put(gi->all);
	memset(gi, 0, sizeof(*gi));
}

/* Classifies a users.get answer: found (resource), 404, 412 "User is deleted.", or an error. */
static enum plan_gstate get_state(int code, int status, const struct err *pe)
{
	if (code == E_OK)
		return PLAN_G_FOUND;
	if (status == 404)
		return PLAN_G_NOT_FOUND;
	if (status == 412 && strstr(pe->msg, "deleted"))
		return PLAN_G_DELETED;
	return PLAN_G_UNKNOWN;
}

struct read_req {
	struct export_user *x;
	int slot; /* -1: the link's id, 0/1: the original / rewritten address */
	char path[1024];
};

/*
 * Reads by key through the batch endpoint: linked ids, or addresses of unlinked users. A part
 * that fails for another reason leaves the state unknown (the user then waits for a later run).
 */
static int read_users(struct google_client *gc, struct read_req *rq, size_t n, struct err *e)
{
	for (size_t off = 0; off < n; off += READ_BATCH) {
		size_t m = n - off < READ_BATCH ? n - off : READ_BATCH;
		struct google_batch_item *items = calloc(m, sizeof(*items));
		if (!items)
			return err_set(e, E_NOMEM, "batch");
		for (size_t i = 0; i < m; i++) {
			items[i].method = "GET";
			items[i].path = rq[off + i].path;
		}
		int rc = google_batch(gc, items, m, e);
		for (size_t i = 0; !rc && i < m; i++) {
			struct read_req *r = &rq[off + i];
			struct google_batch_item *it = &items[i];
			enum plan_gstate st = get_state(it->e.code, it->status, &it->e);
			struct json_object *jo = NULL;
			if (st == PLAN_G_FOUND) {
				jo = it->resp_body ? json_tokener_parse(it->resp_body) : NULL;
				if (!jo)
					st = PLAN_G_UNKNOWN;
			}
			if (r->slot < 0) {
				r->x->pu.g_state = st;
				r->x->pu.g = jo;
			} else {
				r->x->pu.m_state[r->slot] = st;
				r->x->pu.m[r->slot] = jo;
			}
		}
		google_batch_items_cleanup(items, m);
		free(items);
		if (rc)
			return rc;
	}
	return E_OK;
}

static int add_read(struct read_req **rq, size_t *n, size_t *cap, struct export_user *x, int slot,
		    const char *key, const char *extra, struct err *e)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct read_req *nr = realloc(*rq, c * sizeof(*nr));
		if (!nr)
			return err_set(e, E_NOMEM, "reads");
		*rq = nr;
		*cap = c;
	}
	struct read_req *r = &(*rq)[*n];
	r->x = x;
	r->slot = slot;
	char q[512];
	snprintf(q, sizeof(q), "?fields=%s%s", GOOGLE_USER_FIELDS, extra);
	if (google_user_path(key, q, r->path, sizeof(r->path)))
		return E_OK; /* a key too long for a path cannot exist in Google */
	(*n)++;
	return E_OK;
}

/* Full reconcile: one listing, then reads by id of linked users it lacks. */
static int gather_full(struct google_client *gc, struct plan_settings *ps,
		       struct export_scope *sc, struct err *e)
{
	struct gindex gi = {0};
	gi.all = json_object_new_array();
	gi.wanted = calloc(2 * sc->n + 1, sizeof(char *));
	if (!gi.all || !gi.wanted) {
		gindex_free(&gi);
		return err_set(e, E_NOMEM, "google index");
	}
	bool oom = false;
	for (size_t i = 0; i < sc->n && !oom; i++) {
		const struct export_user *x = &sc->users[i];
		const struct plan_user *u = &x->pu;
		char rewritten[320];
		const char *why, *k1 = NULL, *k2 = NULL;
		if (x->done)
			continue;
		if (u->google_id[0] && strcmp(u->link_status, "released")) {
			k1 = u->google_id;
			/* its wanted address, to see whether a rename would land on someone else's */
			if (u->exists && u->in_scope &&
			    plan_primary_email(ps, u->email, rewritten, sizeof(rewritten), &why) &&
			    strcasecmp(rewritten, u->link_primary_email))
				k2 = rewritten;
		} else if (u->exists && u->in_scope) {
			char mk[2][320];
			int nk = plan_match_keys(ps, u->email, mk);
			k1 = nk > 0 ? u->email : NULL;
			if (nk > 1) {
				snprintf(rewritten, sizeof(rewritten), "%s", mk[1]);
				k2 = rewritten;
			}
		}
		const char *ks[] = {k1, k2};
		for (int k = 0; k < 2 && !oom; k++) {
			if (!ks[k])
				continue;
			char *c = strdup(ks[k]);
			oom = !c;
			if (c) {
				for (char *q = c; *q; q++)
					*q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
				gi.wanted[gi.n_wanted++] = c;
			}
		}
	}
	if (!oom && ps->admin_email && (gi.wanted[gi.n_wanted] = strdup(ps->admin_email)))
		gi.n_wanted++;
	if (oom) {
		gindex_free(&gi);
		return err_set(e, E_NOMEM, "google index");
	}
	qsort(gi.wanted, gi.n_wanted, sizeof(*gi.wanted), cmp_strp);
	char extra[128], fields[512];
	snprintf(fields, sizeof(fields), "%s%s", GOOGLE_USER_FIELDS,
		 plan_google_fields(ps->export_mask, extra, sizeof(extra)));
	int rc = google_users_list_all(gc, fields, gindex_user, &gi, e);
	if (!rc)
		qsort(gi.v, gi.n, sizeof(*gi.v), cmp_gkey);
	if (!rc && ps->admin_email) {
		struct json_object *admin = gindex_find(&gi, ps->admin_email), *v;
		ps->delegated_admin =
			admin && !(json_object_object_get_ex(admin, "isAdmin", &v) &&
				   json_object_get_boolean(v));
	}
	struct read_req *rq = NULL;
	size_t nr = 0, cap = 0;
	for (size_t i = 0; !rc && i < sc->n; i++) {
		struct export_user *x = &sc->users[i];
		struct plan_user *u = &x->pu;
		bool linked = u->google_id[0] && strcmp(u->link_status, "released");
		if (x->done)
			continue;
		if (linked) {
			struct json_object *g = gindex_find(&gi, u->google_id);
			char want[320];
			const char *why2;
			if (g && u->exists && u->in_scope &&
			    plan_primary_email(ps, u->email, want, sizeof(want), &why2)) {
				struct json_object *holder = gindex_find(&gi, want);
				const char *hid = holder ? jstr(holder, "id") : NULL;
				u->primary_taken = hid && strcmp(hid, u->google_id) != 0;
			}
			if (g) {
				u->g = json_object_get(g);
				u->g_state = PLAN_G_FOUND;
			} else {
				/* A complete listing lacks it: confirm by id before calling it gone. */
				rc = add_read(&rq, &nr, &cap, x, -1, u->google_id, extra, e);
			}
			continue;
		}
		if (!u->exists || !u->in_scope)
			continue;
		char mk[2][320];
		int nk = plan_match_keys(ps, u->email, mk);
		for (int k = 0; k < nk; k++) {
			struct json_object *g = gindex_find(&gi, mk[k]);
			u->m_state[k] = g ? PLAN_G_FOUND : PLAN_G_NOT_FOUND;
			u->m[k] = g ? json_object_get(g) : NULL;
		}
	}
	if (!rc && nr)
		rc = read_users(gc, rq, nr, e);
	free(rq);
	gindex_free(&gi);
	return rc;
}

/*
 * Whether the integration acts as a delegated (non-super) admin: Google refuses its writes to
 * admin users, so the planner must not send them. One users.get of the admin.
 */
static int admin_is_delegated(struct google_client *gc, const char *admin_email, bool *delegated,
			      struct err *e)
{
	char path[1024];
	*delegated = false;
	if (!admin_email || google_user_path(admin_email, "?fields=id,isAdmin", path, sizeof(path)))
		return E_OK;
	char *body = NULL;
	int status = 0;
	struct err ge = {0};
	int rc = google_call(gc, "GET", path, NULL, &status, &body, NULL, &ge);
	if (rc) {
		/* An admin Google cannot find is no reason to stop; only auth and outages are. */
		if (status >= 400 && status < 500 && status != 401 && status != 429)
			return E_OK;
		*e = ge;
		return rc;
	}
	struct json_object *jo = json_tokener_parse(body), *v;
	*delegated = jo && !(json_object_object_get_ex(jo, "isAdmin", &v) && json_object_get_boolean(v));
	if (jo)
		json_object_put(jo);
	free(body);
	return E_OK;
}

/*
 * Targeted run: reads only the users the planner needs to see (plan_user_needs_read). The admin's
 * own rights are read only in a run that reads anyway (an event that changes a name reads nothing):
 * under a delegated admin every write to a user needs a fresh look at its admin flags.
 */
static int gather_targeted(struct google_client *gc, struct plan_settings *ps,
			   struct export_scope *sc, struct err *e)
{
	struct read_req *rq = NULL;
	size_t nr = 0, cap = 0;
	int rc = E_OK;
	bool any = false;
	char extra[128];
	plan_google_fields(ps->export_mask, extra, sizeof(extra));
	ps->delegated_admin = false;
	for (size_t i = 0; i < sc->n && !any; i++)
		any = !sc->users[i].done && plan_user_needs_read(ps, &sc->users[i].pu);
	if (any && (rc = admin_is_delegated(gc, ps->admin_email, &ps->delegated_admin, e)))
		return rc;
	for (size_t i = 0; any && !rc && i < sc->n; i++) {
		struct export_user *x = &sc->users[i];
		struct plan_user *u = &x->pu;
		if (x->done || !plan_user_needs_read(ps, u))
			continue;
		if (u->google_id[0] && strcmp(u->link_status, "released")) {
			rc = add_read(&rq, &nr, &cap, x, -1, u->google_id, extra, e);
			continue;
		}
		char rewritten[320];
		const char *why;
		u->m_state[0] = u->m_state[1] = PLAN_G_NOT_FOUND;
		rc = add_read(&rq, &nr, &cap, x, 0, u->email, extra, e);
		if (!rc && plan_primary_email(ps, u->email, rewritten, sizeof(rewritten), &why) &&
		    strcasecmp(rewritten, u->email))
			rc = add_read(&rq, &nr, &cap, x, 1, rewritten, extra, e);
	}
	if (!rc && nr)
		rc = read_users(gc, rq, nr, e);
	free(rq);
	return rc;
}

/* ------------------------------------------------------------------ settings */

static int load_settings(struct sync_job *j, struct plan_settings *ps, char ***domains,
			 char admin_email[320], struct store_integration *it, struct err *e)
{
	const char *tid = j->job->tenant_id, *iid = j->job->integration_id;
	int rc = store_integration_get(j->st, tid, iid, it, e);
	if (rc)
		return rc;
	struct store_domain *d = NULL;
	size_t nd = 0;
	if ((rc = store_domain_list(j->st, tid, iid, &d, &nd, e)))
		return rc;
	*domains = calloc(nd + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; *domains && i < nd; i++)
		if (d[i].verified != 0) /* refused by Google: never written to */
			(*domains)[k++] = strdup(d[i].domain);
	free(d);
	if (!*domains)
		return err_set(e, E_NOMEM, "domains");
	struct store_attribute_rule *rules = NULL;
	size_t nrules = 0;
	if ((rc = store_attribute_rules_get(j->st, tid, iid, &rules, &nrules, NULL, e)))
		return rc;
	unsigned mask = 0;
	for (size_t i = 0; i < nrules; i++)
		if (!strcmp(rules[i].direction, "export"))
			mask |= plan_attr_bit(rules[i].attribute);
	free(rules);
	struct store_credential cred;
	memset(&cred, 0, sizeof(cred));
	admin_email[0] = 0;
	struct err ce = {0};
	if (!store_credential_get(j->st, tid, iid, &cred, &ce)) {
		snprintf(admin_email, 320, "%s", cred.admin_email);
		for (char *c = admin_email; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	}
	store_credential_cleanup(&cred);
	*ps = (struct plan_settings){
		.domains = (const char *const *)*domains,
		.n_domains = k,
		.default_domain = it->default_domain,
		.export_mask = mask,
		.provision_without_password = it->provision_without_password,
		.lockout_suspend = !strcmp(it->lockout_action, "suspend"),
		.password_expiry_suspend = !strcmp(it->password_expiry_action, "suspend"),
		.recreate_deleted = !strcmp(it->deleted_in_google_action, "recreate"),
		.integration_active = !strcmp(it->status, "active"),
		.admin_email = admin_email[0] ? admin_email : NULL,
		.identity_google = !strcmp(it->identity_source, "google"),
	};
	return E_OK;
}

static void free_domains(char **d)
{
	for (size_t i = 0; d && d[i]; i++)
		free(d[i]);
	free(d);
}

/* parameters.user_ids as a NULL-terminated array (owned), NULL when absent: a full run. */
static int target_ids(struct sync_job *j, char ***ids, size_t *n, struct err *e)
{
	*ids = NULL;
	*n = 0;
	struct json_object *params = j->job->parameters_json
					     ? json_tokener_parse(j->job->parameters_json)
					     : NULL, *arr;
	if (params && json_object_object_get_ex(params, "user_ids", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		size_t m = json_object_array_length(arr);
		*ids = calloc(m + 1, sizeof(char *));
		if (!*ids) {
			json_object_put(params);
			return err_set(e, E_NOMEM, "user_ids");
		}
		for (size_t i = 0; i < m; i++) {
			const char *s = json_object_get_string(json_object_array_get_idx(arr, i));
			if (s && ((*ids)[*n] = strdup(s)))
				(*n)++;
		}
	}
	if (params)
		json_object_put(params);
	return E_OK;
}

static bool param_true(struct sync_job *j, const char *key)
{
	char v[16] = "";
	return !store_job_param(j->st, j->job, key, v, sizeof(v), NULL) && !strcmp(v, "true");
}

/* ------------------------------------------------------------------ plan storage */

static char *summary_json(const struct plan *p, const struct export_user *users)
{
	(void)users;
	struct json_object *o = json_object_new_object(), *ops = json_object_new_object(),
			   *reasons = json_object_new_object();
	for (int op = 0; op < PLAN_OP_N; op++)
		if (p->counts[op])
			json_object_object_add(ops, plan_op_name((enum plan_op)op),
					       json_object_new_int(p->counts[op]));
	json_object_object_add(o, "ops", ops);
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_entry *en = &p->entries[i];
		if (!en->reason)
			continue;
		struct json_object *c;
		int v = json_object_object_get_ex(reasons, en->reason, &c) ? json_object_get_int(c) : 0;
		json_object_object_add(reasons, en->reason, json_object_new_int(v + 1));
	}
	json_object_object_add(o, "reasons", reasons);
	char *t = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return t;
}

static int store_plan(struct sync_job *j, const struct plan *p, const struct export_user *users,
		      struct err *e)
{
	enum { CHUNK = 500 };
	struct store_plan_entry buf[CHUNK];
	char *changes[CHUNK];
	size_t k = 0;
	int rc = E_OK;
	int64_t seq = 0; /* dense: a run resumed after a crash writes the same entries again */
	for (size_t i = 0; !rc && i <= p->n; i++) {
		/* unchanged users only when a difference was left alone (identity_source google) */
		if (i < p->n && (p->entries[i].op != PLAN_NONE || p->entries[i].n_kept)) {
			const struct plan_entry *en = &p->entries[i];
			const struct plan_user *u = &users[en->user].pu;
			changes[k] = plan_changes_json(en);
			if (!changes[k]) {
				rc = err_set(e, E_NOMEM, "plan");
				break;
			}
			buf[k] = (struct store_plan_entry){
				.seq = ++seq,
				.op = plan_op_name(en->op),
				.user_id = u->user_id,
				.google_id = en->google_id ? en->google_id : "",
				.primary_email = en->primary_email ? en->primary_email : "",
				.reason = en->reason ? en->reason : "",
				.changes_json = changes[k],
				.user_version = u->version,
			};
			k++;
		}
		if (k && (k == CHUNK || i == p->n)) {
			rc = store_plan_append(j->st, j->job->id, j->owner, buf, k, e);
			for (size_t m = 0; m < k; m++)
				free(changes[m]);
			k = 0;
		}
	}
	for (size_t m = 0; m < k; m++)
		free(changes[m]);
	if (rc)
		return rc;
	char *sum = summary_json(p, users);
	if (!sum)
		return err_set(e, E_NOMEM, "plan summary");
	rc = store_plan_summary_set(j->st, j->job->id, j->owner, sum, e);
	free(sum);
	return rc;
}

/* ------------------------------------------------------------------ an approved dry run */

struct approved {
	char **user_ids; /* sorted */
	char **ops;	 /* the op planned for user_ids[i] */
	size_t n;
};

static void approved_free(struct approved *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->user_ids[i]);
		free(a->ops[i]);
	}
	free(a->user_ids);
	free(a->ops);
	memset(a, 0, sizeof(*a));
}

struct approved_pair {
	char *user_id, *op;
};

static int cmp_approved_pair(const void *x, const void *y)
{
	return strcmp(((const struct approved_pair *)x)->user_id,
		      ((const struct approved_pair *)y)->user_id);
}

/* The ops the approved dry run planned, per user (read through the plan pages). */
static int approved_load(struct sync_job *j, const char *plan_job, struct approved *a,
			 struct err *e)
{
	memset(a, 0, sizeof(*a));
	size_t cap = 0;
	int64_t after = 0;
	for (;;) {
		char *page = NULL;
		size_t n = 0;
		int rc = store_plan_page(j->st, j->job->tenant_id, plan_job, after, 1000, &page, &n, e);
		if (rc)
			return rc;
		struct json_object *arr = json_tokener_parse(page ? page : "[]");
		free(page);
		size_t m = arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr)
									      : 0;
		for (size_t i = 0; i < m; i++) {
			struct json_object *en = json_object_array_get_idx(arr, i), *v;
			if (json_object_object_get_ex(en, "seq", &v))
				after = json_object_get_int64(v);
			const char *uid = jstr(en, "user_id"), *op = jstr(en, "op");
			if (!uid || !op || after >= SYNC_GROUPS_PLAN_SEQ_BASE)
				continue; /* (a full_sync's group entries come last) */
			if (a->n == cap) {
				cap = cap ? cap * 2 : 256;
				char **nu = realloc(a->user_ids, cap * sizeof(char *));
				if (nu)
					a->user_ids = nu;
				char **no = realloc(a->ops, cap * sizeof(char *));
				if (no)
					a->ops = no;
				if (!nu || !no) {
					json_object_put(arr);
					return err_set(e, E_NOMEM, "approved plan");
				}
			}
			a->user_ids[a->n] = strdup(uid);
			a->ops[a->n] = strdup(op);
			a->n++;
		}
		if (arr)
			json_object_put(arr);
		if (m == 0 || n == 0)
			break;
	}
	/* sort both arrays by user id (insertion order is by seq); qsort: 20,000 users and more */
	struct approved_pair *pairs = malloc((a->n ? a->n : 1) * sizeof(*pairs));
	if (!pairs)
		return err_set(e, E_NOMEM, "approved plan");
	for (size_t i = 0; i < a->n; i++)
		pairs[i] = (struct approved_pair){a->user_ids[i], a->ops[i]};
	qsort(pairs, a->n, sizeof(*pairs), cmp_approved_pair);
	for (size_t i = 0; i < a->n; i++) {
		a->user_ids[i] = pairs[i].user_id;
		a->ops[i] = pairs[i].op;
	}
	free(pairs);
	return E_OK;
}

/*
 * Applying an approved dry run: only what it planned is done. A user whose operation is no longer
 * the one approved (the directory or Google moved on) waits for the next run, never applied
 * blindly; so does anyone the dry run did not plan.
 */
static void approved_restrict(struct plan *p, const struct export_user *users,
			      const struct approved *a)
{
	for (size_t i = 0; i < p->n; i++) {
		struct plan_entry *en = &p->entries[i];
		if (en->op == PLAN_NONE || en->op == PLAN_SKIP || en->op == PLAN_CONFLICT ||
		    en->op == PLAN_FAIL)
			continue;
		const char *uid = users[en->user].pu.user_id;
		size_t lo = 0, hi = a->n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(a->user_ids[mid], uid) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		bool same = lo < a->n && !strcmp(a->user_ids[lo], uid) &&
			    !strcmp(a->ops[lo], plan_op_name(en->op));
		if (same)
			continue;
		p->counts[en->op]--;
		plan_entry_skip(en, lo < a->n && !strcmp(a->user_ids[lo], uid) ? "plan_changed"
										 : "not_in_approved_plan",
				"the approved dry run planned something else for this user; the next run "
				"plans it again");
		p->counts[en->op]++;
	}
}

/* ------------------------------------------------------------------ the runner */

/*
 * Deletion guard: would this job's suspensions, with the integration's recent ones, pass
 * max_count or max_percent of the linked users (when more than GUARD_MIN_LINKED are linked)?
 */
static int guard_trips(struct sync_job *j, const struct store_integration *it, int planned,
		       bool *trips, struct err *e)
{
	int recent = 0, linked = 0;
	*trips = false;
	if (planned == 0)
		return E_OK;
	int rc = store_guard_counts(j->st, j->job->integration_id, GUARD_WINDOW_S, &recent, &linked,
				    e);
	if (rc)
		return rc;
	int total = recent + planned;
	*trips = total > it->deletion_guard_max_count ||
		 (linked > GUARD_MIN_LINKED &&
		  (long)total * 100 > (long)it->deletion_guard_max_percent * linked);
	return E_OK;
}

int export_users_run(struct sync_job *j, struct err *e)
{
	struct plan_settings ps;
	char **domains = NULL, **ids = NULL, admin_email[320];
	size_t n_ids = 0;
	struct store_integration it;
	struct export_scope sc = {0};
	struct plan plan = {0};
	struct connect_handle *h = NULL;
	sync_domains_refresh(j);
	int rc = load_settings(j, &ps, &domains, admin_email, &it, e);
	if (!rc && strcmp(it.status, "active"))
		rc = err_set(e, E_CONFLICT, "the integration is %s, not active", it.status);
	if (!rc)
		rc = target_ids(j, &ids, &n_ids, e);
	if (rc)
		goto out;
	bool targeted = ids != NULL;
	ps.full = !targeted;
	if (targeted && n_ids == 0)
		goto out; /* nothing asked for */
	if (sync_job_checkpoint(j, 0, -1))
		goto out;
	rc = store_export_scope(j->st, j->job->tenant_id, j->job->integration_id,
				(const char *const *)ids, n_ids, scope_row, &sc, e);
	if (rc)
		goto out;
	resolve_managers(&sc);
	/* A run taken over after a crash skips the users an earlier run of this job recorded. */
	struct store_job_done done;
	if ((rc = sync_job_done_load(j, "user", &done, e)))
		goto out;
	for (size_t i = 0; i < sc.n; i++)
		sc.users[i].done = store_job_done_has(&done, sc.users[i].pu.user_id);
	store_job_done_cleanup(&done);
	rc = connect_client_acquire(j->conn, j->job->tenant_id, j->job->integration_id, &h, e);
	if (rc)
		goto out;
	struct google_client *gc = connect_handle_client(h);
	rc = targeted ? gather_targeted(gc, &ps, &sc, e) : gather_full(gc, &ps, &sc, e);
	if (rc)
		goto out;
	connect_handle_used(h);
	struct plan_user *pu = calloc(sc.n ? sc.n : 1, sizeof(*pu));
	if (!pu) {
		rc = err_set(e, E_NOMEM, "plan");
		goto out;
	}
	for (size_t i = 0; i < sc.n; i++) {
		pu[i] = sc.users[i].pu;
		if (sc.users[i].done) /* planned as nobody: nothing to do, nothing to record */
			pu[i] = (struct plan_user){
				.user_id = pu[i].user_id, .email = "", .first_name = "", .last_name = "",
				.state = "", .alternate_email = "", .cost_center = "", .department = "",
				.employee_type = "", .job_title = "", .employee_id = "",
				.addresses_json = "[]", .phones_json = "[]", .password_digest = "",
				.google_id = "", .link_status = "", .link_primary_email = "",
				.link_password_digest = ""};
	}
	int prc = plan_users_run(&ps, pu, sc.n, &plan);
	free(pu);
	if (prc) {
		rc = err_set(e, E_NOMEM, "plan");
		goto out;
	}
	log_write(LOG_INFO, "sync", "export_planned", NULL,
		  (struct log_field[]){LOG_NUM("users", (long long)sc.n),
				       LOG_NUM("creates", plan.counts[PLAN_CREATE]),
				       LOG_NUM("links", plan.counts[PLAN_LINK]),
				       LOG_NUM("updates", plan.counts[PLAN_UPDATE] +
							  plan.counts[PLAN_RENAME] +
							  plan.counts[PLAN_SET_PASSWORD] +
							  plan.counts[PLAN_UNSUSPEND]),
				       LOG_NUM("suspensions", plan.counts[PLAN_SUSPEND]),
				       LOG_NUM("dry_run", j->job->dry_run)},
		  6);
	if ((rc = store_plan(j, &plan, sc.users, e)))
		goto out;
	if (j->job->dry_run) {
		sync_job_checkpoint(j, (int)sc.n, (int)sc.n);
		goto out;
	}
	char plan_job[64] = "";
	store_job_param(j->st, j->job, "approved_plan", plan_job, sizeof(plan_job), NULL);
	if (plan_job[0]) {
		struct approved a;
		if ((rc = approved_load(j, plan_job, &a, e)))
			goto out;
		approved_restrict(&plan, sc.users, &a);
		approved_free(&a);
	}
	bool trips = false;
	if (!param_true(j, "approved") && !plan_job[0] &&
	    (rc = guard_trips(j, &it, plan.counts[PLAN_SUSPEND], &trips, e)))
		goto out;
	if (trips) {
		if (!(rc = store_job_await_approval(j->st, j->job->id, j->owner, e)))
			j->stop = SYNC_AWAITING; /* the job waits: the worker must not finish it */
		log_write(LOG_WARN, "sync", "deletion_guard", "job awaits approval",
			  (struct log_field[]){LOG_NUM("suspensions", plan.counts[PLAN_SUSPEND])},
			  1);
		goto out;
	}
	struct apply_ctx ac = {.j = j, .h = h, .scope = &sc};
	rc = apply_users(&ac, &plan, e);
out:
	plan_free(&plan);
	if (h)
		connect_client_release(j->conn, h);
	export_scope_free(&sc);
	free_domains(domains);
	for (size_t i = 0; ids && i < n_ids; i++)
		free(ids[i]);
	free(ids);
	return rc;
}

int full_sync_run(struct sync_job *j, struct err *e)
{
	int rc = export_users_run(j, e);
	if (rc || j->stop)
		return rc;
	struct store_integration it;
	struct err ie = {0};
	/* Groups after users, so the members the export just linked are in Google already; with
	 * group management off nothing of groups is read or written. */
	if (!store_integration_get(j->st, j->job->tenant_id, j->job->integration_id, &it, &ie) &&
	    it.group_management)
		return sync_groups_run(j, e);
	return E_OK;
}
