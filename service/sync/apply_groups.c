/*
 * apply_groups — executes a group plan; decides nothing (the planner did).
 *
 * Group writes are single calls (groups.insert, groups.update), in plan order; a create is
 * recorded as intended (link status `creating`) before it is sent, and a 409 on it (gwsync's own
 * create answered ambiguously) is taken over as provisioned when a groups.get by the address finds
 * the group. A created group's item (reason members_pending) and each membership change's item
 * are written ahead of the writes that follow, so a resumed job counts objects, not attempts.
 * Membership changes of every group go through
 * the batch endpoint afterwards. A members.insert answered 409 "Member already exists." and a
 * members.delete answered 404 are done. A members.insert answered 404 on a group this run created
 * is sent again after a short wait, within CREATE_404_WINDOW_MS of the create only (Google's
 * new groups are not visible for a few seconds). Each group's outcome is written to its link with
 * its gws.group.* event in one transaction, and recorded as job items (object type "group" per
 * group, "group_member" per change, keyed "<group id>/<member key>").
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google_batch.h"
#include "google_error.h"
#include "google_groups.h"
#include "log.h"
#include "runner_groups.h"
#include "store_groups_sync.h"

#define MEMBER_BATCH 500
#define CREATE_404_WINDOW_MS 30000
#define CREATE_404_ROUNDS 8

struct gstate {
	const struct plan_group_entry *en;
	const struct plan_group *g;
	char google_id[64];
	long long created_ms; /* when this run created it (0: not created) */
	bool ok;	      /* the group is there: its members may be written */
	bool created, linked, updated;
	bool created_before; /* by an earlier run of this job (a crash): still a create */
	bool create_intent;  /* the link records a create of gwsync's (groups_item) */
	bool requested;	     /* named by parameters.group_ids (groups_item) */
	int added, removed, failed;
	struct json_object *added_keys, *removed_keys;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static char *text_of(struct json_object *o)
{
	return o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE))
		 : NULL;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static char *event_data(const char *job_id, const struct gstate *s, const char *reason,
			const char *message)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "job_id", json_object_new_string(job_id));
	json_object_object_add(o, "group_id", json_object_new_string(s->g->group_id));
	json_object_object_add(o, "google_id", s->google_id[0]
						       ? json_object_new_string(s->google_id)
						       : NULL);
	json_object_object_add(o, "email", s->en->email ? json_object_new_string(s->en->email)
							: NULL);
	if (s->added_keys)
		json_object_object_add(o, "added", json_object_get(s->added_keys));
	if (s->removed_keys)
		json_object_object_add(o, "removed", json_object_get(s->removed_keys));
	if (reason)
		json_object_object_add(o, "reason", json_object_new_string(reason));
	if (message)
		json_object_object_add(o, "message", json_object_new_string(message));
	char *t = text_of(o);
	json_object_put(o);
	return t;
}

/* One link write with its event (event NULL: none). E_NOTFOUND: the lease is gone. */
static int link_write(struct groups_apply *ga, struct gstate *s, const char *status,
		      const char *origin, const char *event, const char *reason,
		      const char *message, bool counts, struct err *e)
{
	struct sync_job *j = ga->j;
	char *data = event ? event_data(j->job->id, s, reason, message) : NULL;
	int wanted = -1, actual = -1, nm = -1;
	if (counts) {
		wanted = s->en->wanted;
		actual = s->en->actual + s->added - s->removed;
		if (actual < 0)
			actual = 0;
		nm = s->en->not_managed;
	}
	struct store_group_link_write w = {
		.group_id = s->g->group_id,
		.google_id = s->google_id[0] ? s->google_id : NULL,
		.email = s->en->email,
		.status = status,
		.origin = origin,
		.wanted = wanted,
		.actual = actual,
		.not_managed = nm,
		.error_reason = reason,
		.error_message = message,
		.synced = !reason,
		.event_type = event,
		.event_data_json = data,
	};
	int rc = store_group_links_write(j->st, j->job->tenant_id, j->job->integration_id,
					 j->job->id, j->owner, &w, 1, e);
	free(data);
	if (rc == E_NOTFOUND)
		j->stop = SYNC_LOST;
	return rc;
}

static void item(struct groups_apply *ga, const char *type, const char *id,
		 enum store_job_count c, const char *reason, const char *message)
{
	struct err ie = {0};
	sync_job_item(ga->j, type, id, c, reason, message, &ie);
}

/*
 * Items written ahead of the Google writes they announce (not counted in the run's own counts:
 * their final item follows): a run resumed after a crash finds what the killed run wrote already
 * counted, so the job counts objects, not attempts.
 */
static void items_ahead(struct groups_apply *ga, const struct store_job_item_in *in, size_t n)
{
	struct err ie = {0};
	if (n && store_job_items_add(ga->j->st, ga->j->job->id, ga->j->owner, in, n, &ie) ==
			 E_NOTFOUND)
		ga->j->stop = SYNC_LOST;
}

/* The group was created by this job: until its members are written it is not done (a resumed run
 * finishes it and still counts it created). */
static void created_ahead(struct groups_apply *ga, struct gstate *s)
{
	s->created = true;
	s->created_ms = now_ms();
	struct store_job_item_in in = {"group", s->g->group_id, JOB_CREATED,
				       STORE_GROUP_MEMBERS_PENDING,
				       "created; its members are being written"};
	items_ahead(ga, &in, 1);
}

/* A per-group outcome without a Google write: its link status, event and item. */
static int group_not_written(struct groups_apply *ga, struct gstate *s, struct err *e)
{
	const struct plan_group_entry *en = s->en;
	const char *status = "skipped", *event = NULL;
	enum store_job_count c = JOB_SKIPPED;
	switch (en->op) {
	case PLAN_GROUP_UNMANAGE:
		status = "unmanaged";
		event = "gws.group.unmanaged";
		break;
	case PLAN_GROUP_CONFLICT:
		status = "conflict";
		event = "gws.group.failed";
		c = JOB_FAILED;
		break;
	case PLAN_GROUP_FAIL:
		status = "failed";
		event = "gws.group.failed";
		c = JOB_FAILED;
		break;
	case PLAN_GROUP_DELETED_IN_GOOGLE:
		status = "deleted_in_google";
		event = "gws.group.failed";
		break;
	default:
		break;
	}
	if (en->op == PLAN_GROUP_SKIP && en->reason && !strcmp(en->reason, "not_in_scope")) {
		/* neither linked nor managed: nothing to say, unless a targeted run asked for it */
		if (s->requested)
			item(ga, "group", s->g->group_id, JOB_SKIPPED,
			     !s->g->exists  ? "not_found"
			     : !s->g->bound ? "not_bound"
					    : "no_email",
			     !s->g->exists  ? "no such directory group"
			     : !s->g->bound ? "the group is not bound to the integration"
					    : "the group has no email");
		return E_OK;
	}
	snprintf(s->google_id, sizeof(s->google_id), "%s", s->g->google_id);
	const char *message = en->message;
	if (en->op == PLAN_GROUP_UNMANAGE)
		message = "no longer managed; the Google group is kept";
	int rc = link_write(ga, s, status, NULL, event, en->reason ? en->reason : status, message,
			    false, e);
	if (rc == E_NOTFOUND)
		return E_OK;
	if (rc)
		return rc;
	item(ga, "group", s->g->group_id, c, en->reason ? en->reason : status, message);
	return E_OK;
}

/* A failed Google write of the group itself. */
static int group_failed(struct groups_apply *ga, struct gstate *s, const struct err *ge,
			struct err *e)
{
	const char *reason = ge->reason[0] ? ge->reason : err_code_name(ge->code);
	int rc = link_write(ga, s, "failed", NULL, "gws.group.failed", reason, ge->msg, false, e);
	if (rc && rc != E_NOTFOUND)
		return rc;
	item(ga, "group", s->g->group_id, JOB_FAILED, reason, ge->msg);
	return E_OK;
}

/* groups.delete of an unmanaged group asked for through the API; 404 means done. */
static int group_delete(struct groups_apply *ga, struct google_client *gc, struct gstate *s,
			struct err *e)
{
	char path[1024];
	snprintf(s->google_id, sizeof(s->google_id), "%s", s->g->google_id);
	if (google_group_path(s->google_id, NULL, path, sizeof(path)))
		return err_set(e, E_INVAL, "group key too long");
	struct err ge = {0};
	int status = 0;
	int rc = google_call(gc, "DELETE", path, NULL, &status, NULL, NULL, &ge);
	if (rc == E_UNAUTH) {
		*e = ge;
		return rc;
	}
	if (rc && status != 404) {
		/* the request stays: the next run tries again */
		const char *reason = ge.reason[0] ? ge.reason : err_code_name(ge.code);
		rc = link_write(ga, s, "delete_requested", NULL, "gws.group.failed", reason, ge.msg,
				false, e);
		if (rc && rc != E_NOTFOUND)
			return rc;
		item(ga, "group", s->g->group_id, JOB_FAILED, reason, ge.msg);
		return E_OK;
	}
	rc = link_write(ga, s, "deleted", NULL, "gws.group.deleted", NULL, NULL, false, e);
	if (rc)
		return rc == E_NOTFOUND ? E_OK : rc;
	item(ga, "group", s->g->group_id, JOB_UPDATED, NULL, NULL);
	return E_OK;
}

/* groups.insert; a 409 is taken over when the address resolves to a group. */
static int group_create(struct groups_apply *ga, struct google_client *gc, struct gstate *s,
			struct err *e)
{
	int rc = link_write(ga, s, "creating", "provisioned", NULL, NULL, NULL, false, e);
	if (rc)
		return rc == E_NOTFOUND ? E_OK : rc;
	char *body = text_of(s->en->body), *resp = NULL;
	if (!body)
		return err_set(e, E_NOMEM, "group body");
	struct err ge = {0};
	int status = 0;
	rc = google_call(gc, "POST", GOOGLE_GROUPS_PATH, body, &status, &resp, NULL, &ge);
	free(body);
	if (rc == E_OK) {
		struct json_object *jo = json_tokener_parse(resp);
		snprintf(s->google_id, sizeof(s->google_id), "%s", jstr(jo, "id"));
		if (jo)
			json_object_put(jo);
	} else if (status == 409) {
		/* The address was free when the plan was made and the intent is recorded: this is our
		 * own create answered ambiguously (e.g. applied, then 503, then 409 on the retry). */
		char path[1024];
		free(resp);
		resp = NULL;
		struct err le = {0};
		if (!google_group_path(s->en->email, "?fields=id", path, sizeof(path)) &&
		    !google_call(gc, "GET", path, NULL, NULL, &resp, NULL, &le)) {
			struct json_object *jo = json_tokener_parse(resp);
			snprintf(s->google_id, sizeof(s->google_id), "%s", jstr(jo, "id"));
			if (jo)
				json_object_put(jo);
		}
	}
	free(resp);
	if (rc == E_OK && !s->google_id[0]) {
		/* Answered 2xx with JSON but no id: nothing to link; a failure, never "ok". */
		err_set(&ge, E_UPSTREAM, "Google's answer to groups.insert has no group id");
		snprintf(ge.reason, sizeof(ge.reason), "%s", GOOGLE_REASON_INVALID_RESPONSE);
	}
	if (!s->google_id[0]) {
		if (rc == E_UNAUTH) {
			*e = ge;
			return rc;
		}
		return group_failed(ga, s, &ge, e);
	}
	/* the item before the link: a crash between them leaves the link `creating`, which the
	 * resumed run still takes for this create; the other order left a synced link with no item,
	 * and the resumed run counted the group updated */
	created_ahead(ga, s);
	rc = link_write(ga, s, "synced", "provisioned", "gws.group.provisioned", NULL, NULL, false,
			e);
	if (rc)
		return rc == E_NOTFOUND ? E_OK : rc;
	s->ok = true;
	return E_OK;
}

/* Adopts a Google group (link first), then writes what differs. */
static int group_link_update(struct groups_apply *ga, struct google_client *gc, struct gstate *s,
			     struct err *e)
{
	const struct plan_group_entry *en = s->en;
	snprintf(s->google_id, sizeof(s->google_id), "%s", en->google_id ? en->google_id : "");
	int rc;
	/* Found by address while the link records gwsync's create: it went through before a crash
	 * or behind an ambiguous answer, so it is still a provisioning. */
	bool own = en->op == PLAN_GROUP_LINK && s->create_intent;
	if (en->op == PLAN_GROUP_LINK) {
		if (own)
			created_ahead(ga, s); /* before the link, as in group_create */
		rc = link_write(ga, s, "synced", own ? "provisioned" : "linked",
				own ? "gws.group.provisioned" : "gws.group.linked", NULL, NULL, false, e);
		if (rc == E_CONFLICT && !sync_not_active(rc, e)) {
			struct err ce = *e;
			snprintf(ce.reason, sizeof(ce.reason), "linked_elsewhere");
			s->google_id[0] = 0;
			return group_failed(ga, s, &ce, e);
		}
		if (rc)
			return rc == E_NOTFOUND ? E_OK : rc;
		s->linked = !own;
	}
	if (en->body) {
		char path[1024];
		char *body = text_of(en->body);
		if (!body || google_group_path(s->google_id, NULL, path, sizeof(path))) {
			free(body);
			return err_set(e, E_NOMEM, "group body");
		}
		struct err ge = {0};
		rc = google_call(gc, "PUT", path, body, NULL, NULL, NULL, &ge);
		free(body);
		if (rc == E_UNAUTH) {
			*e = ge;
			return rc;
		}
		if (rc)
			return group_failed(ga, s, &ge, e);
		s->updated = true;
		if (en->op != PLAN_GROUP_LINK &&
		    (rc = link_write(ga, s, "synced", NULL, "gws.group.updated", NULL, NULL, false,
				     e)))
			return rc == E_NOTFOUND ? E_OK : rc;
	}
	s->ok = true;
	return E_OK;
}

/* ------------------------------------------------------------------ membership */

struct mop {
	struct gstate *s;
	const struct plan_member_change *c;
	bool add;
	char path[1024];
	char body[400];
	bool pending; /* to send (again) */
	char id[1200]; /* the item: "<group id>/<member key>" */
	int status;
	struct err e;
};

/*
 * Sends every pending op once, in batches; fills status and e. Stops before a batch when the
 * integration is no longer active (a deactivation meanwhile).
 */
static int send_ops(struct groups_apply *ga, struct google_client *gc, struct mop *ops, size_t n,
		    struct err *e)
{
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	struct google_batch_item *items = calloc(MEMBER_BATCH, sizeof(*items));
	if (!idx || !items) {
		free(idx);
		free(items);
		return err_set(e, E_NOMEM, "member batch");
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (ops[i].pending)
			idx[m++] = i;
	int rc = E_OK;
	for (size_t off = 0; !rc && off < m; off += MEMBER_BATCH) {
		size_t k = m - off < MEMBER_BATCH ? m - off : MEMBER_BATCH;
		if (off && (rc = sync_still_active(ga->j, e)))
			break;
		memset(items, 0, k * sizeof(*items));
		for (size_t i = 0; i < k; i++) {
			struct mop *o = &ops[idx[off + i]];
			items[i].method = o->add ? "POST" : "DELETE";
			items[i].path = o->path;
			items[i].body = o->add ? o->body : NULL;
		}
		rc = google_batch(gc, items, k, e);
		for (size_t i = 0; !rc && i < k; i++) {
			struct mop *o = &ops[idx[off + i]];
			o->status = items[i].status;
			o->e = items[i].e;
			o->pending = false;
		}
		google_batch_items_cleanup(items, k);
	}
	free(items);
	free(idx);
	return rc;
}

/* Whether an op's answer means done: 2xx, 409 "Member already exists." on an insert, 404 on a
 * delete (the member or its user is gone). */
static bool op_done(const struct mop *o)
{
	if (o->e.code == E_OK && o->status / 100 == 2)
		return true;
	if (o->add && o->status == 409)
		return true;
	return !o->add && o->status == 404;
}

static int members_apply(struct groups_apply *ga, struct google_client *gc, struct gstate *st,
			 size_t n_groups, struct err *e)
{
	size_t n = 0;
	for (size_t i = 0; i < n_groups; i++)
		if (st[i].ok)
			n += st[i].en->n_adds + st[i].en->n_removes;
	if (!n)
		return E_OK;
	struct mop *ops = calloc(n, sizeof(*ops));
	if (!ops)
		return err_set(e, E_NOMEM, "member ops");
	size_t k = 0;
	for (size_t i = 0; i < n_groups; i++) {
		struct gstate *s = &st[i];
		if (!s->ok)
			continue;
		for (size_t m = 0; m < s->en->n_adds + s->en->n_removes; m++) {
			struct mop *o = &ops[k];
			o->s = s;
			o->add = m < s->en->n_adds;
			o->c = o->add ? &s->en->adds[m] : &s->en->removes[m - s->en->n_adds];
			o->pending = true;
			int bad = google_member_path(s->google_id, o->add ? NULL : o->c->key, o->path,
						     sizeof(o->path));
			if (o->add) {
				struct json_object *b = json_object_new_object();
				json_object_object_add(b, "email", json_object_new_string(o->c->key));
				json_object_object_add(b, "role", json_object_new_string("MEMBER"));
				int w = snprintf(o->body, sizeof(o->body), "%s",
						 json_object_to_json_string_ext(
							 b, JSON_C_TO_STRING_PLAIN |
								    JSON_C_TO_STRING_NOSLASHESCAPE));
				json_object_put(b);
				bad = bad || w < 0 || (size_t)w >= sizeof(o->body);
			}
			snprintf(o->id, sizeof(o->id), "%s/%s", s->g->group_id, o->c->key);
			if (bad) {
				o->pending = false;
				o->status = 400;
				err_set(&o->e, E_INVAL, "member key too long");
			}
			k++;
		}
	}
	struct store_job_item_in *ahead = calloc(n, sizeof(*ahead));
	if (!ahead) {
		free(ops);
		return err_set(e, E_NOMEM, "member items");
	}
	size_t na = 0;
	for (size_t i = 0; i < n; i++)
		if (ops[i].pending)
			ahead[na++] = (struct store_job_item_in){
				"group_member", ops[i].id, ops[i].add ? JOB_CREATED : JOB_UPDATED, NULL,
				NULL};
	items_ahead(ga, ahead, na);
	free(ahead);
	int rc = ga->j->stop ? E_OK : send_ops(ga, gc, ops, n, e);
	/* 404 on an insert into a group this run created: Google has not caught up yet. */
	for (int round = 0; !rc && round < CREATE_404_ROUNDS; round++) {
		size_t again = 0;
		long long now = now_ms();
		for (size_t i = 0; i < n; i++) {
			struct mop *o = &ops[i];
			if (o->add && o->status == 404 && o->s->created_ms &&
			    now - o->s->created_ms < CREATE_404_WINDOW_MS) {
				o->pending = true;
				again++;
			}
		}
		if (!again)
			break;
		log_write(LOG_INFO, "sync", "group_not_visible_yet",
			  "members.insert answered 404 right after groups.insert; retrying",
			  (struct log_field[]){LOG_NUM("calls", (double)again),
					       LOG_NUM("round", round + 1)},
			  2);
		sleep_ms(500L * (round + 1));
		rc = send_ops(ga, gc, ops, n, e);
	}
	for (size_t i = 0; !rc && !ga->j->stop && i < n; i++) {
		struct mop *o = &ops[i];
		struct gstate *s = o->s;
		const char *id = o->id;
		if (op_done(o)) {
			struct json_object **keys = o->add ? &s->added_keys : &s->removed_keys;
			if (!*keys)
				*keys = json_object_new_array();
			json_object_array_add(*keys, json_object_new_string(o->c->key));
			if (o->add)
				s->added++;
			else
				s->removed++;
			item(ga, "group_member", id, o->add ? JOB_CREATED : JOB_UPDATED, NULL, NULL);
		} else {
			s->failed++;
			const char *reason = o->e.reason[0] ? o->e.reason : err_code_name(o->e.code);
			item(ga, "group_member", id, JOB_FAILED, reason, o->e.msg);
		}
	}
	free(ops);
	return rc;
}

/* ------------------------------------------------------------------ the whole plan */

static int group_finish(struct groups_apply *ga, struct gstate *s, struct err *e)
{
	const struct plan_group_entry *en = s->en;
	bool members = s->added || s->removed;
	int rc = link_write(ga, s, "synced", NULL, members ? "gws.group.members_changed" : NULL,
			    s->failed ? "member_changes_failed" : NULL,
			    s->failed ? "some membership changes failed" : NULL, true, e);
	if (rc)
		return rc == E_NOTFOUND ? E_OK : rc;
	enum store_job_count c = s->created || s->created_before ? JOB_CREATED
				 : s->linked || s->updated || members ? JOB_UPDATED
								     : JOB_UNCHANGED;
	if (s->failed)
		item(ga, "group", s->g->group_id, JOB_FAILED, "member_changes_failed",
		     "some membership changes failed");
	else
		item(ga, "group", s->g->group_id, c, NULL, NULL);
	(void)en;
	return E_OK;
}

int apply_groups(struct groups_apply *ga, const struct plan_groups *p, struct err *e)
{
	struct sync_job *j = ga->j;
	struct google_client *gc = connect_handle_client(ga->h);
	struct gstate *st = calloc(p->n ? p->n : 1, sizeof(*st));
	if (!st)
		return err_set(e, E_NOMEM, "apply");
	int rc = E_OK, total = (int)p->n;
	for (size_t i = 0; !rc && i < p->n && !j->stop; i++) {
		struct gstate *s = &st[i];
		s->en = &p->entries[i];
		s->g = &ga->scope->v[s->en->group].pg;
		s->created_before = ga->scope->v[s->en->group].created_before;
		s->create_intent = ga->scope->v[s->en->group].create_intent;
		s->requested = ga->scope->v[s->en->group].requested;
		if (ga->scope->v[s->en->group].done)
			continue;
		switch (s->en->op) {
		case PLAN_GROUP_CREATE:
			rc = group_create(ga, gc, s, e);
			break;
		case PLAN_GROUP_LINK:
		case PLAN_GROUP_RENAME:
		case PLAN_GROUP_UPDATE:
			rc = group_link_update(ga, gc, s, e);
			break;
		case PLAN_GROUP_DELETE:
			rc = group_delete(ga, gc, s, e);
			break;
		case PLAN_GROUP_NONE:
			snprintf(s->google_id, sizeof(s->google_id), "%s", s->en->google_id);
			s->ok = true;
			break;
		default:
			rc = group_not_written(ga, s, e);
			break;
		}
		if (i % 50 == 49 && sync_job_checkpoint(j, (int)i + 1, total))
			break;
	}
	if (!rc && !j->stop)
		rc = members_apply(ga, gc, st, p->n, e);
	for (size_t i = 0; !rc && i < p->n && !j->stop; i++)
		if (st[i].ok)
			rc = group_finish(ga, &st[i], e);
	if (!rc && !j->stop)
		sync_job_checkpoint(j, total, total);
	for (size_t i = 0; i < p->n; i++) {
		if (st[i].added_keys)
			json_object_put(st[i].added_keys);
		if (st[i].removed_keys)
			json_object_put(st[i].removed_keys);
	}
	free(st);
	return rc;
}
