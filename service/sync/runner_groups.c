/*
 * sync_groups: read the group scope and what Google holds, plan (plan_groups), store the plan,
 * then apply it (apply_groups). See runner_groups.h.
 */
#include "runner_groups.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "google_groups.h"
#include "google_users.h"
#include "log.h"
#include "store_export.h"
#include "store_groups_sync.h"
#include "store_integrations.h"

/* ------------------------------------------------------------------ the scope, copied */

static void xfree_str(const char *s)
{
	free((void *)(uintptr_t)s);
}

static void item_free(struct groups_item *x)
{
	struct plan_group *g = &x->pg;
	const char *strs[] = {g->group_id,  g->email,	    g->name,	  g->description,
			      g->google_id, g->link_status, g->link_email};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		xfree_str(strs[i]);
	for (size_t i = 0; i < g->n_members; i++) {
		xfree_str(x->dm[i].user_id);
		xfree_str(x->dm[i].email);
		xfree_str(x->dm[i].google_id);
		xfree_str(x->dm[i].primary_email);
	}
	free(x->dm);
	for (size_t i = 0; i < g->n_gm; i++) {
		xfree_str(x->gm[i].id);
		xfree_str(x->gm[i].email);
	}
	free(x->gm);
	if (g->g)
		json_object_put(g->g);
	if (g->by_addr)
		json_object_put(g->by_addr);
}

static void scope_free(struct groups_scope *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		item_free(&sc->v[i]);
	free(sc->v);
	memset(sc, 0, sizeof(*sc));
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

/* Whether a user link can be a group member: a Google id and synced or suspended. */
static bool link_usable(struct json_object *m)
{
	const char *st = jstr(m, "link_status");
	return jstr(m, "google_id")[0] && (!strcmp(st, "synced") || !strcmp(st, "suspended"));
}

static int scope_row(void *ctx, const struct store_group_row *r, struct err *e)
{
	struct groups_scope *sc = ctx;
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 64;
		struct groups_item *nv = realloc(sc->v, cap * sizeof(*nv));
		if (!nv)
			return err_set(e, E_NOMEM, "group scope");
		sc->v = nv;
		sc->cap = cap;
	}
	struct groups_item *x = &sc->v[sc->n++];
	memset(x, 0, sizeof(*x));
	struct plan_group *g = &x->pg;
	bool ok = true;
#define DUP(dst, src)                                                                          \
	do {                                                                                   \
		(dst) = strdup((src) ? (src) : "");                                            \
		ok = ok && (dst);                                                              \
	} while (0)
	DUP(g->group_id, r->group_id);
	DUP(g->email, r->email);
	DUP(g->name, r->name);
	DUP(g->description, r->description);
	/* a link whose Google group gwsync deleted links nothing: the group starts anew */
	DUP(g->google_id, strcmp(r->link_status, "deleted") ? r->google_id : "");
	DUP(g->link_status, r->link_status);
	DUP(g->link_email, r->link_email);
	/* creating, or a create that failed on an answer that may hide its success (the link has no
	 * Google id yet): a Google group found at the address is gwsync's own */
	x->create_intent = !strcmp(r->link_status, "creating") ||
			   (!strcmp(r->link_status, "failed") && !r->google_id[0] &&
			    !strcmp(r->link_origin, "provisioned"));
	g->exists = r->exists;
	g->bound = r->bound;
	g->version = r->version;
	struct json_object *arr = ok ? json_tokener_parse(r->members_json) : NULL;
	size_t n = arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr)
								    : 0;
	x->dm = calloc(n ? n : 1, sizeof(*x->dm));
	ok = ok && x->dm;
	for (size_t i = 0; ok && i < n; i++) {
		struct json_object *m = json_object_array_get_idx(arr, i);
		struct plan_dmember *d = &x->dm[i];
		bool usable = link_usable(m);
		DUP(d->user_id, jstr(m, "user_id"));
		DUP(d->email, jstr(m, "email"));
		DUP(d->google_id, usable ? jstr(m, "google_id") : "");
		DUP(d->primary_email, usable ? jstr(m, "primary_email") : "");
		g->n_members = i + 1;
	}
#undef DUP
	g->members = x->dm;
	if (arr)
		json_object_put(arr);
	return ok ? E_OK : err_set(e, E_NOMEM, "group scope");
}

/* ------------------------------------------------------------------ Google's groups */

struct gkey {
	const char *key; /* lower-case (owned by keys) */
	struct json_object *group;
};

struct gindex {
	struct gkey *v;
	size_t n, cap;
	char **keys;
	size_t n_keys;
	struct json_object *all; /* one reference per group */
};

static int gindex_add(struct gindex *gi, const char *key, struct json_object *group)
{
	if (!key || !key[0])
		return 0;
	if (gi->n == gi->cap) {
		size_t cap = gi->cap ? gi->cap * 2 : 256;
		void *nv = realloc(gi->v, cap * sizeof(*gi->v));
		char **nk = realloc(gi->keys, cap * sizeof(*nk));
		if (nv)
			gi->v = nv;
		if (nk)
			gi->keys = nk;
		if (!nv || !nk)
			return -1;
		gi->cap = cap;
	}
	char *k = strdup(key);
	if (!k)
		return -1;
	for (char *c = k; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	gi->keys[gi->n_keys++] = k;
	gi->v[gi->n].key = k;
	gi->v[gi->n].group = group;
	gi->n++;
	return 0;
}

static int gindex_group(void *ctx, struct json_object *group, struct err *e)
{
	struct gindex *gi = ctx;
	json_object_array_add(gi->all, json_object_get(group));
	int rc = gindex_add(gi, jstr(group, "id"), group) ||
		 gindex_add(gi, jstr(group, "email"), group);
	static const char *const keys[] = {"aliases", "nonEditableAliases"};
	for (int k = 0; k < 2 && !rc; k++) {
		struct json_object *arr;
		if (!json_object_object_get_ex(group, keys[k], &arr) ||
		    !json_object_is_type(arr, json_type_array))
			continue;
		for (size_t i = 0; i < json_object_array_length(arr) && !rc; i++)
			rc = gindex_add(gi, json_object_get_string(json_object_array_get_idx(arr, i)),
					group);
	}
	return rc ? err_set(e, E_NOMEM, "group index") : E_OK;
}

static int cmp_gkey(const void *a, const void *b)
{
	return strcmp(((const struct gkey *)a)->key, ((const struct gkey *)b)->key);
}

static struct json_object *gindex_find(const struct gindex *gi, const char *key)
{
	if (!gi->n || !key[0])
		return NULL;
	char lk[320];
	snprintf(lk, sizeof(lk), "%s", key);
	for (char *c = lk; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	struct gkey k = {lk, NULL};
	const struct gkey *hit = bsearch(&k, gi->v, gi->n, sizeof(*gi->v), cmp_gkey);
	return hit ? hit->group : NULL;
}

static void gindex_free(struct gindex *gi)
{
	for (size_t i = 0; i < gi->n_keys; i++)
		free(gi->keys[i]);
	free(gi->keys);
	free(gi->v);
	if (gi->all)
		json_object_put(gi->all);
	memset(gi, 0, sizeof(*gi));
}

/* GET path: 1 found (*out the resource, or NULL when only existence matters), 0 not found (404),
 * -1 another answer (e set). */
static int get_one(struct google_client *gc, const char *path, struct json_object **out,
		   struct err *e)
{
	char *body = NULL;
	int status = 0;
	if (out)
		*out = NULL;
	int rc = google_call(gc, "GET", path, NULL, &status, &body, NULL, e);
	if (rc) {
		free(body);
		return status == 404 ? 0 : -1;
	}
	if (out)
		*out = json_tokener_parse(body);
	free(body);
	return 1;
}

struct gm_ctx {
	struct groups_item *x;
};

static int member_entry(void *ctx, const struct google_member *m, struct err *e)
{
	struct groups_item *x = ((struct gm_ctx *)ctx)->x;
	struct plan_group *g = &x->pg;
	if (g->n_gm == x->gm_cap) {
		size_t cap = x->gm_cap ? x->gm_cap * 2 : 32;
		struct plan_gm *nv = realloc(x->gm, cap * sizeof(*nv));
		if (!nv)
			return err_set(e, E_NOMEM, "members");
		x->gm = nv;
		x->gm_cap = cap;
		g->gm = nv;
	}
	struct plan_gm *p = &x->gm[g->n_gm];
	p->id = strdup(m->id);
	p->email = strdup(m->email);
	if (!p->id || !p->email) {
		xfree_str(p->id);
		xfree_str(p->email);
		return err_set(e, E_NOMEM, "members");
	}
	static const enum plan_gm_type types[] = {
		[GOOGLE_MEMBER_OTHER] = PLAN_GM_OTHER,	     [GOOGLE_MEMBER_USER] = PLAN_GM_USER,
		[GOOGLE_MEMBER_GROUP] = PLAN_GM_GROUP,	     [GOOGLE_MEMBER_CUSTOMER] = PLAN_GM_CUSTOMER,
		[GOOGLE_MEMBER_EXTERNAL] = PLAN_GM_EXTERNAL,
	};
	p->type = types[m->type];
	p->role = m->role == GOOGLE_ROLE_OWNER	   ? PLAN_GM_OWNER
		  : m->role == GOOGLE_ROLE_MANAGER ? PLAN_GM_MANAGER
						   : PLAN_GM_MEMBER;
	g->n_gm++;
	return E_OK;
}

/* Whether another group of the scope holds a managed link to google_id. */
static bool linked_elsewhere(const struct groups_scope *sc, const struct groups_item *self,
			     const char *google_id)
{
	for (size_t i = 0; i < sc->n; i++) {
		const struct plan_group *o = &sc->v[i].pg;
		if (&sc->v[i] != self && o->google_id[0] && !strcmp(o->google_id, google_id) &&
		    strcmp(o->link_status, "unmanaged") && strcmp(o->link_status, "delete_requested"))
			return true;
	}
	return false;
}

/*
 * A Google group by key (id, address or alias): from the listing when there is one (a miss is
 * 0), else by groups.get. 1 found (*out a new reference), 0 not there, -1 another answer (e set).
 */
static int group_lookup(struct google_client *gc, const struct gindex *gi, bool listed,
			const char *key, struct json_object **out, struct err *e)
{
	char path[1024];
	*out = NULL;
	if (listed) {
		struct json_object *hit = gindex_find(gi, key);
		*out = hit ? json_object_get(hit) : NULL;
		return hit ? 1 : 0;
	}
	if (google_group_path(key, "?fields=" GOOGLE_GROUP_FIELDS, path, sizeof(path)))
		return 0; /* no key that long exists */
	int got = get_one(gc, path, out, e);
	if (got == 1 && !*out) {
		err_set(e, E_UNAVAIL, "groups.get: the answer is not JSON");
		return -1;
	}
	return got;
}

/*
 * Whether a targeted run reads its groups one by one (groups.get) rather than listing them all:
 * when the groups to read are no more than the listing's pages could be. Google holds at least
 * the integration's linked groups (known), so the listing takes at least known / page pages.
 */
static bool read_one_by_one(const struct plan_groups_settings *ps, const struct groups_scope *sc,
			    bool targeted, long known)
{
	if (!targeted)
		return false;
	long reads = 0;
	for (size_t i = 0; i < sc->n; i++)
		if (!sc->v[i].done && plan_group_needs_google(ps, &sc->v[i].pg))
			reads++;
	long pages = (known + GOOGLE_GROUPS_PAGE - 1) / GOOGLE_GROUPS_PAGE;
	return reads <= (pages > 1 ? pages : 1);
}

/*
 * Everything the planner must see of Google, for every group of the scope not done yet whose plan
 * depends on it: one listing of every group, or (one_by_one) a groups.get per group.
 */
static int gather(struct google_client *gc, const struct plan_groups_settings *ps,
		  struct groups_scope *sc, bool one_by_one, struct err *e)
{
	struct gindex gi = {0};
	gi.all = json_object_new_array();
	if (!gi.all)
		return err_set(e, E_NOMEM, "group index");
	bool listed = !one_by_one;
	int rc = listed ? google_groups_list_all(gc, gindex_group, &gi, e) : E_OK;
	if (!rc && gi.n) /* gi.v is NULL for a customer without groups */
		qsort(gi.v, gi.n, sizeof(*gi.v), cmp_gkey);
	for (size_t i = 0; !rc && i < sc->n; i++) {
		struct groups_item *x = &sc->v[i];
		struct plan_group *g = &x->pg;
		if (x->done || !plan_group_needs_google(ps, g))
			continue;
		char path[1024];
		struct json_object *target = NULL;
		if (g->google_id[0]) {
			int got = group_lookup(gc, &gi, listed, g->google_id, &g->g, e);
			if (got == 0 && listed &&
			    !google_group_path(g->google_id, "?fields=" GOOGLE_GROUP_FIELDS, path,
					       sizeof(path)))
				/* a complete listing lacks it: confirm by id before calling it gone */
				got = get_one(gc, path, &g->g, e);
			if (got < 0) {
				rc = e->code;
				break;
			}
			g->g_missing = got == 0;
			target = g->g;
		}
		bool same = g->g && !strcasecmp(jstr(g->g, "email"), g->email);
		if (!same) {
			struct json_object *hit = NULL;
			int got = group_lookup(gc, &gi, listed, g->email, &hit, e);
			if (got < 0) {
				rc = e->code;
				break;
			}
			if (hit) {
				g->by_addr = hit;
				g->by_addr_linked_elsewhere =
					linked_elsewhere(sc, x, jstr(hit, "id")) &&
					strcmp(jstr(hit, "id"), g->google_id);
			} else if (!google_user_path(g->email, "?fields=id", path, sizeof(path))) {
				got = get_one(gc, path, NULL, e);
				if (got < 0) {
					rc = e->code;
					break;
				}
				g->addr_is_user = got == 1;
			}
			if (!g->google_id[0] && g->by_addr && !g->by_addr_linked_elsewhere)
				target = g->by_addr;
		}
		if (target) {
			struct gm_ctx c = {x};
			struct err me = {0};
			int mrc = google_members_list_all(gc, jstr(target, "id"), member_entry, &c,
							  &me);
			if (mrc == E_NOMEM || mrc == E_UNAUTH || mrc == E_FORBIDDEN) {
				*e = me;
				rc = mrc;
				break;
			}
			g->gm_read = mrc == E_OK;
		}
	}
	gindex_free(&gi);
	return rc;
}

/* ------------------------------------------------------------------ plan storage */

static char *summary_json(const struct plan_groups *p)
{
	struct json_object *o = json_object_new_object(), *reasons = json_object_new_object();
	for (int op = 0; op < PLAN_GROUP_OP_N; op++)
		json_object_object_add(o, plan_group_op_name((enum plan_group_op)op),
				       json_object_new_int(p->counts[op]));
	json_object_object_add(o, "add_member", json_object_new_int(p->n_adds));
	json_object_object_add(o, "remove_member", json_object_new_int(p->n_removes));
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_group_entry *en = &p->entries[i];
		if (!en->reason || !strcmp(en->reason, "not_in_scope"))
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

/* The change list of a membership entry: which group. */
static char *member_changes(const char *group_id)
{
	struct json_object *arr = json_object_new_array(), *o = json_object_new_object();
	json_object_object_add(o, "field", json_object_new_string("group_id"));
	json_object_object_add(o, "before", NULL);
	json_object_object_add(o, "after", json_object_new_string(group_id));
	json_object_array_add(arr, o);
	char *t = strdup(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
	json_object_put(arr);
	return t;
}

/*
 * The plan as stored: one entry per group with something to say (user_id holds the group id,
 * primary_email the group's email), then one add_member / remove_member entry per change
 * (user_id the member, google_id the member's Google id, primary_email the member key, changes
 * [{field: group_id, after: <group>}]).
 */
static int store_plan(struct sync_job *j, const struct plan_groups *p,
		      const struct groups_scope *sc, struct err *e)
{
	int64_t seq = strcmp(j->job->type, "full_sync") ? 0 : SYNC_GROUPS_PLAN_SEQ_BASE;
	int rc = E_OK;
	for (size_t i = 0; !rc && i < p->n; i++) {
		const struct plan_group_entry *en = &p->entries[i];
		const struct plan_group *g = &sc->v[en->group].pg;
		bool say = en->op != PLAN_GROUP_NONE &&
			   !(en->reason && !strcmp(en->reason, "not_in_scope"));
		size_t n = (say ? 1 : 0) + en->n_adds + en->n_removes;
		if (!n)
			continue;
		struct store_plan_entry *buf = calloc(n, sizeof(*buf));
		char **changes = calloc(n, sizeof(*changes));
		size_t k = 0;
		if (!buf || !changes) {
			free(buf);
			free(changes);
			return err_set(e, E_NOMEM, "plan");
		}
		if (say) {
			changes[k] = plan_group_changes_json(en);
			buf[k] = (struct store_plan_entry){
				.seq = ++seq,
				.op = plan_group_op_name(en->op),
				.user_id = g->group_id,
				.google_id = en->google_id ? en->google_id : "",
				.primary_email = en->email ? en->email : "",
				.reason = en->reason ? en->reason : "",
				.changes_json = changes[k],
				.user_version = g->version,
			};
			k++;
		}
		for (size_t m = 0; m < en->n_adds + en->n_removes; m++) {
			bool add = m < en->n_adds;
			const struct plan_member_change *c =
				add ? &en->adds[m] : &en->removes[m - en->n_adds];
			changes[k] = member_changes(g->group_id);
			buf[k] = (struct store_plan_entry){
				.seq = ++seq,
				.op = add ? "add_member" : "remove_member",
				.user_id = c->user_id,
				.google_id = c->google_id,
				.primary_email = c->key,
				.reason = "",
				.changes_json = changes[k],
				.user_version = g->version,
			};
			k++;
		}
		for (size_t m = 0; m < k; m++)
			if (!changes[m])
				rc = err_set(e, E_NOMEM, "plan");
		if (!rc)
			rc = store_plan_append(j->st, j->job->id, j->owner, buf, k, e);
		for (size_t m = 0; m < k; m++)
			free(changes[m]);
		free(changes);
		free(buf);
	}
	if (rc)
		return rc;
	char *sum = summary_json(p);
	if (!sum)
		return err_set(e, E_NOMEM, "plan summary");
	/* A full_sync keeps its users' summary: the groups' goes beside it, under "groups". */
	rc = !strcmp(j->job->type, "full_sync")
		     ? store_plan_summary_merge(j->st, j->job->id, j->owner, "groups", sum, e)
		     : store_plan_summary_set(j->st, j->job->id, j->owner, sum, e);
	free(sum);
	return rc;
}

/* ------------------------------------------------------------------ the runner */

/*
 * Groups an earlier run of this job created without finishing their members (a crash): run again
 * (not done), and counted as created, not as updated, when they are finished.
 */
static int mark_created_before(struct sync_job *j, struct groups_scope *sc, struct err *e)
{
	char **ids = NULL;
	size_t n = 0;
	int rc = store_group_items_pending(j->st, j->job->id, &ids, &n, e);
	for (size_t k = 0; !rc && k < n; k++)
		for (size_t i = 0; i < sc->n; i++)
			if (!strcmp(sc->v[i].pg.group_id, ids[k])) {
				sc->v[i].done = false;
				sc->v[i].created_before = true;
			}
	store_strings_free(ids, n);
	return rc;
}

#define GUARD_MIN_MANAGED 50

static bool approved(struct sync_job *j)
{
	char v[16] = "";
	return !store_job_param(j->st, j->job, "approved", v, sizeof(v), NULL) && !strcmp(v, "true");
}

/*
 * The per-group removal guard: the first group (its id) whose removals pass the integration's
 * deletion_guard.max_count, or max_percent of the group's managed members when it has more than
 * GUARD_MIN_MANAGED of them; NULL when none does.
 */
static const char *guard_trips(const struct store_integration *it, const struct plan_groups *p,
			       const struct groups_scope *sc)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_group_entry *en = &p->entries[i];
		long removes = (long)en->n_removes;
		long managed = en->actual - en->not_managed;
		if (removes == 0)
			continue;
		if (removes > it->deletion_guard_max_count ||
		    (managed > GUARD_MIN_MANAGED &&
		     removes * 100 > (long)it->deletion_guard_max_percent * managed))
			return sc->v[en->group].pg.group_id;
	}
	return NULL;
}

int sync_groups_run(struct sync_job *j, struct err *e)
{
	struct store_integration it;
	char **ids = NULL, **domains = NULL, **linked = NULL;
	size_t n_ids = 0, n_domains = 0, n_linked = 0;
	struct groups_scope sc = {0};
	struct plan_groups plan = {0};
	struct plan_group *pg = NULL;
	struct connect_handle *h = NULL;
	int rc = store_integration_get(j->st, j->job->tenant_id, j->job->integration_id, &it, e);
	if (!rc && strcmp(it.status, "active"))
		rc = sync_set_not_active(e, it.status);
	if (rc)
		goto out;
	if (!it.group_management) {
		/* No group write of any kind; existing links stay as they are. */
		struct err ie = {0};
		sync_job_item(j, "groups", j->job->integration_id, JOB_SKIPPED,
			      "group_management_off", "group management is off for the integration",
			      &ie);
		goto out;
	}
	if ((rc = sync_job_param_ids(j, "group_ids", &ids, &n_ids, e)))
		goto out;
	if (ids && n_ids == 0)
		goto out; /* nothing asked for */
	if (sync_job_checkpoint(j, 0, -1))
		goto out;
	sync_domains_refresh(j);
	if ((rc = sync_domains_load(j->st, j->job->tenant_id, j->job->integration_id, &domains,
				     &n_domains, e)))
		goto out;
	rc = store_groups_scope(j->st, j->job->tenant_id, j->job->integration_id,
				(const char *const *)ids, n_ids, scope_row, &sc, e);
	if (rc)
		goto out;
	if ((rc = store_linked_user_ids(j->st, j->job->tenant_id, j->job->integration_id, &linked,
					&n_linked, e)))
		goto out;
	struct store_job_done done;
	if ((rc = sync_job_done_load(j, "group", &done, e)))
		goto out;
	for (size_t i = 0; i < sc.n; i++)
		sc.v[i].done = store_job_done_has(&done, sc.v[i].pg.group_id);
	store_job_done_cleanup(&done);
	if ((rc = mark_created_before(j, &sc, e)))
		goto out;
	for (size_t i = 0; ids && i < sc.n; i++)
		sc.v[i].requested = true;
	if ((rc = connect_client_acquire(j->conn, j->job->tenant_id, j->job->integration_id, &h, e)))
		goto out;
	long known = 0;
	if (ids && (rc = store_group_links_known(j->st, j->job->tenant_id, j->job->integration_id,
						 &known, e)))
		goto out;
	struct plan_groups_settings ps = {
		.domains = (const char *const *)domains,
		.n_domains = n_domains,
		.authoritative = !strcmp(it.group_membership, "authoritative"),
		.linked_user_ids = (const char *const *)linked,
		.n_linked_user_ids = n_linked,
	};
	if ((rc = gather(connect_handle_client(h), &ps, &sc,
			 read_one_by_one(&ps, &sc, ids != NULL, known), e)))
		goto out;
	connect_handle_used(h);
	pg = calloc(sc.n ? sc.n : 1, sizeof(*pg));
	if (!pg) {
		rc = err_set(e, E_NOMEM, "plan");
		goto out;
	}
	for (size_t i = 0; i < sc.n; i++) {
		pg[i] = sc.v[i].pg;
		if (sc.v[i].done) /* planned as nothing: not in scope, no link */
			pg[i] = (struct plan_group){.group_id = pg[i].group_id, .email = "",
						    .name = "", .description = "", .google_id = "",
						    .link_status = "", .link_email = ""};
	}
	if (plan_groups_run(&ps, pg, sc.n, &plan)) {
		rc = err_set(e, E_NOMEM, "plan");
		goto out;
	}
	log_write(LOG_INFO, "sync", "groups_planned", NULL,
		  (struct log_field[]){LOG_NUM("groups", (long long)sc.n),
				       LOG_NUM("creates", plan.counts[PLAN_GROUP_CREATE]),
				       LOG_NUM("links", plan.counts[PLAN_GROUP_LINK]),
				       LOG_NUM("adds", plan.n_adds),
				       LOG_NUM("removes", plan.n_removes),
				       LOG_NUM("dry_run", j->job->dry_run)},
		  6);
	if ((rc = store_plan(j, &plan, &sc, e)))
		goto out;
	if (j->job->dry_run) {
		sync_job_checkpoint(j, (int)sc.n, (int)sc.n);
		goto out;
	}
	const char *tripped = approved(j) ? NULL : guard_trips(&it, &plan, &sc);
	if (tripped) {
		if (!(rc = store_job_await_approval(j->st, j->job->id, j->owner, e)))
			j->stop = SYNC_AWAITING; /* the job waits: the worker must not finish it */
		log_write(LOG_WARN, "sync", "deletion_guard",
			  "job awaits approval: too many removals from one group",
			  (struct log_field[]){LOG_STR("group_id", tripped)}, 1);
		goto out;
	}
	struct groups_apply ga = {.j = j, .h = h, .scope = &sc};
	rc = apply_groups(&ga, &plan, e);
out:
	free(pg);
	plan_groups_free(&plan);
	if (h)
		connect_client_release(j->conn, h);
	scope_free(&sc);
	store_strings_free(domains, n_domains);
	store_strings_free(linked, n_linked);
	store_strings_free(ids, n_ids);
	return rc;
}
