/* Every route of the API. openapi.yaml describes exactly these (a test compares both ways). */
#include "api_internal.h"
#include "handlers_integrations.h"

const struct api_route api_routes[] = {
	{{"GET", "/healthz"}, handle_healthz, ACCESS_NONE, 0},
	{{"GET", "/readyz"}, handle_readyz, ACCESS_NONE, 0},
	{{"GET", "/metrics"}, handle_metrics, ACCESS_NONE, 0},
	{{"POST", "/v1/tenants"}, handle_tenants_create, ACCESS_OPERATOR, 0},
	{{"GET", "/v1/tenants"}, handle_tenants_list, ACCESS_OPERATOR, 0},
	{{"GET", "/v1/tenants/{tenant_id}"}, handle_tenants_get, ACCESS_OPERATOR, 0},
	{{"POST", "/v1/tenants/{tenant_id}/api-keys"}, handle_tenant_keys_create, ACCESS_OPERATOR,
	 ROUTE_NO_REPLAY},
	{{"GET", "/v1/audit-events"}, handle_audit_list, ACCESS_READER, 0},
	{{"GET", "/v1/api-keys"}, handle_api_keys_list, ACCESS_READER, 0},
	{{"DELETE", "/v1/api-keys/{key_id}"}, handle_api_keys_revoke, ACCESS_OPERATOR, 0},

	/* integrations, their domains, attribute rules and bindings */
	{{"POST", "/v1/integrations"}, handle_integrations_create, ACCESS_EDITOR, 0},
	{{"GET", "/v1/integrations"}, handle_integrations_list, ACCESS_READER, 0},
	{{"GET", "/v1/integrations/{integration_id}"}, handle_integrations_get, ACCESS_READER, 0},
	{{"PATCH", "/v1/integrations/{integration_id}"}, handle_integrations_patch, ACCESS_EDITOR,
	 0},
	{{"DELETE", "/v1/integrations/{integration_id}"}, handle_integrations_delete, ACCESS_EDITOR,
	 0},
	{{"POST", "/v1/integrations/{integration_id}/deactivate"}, handle_integrations_deactivate,
	 ACCESS_EDITOR, 0},
	{{"POST", "/v1/integrations/{integration_id}/reactivate"}, handle_integrations_reactivate,
	 ACCESS_EDITOR, 0},
	{{"GET", "/v1/integrations/{integration_id}/domains"}, handle_domains_list, ACCESS_READER,
	 0},
	{{"POST", "/v1/integrations/{integration_id}/domains"}, handle_domains_add, ACCESS_EDITOR,
	 0},
	{{"DELETE", "/v1/integrations/{integration_id}/domains/{domain}"}, handle_domains_remove,
	 ACCESS_EDITOR, 0},
	{{"GET", "/v1/integrations/{integration_id}/attribute-rules"}, handle_attribute_rules_get,
	 ACCESS_READER, 0},
	{{"PUT", "/v1/integrations/{integration_id}/attribute-rules"}, handle_attribute_rules_put,
	 ACCESS_EDITOR, 0},
	{{"GET", "/v1/integrations/{integration_id}/users"}, handle_bound_users_list,
	 ACCESS_READER, 0},
	{{"PUT", "/v1/integrations/{integration_id}/users/{user_id}"}, handle_user_binding_put,
	 ACCESS_EDITOR, 0},
	{{"DELETE", "/v1/integrations/{integration_id}/users/{user_id}"},
	 handle_user_binding_delete, ACCESS_EDITOR, 0},
	{{"GET", "/v1/integrations/{integration_id}/groups"}, handle_bound_groups_list,
	 ACCESS_READER, 0},
	{{"PUT", "/v1/integrations/{integration_id}/groups/{group_id}"}, handle_group_binding_put,
	 ACCESS_EDITOR, 0},
	{{"DELETE", "/v1/integrations/{integration_id}/groups/{group_id}"},
	 handle_group_binding_delete, ACCESS_EDITOR, 0},
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
