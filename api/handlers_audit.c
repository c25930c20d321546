#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

static json_object *audit_json(const struct store_audit_event *ev)
{
	json_object *jo = json_object_new_object();
	char id[24];
	snprintf(id, sizeof(id), "%lld", (long long)ev->id);
	api_json_put_str(jo, "id", id);
	api_json_put_str(jo, "created_at", ev->created_at);
	api_json_put_str(jo, "actor_key_id", ev->actor_key_id);
	api_json_put_str(jo, "request_id", ev->request_id);
	api_json_put_str(jo, "resource_type", ev->resource_type);
	api_json_put_str(jo, "resource_id", ev->resource_id);
	api_json_put_str(jo, "action", ev->action);
	/* Secrets never reach these columns: the audit trigger strips them before storing. */
	json_object_object_add(jo, "before",
			       ev->before_json ? json_tokener_parse(ev->before_json) : NULL);
	json_object_object_add(jo, "after",
			       ev->after_json ? json_tokener_parse(ev->after_json) : NULL);
	return jo;
}

void handle_audit_list(struct api_request *rq, struct api_response *rs)
{
	int limit;
	char after[API_CURSOR_MAX];
	if (api_page_params(rq, rs, &limit, after))
		return;
	long long before = api_cursor_seq(after);
	if (before < 0) {
		api_cursor_invalid(rs);
		return;
	}
	struct store_audit_event *ev = NULL;
	size_t n = 0;
	struct err e = {0};
	if (store_audit_list(rq->ctx->st, rq->who.tenant_id, before, limit + 1, &ev, &n, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	json_object *items = json_object_new_array();
	for (size_t i = 0; i < n && i < (size_t)limit; i++)
		json_object_array_add(items, audit_json(&ev[i]));
	char key[24] = "";
	if (n > (size_t)limit)
		snprintf(key, sizeof(key), "%lld", (long long)ev[limit - 1].id);
	api_reply_page(rs, items, key[0] ? key : NULL);
	store_audit_events_free(ev, n);
}
