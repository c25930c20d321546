#include "apply_import.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "store_import.h"

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

struct refused {
	const struct import_plan *p;
	size_t from, to;
	bool *flag; /* indexed from `from` */
};

static void on_refused(void *ctx, const char *user_id)
{
	struct refused *rf = ctx;
	for (size_t i = rf->from; i < rf->to; i++) {
		const struct import_entry *en = &rf->p->entries[i];
		if (writes(en->op) && en->user_id && !strcmp(en->user_id, user_id))
			rf->flag[i - rf->from] = true;
	}
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

int apply_import(struct sync_job *j, const struct import_plan *p, const bool *done, struct err *e)
{
	int rc = E_OK;
	size_t total = p->n, handled = 0;
	bool *refused = malloc(APPLY_BATCH * sizeof(*refused));
	struct store_job_item_in *items = malloc(APPLY_BATCH * sizeof(*items));
	if (!refused || !items) {
		free(refused);
		free(items);
		return err_set(e, E_NOMEM, "import batch");
	}
	for (size_t from = 0; !rc && from < p->n && !j->stop; from += APPLY_BATCH) {
		size_t to = p->n - from < APPLY_BATCH ? p->n : from + APPLY_BATCH;
		memset(refused, 0, APPLY_BATCH * sizeof(*refused));
		struct json_object *rows = json_object_new_array();
		size_t nrows = 0;
		for (size_t i = from; rows && i < to; i++) {
			const struct import_entry *en = &p->entries[i];
			if (done[i] || !writes(en->op))
				continue;
			struct json_object *r = row_of(en);
			if (!r) {
				json_object_put(rows);
				rows = NULL;
				break;
			}
			json_object_array_add(rows, r);
			nrows++;
		}
		if (!rows) {
			rc = err_set(e, E_NOMEM, "import batch");
			break;
		}
		if (nrows) {
			struct refused rf = {p, from, to, refused};
			rc = store_import_apply(j->st, j->job->tenant_id, j->job->integration_id,
						j->job->id, j->owner,
						json_object_to_json_string_ext(rows,
									       JSON_C_TO_STRING_PLAIN),
						on_refused, &rf, e);
			if (rc == E_NOTFOUND)
				j->stop = SYNC_LOST;
		}
		json_object_put(rows);
		if (rc)
			break;
		size_t n = 0;
		for (size_t i = from; i < to; i++) {
			const struct import_entry *en = &p->entries[i];
			if (done[i])
				continue;
			bool rf = refused[i - from];
			items[n++] = (struct store_job_item_in){
				.object_type = "google_user",
				.object_id = en->google_id,
				.outcome = outcome_of(en, rf),
				.error_reason = rf ? "email_in_use" : en->reason,
				.error_message =
					rf ? "another directory user holds this email" : en->message};
		}
		if (n && (rc = sync_job_items(j, items, n, e)))
			break;
		handled = to;
		sync_job_checkpoint(j, (int)handled, (int)total);
	}
	free(refused);
	free(items);
	return rc;
}
