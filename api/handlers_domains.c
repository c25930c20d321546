#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attributes.h"
#include "connect.h"
#include "handlers_integrations.h"
#include "log.h"
#include "store_authorization.h"

/* DNS name rules: 2+ labels of 1–63 [a-z0-9-] not starting or ending with '-', ≤ 253 total. */
static const char *domain_invalid(const char *d)
{
	size_t n = strlen(d);
	if (n == 0)
		return "must not be empty";
	if (n > STORE_DOMAIN_MAX)
		return "must be at most 253 characters";
	size_t label = 0, labels = 1;
	for (size_t i = 0; i < n; i++) {
		char c = d[i];
		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return "must be a domain name such as example.com";
			label = 0;
			labels++;
			continue;
		}
		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-'))
			return "must be a domain name such as example.com";
		if (label == 0 && c == '-')
			return "must be a domain name such as example.com";
		if (++label > 63)
			return "labels must be at most 63 characters";
	}
	if (label == 0 || d[n - 1] == '-' || labels < 2)
		return "must be a domain name such as example.com";
	return NULL;
}

static json_object *domain_json(const struct store_domain *d)
{
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "domain", d->domain);
	if (d->verified < 0)
		json_object_object_add(jo, "verified", NULL);
	else
		api_json_put(jo, "verified", json_object_new_boolean(d->verified));
	api_json_put(jo, "default", json_object_new_boolean(d->is_default));
	api_json_put_str(jo, "created_at", d->created_at);
	return jo;
}

void handle_domains_list(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	if (!id)
		return;
	struct store_domain *ds = NULL;
	size_t n = 0;
	struct err e = {0};
	if (store_domain_list(rq->ctx->st, rq->who.tenant_id, id, &ds, &n, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	json_object *jo = json_object_new_object();
	json_object *items = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(items, domain_json(&ds[i]));
	api_json_put(jo, "items", items);
	free(ds);
	api_reply_json(rs, 200, jo);
}

/*
 * On an active integration a new domain must be one Google lists as verified for the account:
 * asked at once, under the request's Google deadline. Before the authorization (and while it must
 * be authorized again, or without a stored credential) the domain is kept unchecked (verified
 * null); the next authorization or verification sets it.
 * Returns 0 to go on (*verified: Google's verified domains, NULL when not asked), -1 when it
 * answered (422 domain-not-verified, 503 google-unreachable, …).
 */
static int google_domain_check(struct api_request *rq, struct api_response *rs, const char *id,
			       const char *domain, char ***verified)
{
	*verified = NULL;
	struct store_integration *it = malloc(sizeof(*it));
	struct err e = {0};
	int rc = it ? store_integration_get(rq->ctx->st, rq->who.tenant_id, id, it, &e)
		    : err_set(&e, E_NOMEM, "integration");
	int active = !rc && strcmp(it->status, "active") == 0;
	free(it);
	if (rc) {
		api_reply_err(rs, &e);
		return -1;
	}
	if (!active)
		return 0;
	struct google_deadline deadline;
	google_deadline_begin(&deadline, rq->ctx->cfg->google_request_deadline_ms);
	rc = connect_domains_verified(rq->ctx->conn, rq->who.tenant_id, id, verified, &e);
	google_deadline_end(&deadline);
	if (rc == E_NOTFOUND) /* no stored credential: nothing to ask Google with, as before one */
		return 0;
	if (rc) {
		api_reply_google_error(rs, rc, &e);
		return -1;
	}
	for (char **v = *verified; *v; v++)
		if (strcmp(*v, domain) == 0)
			return 0;
	connect_domains_free(*verified);
	*verified = NULL;
	api_reply_error(rs, 422, "domain-not-verified", "Domain not verified",
			"Google does not list %s as a verified domain of this Google Workspace "
			"account; add and verify it in the Admin console (Account > Domains), then add "
			"it here again",
			domain);
	return -1;
}

void handle_domains_add(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	if (!id)
		return;
	static const char *const allowed[] = {"domain", NULL};
	struct problem p;
	json_object *body = api_body_begin(rq, rs, "the domain is not valid", allowed, NULL, &p);
	if (!body)
		return;
	json_object *v = NULL;
	char domain[STORE_DOMAIN_MAX + 2] = "";
	if (!json_object_object_get_ex(body, "domain", &v)) {
		problem_add_error(&p, "/domain", "is required");
	} else if (!json_object_is_type(v, json_type_string)) {
		problem_add_error(&p, "/domain", "must be a string");
	} else {
		const char *s = json_object_get_string(v);
		size_t n = strlen(s);
		if (n > STORE_DOMAIN_MAX) {
			problem_add_error(&p, "/domain", "must be at most 253 characters");
		} else {
			for (size_t i = 0; i <= n; i++)
				domain[i] = (char)tolower((unsigned char)s[i]);
			const char *why = domain_invalid(domain);
			if (why)
				problem_add_error(&p, "/domain", "%s", why);
		}
	}
	json_object_put(body);
	if (p.n_errors) {
		api_reply_problem(rs, &p, NULL);
		return;
	}
	char **verified = NULL;
	if (google_domain_check(rq, rs, id, domain, &verified))
		return;
	struct store_domain d;
	struct err e = {0};
	struct store_actor actor = api_actor(rq, NULL);
	if (store_domain_add(rq->ctx->st, &actor, rq->who.tenant_id, id, domain, &d, &e)) {
		connect_domains_free(verified);
		api_reply_err(rs, &e);
		return;
	}
	/* Google's answer also refreshes the flags of the integration's other domains. */
	if (verified) {
		if (store_domains_verified_set(rq->ctx->st, &actor, rq->who.tenant_id, id,
					       (const char *const *)verified, &e) == E_OK)
			d.verified = 1;
		else
			log_write(LOG_WARN, "api", "domain_flags_not_stored", e.msg, NULL, 0);
		connect_domains_free(verified);
	}
	snprintf(rs->location, sizeof(rs->location), "/v1/integrations/%s/domains/%s", id,
		 d.domain);
	api_reply_json(rs, 201, domain_json(&d));
}

void handle_domains_remove(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	if (!id)
		return;
	char domain[ROUTER_PARAM_MAX];
	snprintf(domain, sizeof(domain), "%s", router_param(&rq->params, "domain"));
	for (char *c = domain; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	/* The rule a domain is added by: anything else cannot be one of the integration's. */
	if (domain_invalid(domain)) {
		api_reply_error(rs, 404, "not-found", "Not found", "no such domain");
		return;
	}
	struct err e = {0};
	struct store_actor actor = api_actor(rq, NULL);
	if (store_domain_remove(rq->ctx->st, &actor, rq->who.tenant_id, id, domain, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	rs->status = 204;
}

/* ---- attribute rules ---- */

static const char *direction_of(const struct attribute_def *def,
				const struct store_attribute_rule *rules, size_t n)
{
	if (def->always)
		return "both";
	for (size_t i = 0; i < n; i++) {
		if (strcmp(rules[i].attribute, def->name) == 0)
			return rules[i].direction;
	}
	return "excluded";
}

static void reply_rules(struct api_response *rs, const struct store_attribute_rule *rules,
			size_t n, int64_t version)
{
	json_object *jo = json_object_new_object();
	json_object *items = json_object_new_array();
	for (size_t i = 0; i < attribute_catalogue_count; i++) {
		const struct attribute_def *def = &attribute_catalogue[i];
		json_object *r = json_object_new_object();
		api_json_put_str(r, "attribute", def->name);
		api_json_put_str(r, "google_field", def->google_field);
		api_json_put_str(r, "direction", direction_of(def, rules, n));
		api_json_put(r, "always_synced", json_object_new_boolean(def->always));
		json_object *allowed = json_object_new_array();
		if (def->always) {
			json_object_array_add(allowed, json_object_new_string("both"));
		} else {
			if (def->allowed & ATTR_IMPORT)
				json_object_array_add(allowed, json_object_new_string("import"));
			if (def->allowed & ATTR_EXPORT)
				json_object_array_add(allowed, json_object_new_string("export"));
			json_object_array_add(allowed, json_object_new_string("excluded"));
		}
		api_json_put(r, "allowed", allowed);
		json_object_array_add(items, r);
	}
	api_json_put(jo, "rules", items);
	api_set_etag(rs, version);
	api_reply_json(rs, 200, jo);
}

void handle_attribute_rules_get(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	if (!id)
		return;
	struct store_attribute_rule *rules = NULL;
	size_t n = 0;
	int64_t version = 0;
	struct err e = {0};
	if (store_attribute_rules_get(rq->ctx->st, rq->who.tenant_id, id, &rules, &n, &version,
				      &e)) {
		api_reply_err(rs, &e);
		return;
	}
	reply_rules(rs, rules, n, version);
	free(rules);
}

#define RULES_MAX 64

/* The rules of a PUT as they are read: kept ones, and which attributes were named. */
struct rules_in {
	struct store_attribute_rule v[RULES_MAX];
	size_t n;
	bool seen[RULES_MAX]; /* by catalogue index */
	const char *twice;    /* an attribute named more than once (NULL: none) */
};

/* One attribute's direction of a PUT: checked, and kept unless excluded. An unknown attribute is
 * reported at key_ptr, a direction it cannot take at ptr (one place in the map shape, the
 * entry's attribute and direction members in GET's). */
static void rule_take(struct problem *p, const char *key_ptr, const char *ptr, const char *key,
		      const char *dir, struct rules_in *in)
{
	const struct attribute_def *def = attribute_find(key);
	size_t idx = def ? (size_t)(def - attribute_catalogue) : 0;
	if (def && idx < RULES_MAX && in->seen[idx]) {
		in->twice = def->name; /* well-formed, but which direction is meant? */
		return;
	}
	if (def && idx < RULES_MAX)
		in->seen[idx] = true;
	struct store_attribute_rule *rules = in->v;
	size_t *n = &in->n;
	if (!def) {
		problem_add_error(p, key_ptr, "unknown attribute");
	} else if (def->always) {
		if (strcmp(dir, "both") != 0)
			problem_add_error(p, ptr, "is always synced and cannot be changed");
	} else if (strcmp(dir, "excluded") == 0) {
		return;
	} else if ((strcmp(dir, "import") == 0 && (def->allowed & ATTR_IMPORT)) ||
		   (strcmp(dir, "export") == 0 && (def->allowed & ATTR_EXPORT))) {
		if (*n >= RULES_MAX)
			return; /* the catalogue is smaller: each attribute once */
		snprintf(rules[*n].attribute, sizeof(rules[*n].attribute), "%s", key);
		snprintf(rules[*n].direction, sizeof(rules[*n].direction), "%s", dir);
		(*n)++;
	} else if (def->allowed == ATTR_EXPORT) {
		problem_add_error(p, ptr, "can only be export or excluded");
	} else {
		problem_add_error(p, ptr, "must be import, export or excluded");
	}
}

/* GET's read-only `allowed`: an array of directions (its value is not used). */
static bool allowed_valid(json_object *v)
{
	static const char *const dirs[] = {"import", "export", "excluded", "both", NULL};
	if (!json_object_is_type(v, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *d = json_object_array_get_idx(v, i);
		const char *s = json_object_is_type(d, json_type_string) ? json_object_get_string(d) : "";
		size_t k = 0;
		while (dirs[k] && strcmp(dirs[k], s))
			k++;
		if (!dirs[k])
			return false;
	}
	return true;
}

/* One entry of GET's shape: {attribute, direction} plus GET's read-only fields (ignored). */
static void rule_entry_take(struct problem *p, size_t idx, json_object *it, struct rules_in *in)
{
	static const char *const known[] = {"attribute", "direction", "google_field",
					    "always_synced", "allowed", NULL};
	char ptr[64];
	snprintf(ptr, sizeof(ptr), "/rules/%zu", idx);
	if (!json_object_is_type(it, json_type_object)) {
		problem_add_error(p, ptr, "must be an object with attribute and direction");
		return;
	}
	bool ok = true;
	json_object_object_foreach(it, k, v)
	{
		size_t i = 0;
		while (known[i] && strcmp(known[i], k))
			i++;
		char kp[192];
		snprintf(kp, sizeof(kp), "%s/%.100s", ptr, k);
		if (!known[i]) {
			problem_add_error(p, kp, "unknown field");
			ok = false;
		} else if (!strcmp(k, "google_field") && !json_object_is_type(v, json_type_string)) {
			problem_add_error(p, kp, "must be a string");
			ok = false;
		} else if (!strcmp(k, "always_synced") && !json_object_is_type(v, json_type_boolean)) {
			problem_add_error(p, kp, "must be a boolean");
			ok = false;
		} else if (!strcmp(k, "allowed") && !allowed_valid(v)) {
			problem_add_error(p, kp, "must be an array of import, export, excluded, both");
			ok = false;
		}
	}
	json_object *a = NULL, *d = NULL;
	if (!json_object_object_get_ex(it, "attribute", &a) || !json_object_is_type(a, json_type_string)) {
		char kp[96];
		snprintf(kp, sizeof(kp), "%s/attribute", ptr);
		problem_add_error(p, kp, "is required (a string)");
		ok = false;
	}
	if (!json_object_object_get_ex(it, "direction", &d) || !json_object_is_type(d, json_type_string)) {
		char kp[96];
		snprintf(kp, sizeof(kp), "%s/direction", ptr);
		problem_add_error(p, kp, "is required (a string)");
		ok = false;
	}
	if (ok) {
		char ap[96], dp[96];
		snprintf(ap, sizeof(ap), "%s/attribute", ptr);
		snprintf(dp, sizeof(dp), "%s/direction", ptr);
		rule_take(p, ap, dp, json_object_get_string(a), json_object_get_string(d), in);
	}
}

/*
 * Body: {"rules": {"<attribute>": "import" | "export" | "excluded", ...}}, or GET's shape
 * {"rules": [{"attribute": ..., "direction": ...}, ...]} (its read-only fields are ignored), so
 * GET, edit, PUT round-trips. Either way the set is replaced whole: attributes left out are
 * excluded; the always-synced ones may only be given as "both".
 */
void handle_attribute_rules_put(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	int64_t if_version = rq->if_version;
	if (!id)
		return;
	static const char *const allowed[] = {"rules", NULL};
	struct problem p;
	json_object *body =
		api_body_begin(rq, rs, "the attribute rules are not valid", allowed, NULL, &p);
	if (!body)
		return;
	json_object *map = NULL;
	struct rules_in in = {.n = 0};
	if (!json_object_object_get_ex(body, "rules", &map)) {
		problem_add_error(&p, "/rules", "is required");
	} else if (json_object_is_type(map, json_type_array)) {
		size_t len = json_object_array_length(map);
		for (size_t i = 0; i < len; i++)
			rule_entry_take(&p, i, json_object_array_get_idx(map, i), &in);
	} else if (!json_object_is_type(map, json_type_object)) {
		problem_add_error(&p, "/rules", "must be an object of attribute: direction, or an "
						"array of {attribute, direction}");
	} else {
		json_object_object_foreach(map, key, val)
		{
			char ptr[128];
			snprintf(ptr, sizeof(ptr), "/rules/%.100s", key);
			rule_take(&p, ptr, ptr, key,
				  json_object_is_type(val, json_type_string) ? json_object_get_string(val)
									     : "",
				  &in);
		}
	}
	json_object_put(body);
	if (p.n_errors) {
		api_reply_problem(rs, &p, NULL);
		return;
	}
	if (in.twice) {
		api_reply_error(rs, 422, "attribute-named-twice", "Attribute named twice",
				"the rules name %s more than once; name each attribute once", in.twice);
		return;
	}
	int64_t version = 0;
	struct err e = {0};
	struct store_actor actor = api_actor(rq, NULL);
	if (store_attribute_rules_replace(rq->ctx->st, &actor, rq->who.tenant_id, id, in.v, in.n,
					  if_version, &version, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	reply_rules(rs, in.v, in.n, version);
}
