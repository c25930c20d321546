/* Handlers of the directory replica: users, passwords, groups and members (api/handlers_*.c). */
#ifndef GWSYNC_API_HANDLERS_DIRECTORY_H
#define GWSYNC_API_HANDLERS_DIRECTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "api_internal.h"
#include "store_directory.h"

/* handlers_users.c */
void handle_users_put(struct api_request *rq, struct api_response *rs);
void handle_users_patch(struct api_request *rq, struct api_response *rs);
void handle_users_get(struct api_request *rq, struct api_response *rs);
void handle_users_list(struct api_request *rq, struct api_response *rs);
void handle_users_delete(struct api_request *rq, struct api_response *rs);
void handle_users_password(struct api_request *rq, struct api_response *rs);

/* handlers_groups.c */
void handle_groups_put(struct api_request *rq, struct api_response *rs);
void handle_groups_get(struct api_request *rq, struct api_response *rs);
void handle_groups_list(struct api_request *rq, struct api_response *rs);
void handle_groups_delete(struct api_request *rq, struct api_response *rs);
void handle_group_members_put(struct api_request *rq, struct api_response *rs);
void handle_group_members_delete(struct api_request *rq, struct api_response *rs);
void handle_group_members_list(struct api_request *rq, struct api_response *rs);

/*
 * The path parameter name (a user or group id; what is "user" or "group" for messages) when it
 * is a valid directory id (validate_directory_id). Otherwise answers itself and returns NULL:
 * 400 naming "/path/<name>" when the request would create the resource (PUT), else 404.
 * Borrowed from rq.
 */
const char *directory_path_id(struct api_request *rq, struct api_response *rs, const char *name,
			      const char *what, bool creates);

/*
 * The If-Match condition as the store takes it: -1 none, 0 "*", else the version
 * (API_VERSION_NEVER for a weak tag). http.c has refused a malformed header before the handler.
 */
int64_t directory_if_version(const struct api_request *rq);

/*
 * Answers a failed directory write: E_INVAL whose e->reason is a JSON pointer ("/manager_id")
 * becomes a validation problem naming it; anything else goes through api_reply_err().
 */
void directory_reply_err(struct api_response *rs, const struct err *e);

#endif
