#include <stdlib.h>

#include "api_internal.h"
#include "log.h"

void handle_api_keys_list(struct api_request *rq, struct api_response *rs)
{
	int limit;
	char after[API_CURSOR_MAX];
	if (api_page_params(rq, rs, &limit, after))
		return;
	if (after[0] && !api_is_uuid(after)) {
		api_cursor_invalid(rs);
		return;
	}
	struct store_api_key *ks = NULL;
	size_t n = 0;
	struct err e = {0};
	if (store_api_key_list(rq->ctx->st, rq->who.tenant_id, after[0] ? after : NULL, limit + 1,
			       &ks, &n, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	json_object *items = json_object_new_array();
	for (size_t i = 0; i < n && i < (size_t)limit; i++)
		json_object_array_add(items, api_key_json(&ks[i]));
	api_reply_page(rs, items, n > (size_t)limit ? ks[limit - 1].id : NULL);
	free(ks);
}

void handle_api_keys_revoke(struct api_request *rq, struct api_response *rs)
{
	const char *id = router_param(&rq->params, "key_id");
	struct err e = {0};
	if (!id || !api_is_uuid(id)) {
		api_reply_error(rs, 404, "not-found", "Not found", "no such API key");
		return;
	}
	struct store_actor actor = api_actor(rq, "revoke");
	if (store_api_key_revoke(rq->ctx->st, &actor, rq->who.tenant_id, id, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	auth_cache_forget_key(rq->ctx->auth_cache, id);
	log_write(LOG_INFO, "api", "api_key_revoked", NULL,
		  (struct log_field[]){LOG_STR("key_id", id)}, 1);
	rs->status = 204;
	rs->content_type = "application/json";
}
