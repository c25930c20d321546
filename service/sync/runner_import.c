/*
 * import_users: settings, what Google holds (page by page), the directory users each page may be,
 * the plan (plan_import), the import guard, then apply_import. See runner_import.h.
 */
#include "runner_import.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apply_import.h"
#include "google_batch.h"
#include "google_users.h"
#include "log.h"
#include "store_export.h"
#include "store_import.h"
#include "sync_lanes.h"

#define PAGE 500	  /* Google users planned together (one candidates query) */
#define READ_BATCH 500	  /* users.get parts per batch request (chosen users) */
#define STOPPED 1000	     /* a listing callback's "stop here" (the job must stop) */
#define ANALYZE_AFTER 1000   /* users created by one run after which the statistics are renewed */

/* ------------------------------------------------------------------ settings */

void import_config_free(struct import_config *c)
{
	for (size_t i = 0; c->domains && c->domains[i]; i++)
		free(c->domains[i]);
	free(c->domains);
	c->domains = NULL;
}

int import_config_load(struct store *st, const char *tenant_id, const char *integration_id,
		       struct import_config *c, struct err *e)
{
	memset(c, 0, sizeof(*c));
	int rc = store_integration_get(st, tenant_id, integration_id, &c->it, e);
	if (rc)
		return rc;
	size_t k = 0;
	if ((rc = sync_domains_load(st, tenant_id, integration_id, &c->domains, &k, e)))
		return rc;
	struct store_attribute_rule *rules = NULL;
	size_t nrules = 0;
	if ((rc = store_attribute_rules_get(st, tenant_id, integration_id, &rules, &nrules, NULL, e)))
		return rc;
	unsigned mask = 0;
	for (size_t i = 0; i < nrules; i++)
		if (!strcmp(rules[i].direction, "import"))
			mask |= plan_attr_bit(rules[i].attribute);
	free(rules);
	/* Never imported: the password and the state (Google's suspension follows
	 * identity_source) and the manager (a relation names an address, not a person). */
	mask &= ~(unsigned)(PLAN_ATTR_PASSWORD | PLAN_ATTR_STATE | PLAN_ATTR_MANAGER);
	c->match = (struct plan_settings){.domains = (const char *const *)c->domains,
					  .n_domains = k,
					  .default_domain = c->it.default_domain};
	c->s = (struct import_settings){.match = &c->match,
					.import_mask = mask,
					.identity_google = !strcmp(c->it.identity_source, "google")};
	c->guard_max_count = c->it.import_guard_max_count;
	/* The import's projection: organizations and locations always (company, location). */
	char extra[128];
	plan_google_fields(mask & ~(unsigned)(PLAN_ATTR_JOB_TITLE | PLAN_ATTR_DEPARTMENT |
					       PLAN_ATTR_COST_CENTER | PLAN_ATTR_EMPLOYEE_TYPE),
			   extra, sizeof(extra));
	snprintf(c->fields, sizeof(c->fields), "%s%s", GOOGLE_IMPORT_FIELDS, extra);
	return E_OK;
}

int import_google_rc(int rc, struct err *e)
{
	if (rc != E_NOTFOUND || !e || e->upstream_status != 404)
		return rc;
	char msg[sizeof(e->msg)];
	snprintf(msg, sizeof(msg), "%s", e->msg);
	return err_set(e, E_UPSTREAM, "Google answered users.list with 404 (%.160s): Google does not "
				      "know this account",
		       msg);
}

int import_query(const char *filter, const char *query, char *out, size_t cap)
{
	bool f = filter && filter[0], q = query && query[0];
	int n = snprintf(out, cap, "%s%s%s", f ? filter : "", f && q ? " " : "", q ? query : "");
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ------------------------------------------------------------------ directory candidates */

static void dir_free(struct import_dir *d)
{
	const char *s[] = {d->user_id,	      d->email,		d->first_name,	   d->last_name,
			   d->state,	      d->alternate_email, d->cost_center,   d->department,
			   d->employee_type,  d->job_title,	d->employee_id,	   d->addresses_json,
			   d->phones_json,    d->google_id,	d->link_status};
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		free((void *)(uintptr_t)s[i]);
}

void import_dirs_free(struct import_dirs *d)
{
	for (size_t i = 0; i < d->n; i++)
		dir_free(&d->v[i]);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

static int dir_row(void *ctx, const struct store_import_row *r, struct err *e)
{
	struct import_dirs *d = ctx;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct import_dir *v = realloc(d->v, cap * sizeof(*v));
		if (!v)
			return err_set(e, E_NOMEM, "candidates");
		d->v = v;
		d->cap = cap;
	}
	struct import_dir *x = &d->v[d->n++];
	memset(x, 0, sizeof(*x));
	bool ok = true;
#define DUP(f)                                                                                 \
	do {                                                                                   \
		x->f = strdup(r->f ? r->f : "");                                               \
		ok = ok && x->f;                                                               \
	} while (0)
	DUP(user_id);
	DUP(email);
	DUP(first_name);
	DUP(last_name);
	DUP(state);
	DUP(alternate_email);
	DUP(cost_center);
	DUP(department);
	DUP(employee_type);
	DUP(job_title);
	DUP(employee_id);
	DUP(addresses_json);
	DUP(phones_json);
	DUP(google_id);
	DUP(link_status);
#undef DUP
	x->exists = r->exists;
	x->version = r->version;
	return ok ? E_OK : err_set(e, E_NOMEM, "candidates");
}

int import_dirs_load(struct store *st, const char *tenant_id, const char *integration_id,
		     const struct import_config *c, struct json_object *const *g, size_t ng,
		     struct import_dirs *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	/* The same addresses import_match() looks up: primary and aliases, IMPORT_MAX_KEYS each. */
	char(*tmp)[320] = malloc(IMPORT_MAX_KEYS * sizeof(*tmp));
	bool counted = tmp != NULL;
	size_t total = 0;
	for (size_t i = 0; tmp && i < ng; i++)
		total += import_google_keys(g[i], tmp, IMPORT_MAX_KEYS);
	free(tmp);
	char(*keys)[320] = counted ? calloc(total + 1, sizeof(*keys)) : NULL;
	char(*locals)[320] = keys ? calloc(total + 1, sizeof(*locals)) : NULL;
	const char **ids = calloc(ng + 1, sizeof(char *)), **kp = calloc(total + 1, sizeof(char *)),
		   **lp = calloc(total + 1, sizeof(char *));
	int rc = E_OK;
	if (!keys || !locals || !ids || !kp || !lp) {
		rc = err_set(e, E_NOMEM, "candidates");
		goto out;
	}
	size_t nk = 0, nl = 0, ni = 0;
	const char *dd = c->it.default_domain;
	for (size_t i = 0; i < ng; i++) {
		struct json_object *v;
		if (json_object_object_get_ex(g[i], "id", &v) && json_object_get_string(v))
			ids[ni++] = json_object_get_string(v);
		size_t n = import_google_keys(g[i], keys + nk, total - nk);
		for (size_t k = nk; k < nk + n; k++) {
			kp[k] = keys[k];
			/* an address on the default domain may be a rewritten email: by local part */
			const char *at = strrchr(keys[k], '@');
			if (dd[0] && at && !strcasecmp(at + 1, dd)) {
				snprintf(locals[nl], 320, "%.*s", (int)(at - keys[k]), keys[k]);
				lp[nl] = locals[nl];
				nl++;
			}
		}
		nk += n;
	}
	rc = store_import_candidates(st, tenant_id, integration_id, ids, ni, kp, nk, lp, nl,
				     dir_row, out, e);
out:
	free(keys);
	free(locals);
	free(ids);
	free(kp);
	free(lp);
	if (rc)
		import_dirs_free(out);
	return rc;
}

/* ------------------------------------------------------------------ reading Google */

struct reader {
	struct sync_job *j;
	struct import_config *c;
	struct import_plan *plan;
	struct json_object *page[PAGE];
	size_t n;
	size_t seen;
	struct json_object *ids; /* the Google ids read so far (a set: every value NULL) */
};

/* Plans the Google users collected so far (one candidates query for the page). */
static int flush_page(struct reader *r, struct err *e)
{
	if (!r->n)
		return E_OK;
	struct import_dirs dirs;
	int rc = import_dirs_load(r->j->st, r->j->job->tenant_id, r->j->job->integration_id, r->c,
				  r->page, r->n, &dirs, e);
	if (!rc && plan_import_run(&r->c->s, r->page, r->n, dirs.v, dirs.n, r->plan))
		rc = err_set(e, E_NOMEM, "import plan");
	import_dirs_free(&dirs);
	for (size_t i = 0; i < r->n; i++)
		json_object_put(r->page[i]);
	r->seen += r->n;
	r->n = 0;
	if (!rc && sync_job_checkpoint(r->j, (int)r->seen, -1))
		rc = E_OK; /* stopped: the caller looks at j->stop */
	return rc;
}

static int on_user(void *ctx, struct json_object *user, struct err *e)
{
	struct reader *r = ctx;
	/*
	 * A Google user read twice in one run is planned once: chosen under two names (users.get
	 * takes its id and its address alike), or listed again on a later page after a rename moved
	 * it. Two writes of one row in one batch would fail the whole batch.
	 */
	struct json_object *v;
	const char *gid =
		json_object_object_get_ex(user, "id", &v) ? json_object_get_string(v) : NULL;
	if (gid && gid[0]) {
		if (json_object_object_get_ex(r->ids, gid, NULL))
			return E_OK;
		if (json_object_object_add(r->ids, gid, NULL))
			return err_set(e, E_NOMEM, "import");
	}
	r->page[r->n++] = json_object_get(user);
	if (r->n < PAGE)
		return E_OK;
	int rc = flush_page(r, e);
	return rc ? rc : r->j->stop ? STOPPED : E_OK;
}

/* The chosen users by id (users.get through the batch endpoint); absent ones are skips. */
static int read_chosen(struct reader *r, char **ids, size_t n, struct err *e)
{
	int rc = E_OK;
	struct connect_handle *h = NULL;
	if ((rc = connect_client_acquire(r->j->conn, r->j->job->tenant_id,
					 r->j->job->integration_id, &h, e)))
		return rc;
	struct google_client *gc = connect_handle_client(h);
	char q[600];
	snprintf(q, sizeof(q), "?fields=%s", r->c->fields);
	for (size_t off = 0; !rc && off < n && !r->j->stop; off += READ_BATCH) {
		size_t m = n - off < READ_BATCH ? n - off : READ_BATCH;
		struct google_batch_item *items = calloc(m, sizeof(*items));
		char(*paths)[1024] = calloc(m, sizeof(*paths));
		if (!items || !paths) {
			free(items);
			free(paths);
			rc = err_set(e, E_NOMEM, "batch");
			break;
		}
		for (size_t i = 0; i < m; i++) {
			items[i].method = "GET";
			items[i].path = paths[i];
			if (google_user_path(ids[off + i], q, paths[i], sizeof(paths[i])))
				snprintf(paths[i], sizeof(paths[i]), "%s/-", GOOGLE_USERS_PATH);
		}
		rc = google_batch(gc, items, m, e);
		/* Absent ones are plan entries (skipped); other failures are failed items. */
		struct store_job_item_in failed[READ_BATCH];
		size_t nf = 0;
		for (size_t i = 0; !rc && i < m; i++) {
			struct json_object *jo = items[i].e.code == E_OK && items[i].resp_body
							 ? json_tokener_parse(items[i].resp_body)
							 : NULL;
			if (jo) {
				rc = on_user(r, jo, e);
				json_object_put(jo);
			} else if (items[i].status == 404 || items[i].status == 412) {
				if (plan_import_absent(r->plan, ids[off + i], "not_found_in_google",
						       "Google has no user with this id"))
					rc = err_set(e, E_NOMEM, "import plan");
			} else {
				failed[nf++] = (struct store_job_item_in){
					.object_type = "google_user",
					.object_id = ids[off + i],
					.outcome = JOB_FAILED,
					.error_reason = items[i].e.reason[0] ? items[i].e.reason
									     : "google_error",
					.error_message = items[i].e.msg};
			}
		}
		if (!rc && nf)
			rc = sync_job_items(r->j, failed, nf, e);
		google_batch_items_cleanup(items, m);
		free(items);
		free(paths);
	}
	if (!rc)
		connect_handle_used(h);
	connect_client_release(r->j->conn, h);
	return rc == STOPPED && r->j->stop ? E_OK : rc;
}

/* Every user of the listing, with the import filter as query (none when unset). */
static int read_listing(struct reader *r, struct err *e)
{
	struct connect_handle *h = NULL;
	int rc = connect_client_acquire(r->j->conn, r->j->job->tenant_id, r->j->job->integration_id,
					&h, e);
	if (rc)
		return rc;
	rc = import_google_rc(google_users_list_query(connect_handle_client(h),
						      r->c->it.import_filter, r->c->fields, on_user,
						      r, e),
			      e);
	if (!rc)
		connect_handle_used(h);
	connect_client_release(r->j->conn, h);
	/*
	 * Google's 400 on a listing that sent the filter is the filter's (the rest of the request is
	 * ours); the job fails with the reason, never retried sooner than the schedule's interval.
	 * Without a filter, a 400 keeps Google's own reason: there is no filter to blame.
	 */
	if (rc == E_INVAL && e && e->upstream_status == 400 && r->c->it.import_filter[0]) {
		char msg[sizeof(e->msg)];
		snprintf(msg, sizeof(msg), "%s", e->msg);
		err_set_reason(e, E_INVAL, "invalid_import_filter",
			       "Google refused the import filter: %s", msg);
	}
	return rc == STOPPED && r->j->stop ? E_OK : rc;
}

/* ------------------------------------------------------------------ parameters */

struct params {
	char **ids; /* google_user_ids (NULL: none) */
	size_t n_ids;
	bool all_new, updates_only, approved;
	char approved_plan[64];
};

static void params_free(struct params *p)
{
	for (size_t i = 0; i < p->n_ids; i++)
		free(p->ids[i]);
	free(p->ids);
}

static int cmp_idp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An id named twice is one Google user: read, planned and written once. */
static void ids_unique(struct params *p)
{
	if (p->n_ids < 2)
		return;
	qsort(p->ids, p->n_ids, sizeof(*p->ids), cmp_idp);
	size_t k = 1;
	for (size_t i = 1; i < p->n_ids; i++) {
		if (!strcmp(p->ids[i], p->ids[k - 1]))
			free(p->ids[i]);
		else
			p->ids[k++] = p->ids[i];
	}
	p->ids[k] = NULL;
	p->n_ids = k;
}

static int params_load(struct sync_job *j, struct params *p, struct err *e)
{
	memset(p, 0, sizeof(*p));
	struct json_object *o = json_tokener_parse(j->job->parameters_json ? j->job->parameters_json
									  : "{}"),
			   *v;
	if (!o)
		return E_OK;
	if (json_object_object_get_ex(o, "google_user_ids", &v) &&
	    json_object_is_type(v, json_type_array)) {
		size_t m = json_object_array_length(v);
		p->ids = calloc(m + 1, sizeof(char *));
		for (size_t i = 0; p->ids && i < m; i++) {
			const char *s = json_object_get_string(json_object_array_get_idx(v, i));
			if (s && (p->ids[p->n_ids] = strdup(s)))
				p->n_ids++;
		}
		if (!p->ids) {
			json_object_put(o);
			return err_set(e, E_NOMEM, "google_user_ids");
		}
		ids_unique(p);
	}
	p->all_new = json_object_object_get_ex(o, "all_new", &v) && json_object_get_boolean(v);
	p->approved = json_object_object_get_ex(o, "approved", &v) && json_object_get_boolean(v);
	p->updates_only = json_object_object_get_ex(o, "mode", &v) && json_object_get_string(v) &&
			  !strcmp(json_object_get_string(v), "updates_only");
	if (json_object_object_get_ex(o, "approved_plan", &v) && json_object_get_string(v))
		snprintf(p->approved_plan, sizeof(p->approved_plan), "%s", json_object_get_string(v));
	json_object_put(o);
	return E_OK;
}

/* ------------------------------------------------------------------ the plan, stored */

enum { PLAN_CHUNK = 500 };

struct plan_store {
	struct sync_job *j; /* read only on the lanes */
	const struct import_plan *p;
	const int64_t *seq; /* seq[i]: the plan entries before entry i (seq of entry i - 1) */
};

/* One chunk of entries (a lane's): those with an operation, under their place in the plan. */
static int plan_chunk(void *arg, size_t from, size_t to, struct err *e)
{
	const struct plan_store *ps = arg;
	struct store_plan_entry *buf = calloc(to - from, sizeof(*buf));
	char(*ids)[300] = calloc(to - from, sizeof(*ids)); /* google:<id> of planned creates */
	if (!buf || !ids) {
		free(buf);
		free(ids);
		return err_set(e, E_NOMEM, "plan");
	}
	size_t k = 0;
	for (size_t i = from; i < to; i++) {
		const struct import_entry *en = &ps->p->entries[i];
		if (en->op == IMPORT_OP_NONE)
			continue;
		snprintf(ids[k], sizeof(ids[k]), "%s%s", IMPORT_ID_PREFIX, en->google_id);
		buf[k] = (struct store_plan_entry){
			.seq = ps->seq[i] + 1,
			.op = import_op_name(en->op),
			.user_id = en->user_id ? en->user_id : ids[k],
			.google_id = en->google_id,
			.primary_email = en->primary_email,
			.reason = en->reason ? en->reason : "",
			.changes_json = en->changes_json ? en->changes_json : "[]",
			.user_version = en->user_version};
		k++;
	}
	int rc = k ? store_plan_append(ps->j->st, ps->j->job->id, ps->j->owner, buf, k, e) : E_OK;
	free(buf);
	free(ids);
	return rc;
}

static int store_import_plan(struct sync_job *j, const struct import_plan *p, struct err *e)
{
	int64_t *seq = malloc((p->n + 1) * sizeof(*seq));
	if (!seq)
		return err_set(e, E_NOMEM, "plan");
	seq[0] = 0;
	for (size_t i = 0; i < p->n; i++)
		seq[i + 1] = seq[i] + (p->entries[i].op != IMPORT_OP_NONE);
	struct plan_store ps = {j, p, seq};
	int rc = sync_lanes_run(SYNC_LANES, p->n, PLAN_CHUNK, plan_chunk, NULL, &ps, e);
	free(seq);
	if (rc)
		return rc;
	struct json_object *o = json_object_new_object(), *ops = json_object_new_object(),
			   *reasons = json_object_new_object();
	for (int op = 0; op < IMPORT_OP_N; op++)
		if (p->counts[op])
			json_object_object_add(ops, import_op_name((enum import_op)op),
					       json_object_new_int(p->counts[op]));
	for (size_t i = 0; i < p->n; i++) {
		const char *r = p->entries[i].reason;
		struct json_object *c;
		if (!r)
			continue;
		int v = json_object_object_get_ex(reasons, r, &c) ? json_object_get_int(c) : 0;
		json_object_object_add(reasons, r, json_object_new_int(v + 1));
	}
	json_object_object_add(o, "ops", ops);
	json_object_object_add(o, "reasons", reasons);
	rc = store_plan_summary_set(j->st, j->job->id, j->owner,
				    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), e);
	json_object_put(o);
	return rc;
}

/*
 * Applying an approved plan (a dry run, or a job the guard stopped whose plan was approved as a
 * dry run): only the writes it planned, per user with the same operation; anything else waits
 * for the next run.
 */
static int restrict_to_approved(struct sync_job *j, const char *plan_job, struct import_plan *p,
				struct err *e)
{
	struct json_object *all = json_object_new_object();
	int64_t after = 0;
	int rc = all ? E_OK : err_set(e, E_NOMEM, "approved plan");
	while (!rc) {
		char *page = NULL;
		size_t n = 0;
		if ((rc = store_plan_page(j->st, j->job->tenant_id, plan_job, after, 1000, &page, &n,
					  e)))
			break;
		struct json_object *arr = json_tokener_parse(page ? page : "[]");
		free(page);
		size_t m = arr ? json_object_array_length(arr) : 0;
		for (size_t i = 0; i < m; i++) {
			struct json_object *en = json_object_array_get_idx(arr, i), *v, *op;
			if (json_object_object_get_ex(en, "seq", &v))
				after = json_object_get_int64(v);
			if (json_object_object_get_ex(en, "user_id", &v) &&
			    json_object_object_get_ex(en, "op", &op))
				json_object_object_add(all, json_object_get_string(v),
						       json_object_get(op));
		}
		json_object_put(arr);
		if (m == 0)
			break;
	}
	for (size_t i = 0; !rc && i < p->n; i++) {
		struct import_entry *en = &p->entries[i];
		if (en->op != IMPORT_OP_CREATE && en->op != IMPORT_OP_LINK &&
		    en->op != IMPORT_OP_UPDATE)
			continue;
		struct json_object *op;
		bool known = en->user_id && json_object_object_get_ex(all, en->user_id, &op);
		if (known && !strcmp(json_object_get_string(op), import_op_name(en->op)))
			continue;
		p->counts[en->op]--;
		if (import_entry_skip(en, known ? "plan_changed" : "not_in_approved_plan",
				      "the approved plan planned something else for this user; the "
				      "next run plans it again"))
			rc = err_set(e, E_NOMEM, "approved plan");
		p->counts[en->op]++;
	}
	json_object_put(all);
	return rc;
}

/* ------------------------------------------------------------------ the runner */

int import_users_run(struct sync_job *j, struct err *e)
{
	struct import_config c;
	struct params prm;
	struct import_plan plan = {0};
	bool *done = NULL;
	sync_domains_refresh(j); /* when the stored flags are older than GWSYNC_DOMAINS_MAX_AGE_MS */
	int rc = import_config_load(j->st, j->job->tenant_id, j->job->integration_id, &c, e);
	if (!rc && strcmp(c.it.status, "active"))
		rc = err_set(e, E_CONFLICT, "the integration is %s, not active", c.it.status);
	if (!rc)
		rc = params_load(j, &prm, e);
	else
		memset(&prm, 0, sizeof(prm));
	if (rc)
		goto out;
	c.s.updates_only = prm.updates_only;
	if (sync_job_checkpoint(j, 0, -1))
		goto out;
	struct reader *r = calloc(1, sizeof(*r));
	if (!r) {
		rc = err_set(e, E_NOMEM, "import");
		goto out;
	}
	*r = (struct reader){.j = j, .c = &c, .plan = &plan, .ids = json_object_new_object()};
	if (!r->ids)
		rc = err_set(e, E_NOMEM, "import");
	else
		rc = prm.ids ? read_chosen(r, prm.ids, prm.n_ids, e) : read_listing(r, e);
	if (!rc && !j->stop)
		rc = flush_page(r, e);
	for (size_t i = 0; i < r->n; i++)
		json_object_put(r->page[i]);
	json_object_put(r->ids);
	free(r);
	if (rc || j->stop)
		goto out;
	if (plan_import_cross_check(&plan)) {
		rc = err_set(e, E_NOMEM, "import plan");
		goto out;
	}
	log_write(LOG_INFO, "sync", "import_planned", NULL,
		  (struct log_field[]){LOG_NUM("google_users", (long long)plan.n),
				       LOG_NUM("creates", plan.counts[IMPORT_OP_CREATE]),
				       LOG_NUM("links", plan.counts[IMPORT_OP_LINK]),
				       LOG_NUM("updates", plan.counts[IMPORT_OP_UPDATE]),
				       LOG_NUM("dry_run", j->job->dry_run)},
		  5);
	if ((rc = store_import_plan(j, &plan, e)))
		goto out;
	if (j->job->dry_run) {
		sync_job_checkpoint(j, (int)plan.n, (int)plan.n);
		goto out;
	}
	if (prm.approved_plan[0] && (rc = restrict_to_approved(j, prm.approved_plan, &plan, e)))
		goto out;
	int creates = plan.counts[IMPORT_OP_CREATE];
	if (!prm.approved && !prm.approved_plan[0] && c.guard_max_count > 0 &&
	    creates > c.guard_max_count) {
		if (!(rc = store_job_await_approval(j->st, j->job->id, j->owner, e)))
			j->stop = SYNC_AWAITING;
		log_write(LOG_WARN, "sync", "import_guard", "job awaits approval",
			  (struct log_field[]){LOG_NUM("creates", creates),
					       LOG_NUM("max_count", c.guard_max_count)},
			  2);
		goto out;
	}
	/* A run taken over after a crash skips the Google users an earlier run recorded. */
	struct store_job_done dn;
	if ((rc = sync_job_done_load(j, "google_user", &dn, e)))
		goto out;
	done = calloc(plan.n + 1, sizeof(*done));
	for (size_t i = 0; done && i < plan.n; i++)
		done[i] = store_job_done_has(&dn, plan.entries[i].google_id);
	store_job_done_cleanup(&dn);
	if (!done) {
		rc = err_set(e, E_NOMEM, "import");
		goto out;
	}
	rc = apply_import(j, &plan, done, e);
	if (!rc && plan.counts[IMPORT_OP_CREATE] + plan.counts[IMPORT_OP_LINK] >= ANALYZE_AFTER) {
		struct err ae = {0};
		if (store_import_analyze(j->st, &ae))
			log_write(LOG_WARN, "sync", "import_analyze_failed", ae.msg, NULL, 0);
	}
out:
	free(done);
	import_plan_free(&plan);
	params_free(&prm);
	import_config_free(&c);
	return rc;
}
