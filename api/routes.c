/* Every route of the API. openapi.yaml describes exactly these (a test compares both ways). */
#include "api_internal.h"

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
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
