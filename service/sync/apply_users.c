#include "apply_users.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "google_batch.h"
#include "google_error.h"
#include "google_users.h"
#include "log.h"
#include "store_export.h"

#define WRITE_BATCH 50
#define FAILED_BATCHES_MAX 3

/*
 * A takeover of the user this integration had started to create (link status creating): the
 * create went through before a crash or a lost answer, so it is still a provisioning.
 */
static bool own_create(const struct plan_user *u, const struct plan_entry *en)
{
	return en->op == PLAN_LINK && !strcmp(u->link_status, "creating");
}

/* What one entry's outcome writes: the link, its event and the job item. */
struct outcome {
	struct store_link_write w;
	enum store_job_count count;
	const char *item_reason, *item_message;
	char *hashes;	  /* owned */
	char *event_data; /* owned */
	char reason[64], message[512];
	char google_id[64];
	const char *job_id; /* borrowed: the job's id */
	bool write_link;
};

static char *text_of(struct json_object *o)
{
	return o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) : NULL;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static char *event_data(const char *job_id, const struct plan_user *u, const char *google_id,
			const char *primary, const struct plan_entry *en, const char *reason,
			const char *message)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "job_id", json_object_new_string(job_id));
	json_object_object_add(o, "user_id", json_object_new_string(u->user_id));
	json_object_object_add(o, "google_id", google_id && google_id[0]
						       ? json_object_new_string(google_id)
						       : NULL);
	json_object_object_add(o, "primary_email",
			       primary && primary[0] ? json_object_new_string(primary) : NULL);
	struct json_object *fields = json_object_new_array();
	for (size_t i = 0; en && i < en->n_changes; i++)
		json_object_array_add(fields, json_object_new_string(en->changes[i].field));
	json_object_object_add(o, "fields", fields);
	if (reason)
		json_object_object_add(o, "reason", json_object_new_string(reason));
	if (message)
		json_object_object_add(o, "message", json_object_new_string(message));
	char *t = text_of(o);
	json_object_put(o);
	return t;
}

/*
 * Whether the link's stored digests (x->field_hashes_text, PostgreSQL's jsonb text) hold every
 * digest this entry would record. A field name and a hex digest need no escaping, so a plain
 * search is exact; a text in another layout only costs a refresh of the link.
 */
static bool hashes_recorded(const char *stored, struct json_object *hashes)
{
	json_object_object_foreach(hashes, k, v)
	{
		const char *d = json_object_get_string(v);
		char needle[160];
		int n = snprintf(needle, sizeof(needle), "\"%s\": \"%s\"", k, d ? d : "");
		if (n < 0 || (size_t)n >= sizeof(needle) || !strstr(stored, needle))
			return false;
	}
	return true;
}

/* Whether the link already records what this entry would record (no write needed). */
static bool link_current(const struct export_user *x, const struct plan_entry *en,
			 const char *status)
{
	if (strcmp(x->pu.link_status, status))
		return false;
	return !en->hashes || hashes_recorded(x->field_hashes_text ? x->field_hashes_text : "{}",
					       en->hashes);
}

/* An unchanged linked user whose link does not record what Google holds yet (hashes, status). */
static bool link_refresh_due(const struct export_user *x, const struct plan_entry *en)
{
	const struct plan_user *u = &x->pu;
	return u->google_id[0] && strcmp(u->link_status, "released") &&
	       !link_current(x, en, strcmp(u->link_status, "suspended") ? "synced" : "suspended");
}

static bool body_suspends(const struct plan_entry *en)
{
	struct json_object *v;
	return en->body && json_object_object_get_ex(en->body, "suspended", &v) &&
	       json_object_get_boolean(v);
}

static const char *event_for(enum plan_op op)
{
	switch (op) {
	case PLAN_LINK: return "gws.user.linked";
	case PLAN_CREATE: return "gws.user.provisioned";
	case PLAN_SUSPEND: return "gws.user.suspended";
	case PLAN_UNSUSPEND: return "gws.user.unsuspended";
	case PLAN_DELETED_IN_GOOGLE: return "gws.user.deleted_in_google";
	case PLAN_CONFLICT: return "gws.user.conflict";
	case PLAN_FAIL: return "gws.user.failed";
	default: return "gws.user.updated";
	}
}

/* A failure of one user: link status, event, failed item. */
static void set_failed(struct outcome *o, const struct plan_user *u, const struct plan_entry *en,
		       const char *status, const char *reason, const char *message,
		       enum store_job_count count, const char *event)
{
	snprintf(o->reason, sizeof(o->reason), "%s", reason ? reason : "failed");
	snprintf(o->message, sizeof(o->message), "%s", message ? message : "");
	o->w = (struct store_link_write){.user_id = u->user_id,
					 .status = status,
					 .error_reason = o->reason,
					 .error_message = o->message,
					 .event_type = event};
	o->event_data = event_data(o->job_id, u, en->google_id, en->primary_email, NULL, o->reason,
				   o->message);
	o->w.event_data_json = o->event_data;
	o->count = count;
	o->item_reason = o->reason;
	o->item_message = o->message;
	o->write_link = true;
}

/*
 * The item of an entry that left differences alone (identity_source google) says so, whatever
 * its outcome.
 */
static void note_kept(struct outcome *o, const struct plan_entry *en)
{
	if (!en->n_kept || !en->reason)
		return;
	snprintf(o->reason, sizeof(o->reason), "%s", en->reason);
	snprintf(o->message, sizeof(o->message), "%s", en->message ? en->message : "");
	o->item_reason = o->reason;
	o->item_message = o->message;
}

/* A link released for a user who left the scope (plan_link_release_due): no event, no error. */
static void set_released(struct outcome *o, const struct plan_user *u)
{
	o->w = (struct store_link_write){.user_id = u->user_id, .status = "released"};
	o->write_link = true;
}

/* A success: the link records the Google id, what was written and the password's digest. */
static void set_done(struct outcome *o, const struct plan_user *u, const struct plan_entry *en,
		     const char *google_id, const char *origin, enum store_job_count count)
{
	snprintf(o->google_id, sizeof(o->google_id), "%s", google_id ? google_id : "");
	o->hashes = text_of(en->hashes);
	bool suspended = body_suspends(en) ||
			 (en->op == PLAN_NONE && !strcmp(u->link_status, "suspended"));
	o->w = (struct store_link_write){
		.user_id = u->user_id,
		.google_id = o->google_id[0] ? o->google_id : NULL,
		.primary_email = en->primary_email,
		.status = suspended ? "suspended" : "synced",
		.origin = origin,
		.field_hashes_json = o->hashes,
		.password_digest = en->send_password	? u->password_digest
				   : en->random_password ? "random"
							 : NULL,
		.synced = true,
		.event_type = en->op == PLAN_NONE ? NULL : event_for(en->op),
	};
	if (en->op != PLAN_NONE) {
		o->event_data = event_data(o->job_id, u, o->google_id, en->primary_email, en, NULL, NULL);
		o->w.event_data_json = o->event_data;
	}
	o->count = count;
	o->write_link = true;
	note_kept(o, en);
}

/* The request body of a write: the plan's body plus the password, when one is sent. */
static char *write_body(const struct export_user *x, const struct plan_entry *en)
{
	struct json_object *b = en->body;
	char random[33] = "";
	if (en->send_password && x->hash) {
		json_object_object_add(b, "password", json_object_new_string(x->hash));
		json_object_object_add(b, "hashFunction", json_object_new_string(x->hash_function));
	} else if (en->random_password) {
		if (crypto_random_hex(random, 16))
			return NULL;
		json_object_object_add(b, "password", json_object_new_string(random));
	}
	char *t = text_of(b);
	json_object_object_del(b, "password");
	json_object_object_del(b, "hashFunction");
	crypto_wipe(random, sizeof(random));
	return t;
}

static void wipe_free(char *s)
{
	if (s) {
		crypto_wipe(s, strlen(s));
		free(s);
	}
}

/*
 * Whether the user Google holds at a create's address is the one this create sent. The address
 * was free when the plan was made and the intent (link status creating) was recorded before the
 * call, so a 409 is mostly the create answered ambiguously (applied, then a 5xx, then a 409 on
 * the retry). The names it was sent with tell it from a user someone else made meanwhile, whose
 * password this run never set.
 */
static bool own_created_user(const struct plan_user *u, struct json_object *g)
{
	struct json_object *name = NULL;
	json_object_object_get_ex(g, "name", &name);
	const char *given = jstr(name, "givenName"), *family = jstr(name, "familyName");
	return given && family && !strcmp(given, u->first_name) && !strcmp(family, u->last_name);
}

/*
 * After a 409 on a create: the user this create made is provisioned (counted created, with what
 * it wrote and the password's digest, so the next run writes nothing); another user holding the
 * address is taken over (linked; its attributes and password follow on the next run); an
 * address held otherwise (a group, another user's alias) is a conflict.
 */
static void create_conflict(struct apply_ctx *ac, const struct plan_user *u,
			    const struct plan_entry *en, struct outcome *o)
{
	char path[1024];
	struct err ge = {0};
	char *body = NULL;
	int status = 0;
	if (!google_user_path(en->primary_email, "?fields=id,primaryEmail,name", path,
			      sizeof(path)) &&
	    !connect_call(ac->h, "GET", path, NULL, &status, &body, NULL, &ge)) {
		struct json_object *g = json_tokener_parse(body);
		const char *id = jstr(g, "id"), *pe = jstr(g, "primaryEmail");
		/* users.get also answers for an alias: the user holding it is not this address's */
		bool found = id && *id && pe && en->primary_email && !strcasecmp(pe, en->primary_email);
		if (found && own_created_user(u, g)) {
			set_done(o, u, en, id, "provisioned", JOB_CREATED);
		} else if (found) {
			struct plan_entry linked = *en;
			linked.op = PLAN_LINK;
			set_done(o, u, &linked, id, "linked", JOB_UPDATED);
			o->w.password_digest = NULL;
			/* attributes follow on the next run: the link has no hashes yet */
			free(o->hashes);
			o->hashes = NULL;
			o->w.field_hashes_json = NULL;
			o->w.status = "synced";
		}
		if (g)
			json_object_put(g);
		free(body);
		if (found)
			return;
		body = NULL;
	}
	free(body);
	if (status == 404) {
		/* No user at the address yet: most likely this create, applied behind an ambiguous
		 * answer and not readable yet (Google's lag after a create). The intent stays, so
		 * the next run looks the address up again and finds it, or what holds it. */
		set_failed(o, u, en, "creating", "create_unconfirmed",
			   "Google answered 409 to the create but has no user at the address yet; "
			   "the next run looks it up again",
			   JOB_FAILED, "gws.user.failed");
		return;
	}
	set_failed(o, u, en, "conflict", "address_in_use",
		   "the address belongs to a group or to another user's alias", JOB_FAILED,
		   "gws.user.conflict");
}

/* After a 409 on a rename: Google may have applied it anyway; re-read by id. */
static bool rename_applied(struct apply_ctx *ac, const struct plan_entry *en)
{
	char path[1024];
	struct err ge = {0};
	char *body = NULL;
	if (google_user_path(en->google_id, "?fields=id,primaryEmail", path, sizeof(path)) ||
	    connect_call(ac->h, "GET", path, NULL, NULL, &body, NULL, &ge))
		return false;
	struct json_object *g = json_tokener_parse(body);
	const char *pe = jstr(g, "primaryEmail");
	bool ok = pe && en->primary_email && !strcasecmp(pe, en->primary_email);
	if (g)
		json_object_put(g);
	free(body);
	return ok;
}

/* Classifies one part's answer into the user's outcome. */
static void part_outcome(struct apply_ctx *ac, const struct export_user *x,
			 const struct plan_entry *en, const struct google_batch_item *it,
			 struct outcome *o)
{
	const struct plan_user *u = &x->pu;
	if (it->e.code == E_OK) {
		if (en->op == PLAN_CREATE) {
			struct json_object *g = it->resp_body ? json_tokener_parse(it->resp_body) : NULL;
			const char *id = jstr(g, "id");
			if (id && *id)
				set_done(o, u, en, id, "provisioned", JOB_CREATED);
			else /* nothing to link: a failure, never a success */
				set_failed(o, u, en, "failed", GOOGLE_REASON_INVALID_RESPONSE,
					   "Google's answer to users.insert has no user id", JOB_FAILED,
					   "gws.user.failed");
			if (g)
				json_object_put(g);
		} else {
			set_done(o, u, en, en->google_id,
				 own_create(u, en)	? "provisioned"
				 : en->op == PLAN_LINK ? "linked"
							: NULL,
				 own_create(u, en) ? JOB_CREATED : JOB_UPDATED);
		}
		return;
	}
	int st = it->status;
	if (en->op == PLAN_CREATE && st == 409) {
		create_conflict(ac, u, en, o);
		return;
	}
	if (en->op == PLAN_RENAME && st == 409 && rename_applied(ac, en)) {
		set_done(o, u, en, en->google_id, NULL, JOB_UPDATED);
		return;
	}
	if (en->op != PLAN_CREATE && (st == 404 || (st == 412 && strstr(it->e.msg, "deleted")))) {
		set_failed(o, u, en, "deleted_in_google", "deleted_in_google",
			   st == 404 ? "the linked Google user no longer exists" : it->e.msg,
			   JOB_SKIPPED, "gws.user.deleted_in_google");
		return;
	}
	set_failed(o, u, en, "failed", it->e.reason[0] ? it->e.reason : err_code_name(it->e.code),
		   it->e.msg, JOB_FAILED, "gws.user.failed");
}

/*
 * The batch's request failed as a whole (be): each of its users failed with that error. A create
 * may have gone through unanswered, so its link stays `creating` (a later run looks it up).
 */
static void batch_failed(struct apply_ctx *ac, const struct plan_entry *const *ens,
			 const size_t *slot, size_t m, const struct err *be, struct outcome *os)
{
	const char *reason = be->reason[0] ? be->reason : err_code_name(be->code);
	for (size_t k = 0; k < m; k++) {
		const struct plan_entry *en = ens[slot[k]];
		set_failed(&os[slot[k]], &ac->scope->users[en->user].pu, en,
			   en->op == PLAN_CREATE ? "creating" : "failed", reason, be->msg, JOB_FAILED,
			   "gws.user.failed");
	}
}

static void outcome_clear(struct outcome *o)
{
	free(o->hashes);
	free(o->event_data);
	memset(o, 0, sizeof(*o));
}

/* Writes the links of outcomes[0..n) and records their items. */
static int record(struct apply_ctx *ac, struct outcome *os, const struct plan_entry *const *ens,
		  size_t n, struct err *e)
{
	struct sync_job *j = ac->j;
	struct store_link_write *w = calloc(n ? n : 1, sizeof(*w));
	if (!w)
		return err_set(e, E_NOMEM, "links");
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (os[i].write_link)
			w[k++] = os[i].w;
	int rc = k ? store_links_write(j->st, j->job->tenant_id, j->job->integration_id,
				       j->job->id, j->owner, w, k, e)
		   : E_OK;
	free(w);
	if (rc == E_NOTFOUND) {
		j->stop = SYNC_LOST;
		return E_OK;
	}
	/* deactivated meanwhile: the links are written (released), so are the items; then stop */
	int stop = sync_not_active(rc, e) ? rc : E_OK;
	if (stop)
		rc = E_OK;
	struct store_job_item_in *items = rc ? NULL : calloc(n, sizeof(*items));
	size_t k2 = 0;
	if (!rc && !items)
		rc = err_set(e, E_NOMEM, "items");
	for (size_t i = 0; !rc && i < n; i++) {
		if (ac->scope->users[ens[i]->user].done)
			continue;
		items[k2++] = (struct store_job_item_in){
			.object_type = "user",
			.object_id = ac->scope->users[ens[i]->user].pu.user_id,
			.outcome = os[i].count,
			.error_reason = os[i].item_reason,
			.error_message = os[i].item_message,
		};
	}
	if (!rc && k2) {
		struct err ie = {0};
		if (sync_job_items(j, items, k2, &ie) && ie.code != E_NOTFOUND)
			log_write(LOG_WARN, "sync", "items_failed", ie.msg, NULL, 0);
	}
	free(items);
	return rc ? rc : stop;
}

/* Runs the Google writes of one batch of entries and records every outcome. */
static int run_batch(struct apply_ctx *ac, const struct plan_entry *const *ens, size_t n,
		     int *suspensions, struct err *e)
{
	struct sync_job *j = ac->j;
	struct outcome *os = calloc(n, sizeof(*os));
	struct google_batch_item *items = calloc(n, sizeof(*items));
	char **paths = calloc(n, sizeof(*paths)), **bodies = calloc(n, sizeof(*bodies));
	size_t *slot = calloc(n, sizeof(*slot));
	int rc = E_OK;
	if (!os || !items || !paths || !bodies || !slot) {
		rc = err_set(e, E_NOMEM, "batch");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		os[i].job_id = j->job->id;
	/*
	 * The takeovers' Google ids and the creates' intents, recorded before any write: one
	 * transaction for the batch; when one of them conflicts, one by one to tell which.
	 */
	struct store_link_write *pres = calloc(n, sizeof(*pres));
	if (!pres) {
		rc = err_set(e, E_NOMEM, "batch");
		goto out;
	}
	size_t npre = 0;
	for (size_t i = 0; i < n; i++) {
		const struct plan_entry *en = ens[i];
		const char *uid = ac->scope->users[en->user].pu.user_id;
		if (en->op == PLAN_LINK)
			pres[npre++] = (struct store_link_write){
				.user_id = uid,
				.primary_email = en->primary_email,
				.google_id = en->google_id,
				.status = "synced",
				.origin = own_create(&ac->scope->users[en->user].pu, en) ? "provisioned"
											  : "linked"};
		else if (en->op == PLAN_CREATE)
			pres[npre++] = (struct store_link_write){.user_id = uid,
								 .primary_email = en->primary_email,
								 .status = "creating",
								 .origin = "provisioned"};
	}
	struct err pe = {0};
	int prc = npre ? store_links_write(j->st, j->job->tenant_id, j->job->integration_id,
					   j->job->id, j->owner, pres, npre, &pe)
		       : E_OK;
	free(pres);
	if (prc == E_NOTFOUND) {
		j->stop = SYNC_LOST;
		goto out;
	}
	if (prc && (prc != E_CONFLICT || sync_not_active(prc, &pe))) {
		/* deactivated meanwhile: this batch sends nothing to Google */
		rc = err_set_reason(e, prc, sync_not_active(prc, &pe) ? pe.reason : "", "%s",
				    pe.msg);
		goto out;
	}
	bool pre_done = prc == E_OK;
	size_t m = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		const struct plan_entry *en = ens[i];
		const struct export_user *x = &ac->scope->users[en->user];
		const struct plan_user *u = &x->pu;
		struct store_link_write pre = {.user_id = u->user_id,
					       .primary_email = en->primary_email};
		if (en->op == PLAN_LINK) {
			pre.google_id = en->google_id;
			pre.status = "synced";
			pre.origin = own_create(u, en) ? "provisioned" : "linked";
		} else if (en->op == PLAN_CREATE) {
			pre.status = "creating";
			pre.origin = "provisioned";
		}
		if (pre.status && !pre_done) {
			struct err le = {0};
			int lrc = store_links_write(j->st, j->job->tenant_id, j->job->integration_id,
						    j->job->id, j->owner, &pre, 1, &le);
			if (lrc == E_CONFLICT && !sync_not_active(lrc, &le)) {
				set_failed(&os[i], u, en, "conflict", "linked_to_another_user",
					   "the matching Google user is linked to another directory user",
					   JOB_FAILED, "gws.user.conflict");
				os[i].w.google_id = NULL;
				continue;
			}
			if (lrc == E_NOTFOUND) {
				j->stop = SYNC_LOST;
				goto out;
			}
			if (lrc) {
				rc = err_set_reason(e, lrc, sync_not_active(lrc, &le) ? le.reason : "",
						    "%s", le.msg);
				goto out;
			}
		}
		bool writes = json_object_object_length(en->body) > 0 || en->send_password ||
			      en->random_password;
		if (!writes) { /* a takeover with nothing to change */
			set_done(&os[i], u, en, en->google_id, own_create(u, en) ? "provisioned" : "linked",
				 own_create(u, en) ? JOB_CREATED : JOB_UPDATED);
			continue;
		}
		paths[i] = malloc(1024);
		if (!paths[i] || (en->op == PLAN_CREATE
					  ? snprintf(paths[i], 1024, "%s", GOOGLE_USERS_PATH) < 0
					  : google_user_path(en->google_id, NULL, paths[i], 1024))) {
			set_failed(&os[i], u, en, "failed", "internal", "request path", JOB_FAILED,
				   "gws.user.failed");
			continue;
		}
		if (!(bodies[i] = write_body(x, en))) {
			rc = err_set(e, E_NOMEM, "body");
			goto out;
		}
		items[m] = (struct google_batch_item){
			.method = en->op == PLAN_CREATE ? "POST" : "PUT",
			.path = paths[i],
			.body = bodies[i],
		};
		slot[m++] = i;
	}
	if (m) {
		rc = google_batch(connect_handle_client(ac->h), items, m, e);
		if (rc && google_err_transient(rc)) {
			struct err be = e ? *e : (struct err){.code = rc};
			batch_failed(ac, ens, slot, m, &be, os);
			if (++ac->failed_batches < FAILED_BATCHES_MAX)
				rc = E_OK;
			int rrc = record(ac, os, ens, n, e);
			rc = rc ? rc : rrc;
			goto out;
		}
		if (rc)
			goto out;
		ac->failed_batches = 0;
		connect_handle_used(ac->h);
		for (size_t k = 0; k < m; k++) {
			size_t i = slot[k];
			part_outcome(ac, &ac->scope->users[ens[i]->user], ens[i], &items[k], &os[i]);
			if (items[k].e.code == E_OK && ens[i]->guarded)
				(*suspensions)++;
		}
	}
	rc = record(ac, os, ens, n, e);
out:
	for (size_t i = 0; i < n; i++) {
		if (os)
			outcome_clear(&os[i]);
		if (paths)
			free(paths[i]);
		if (bodies)
			wipe_free(bodies[i]);
	}
	if (items)
		google_batch_items_cleanup(items, n);
	free(os);
	free(items);
	free(paths);
	free(bodies);
	free(slot);
	return rc;
}

/* Outcomes that need no Google call: unchanged, skipped, conflicts, failures, deleted. */
static void local_outcome(const struct export_user *x, const struct plan_entry *en,
			  struct outcome *o)
{
	const struct plan_user *u = &x->pu;
	switch (en->op) {
	case PLAN_NONE:
		if (link_refresh_due(x, en))
			set_done(o, u, en, u->google_id, NULL, JOB_UNCHANGED);
		else if (plan_link_release_due(u))
			set_released(o, u);
		o->count = JOB_UNCHANGED;
		note_kept(o, en);
		break;
	case PLAN_SKIP:
		if (strcmp(u->link_status, "skipped") || !u->google_id[0])
			set_failed(o, u, en, u->google_id[0] ? u->link_status : "skipped",
				   en->reason, en->message, JOB_SKIPPED, NULL);
		snprintf(o->reason, sizeof(o->reason), "%s", en->reason ? en->reason : "skipped");
		snprintf(o->message, sizeof(o->message), "%s", en->message ? en->message : "");
		o->item_reason = o->reason;
		o->item_message = o->message;
		o->count = JOB_SKIPPED;
		break;
	case PLAN_CONFLICT:
		set_failed(o, u, en, "conflict", en->reason, en->message, JOB_FAILED,
			   "gws.user.conflict");
		break;
	case PLAN_FAIL:
		set_failed(o, u, en, u->google_id[0] && !strcmp(en->reason, "adminCannotUnsuspend")
					     ? u->link_status
					     : "failed",
			   en->reason, en->message, JOB_FAILED, "gws.user.failed");
		break;
	case PLAN_DELETED_IN_GOOGLE:
		set_failed(o, u, en, "deleted_in_google", en->reason, en->message, JOB_SKIPPED,
			   "gws.user.deleted_in_google");
		break;
	default:
		break;
	}
}

static bool needs_google(enum plan_op op)
{
	return op == PLAN_LINK || op == PLAN_CREATE || op == PLAN_RENAME || op == PLAN_SUSPEND ||
	       op == PLAN_UNSUSPEND || op == PLAN_UPDATE || op == PLAN_SET_PASSWORD;
}

int apply_settled(struct apply_ctx *ac, const struct plan_entry *const *ens, size_t n,
		  bool listed, struct err *e)
{
	/* Unlisted, only the links that do not record what Google holds yet, or that a user who
	 * left the scope no longer needs (released), need anything. */
	const struct plan_entry **w = listed ? NULL : calloc(n ? n : 1, sizeof(*w));
	size_t m = 0;
	if (!listed && !w)
		return err_set(e, E_NOMEM, "apply");
	for (size_t i = 0; w && i < n; i++) {
		const struct export_user *x = &ac->scope->users[ens[i]->user];
		if (link_refresh_due(x, ens[i]) || plan_link_release_due(&x->pu))
			w[m++] = ens[i];
	}
	if (w) {
		ens = w;
		n = m;
	}
	struct outcome *os = n ? calloc(n, sizeof(*os)) : NULL;
	int rc = n && !os ? err_set(e, E_NOMEM, "apply") : E_OK;
	for (size_t i = 0; os && i < n; i++) {
		os[i].job_id = ac->j->job->id;
		local_outcome(&ac->scope->users[ens[i]->user], ens[i], &os[i]);
	}
	if (os && listed) {
		rc = record(ac, os, ens, n, e);
	} else if (os) {
		/* every one a link refresh without an event (set_done of an unchanged user) */
		struct store_link_write *lw = calloc(n, sizeof(*lw));
		for (size_t i = 0; lw && i < n; i++)
			lw[i] = os[i].w;
		struct sync_job *j = ac->j;
		rc = !lw ? err_set(e, E_NOMEM, "links")
			 : store_links_refresh(j->st, j->job->tenant_id, j->job->integration_id,
					       j->job->id, j->owner, lw, n, e);
		free(lw);
		if (rc == E_NOTFOUND) {
			j->stop = SYNC_LOST;
			rc = E_OK;
		}
	}
	for (size_t i = 0; os && i < n; i++)
		outcome_clear(&os[i]);
	free(os);
	free(w);
	return rc;
}

int apply_users(struct apply_ctx *ac, const struct plan *p, struct err *e)
{
	struct sync_job *j = ac->j;
	const struct plan_entry *batch[WRITE_BATCH];
	size_t nb = 0;
	int suspensions = 0, rc = E_OK;
	/* Local outcomes first, in chunks (no Google call). */
	enum { LOCAL = 500 };
	struct outcome *os = calloc(LOCAL, sizeof(*os));
	const struct plan_entry **lens = calloc(LOCAL, sizeof(*lens));
	if (!os || !lens) {
		free(os);
		free(lens);
		return err_set(e, E_NOMEM, "apply");
	}
	size_t nl = 0;
	for (size_t i = 0; !rc && i <= p->n && !j->stop; i++) {
		if (i < p->n && !needs_google(p->entries[i].op)) {
			lens[nl] = &p->entries[i];
			os[nl].job_id = j->job->id;
			local_outcome(&ac->scope->users[p->entries[i].user], lens[nl], &os[nl]);
			nl++;
		}
		if (nl && (nl == LOCAL || i == p->n)) {
			rc = record(ac, os, lens, nl, e);
			for (size_t k = 0; k < nl; k++)
				outcome_clear(&os[k]);
			nl = 0;
		}
	}
	free(os);
	free(lens);
	int done = (int)ac->settled, total = (int)(p->n + ac->settled);
	for (size_t i = 0; i < p->n; i++)
		done += !needs_google(p->entries[i].op);
	if (!rc && !j->stop)
		sync_job_checkpoint(j, done, total);
	for (size_t i = 0; !rc && i <= p->n && !j->stop; i++) {
		if (i < p->n && needs_google(p->entries[i].op))
			batch[nb++] = &p->entries[i];
		if (nb && (nb == WRITE_BATCH || i == p->n)) {
			rc = run_batch(ac, batch, nb, &suspensions, e);
			done += (int)nb;
			nb = 0;
			if (!rc && !j->stop && sync_job_checkpoint(j, done, total))
				break;
			if (rc || j->stop)
				break;
			if ((rc = sync_still_active(j, e)))
				break;
		}
	}
	if (suspensions) {
		struct err ge = {0};
		if (store_guard_record(j->st, j->job->tenant_id, j->job->integration_id, suspensions,
				       &ge))
			log_write(LOG_WARN, "sync", "guard_record_failed", ge.msg, NULL, 0);
	}
	if (!rc && !j->stop)
		sync_job_checkpoint(j, total, total);
	return rc;
}
