/* The import preview route and the import filter check (api/handlers_import.c). */
#ifndef GWSYNC_API_HANDLERS_IMPORT_H
#define GWSYNC_API_HANDLERS_IMPORT_H

#include "handlers_integrations.h"

/* GET /v1/integrations/{integration_id}/google-users */
void handle_google_users_list(struct api_request *rq, struct api_response *rs);

/*
 * Before an integration update is stored: when it sets a new, non-empty import filter on an
 * active integration, one users.list (maxResults=1) with it. Returns 0 to go on; -1 when it
 * answered (400 naming /settings/import_filter with Google's message, or 503 when Google could
 * not be asked): nothing is stored then.
 */
int api_import_filter_check(struct api_request *rq, struct api_response *rs,
			    const struct store_integration *it, const char *old_filter);

#endif
