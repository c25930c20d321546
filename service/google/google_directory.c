#include "google_directory.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google_int.h"

#define DIR "/admin/directory/v1"

static const char *jstr(struct json_object *jo, const char *key)
{
	struct json_object *v;
	if (!jo || !json_object_object_get_ex(jo, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A 403 that means "this admin (or token) may not do that", as opposed to a setup problem. */
static int is_denied(int rc, const struct err *e)
{
	return rc == E_FORBIDDEN &&
	       (!strcmp(e->reason, "forbidden") || !strcmp(e->reason, "insufficientPermissions") ||
		!e->reason[0]);
}

void google_probe_cleanup(struct google_probe *p)
{
	for (size_t i = 0; i < p->n_domains; i++)
		free(p->domains[i]);
	free(p->domains);
	free(p->verified);
	memset(p, 0, sizeof(*p));
}

static int domains_take(struct google_probe *p, struct json_object *jo, struct err *e)
{
	struct json_object *arr;
	if (!jo || !json_object_object_get_ex(jo, "domains", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return E_OK;
	size_t n = json_object_array_length(arr);
	p->domains = calloc(n ? n : 1, sizeof(*p->domains));
	p->verified = calloc(n ? n : 1, sizeof(*p->verified));
	if (!p->domains || !p->verified)
		return err_set(e, E_NOMEM, "domains");
	for (size_t i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(arr, i), *v;
		const char *name = jstr(d, "domainName");
		if (!name || strlen(name) > 253)
			continue;
		char *lc = strdup(name);
		if (!lc)
			return err_set(e, E_NOMEM, "domains");
		for (char *c = lc; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		p->domains[p->n_domains] = lc;
		p->verified[p->n_domains] = json_object_object_get_ex(d, "verified", &v) &&
					    json_object_get_boolean(v);
		p->n_domains++;
		if (!p->primary_domain[0] && json_object_object_get_ex(d, "isPrimary", &v) &&
		    json_object_get_boolean(v))
			snprintf(p->primary_domain, sizeof(p->primary_domain), "%s", lc);
	}
	return E_OK;
}

#define DOMAINS_PATH DIR "/customer/my_customer/domains?fields=domains(domainName,verified,isPrimary)"

int google_domains_read(struct google_client *gc, struct google_probe *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	struct json_object *jo = NULL;
	int rc = google_call_json(gc, "GET", DOMAINS_PATH, NULL, NULL, &jo, e);
	if (rc == E_OK)
		rc = domains_take(out, jo, e);
	json_object_put(jo);
	if (rc)
		google_probe_cleanup(out);
	return rc;
}

int google_probe_run(struct google_client *gc, struct google_probe *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	struct json_object *jo = NULL;
	struct err ce = {0};

	/* The customer: optional (a delegated admin may lack the customer read). */
	int rc = google_call_json(gc, "GET", DIR "/customers/my_customer?fields=id,customerDomain",
				  NULL, NULL, &jo, &ce);
	if (rc == E_OK) {
		const char *id = jstr(jo, "id"), *dom = jstr(jo, "customerDomain");
		snprintf(out->customer_id, sizeof(out->customer_id), "%s", id ? id : "");
		snprintf(out->primary_domain, sizeof(out->primary_domain), "%s", dom ? dom : "");
	} else if (!is_denied(rc, &ce)) {
		if (e)
			*e = ce;
		return rc;
	}
	json_object_put(jo);
	jo = NULL;

	static const struct {
		unsigned bit;
		const char *path;
	} probes[] = {
		{GOOGLE_PRIV_USERS, DIR "/users?customer=my_customer&maxResults=1&fields="
					"users(customerId,primaryEmail)"},
		{GOOGLE_PRIV_GROUPS, DIR "/groups?customer=my_customer&maxResults=1&fields=groups(id)"},
		{GOOGLE_PRIV_DOMAINS, DOMAINS_PATH},
	};
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		struct err pe = {0};
		rc = google_call_json(gc, "GET", probes[i].path, NULL, NULL, &jo, &pe);
		if (rc && is_denied(rc, &pe)) {
			out->missing |= probes[i].bit;
			out->denied[i] = pe;
			continue;
		}
		if (rc) {
			if (e)
				*e = pe;
			google_probe_cleanup(out);
			return rc;
		}
		if (probes[i].bit == GOOGLE_PRIV_USERS && !out->customer_id[0]) {
			struct json_object *arr;
			if (json_object_object_get_ex(jo, "users", &arr) &&
			    json_object_array_length(arr) > 0) {
				const char *cid =
					jstr(json_object_array_get_idx(arr, 0), "customerId");
				snprintf(out->customer_id, sizeof(out->customer_id), "%s",
					 cid ? cid : "");
			}
		}
		if (probes[i].bit == GOOGLE_PRIV_DOMAINS) {
			rc = domains_take(out, jo, e);
			if (rc) {
				json_object_put(jo);
				google_probe_cleanup(out);
				return rc;
			}
		}
		json_object_put(jo);
		jo = NULL;
	}
	for (char *c = out->primary_domain; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return E_OK;
}
