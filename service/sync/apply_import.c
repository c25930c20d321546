#include "apply_import.h"

#include <json-c/json.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "store_import.h"
#include "sync_lanes.h"

#define APPLY_BATCH 1000

static bool writes(enum import_op op)
{
	return op == IMPORT_OP_CREATE || op == IMPORT_OP_LINK || op == IMPORT_OP_UPDATE;
}

/* One row of store_import_apply() for entry en (the store builds its event from it). */
static struct json_object *row_of(const struct import_entry *en)
{
	struct json_object *r = json_object_new_object();
	if (!r)
		return NULL;
	json_object_object_add(r, "op", json_object_new_string(import_op_name(en->op)));
	json_object_object_add(r, "user_id", json_object_new_string(en->user_id));
	json_object_object_add(r, "google_id", json_object_new_string(en->google_id));
	json_object_object_add(r, "primary_email", json_object_new_string(en->primary_email));
	json_object_object_add(r, "link_status",
			       json_object_new_string(en->suspended ? "suspended" : "synced"));
	json_object_object_add(r, "fields",
			       en->fields ? json_object_get(en->fields) : json_object_new_object());
	return r;
}

static enum store_job_count outcome_of(const struct import_entry *en, bool refused)
{
	if (refused)
		return JOB_FAILED;
	switch (en->op) {
	case IMPORT_OP_CREATE: return JOB_CREATED;
	case IMPORT_OP_LINK:
	case IMPORT_OP_UPDATE: return JOB_UPDATED;
	case IMPORT_OP_NONE: return JOB_UNCHANGED;
	case IMPORT_OP_SKIP: return JOB_SKIPPED;
	default: return JOB_FAILED;
	}
}

struct apply_ctx {
	struct sync_job *j; /* read only on the lanes; checkpoints on the caller's thread */
	const struct import_plan *p;
	const bool *done;
	atomic_int counts[JOB_NCOUNT];
	atomic_size_t handled; /* entries of the batches written */
};

struct batch {
	const struct import_plan *p;
	const bool *done;
	size_t from, to;
	bool *refused;			 /* indexed from `from` */
	struct store_job_item_in *items; /* to - from */
	size_t n;
};

static void on_refused(void *ctx, const char *user_id)
{
	struct batch *b = ctx;
	for (size_t i = b->from; i < b->to; i++) {
		const struct import_entry *en = &b->p->entries[i];
		if (writes(en->op) && en->user_id && !strcmp(en->user_id, user_id))
			b->refused[i - b->from] = true;
	}
}

/* The batch's items, once the store knows which writes it refused. */
static void on_items(void *ctx, const struct store_job_item_in **items, size_t *n)
{
	struct batch *b = ctx;
	b->n = 0;
	for (size_t i = b->from; i < b->to; i++) {
		const struct import_entry *en = &b->p->entries[i];
		if (b->done[i])
			continue;
		bool rf = b->refused[i - b->from];
		b->items[b->n++] = (struct store_job_item_in){
			.object_type = "google_user",
			.object_id = en->google_id,
			.outcome = outcome_of(en, rf),
			.error_reason = rf ? "email_in_use" : en->reason,
			.error_message = rf ? "another directory user holds this email" : en->message};
	}
	*items = b->items;
	*n = b->n;
}

/* One batch (a lane's chunk): its replica writes and its items in one transaction. */
static int apply_batch(void *arg, size_t from, size_t to, struct err *e)
{
	struct apply_ctx *a = arg;
	const struct store_job *job = a->j->job;
	struct batch b = {.p = a->p, .done = a->done, .from = from, .to = to};
	b.refused = calloc(to - from, sizeof(*b.refused));
	b.items = calloc(to - from, sizeof(*b.items));
	struct json_object *rows = json_object_new_array();
	int rc = b.refused && b.items && rows ? E_OK : err_set(e, E_NOMEM, "import batch");
	size_t nrows = 0;
	for (size_t i = from; !rc && i < to; i++) {
		const struct import_entry *en = &a->p->entries[i];
		if (a->done[i] || !writes(en->op))
			continue;
		struct json_object *r = row_of(en);
		if (!r || json_object_array_add(rows, r)) {
			json_object_put(r);
			rc = err_set(e, E_NOMEM, "import batch");
		}
		nrows++;
	}
	if (!rc)
		rc = store_import_apply(
			a->j->st, job->tenant_id, job->integration_id, job->id, a->j->owner,
			nrows ? json_object_to_json_string_ext(rows, JSON_C_TO_STRING_PLAIN) : NULL,
			on_refused, on_items, &b, e);
	for (size_t i = 0; !rc && i < b.n; i++)
		atomic_fetch_add(&a->counts[b.items[i].outcome], 1);
	if (!rc)
		atomic_fetch_add(&a->handled, to - from);
	json_object_put(rows);
	free(b.refused);
	free(b.items);
	return rc;
}

static int apply_between(void *arg, size_t done)
{
	struct apply_ctx *a = arg;
	return sync_job_checkpoint(a->j, (int)done, (int)a->p->n) != SYNC_GO;
}

int apply_import(struct sync_job *j, const struct import_plan *p, const bool *done, struct err *e)
{
	struct apply_ctx a = {.j = j, .p = p, .done = done};
	for (int k = 0; k < JOB_NCOUNT; k++)
		atomic_init(&a.counts[k], 0);
	atomic_init(&a.handled, 0);
	int rc = sync_lanes_run(SYNC_LANES, p->n, APPLY_BATCH, apply_batch, apply_between, &a, e);
	if (rc == E_NOTFOUND)
		j->stop = SYNC_LOST;
	for (int k = 0; k < JOB_NCOUNT; k++)
		j->counts[k] += atomic_load(&a.counts[k]);
	/* the progress of every batch written, also when the run stops (a cancel, an error) */
	sync_job_progress_final(j, (int)atomic_load(&a.handled), (int)p->n);
	return rc;
}
