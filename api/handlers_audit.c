#include <stddef.h>
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

API_ROW_JSON(audit_row, audit_json)

void handle_audit_list(struct api_request *rq, struct api_response *rs)
{
	struct api_page pg;
	if (api_page_begin(rq, rs, API_CURSOR_SEQ, &pg))
		return;
	struct store_audit_event *ev = NULL;
	int rc = store_audit_list(rq->ctx->st, rq->who.tenant_id, pg.seq, pg.fetch, &ev, &pg.n,
				  &pg.e);
	api_reply_rows(rs, &pg, rc, ev, sizeof(*ev), offsetof(struct store_audit_event, id),
		       audit_row, NULL);
	store_audit_events_free(ev, pg.n);
}
