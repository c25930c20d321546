#include <stddef.h>
#include <stdlib.h>

#include "api_internal.h"
#include "log.h"

API_ROW_JSON(key_row, api_key_json)

void handle_api_keys_list(struct api_request *rq, struct api_response *rs)
{
	struct api_page pg;
	if (api_page_begin(rq, rs, API_CURSOR_UUID, &pg))
		return;
	struct store_api_key *ks = NULL;
	int rc = store_api_key_list(rq->ctx->st, rq->who.tenant_id, api_page_after(&pg), pg.fetch,
				    &ks, &pg.n, &pg.e);
	api_reply_rows(rs, &pg, rc, ks, sizeof(*ks), offsetof(struct store_api_key, id), key_row,
		       NULL);
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
