/* Handlers of integrations, their domains, attribute rules and bindings (api/handlers_*.c). */
#ifndef GWSYNC_API_HANDLERS_INTEGRATIONS_H
#define GWSYNC_API_HANDLERS_INTEGRATIONS_H

#include "api_internal.h"
#include "store_integrations.h"

void handle_integrations_create(struct api_request *rq, struct api_response *rs);
void handle_integrations_list(struct api_request *rq, struct api_response *rs);
void handle_integrations_get(struct api_request *rq, struct api_response *rs);
void handle_integrations_patch(struct api_request *rq, struct api_response *rs);
void handle_integrations_delete(struct api_request *rq, struct api_response *rs);
void handle_integrations_deactivate(struct api_request *rq, struct api_response *rs);
void handle_integrations_reactivate(struct api_request *rq, struct api_response *rs);

void handle_domains_list(struct api_request *rq, struct api_response *rs);
void handle_domains_add(struct api_request *rq, struct api_response *rs);
void handle_domains_remove(struct api_request *rq, struct api_response *rs);

void handle_attribute_rules_get(struct api_request *rq, struct api_response *rs);
void handle_attribute_rules_put(struct api_request *rq, struct api_response *rs);

void handle_user_binding_put(struct api_request *rq, struct api_response *rs);
void handle_user_binding_delete(struct api_request *rq, struct api_response *rs);
void handle_group_binding_put(struct api_request *rq, struct api_response *rs);
void handle_group_binding_delete(struct api_request *rq, struct api_response *rs);
void handle_bound_users_list(struct api_request *rq, struct api_response *rs);
void handle_bound_user_get(struct api_request *rq, struct api_response *rs);
void handle_bound_groups_list(struct api_request *rq, struct api_response *rs);
void handle_bound_group_get(struct api_request *rq, struct api_response *rs);
void handle_bound_group_delete_in_google(struct api_request *rq, struct api_response *rs);

/* The JSON of an integration (schema Integration). */
json_object *api_integration_json(const struct store_integration *it);

/*
 * The {integration_id} of the path, checked for shape; answers 404 itself and returns NULL when
 * it cannot name an integration.
 */
const char *integration_path_id(struct api_request *rq, struct api_response *rs);

#endif
