/* SPDX-License-Identifier: MIT */
/* gws-emulator control API under /_emulator/ (Google never uses that path) and state files. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "emu.h"
#include "emu_int.h"

static void ctl_json(struct emu_resp *rs, int status, const char *json)
{
	rs->status = status;
	buf_reset(&rs->body);
	snprintf(rs->ctype, sizeof(rs->ctype), "application/json");
	buf_adds(&rs->body, json);
}

static void ctl_err(struct emu_resp *rs, int status, const char *msg)
{
	rs->status = status;
	buf_reset(&rs->body);
	snprintf(rs->ctype, sizeof(rs->ctype), "application/json");
	buf_adds(&rs->body, "{\"error\":");
	buf_add_jstr(&rs->body, msg);
	buf_adds(&rs->body, "}");
}

static const char *jstr(struct json_object *jo, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(jo, k, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return json_object_get_string(v);
}

static bool jhas(struct json_object *jo, const char *k, struct json_object **v)
{
	return json_object_object_get_ex(jo, k, v) && !json_object_is_type(*v, json_type_null);
}

#define PRIVS_ACCEPTED "users, groups, domains, customer"

/* Delegated-admin privileges from an array of names; NULL, or the first unknown name (a typo or
 * "root" must not quietly become "no privilege" and demote an admin). */
static const char *privs_parse(struct json_object *v, unsigned *out)
{
	unsigned p = 0;

	for (size_t i = 0; i < json_object_array_length(v); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(v, i));

		if (!strcasecmp(s, "users"))
			p |= PRIV_USERS;
		else if (!strcasecmp(s, "groups"))
			p |= PRIV_GROUPS;
		else if (!strcasecmp(s, "domains"))
			p |= PRIV_DOMAINS;
		else if (!strcasecmp(s, "customer"))
			p |= PRIV_CUSTOMER;
		else
			return s;
	}
	*out = p;
	return NULL;
}

/* ---------------------------------------------------------------- types */

static const char *jt_name(enum emu_jt t)
{
	switch (t) {
	case EMU_JT_STR:
		return "a string";
	case EMU_JT_INT:
		return "an integer";
	case EMU_JT_NUM:
		return "a number";
	case EMU_JT_BOOL:
		return "a boolean";
	case EMU_JT_OBJ:
		return "an object";
	case EMU_JT_ARR_STR:
		return "an array of strings";
	case EMU_JT_ARR_OBJ:
		return "an array of objects";
	case EMU_JT_STR_OR_ARR_STR:
		return "a string or an array of strings";
	}
	return "?";
}

static bool arr_of(struct json_object *v, enum json_type t)
{
	if (!json_object_is_type(v, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(v); i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i), t))
			return false;
	return true;
}

static int jcheck(struct json_object *jo, const struct emu_jspec *spec, const char *at, char *err,
		  size_t errlen, int depth)
{
	if (!json_object_is_type(jo, json_type_object)) {
		snprintf(err, errlen, "%s must be an object", *at ? at : "body");
		return -1;
	}
	if (depth > 8)
		return 0;
	for (const struct emu_jspec *s = spec; s->key; s++) {
		struct json_object *v;
		char path[256];
		bool ok;

		if (!json_object_object_get_ex(jo, s->key, &v) ||
		    json_object_is_type(v, json_type_null))
			continue;
		snprintf(path, sizeof(path), "%s%s%s", at, *at ? "." : "", s->key);
		switch (s->type) {
		case EMU_JT_STR:
			ok = json_object_is_type(v, json_type_string);
			break;
		case EMU_JT_INT:
			ok = json_object_is_type(v, json_type_int);
			break;
		case EMU_JT_NUM:
			ok = json_object_is_type(v, json_type_int) ||
			     json_object_is_type(v, json_type_double);
			break;
		case EMU_JT_BOOL:
			ok = json_object_is_type(v, json_type_boolean);
			break;
		case EMU_JT_OBJ:
			ok = json_object_is_type(v, json_type_object);
			if (ok && s->sub && jcheck(v, s->sub, path, err, errlen, depth + 1))
				return -1;
			break;
		case EMU_JT_ARR_STR:
			ok = arr_of(v, json_type_string);
			break;
		case EMU_JT_ARR_OBJ:
			ok = arr_of(v, json_type_object);
			for (size_t i = 0; ok && s->sub && i < json_object_array_length(v); i++) {
				char ipath[300];
				struct json_object *el = json_object_array_get_idx(v, i);

				snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
				if (jcheck(el, s->sub, ipath, err, errlen, depth + 1))
					return -1;
			}
			break;
		case EMU_JT_STR_OR_ARR_STR:
			ok = json_object_is_type(v, json_type_string) || arr_of(v, json_type_string);
			break;
		default:
			ok = false;
		}
		if (!ok) {
			snprintf(err, errlen, "%s must be %s", path, jt_name(s->type));
			return -1;
		}
	}
	return 0;
}

int emu_json_check(struct json_object *jo, const struct emu_jspec *spec, char *err, size_t errlen)
{
	return jcheck(jo, spec, "", err, errlen, 0);
}

static const struct emu_jspec config_spec[] = {
	{ "create412Ms", EMU_JT_INT, NULL },	   { "deleteStatus", EMU_JT_INT, NULL },
	{ "consent", EMU_JT_STR, NULL },	   { "consentUser", EMU_JT_STR, NULL },
	{ "apiAccess", EMU_JT_BOOL, NULL },	   { "sdkDisabled", EMU_JT_BOOL, NULL },
	{ "projectNumber", EMU_JT_STR, NULL },	   { "tokenTtlS", EMU_JT_INT, NULL },
	{ "refreshTtlS", EMU_JT_INT, NULL },	   { "codeTtlS", EMU_JT_INT, NULL },
	{ "jwtSkewS", EMU_JT_INT, NULL },	   { "quotaPerMinute", EMU_JT_INT, NULL },
	{ "concurrency", EMU_JT_INT, NULL },	   { "quotaWindowMs", EMU_JT_INT, NULL },
	{ "deletedRetentionS", EMU_JT_INT, NULL }, { "newUser404Ms", EMU_JT_INT, NULL },
	{ "newGroup404Ms", EMU_JT_INT, NULL },	   { "memberStatus", EMU_JT_BOOL, NULL },
	{ "memberAliasEmail", EMU_JT_BOOL, NULL }, { "rolesFilter", EMU_JT_BOOL, NULL },
	{ NULL, 0, NULL },
};

static const struct emu_jspec customer_spec[] = {
	{ "id", EMU_JT_STR, NULL },
	{ NULL, 0, NULL },
};

static const struct emu_jspec domain_spec[] = {
	{ "domainName", EMU_JT_STR, NULL },
	{ "verified", EMU_JT_BOOL, NULL },
	{ "isPrimary", EMU_JT_BOOL, NULL },
	{ NULL, 0, NULL },
};

/* the rest of a user or group goes through the API's own validation */
static const struct emu_jspec user_spec[] = {
	{ "primaryEmail", EMU_JT_STR, NULL }, { "id", EMU_JT_STR, NULL },
	{ "aliases", EMU_JT_ARR_STR, NULL },  { "isAdmin", EMU_JT_BOOL, NULL },
	{ "privileges", EMU_JT_ARR_STR, NULL }, { "suspensionReason", EMU_JT_STR, NULL },
	{ "deleted", EMU_JT_BOOL, NULL },	{ NULL, 0, NULL },
};

static const struct emu_jspec member_spec[] = {
	{ "type", EMU_JT_STR, NULL },
	{ "id", EMU_JT_STR, NULL },
	{ NULL, 0, NULL },
};

static const struct emu_jspec group_spec[] = {
	{ "email", EMU_JT_STR, NULL },	      { "id", EMU_JT_STR, NULL },
	{ "aliases", EMU_JT_ARR_STR, NULL },  { "settings", EMU_JT_OBJ, NULL },
	{ "members", EMU_JT_ARR_OBJ, member_spec }, { NULL, 0, NULL },
};

static const struct emu_jspec client_spec[] = {
	{ "client_id", EMU_JT_STR, NULL },
	{ "client_secret", EMU_JT_STR, NULL },
	{ "redirect_uris", EMU_JT_ARR_STR, NULL },
	{ NULL, 0, NULL },
};

static const struct emu_jspec state_spec[] = {
	{ "customer", EMU_JT_OBJ, customer_spec },
	{ "domains", EMU_JT_ARR_OBJ, domain_spec },
	{ "orgUnits", EMU_JT_ARR_STR, NULL },
	{ "users", EMU_JT_ARR_OBJ, user_spec },
	{ "groups", EMU_JT_ARR_OBJ, group_spec },
	{ "serviceAccounts", EMU_JT_ARR_OBJ, emu_sa_spec },
	{ "oauthClients", EMU_JT_ARR_OBJ, client_spec },
	{ "config", EMU_JT_OBJ, config_spec },
	{ NULL, 0, NULL },
};

static const struct emu_jspec generate_spec[] = {
	{ "seed", EMU_JT_INT, NULL },
	{ "users", EMU_JT_INT, NULL },
	{ "groups", EMU_JT_INT, NULL },
	{ NULL, 0, NULL },
};

/* Bodies of the control calls, by path (a prefix when it ends in '/'). */
static const struct emu_jspec seed_account_spec[] = {
	{ "generate", EMU_JT_OBJ, generate_spec }, { "fixture", EMU_JT_OBJ, state_spec },
	{ "reset", EMU_JT_BOOL, NULL },		   { "returnFixture", EMU_JT_BOOL, NULL },
	{ NULL, 0, NULL },
};
static const struct emu_jspec reset_spec[] = { { "domain", EMU_JT_STR, NULL }, { NULL, 0, NULL } };
static const struct emu_jspec seed_spec[] = {
	{ "users", EMU_JT_INT, NULL },	      { "groups", EMU_JT_INT, NULL },
	{ "membersPerGroup", EMU_JT_INT, NULL }, { "aliasesEvery", EMU_JT_INT, NULL },
	{ "domain", EMU_JT_STR, NULL },	      { NULL, 0, NULL },
};
static const struct emu_jspec domains_spec[] = {
	{ "domainName", EMU_JT_STR, NULL },
	{ "verified", EMU_JT_BOOL, NULL },
	{ NULL, 0, NULL },
};
static const struct emu_jspec orgunits_spec[] = {
	{ "orgUnitPath", EMU_JT_STR, NULL },
	{ NULL, 0, NULL },
};
static const struct emu_jspec admins_spec[] = {
	{ "email", EMU_JT_STR, NULL },	       { "givenName", EMU_JT_STR, NULL },
	{ "familyName", EMU_JT_STR, NULL },    { "privileges", EMU_JT_ARR_STR, NULL },
	{ "isAdmin", EMU_JT_BOOL, NULL },      { NULL, 0, NULL },
};
static const struct emu_jspec tokens_spec[] = {
	{ "subject", EMU_JT_STR, NULL },   { "scopes", EMU_JT_STR_OR_ARR_STR, NULL },
	{ "ttlS", EMU_JT_INT, NULL },	   { "adminRole", EMU_JT_BOOL, NULL },
	{ "kind", EMU_JT_STR, NULL },	   { NULL, 0, NULL },
};
static const struct emu_jspec user_ctl_spec[] = {
	{ "password", EMU_JT_STR, NULL },
	{ "reason", EMU_JT_STR, NULL },
	{ "suspended", EMU_JT_BOOL, NULL },
	{ NULL, 0, NULL },
};
static const struct emu_jspec faults_spec[] = {
	{ "method", EMU_JT_STR, NULL },	    { "path", EMU_JT_STR, NULL },
	{ "route", EMU_JT_STR, NULL },	    { "reason", EMU_JT_STR, NULL },
	{ "message", EMU_JT_STR, NULL },    { "status", EMU_JT_INT, NULL },
	{ "html", EMU_JT_BOOL, NULL },	    { "probability", EMU_JT_NUM, NULL },
	{ "every", EMU_JT_INT, NULL },	    { "times", EMU_JT_INT, NULL },
	{ "latencyMs", EMU_JT_INT, NULL },  { "apply", EMU_JT_BOOL, NULL },
	{ "renameOnly", EMU_JT_BOOL, NULL }, { NULL, 0, NULL },
};

static const struct {
	const char *path;
	const struct emu_jspec *spec;
} ctl_specs[] = {
	{ "/_emulator/reset", reset_spec },
	{ "/_emulator/seed", seed_spec },
	{ "/_emulator/seed/account", seed_account_spec },
	{ "/_emulator/domains", domains_spec },
	{ "/_emulator/orgunits", orgunits_spec },
	{ "/_emulator/admins", admins_spec },
	{ "/_emulator/service-accounts", emu_sa_spec },
	{ "/_emulator/oauth-clients", client_spec },
	{ "/_emulator/tokens", tokens_spec },
	{ "/_emulator/tokens/revoke", tokens_spec },
	{ "/_emulator/users/", user_ctl_spec },
	{ "/_emulator/faults", faults_spec },
	{ "/_emulator/quota", config_spec },
	{ "/_emulator/config", config_spec },
	{ "/_emulator/state", state_spec },
};

static const struct emu_jspec *ctl_spec(const char *path)
{
	for (size_t i = 0; i < sizeof(ctl_specs) / sizeof(ctl_specs[0]); i++) {
		const char *p = ctl_specs[i].path;
		size_t n = strlen(p);

		if (p[n - 1] == '/' ? !strncmp(path, p, n) : !strcmp(path, p))
			return ctl_specs[i].spec;
	}
	return NULL;
}

/* The first member of object jo that spec does not name, or NULL. */
static const char *unknown_key(struct json_object *jo, const struct emu_jspec *spec)
{
	json_object_object_foreach(jo, key, unused)
	{
		const struct emu_jspec *s = spec;

		(void)unused;
		while (s->key && strcmp(s->key, key))
			s++;
		if (!s->key)
			return key;
	}
	return NULL;
}

/* ---------------------------------------------------------------- config */

/* Everything that can reject a config object, so that a rejected one changes nothing. */
static int config_check(struct emu *em, struct json_object *jo, char *err, size_t errlen)
{
	struct json_object *v;

	if (emu_json_check(jo, config_spec, err, errlen))
		return -1;
	/* a misspelt switch would otherwise leave the behaviour a test asked for silently off */
	if (unknown_key(jo, config_spec)) {
		snprintf(err, errlen, "%.64s is not a switch", unknown_key(jo, config_spec));
		return -1;
	}
	for (const struct emu_jspec *sp = config_spec; sp->key; sp++)
		if (sp->type == EMU_JT_INT && jhas(jo, sp->key, &v) &&
		    (json_object_get_int64(v) < 0 || json_object_get_int64(v) > INT32_MAX)) {
			snprintf(err, errlen, "%s must be 0..%d", sp->key, INT32_MAX);
			return -1;
		}
	if (jhas(jo, "deleteStatus", &v) && json_object_get_int(v) != 200 &&
	    json_object_get_int(v) != 204) {
		snprintf(err, errlen, "deleteStatus must be 200 or 204");
		return -1;
	}
	if (jhas(jo, "consent", &v)) {
		const char *c = json_object_get_string(v);

		if (strcmp(c, "allow") && strcmp(c, "access_denied") &&
		    strcmp(c, "admin_policy_enforced")) {
			snprintf(err, errlen,
				 "consent must be allow, access_denied or admin_policy_enforced");
			return -1;
		}
	}
	if (jhas(jo, "consentUser", &v) && !emu_user_find(em, json_object_get_string(v))) {
		snprintf(err, errlen, "consentUser: no such user");
		return -1;
	}
	if (jhas(jo, "quotaWindowMs", &v) && json_object_get_int(v) < 1) {
		snprintf(err, errlen, "quotaWindowMs must be positive");
		return -1;
	}
	return 0;
}

int emu_config_apply(struct emu *em, struct json_object *jo, char *err, size_t errlen)
{
	struct json_object *v;

	if (config_check(em, jo, err, errlen))
		return -1;
	if (jhas(jo, "create412Ms", &v))
		em->create_412_ms = json_object_get_int(v);
	if (jhas(jo, "deleteStatus", &v))
		em->delete_status = json_object_get_int(v);
	if (jhas(jo, "consent", &v))
		str_set(&em->consent, json_object_get_string(v));
	if (jhas(jo, "consentUser", &v))
		str_set(&em->consent_user, emu_user_find(em, json_object_get_string(v))->id);
	if (jhas(jo, "apiAccess", &v))
		em->api_access = json_object_get_boolean(v);
	if (jhas(jo, "sdkDisabled", &v))
		em->sdk_disabled = json_object_get_boolean(v);
	if (jhas(jo, "projectNumber", &v))
		str_set(&em->project_number, json_object_get_string(v));
	if (jhas(jo, "tokenTtlS", &v))
		em->token_ttl_s = json_object_get_int(v);
	if (jhas(jo, "refreshTtlS", &v))
		em->refresh_ttl_s = json_object_get_int(v);
	if (jhas(jo, "codeTtlS", &v))
		em->code_ttl_s = json_object_get_int(v);
	if (jhas(jo, "jwtSkewS", &v))
		em->jwt_skew_s = json_object_get_int(v);
	if (jhas(jo, "quotaPerMinute", &v))
		em->quota_per_minute = json_object_get_int(v);
	if (jhas(jo, "concurrency", &v))
		em->concurrency = json_object_get_int(v);
	if (jhas(jo, "quotaWindowMs", &v))
		em->quota_window_ms = json_object_get_int(v);
	if (jhas(jo, "deletedRetentionS", &v))
		em->deleted_retention_s = json_object_get_int(v);
	if (jhas(jo, "newUser404Ms", &v))
		em->new_user_404_ms = json_object_get_int(v);
	if (jhas(jo, "newGroup404Ms", &v))
		em->new_group_404_ms = json_object_get_int(v);
	if (jhas(jo, "memberStatus", &v))
		em->member_status = json_object_get_boolean(v);
	if (jhas(jo, "memberAliasEmail", &v))
		em->member_alias_email = json_object_get_boolean(v);
	if (jhas(jo, "rolesFilter", &v))
		em->roles_filter = json_object_get_boolean(v);
	return 0;
}

static void config_write(struct emu *em, struct jw *w)
{
	struct emu_user *cu = em->consent_user ? emu_user_by_id(em, em->consent_user) : NULL;

	jw_obj(w);
	jw_k(w, "create412Ms");
	jw_int(w, em->create_412_ms);
	jw_k(w, "deleteStatus");
	jw_int(w, em->delete_status);
	jw_k(w, "consent");
	jw_str(w, em->consent);
	if (cu) {
		jw_k(w, "consentUser");
		jw_str(w, cu->email);
	}
	jw_k(w, "apiAccess");
	jw_bool(w, em->api_access);
	jw_k(w, "sdkDisabled");
	jw_bool(w, em->sdk_disabled);
	jw_k(w, "projectNumber");
	jw_str(w, em->project_number);
	jw_k(w, "tokenTtlS");
	jw_int(w, em->token_ttl_s);
	jw_k(w, "refreshTtlS");
	jw_int(w, em->refresh_ttl_s);
	jw_k(w, "codeTtlS");
	jw_int(w, em->code_ttl_s);
	jw_k(w, "jwtSkewS");
	jw_int(w, em->jwt_skew_s);
	jw_k(w, "quotaPerMinute");
	jw_int(w, em->quota_per_minute);
	jw_k(w, "concurrency");
	jw_int(w, em->concurrency);
	jw_k(w, "quotaWindowMs");
	jw_int(w, em->quota_window_ms);
	jw_k(w, "deletedRetentionS");
	jw_int(w, em->deleted_retention_s);
	jw_k(w, "newUser404Ms");
	jw_int(w, em->new_user_404_ms);
	jw_k(w, "newGroup404Ms");
	jw_int(w, em->new_group_404_ms);
	jw_k(w, "memberStatus");
	jw_bool(w, em->member_status);
	jw_k(w, "memberAliasEmail");
	jw_bool(w, em->member_alias_email);
	jw_k(w, "rolesFilter");
	jw_bool(w, em->roles_filter);
	jw_end(w);
}

/* ---------------------------------------------------------------- state */

static int client_add(struct emu *em, struct json_object *jo, char *err, size_t errlen)
{
	const char *id = jstr(jo, "client_id"), *sec = jstr(jo, "client_secret");
	struct json_object *v;

	if (!id || !sec) {
		snprintf(err, errlen, "client_id and client_secret are required");
		return -1;
	}
	struct emu_client *c = xcalloc(1, sizeof(*c));

	c->id = xstrdup(id);
	c->secret = xstrdup(sec);
	if (jhas(jo, "redirect_uris", &v))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			strv_add(&c->redirect_uris,
				 json_object_get_string(json_object_array_get_idx(v, i)));
	em->clients = xrealloc(em->clients, (em->n_clients + 1) * sizeof(*em->clients));
	em->clients[em->n_clients++] = c;
	return 0;
}

static void resp_msg(struct emu_resp *rs, char *err, size_t errlen)
{
	struct json_object *jo = json_tokener_parse(rs->body.p ? rs->body.p : "");
	struct json_object *e, *m;

	if (json_object_object_get_ex(jo, "error", &e) && json_object_object_get_ex(e, "message", &m))
		snprintf(err, errlen, "%d %s", rs->status, json_object_get_string(m));
	else
		snprintf(err, errlen, "status %d", rs->status);
	json_object_put(jo);
}

/* A suspensionReason as Google spells them (ADMIN, ABUSE, WEB_LOGIN_REQUIRED, UNDER13, ...). */
static bool valid_suspension_reason(const char *r)
{
	size_t n = strlen(r);

	if (n == 0 || n > 64)
		return false;
	for (; *r; r++)
		if (!isupper((unsigned char)*r) && !isdigit((unsigned char)*r) && *r != '_')
			return false;
	return true;
}

static int user_load(struct emu *em, struct json_object *uj, char *err, size_t errlen)
{
	const char *email = jstr(uj, "primaryEmail");
	struct emu_user *u = email ? emu_user_find(em, email) : NULL;
	struct json_object *copy = NULL, *v;
	static const char *const extra[] = { "privileges", "deleted", "isAdmin", "id" };

	if (jstr(uj, "suspensionReason") && !valid_suspension_reason(jstr(uj, "suspensionReason"))) {
		snprintf(err, errlen, "suspensionReason must be 1 to 64 of A-Z, 0-9 and _");
		return -1;
	}

	if (!u) {
		struct emu_resp rs;

		json_object_deep_copy(uj, &copy, NULL);
		for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
			json_object_object_del(copy, extra[i]);
		emu_resp_init(&rs);
		u = emu_user_create_json(em, copy, false, &rs);
		json_object_put(copy);
		if (!u) {
			resp_msg(&rs, err, errlen);
			emu_resp_cleanup(&rs);
			return -1;
		}
		emu_resp_cleanup(&rs);
		const char *id = jstr(uj, "id");

		if (id && !map_get(&em->users, id) && strlen(id) < sizeof(u->id)) {
			map_del(&em->users, u->id);
			snprintf(u->id, sizeof(u->id), "%s", id);
			map_put(&em->users, u->id, u);
		}
	}
	if (jhas(uj, "aliases", &v) && json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			char *a = str_lower(xstrdup(json_object_get_string(json_object_array_get_idx(v, i))));

			if (!map_get(&em->emails, a) && valid_email(a))
				emu_user_alias_add(em, u, a);
			free(a);
		}
	}
	if (jhas(uj, "isAdmin", &v))
		u->is_admin = json_object_get_boolean(v);
	if (jhas(uj, "privileges", &v))
		privs_parse(v, &u->privs); /* checked before anything was created */
	if (u->suspended && jstr(uj, "suspensionReason") &&
	    strcmp(jstr(uj, "suspensionReason"), "ADMIN"))
		str_set(&u->susp_reason, jstr(uj, "suspensionReason"));
	if (jhas(uj, "deleted", &v) && json_object_get_boolean(v) && !u->deleted)
		emu_user_delete(em, u);
	return 0;
}

/* Pass 1 of a state's groups: the group itself (email, name, description, id, aliases). */
static int group_load(struct emu *em, struct json_object *gj, char *err, size_t errlen)
{
	struct json_object *copy = NULL, *v;
	struct emu_resp rs;

	json_object_deep_copy(gj, &copy, NULL);
	json_object_object_del(copy, "members");
	json_object_object_del(copy, "settings");
	json_object_object_del(copy, "aliases");
	json_object_object_del(copy, "id");
	emu_resp_init(&rs);
	struct emu_group *g = emu_group_create_json(em, copy, &rs);

	json_object_put(copy);
	if (!g) {
		resp_msg(&rs, err, errlen);
		emu_resp_cleanup(&rs);
		return -1;
	}
	emu_resp_cleanup(&rs);
	const char *id = jstr(gj, "id");

	if (id && !map_get(&em->groups, id) && strlen(id) < sizeof(g->id)) {
		map_del(&em->groups, g->id);
		snprintf(g->id, sizeof(g->id), "%s", id);
		map_put(&em->groups, g->id, g);
	}
	g->created_ms = 0; /* loaded groups are old: no newGroup404Ms window */
	if (jhas(gj, "settings", &v))
		json_object_deep_copy(v, &g->settings, NULL);
	if (jhas(gj, "aliases", &v) && json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			char *a = str_lower(
				xstrdup(json_object_get_string(json_object_array_get_idx(v, i))));

			if (!map_get(&em->emails, a) && valid_email(a))
				emu_group_alias_add(em, g, a);
			free(a);
		}
	}
	return 0;
}

/* Pass 2: members, once every group of the state exists (nested groups in any order). */
static int group_members_load(struct emu *em, struct json_object *gj, char *err, size_t errlen)
{
	struct json_object *v;
	struct emu_resp rs;
	int rc = 0;
	struct emu_group *g = emu_group_find(em, jstr(gj, "email"));

	if (!g || !jhas(gj, "members", &v))
		return 0;
	emu_resp_init(&rs);
	for (size_t i = 0; i < json_object_array_length(v) && rc == 0; i++) {
		struct json_object *mj = json_object_array_get_idx(v, i), *copy = NULL, *t;

		json_object_deep_copy(mj, &copy, NULL);
		/* a CUSTOMER entry may leave out the id: the customer's own */
		if (jhas(copy, "type", &t) && !strcasecmp(json_object_get_string(t), "CUSTOMER") &&
		    !jstr(copy, "id"))
			json_object_object_add(copy, "id", json_object_new_string(em->customer_id));
		buf_reset(&rs.body);
		if (!emu_member_insert_json(em, g, copy, &rs)) {
			resp_msg(&rs, err, errlen);
			rc = -1;
		}
		json_object_put(copy);
	}
	emu_resp_cleanup(&rs);
	return rc;
}

/* Values a state may not hold, checked before anything is loaded. */
static int state_precheck(struct json_object *jo, char *err, size_t errlen)
{
	struct json_object *v, *p;
	unsigned privs;

	for (size_t i = 0; jhas(jo, "domains", &v) && i < json_object_array_length(v); i++) {
		const char *name = jstr(json_object_array_get_idx(v, i), "domainName");

		if (name && !valid_domain_name(name)) {
			snprintf(err, errlen, "domains[%zu]: domainName %.64s is not a domain name", i,
				 name);
			return -1;
		}
	}
	for (size_t i = 0; jhas(jo, "users", &v) && i < json_object_array_length(v); i++) {
		struct json_object *u = json_object_array_get_idx(v, i);

		if (jhas(u, "privileges", &p) && privs_parse(p, &privs)) {
			snprintf(err, errlen, "users[%zu].privileges: %.64s is not one of " PRIVS_ACCEPTED,
				 i, privs_parse(p, &privs));
			return -1;
		}
	}
	return 0;
}

int emu_state_load(struct emu *em, struct json_object *jo, char *err, size_t errlen)
{
	struct json_object *v, *c;

	if (!json_object_is_type(jo, json_type_object)) {
		snprintf(err, errlen, "state must be a JSON object");
		return -1;
	}
	if (unknown_key(jo, state_spec)) {
		snprintf(err, errlen, "%.64s is not a member of the state format",
			 unknown_key(jo, state_spec));
		return -1;
	}
	if (emu_json_check(jo, state_spec, err, errlen) || state_precheck(jo, err, errlen))
		return -1;
	if (jhas(jo, "customer", &c)) {
		const char *id = jstr(c, "id");

		if (id)
			snprintf(em->customer_id, sizeof(em->customer_id), "%s", id);
	}
	if (jhas(jo, "domains", &v)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *d = json_object_array_get_idx(v, i), *b;
			const char *name = jstr(d, "domainName");

			if (!name) {
				snprintf(err, errlen, "domains[%zu]: domainName is required", i);
				return -1;
			}
			struct emu_domain *dm = emu_domain_add(
				em, name, !jhas(d, "verified", &b) || json_object_get_boolean(b));

			if (jhas(d, "isPrimary", &b) && json_object_get_boolean(b)) {
				for (size_t k = 0; k < em->n_domains; k++)
					em->domains[k].primary = false;
				dm = emu_domain_find(em, name);
				dm->primary = true;
			}
		}
	}
	if (jhas(jo, "orgUnits", &v))
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			const char *p = json_object_get_string(json_object_array_get_idx(v, i));

			if (!valid_ou_path(p)) {
				snprintf(err, errlen, "orgUnits[%zu]: invalid path", i);
				return -1;
			}
			if (!emu_ou_exists(em, p))
				strv_add(&em->ous, p);
		}
	if (jhas(jo, "users", &v))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (user_load(em, json_object_array_get_idx(v, i), err, errlen))
				return -1;
	if (jhas(jo, "groups", &v)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (group_load(em, json_object_array_get_idx(v, i), err, errlen))
				return -1;
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (group_members_load(em, json_object_array_get_idx(v, i), err, errlen))
				return -1;
	}
	if (jhas(jo, "serviceAccounts", &v))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (emu_sa_register(em, json_object_array_get_idx(v, i), err, errlen))
				return -1;
	if (jhas(jo, "oauthClients", &v))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (client_add(em, json_object_array_get_idx(v, i), err, errlen))
				return -1;
	if (jhas(jo, "config", &v) && emu_config_apply(em, v, err, errlen))
		return -1;
	return 0;
}

static void user_state(struct emu *em, struct jw *w, struct emu_user *u)
{
	emu_user_render(em, w, u, 2, NULL);
	/* reopen the object to add the fields the API never shows */
	w->b->len--;
	w->depth++;
	w->has[w->depth] = true;
	w->typ[w->depth] = '{';
	w->m[w->depth] = NULL;
	w->mall[w->depth] = true;
	if (u->password) {
		jw_k(w, "password");
		jw_str(w, u->password);
	}
	if (u->privs) {
		jw_k(w, "privileges");
		jw_arr(w);
		if (u->privs & PRIV_USERS)
			jw_str(w, "users");
		if (u->privs & PRIV_GROUPS)
			jw_str(w, "groups");
		if (u->privs & PRIV_DOMAINS)
			jw_str(w, "domains");
		if (u->privs & PRIV_CUSTOMER)
			jw_str(w, "customer");
		jw_end(w);
	}
	if (u->deleted) {
		jw_k(w, "deleted");
		jw_bool(w, true);
	}
	jw_end(w);
}

void emu_state_write(struct emu *em, struct buf *out)
{
	struct jw w;

	jw_init(&w, out, NULL);
	jw_obj(&w);
	jw_k(&w, "customer");
	jw_obj(&w);
	jw_k(&w, "id");
	jw_str(&w, em->customer_id);
	jw_k(&w, "domain");
	jw_str(&w, emu_primary_domain(em));
	jw_end(&w);
	jw_k(&w, "domains");
	jw_arr(&w);
	for (size_t i = 0; i < em->n_domains; i++) {
		jw_obj(&w);
		jw_k(&w, "domainName");
		jw_str(&w, em->domains[i].name);
		jw_k(&w, "verified");
		jw_bool(&w, em->domains[i].verified);
		jw_k(&w, "isPrimary");
		jw_bool(&w, em->domains[i].primary);
		jw_end(&w);
	}
	jw_end(&w);
	jw_k(&w, "orgUnits");
	jw_arr(&w);
	for (size_t i = 0; i < em->ous.n; i++)
		jw_str(&w, em->ous.v[i]);
	jw_end(&w);
	jw_k(&w, "users");
	jw_arr(&w);
	struct emu_sorted *s = emu_users_sorted(em, ORD_EMAIL);

	for (size_t i = 0; i < s->n; i++)
		user_state(em, &w, s->v[i]);
	for (size_t i = 0; i < em->n_deleted; i++)
		user_state(em, &w, em->deleted[i]);
	jw_end(&w);
	jw_k(&w, "groups");
	jw_arr(&w);
	size_t ng;
	struct emu_group **gv = emu_groups_sorted(em, &ng);

	for (size_t i = 0; i < ng; i++) {
		struct emu_group *g = gv[i];

		jw_obj(&w);
		jw_k(&w, "id");
		jw_str(&w, g->id);
		jw_k(&w, "email");
		jw_str(&w, g->email);
		jw_k(&w, "name");
		jw_str(&w, g->name);
		jw_k(&w, "description");
		jw_str(&w, g->description);
		jw_k(&w, "members");
		jw_arr(&w);
		for (size_t k = 0; k < g->n_mem; k++) {
			struct emu_member *m = g->mem[k];
			const char *e = emu_member_email(em, m);

			jw_obj(&w);
			if (m->type == MT_CUSTOMER) {
				jw_k(&w, "id");
				jw_str(&w, m->id);
			} else {
				jw_k(&w, "email");
				jw_str(&w, e ? e : "");
			}
			jw_k(&w, "role");
			jw_str(&w, emu_role_name(m->role));
			jw_k(&w, "type");
			jw_str(&w, emu_mtype_name(m->type));
			jw_end(&w);
		}
		jw_end(&w);
		if (g->settings) {
			jw_k(&w, "settings");
			jw_json(&w, g->settings);
		}
		jw_end(&w);
	}
	jw_end(&w);
	jw_k(&w, "serviceAccounts");
	jw_arr(&w);
	for (size_t i = 0; i < em->n_sas; i++) {
		struct emu_sa *sa = em->sas[i];
		BIO *bio = BIO_new(BIO_s_mem());
		char *pem = NULL;

		jw_obj(&w);
		jw_k(&w, "client_email");
		jw_str(&w, sa->email);
		jw_k(&w, "client_id");
		jw_str(&w, sa->client_id);
		jw_k(&w, "private_key_id");
		jw_str(&w, sa->key_id);
		if (bio && PEM_write_bio_PUBKEY(bio, (EVP_PKEY *)sa->pub)) {
			long n = BIO_get_mem_data(bio, &pem);
			char *z = xstrndup(pem, (size_t)n);

			jw_k(&w, "public_key");
			jw_str(&w, z);
			free(z);
		}
		BIO_free(bio);
		jw_k(&w, "scopes");
		jw_arr(&w);
		for (size_t k = 0; k < sa->scopes.n; k++)
			jw_str(&w, sa->scopes.v[k]);
		jw_end(&w);
		jw_k(&w, "adminRole");
		jw_bool(&w, sa->admin_role);
		jw_end(&w);
	}
	jw_end(&w);
	jw_k(&w, "oauthClients");
	jw_arr(&w);
	for (size_t i = 0; i < em->n_clients; i++) {
		jw_obj(&w);
		jw_k(&w, "client_id");
		jw_str(&w, em->clients[i]->id);
		jw_k(&w, "client_secret");
		jw_str(&w, em->clients[i]->secret);
		jw_k(&w, "redirect_uris");
		jw_arr(&w);
		for (size_t k = 0; k < em->clients[i]->redirect_uris.n; k++)
			jw_str(&w, em->clients[i]->redirect_uris.v[k]);
		jw_end(&w);
		jw_end(&w);
	}
	jw_end(&w);
	jw_k(&w, "config");
	config_write(em, &w);
	jw_end(&w);
}

/* ---------------------------------------------------------------- control handlers */

/* True when a fnmatch pattern is well formed: every '[' closes, no trailing '\'. */
static bool fnmatch_pattern_ok(const char *p)
{
	for (; *p; p++) {
		if (*p == '\\') {
			if (!*++p)
				return false;
		} else if (*p == '[') {
			const char *q = p + 1;

			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']') /* a leading ']' is a member, not the end */
				q++;
			while (*q && *q != ']')
				q++;
			if (!*q)
				return false;
			p = q;
		}
	}
	return true;
}

/* The route names a fault may name: the API routes, OAuth's two and batch. */
static bool fault_route_known(const char *name)
{
	size_t n;
	const struct emu_route *r = emu_routes(&n);

	if (!strcmp(name, "oauth2.token") || !strcmp(name, "oauth2.auth") ||
	    !strcmp(name, "batch"))
		return true;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(r[i].name, name))
			return true;
	return false;
}

/* Why a POST faults body cannot be registered, or NULL (types are checked before). */
static const char *fault_check(struct json_object *jo)
{
	struct json_object *v;
	const char *s;
	int status = jhas(jo, "status", &v) ? json_object_get_int(v) : 0;
	bool html = jhas(jo, "html", &v) && json_object_get_boolean(v);

	if (jhas(jo, "status", &v) && (json_object_get_int64(v) < 400 ||
				       json_object_get_int64(v) > 599))
		return "status must be an error status, 400..599";
	if (jhas(jo, "latencyMs", &v) &&
	    (json_object_get_int64(v) < 0 || json_object_get_int64(v) > EMU_LATENCY_MAX_MS))
		return "latencyMs must be 0..120000";
	if (!status && !html && !(jhas(jo, "latencyMs", &v) && json_object_get_int(v) > 0))
		return "a fault needs a status (400..599), html or latencyMs (1..120000)";
	if (jhas(jo, "probability", &v) &&
	    !(json_object_get_double(v) > 0 && json_object_get_double(v) <= 1))
		return "probability must be above 0 and at most 1";
	if (jhas(jo, "every", &v) && json_object_get_int64(v) < 1)
		return "every must be 1 or more";
	if (jhas(jo, "times", &v) && (json_object_get_int64(v) < 1 ||
				      json_object_get_int64(v) > INT_MAX))
		return "times must be 1..2147483647 (leave it out for no limit)";
	if (jhas(jo, "every", &v) && json_object_get_int64(v) > INT_MAX)
		return "every must be 1..2147483647";
	if ((s = jstr(jo, "route")) && !fault_route_known(s))
		return "route is not a route name (GET _emulator/routes, oauth2.token, oauth2.auth, batch)";
	if ((s = jstr(jo, "path")) && (!*s || !fnmatch_pattern_ok(s)))
		return "path is not a valid fnmatch pattern";
	if ((s = jstr(jo, "method")) && strcasecmp(s, "GET") && strcasecmp(s, "POST") &&
	    strcasecmp(s, "PUT") && strcasecmp(s, "PATCH") && strcasecmp(s, "DELETE") &&
	    strcasecmp(s, "HEAD"))
		return "method must be GET, POST, PUT, PATCH, DELETE or HEAD";
	return NULL;
}

static void jw_opt_str(struct jw *w, const char *k, const char *v)
{
	jw_k(w, k);
	if (v)
		jw_str(w, v);
	else
		jw_null(w);
}

/* A registered fault as GET faults lists it: every field, absent ones null. */
static void fault_write(struct jw *w, const struct emu_fault *f)
{
	char num[32];

	jw_obj(w);
	jw_k(w, "id");
	jw_int(w, f->id);
	jw_opt_str(w, "method", f->method);
	jw_opt_str(w, "path", f->path);
	jw_opt_str(w, "route", f->route);
	jw_k(w, "status");
	jw_int(w, f->status);
	jw_opt_str(w, "reason", f->reason);
	jw_opt_str(w, "message", f->message);
	jw_k(w, "html");
	jw_bool(w, f->html);
	jw_k(w, "probability");
	snprintf(num, sizeof(num), "%.6g", f->probability > 0 ? f->probability : 1.0);
	jw_raw(w, num);
	jw_k(w, "every");
	jw_int(w, f->every > 0 ? f->every : 1);
	jw_k(w, "times");
	if (f->times < 0)
		jw_null(w);
	else
		jw_int(w, f->times);
	jw_k(w, "latencyMs");
	jw_int(w, f->latency_ms);
	jw_k(w, "apply");
	jw_bool(w, f->apply);
	jw_k(w, "renameOnly");
	jw_bool(w, f->rename_only);
	jw_k(w, "seen");
	jw_int(w, f->seen);
	jw_end(w);
}

static void ctl_faults(struct emu *em, struct emu_req *rq, struct emu_resp *rs,
		       struct json_object *jo)
{
	struct json_object *v;

	if (!strcmp(rq->method, "DELETE")) {
		const char *id = rq->path + strlen("/_emulator/faults");

		if (*id == '/') {
			int fid = atoi(id + 1);

			for (size_t i = 0; i < em->n_faults; i++) {
				if (em->faults[i]->id != fid)
					continue;
				emu_fault_free(em->faults[i]);
				memmove(&em->faults[i], &em->faults[i + 1],
					(em->n_faults - i - 1) * sizeof(*em->faults));
				em->n_faults--;
				ctl_json(rs, 200, "{}");
				return;
			}
			ctl_err(rs, 404, "no such fault");
			return;
		}
		for (size_t i = 0; i < em->n_faults; i++)
			emu_fault_free(em->faults[i]);
		em->n_faults = 0;
		ctl_json(rs, 200, "{}");
		return;
	}
	if (!strcmp(rq->method, "GET")) {
		struct jw w;

		rs->status = 200;
		jw_init(&w, &rs->body, NULL);
		jw_obj(&w);
		jw_k(&w, "faults");
		jw_arr(&w);
		for (size_t i = 0; i < em->n_faults; i++) {
			fault_write(&w, em->faults[i]);
		}
		jw_end(&w);
		jw_end(&w);
		return;
	}
	const char *bad = fault_check(jo);

	if (bad) {
		ctl_err(rs, 400, bad);
		return;
	}
	struct emu_fault *f = xcalloc(1, sizeof(*f));

	f->times = -1;
	if (jstr(jo, "method"))
		f->method = xstrdup(jstr(jo, "method"));
	if (jstr(jo, "path"))
		f->path = xstrdup(jstr(jo, "path"));
	if (jstr(jo, "route"))
		f->route = xstrdup(jstr(jo, "route"));
	if (jstr(jo, "reason"))
		f->reason = xstrdup(jstr(jo, "reason"));
	if (jstr(jo, "message"))
		f->message = xstrdup(jstr(jo, "message"));
	if (jhas(jo, "status", &v))
		f->status = json_object_get_int(v);
	if (jhas(jo, "html", &v))
		f->html = json_object_get_boolean(v);
	if (f->html && !f->status)
		f->status = 502;
	if (jhas(jo, "probability", &v))
		f->probability = json_object_get_double(v);
	if (jhas(jo, "every", &v))
		f->every = json_object_get_int(v);
	if (jhas(jo, "times", &v))
		f->times = json_object_get_int(v);
	if (jhas(jo, "latencyMs", &v))
		f->latency_ms = json_object_get_int(v);
	if (jhas(jo, "apply", &v))
		f->apply = json_object_get_boolean(v);
	if (jhas(jo, "renameOnly", &v))
		f->rename_only = json_object_get_boolean(v);
	f->id = em->next_fault_id++;
	em->faults = xrealloc(em->faults, (em->n_faults + 1) * sizeof(*em->faults));
	em->faults[em->n_faults++] = f;
	rs->status = 200;
	buf_addf(&rs->body, "{\"id\":%d}", f->id);
}

static void ctl_requests(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	if (!strcmp(rq->method, "DELETE")) {
		emu_log_free(em);
		ctl_json(rs, 200, "{}");
		return;
	}
	char *since_s = emu_qp(rq, "since");
	unsigned long long since = 0;
	struct jw w;

	if (since_s) {
		char *end;

		errno = 0;
		since = strtoull(since_s, &end, 10);
		/* strtoull takes "-1" as ULLONG_MAX: a sequence number is digits only */
		if (!isdigit((unsigned char)since_s[0]) || *end || errno) {
			free(since_s);
			ctl_err(rs, 400, "since must be a sequence number (0 or more)");
			return;
		}
	}
	free(since_s);
	rs->status = 200;
	jw_init(&w, &rs->body, NULL);
	jw_obj(&w);
	jw_k(&w, "lastSeq");
	jw_int(&w, (long long)em->log_seq);
	jw_k(&w, "requests");
	jw_arr(&w);
	size_t first = (em->log_head + EMU_LOG_MAX - em->log_n) % EMU_LOG_MAX;

	for (size_t i = 0; i < em->log_n; i++) {
		struct emu_logent *e = &em->log[(first + i) % EMU_LOG_MAX];
		char t[32];

		if (e->seq <= since)
			continue;
		jw_obj(&w);
		jw_k(&w, "seq");
		jw_int(&w, (long long)e->seq);
		jw_k(&w, "time");
		fmt_time(t, e->ts_ms);
		jw_str(&w, t);
		jw_k(&w, "method");
		jw_str(&w, e->method);
		jw_k(&w, "path");
		jw_str(&w, e->path);
		jw_k(&w, "query");
		jw_str(&w, e->query ? e->query : "");
		jw_k(&w, "body");
		jw_str(&w, e->body ? e->body : "");
		jw_k(&w, "route");
		jw_str(&w, e->route);
		jw_k(&w, "status");
		jw_int(&w, e->status);
		jw_k(&w, "durMs");
		jw_int(&w, e->dur_ms);
		jw_k(&w, "batchPart");
		jw_bool(&w, e->batch_part);
		jw_end(&w);
	}
	jw_end(&w);
	jw_end(&w);
}

static void ctl_tokens(struct emu *em, struct emu_req *rq, struct emu_resp *rs,
		       struct json_object *jo)
{
	struct json_object *v;

	if (!strcmp(rq->path, "/_emulator/tokens/revoke")) {
		const char *kind = jstr(jo, "kind");
		const char *subj = jstr(jo, "subject");
		struct emu_user *u = subj ? emu_user_find(em, subj) : NULL;
		int n = 0;

		if (!kind)
			kind = "refresh";
		if (strcmp(kind, "refresh") && strcmp(kind, "access") && strcmp(kind, "all")) {
			ctl_err(rs, 400, "kind must be refresh, access or all");
			return;
		}
		if (subj && !u) {
			ctl_err(rs, 400, "subject: no such user");
			return;
		}
		for (size_t i = 0; i < em->tokens.cap; i++) {
			if (!map_live(&em->tokens, i))
				continue;
			struct emu_token *t = em->tokens.e[i].val;

			if (subj && (!u || !t->subject_id || strcmp(t->subject_id, u->id)))
				continue;
			if (!strcmp(kind, "all") || (t->is_refresh == !strcmp(kind, "refresh"))) {
				t->revoked = true;
				n++;
			}
		}
		rs->status = 200;
		buf_addf(&rs->body, "{\"revoked\":%d}", n);
		return;
	}
	const char *subj = jstr(jo, "subject");
	struct emu_user *u = NULL;
	struct buf sc;

	if (subj) {
		u = emu_user_find(em, subj);
		if (!u) {
			ctl_err(rs, 400, "subject: no such user");
			return;
		}
	}
	buf_init(&sc);
	if (jhas(jo, "scopes", &v) && json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			if (i)
				buf_adds(&sc, " ");
			buf_adds(&sc, json_object_get_string(json_object_array_get_idx(v, i)));
		}
	} else if (jhas(jo, "scopes", &v)) {
		buf_adds(&sc, json_object_get_string(v));
	} else {
		buf_adds(&sc, "https://www.googleapis.com/auth/admin.directory.user "
			      "https://www.googleapis.com/auth/admin.directory.group "
			      "https://www.googleapis.com/auth/admin.directory.group.member "
			      "https://www.googleapis.com/auth/admin.directory.domain.readonly "
			      "https://www.googleapis.com/auth/admin.directory.customer.readonly "
			      "https://www.googleapis.com/auth/apps.groups.settings");
	}
	int64_t ttl64 = jhas(jo, "ttlS", &v) ? json_object_get_int64(v) : em->token_ttl_s;
	bool unknown = false;

	scopes_parse(sc.p, &unknown);
	if (ttl64 < 1 || ttl64 > 31536000 || unknown) {
		buf_cleanup(&sc);
		ctl_err(rs, 400, unknown ? "scopes: a scope Google does not know"
					 : "ttlS must be 1..31536000");
		return;
	}
	int ttl = (int)ttl64;
	struct emu_token *t = emu_token_mint(em, u ? u->id : NULL, "emulator-control", sc.p, false,
					     ttl);

	t->admin_role = jhas(jo, "adminRole", &v) && json_object_get_boolean(v);
	rs->status = 200;
	buf_adds(&rs->body, "{\"access_token\":");
	buf_add_jstr(&rs->body, t->token);
	buf_addf(&rs->body, ",\"expires_in\":%d,\"scope\":", ttl);
	buf_add_jstr(&rs->body, t->scope);
	buf_adds(&rs->body, ",\"token_type\":\"Bearer\"}");
	buf_cleanup(&sc);
}

static void ctl_admins(struct emu *em, struct emu_resp *rs, struct json_object *jo)
{
	const char *email = jstr(jo, "email");
	struct json_object *v;
	struct emu_user *u;

	unsigned privs = 0;

	if (!email) {
		ctl_err(rs, 400, "email is required");
		return;
	}
	if (jhas(jo, "privileges", &v) && privs_parse(v, &privs)) {
		char msg[200];

		snprintf(msg, sizeof(msg), "privileges: %.64s is not one of " PRIVS_ACCEPTED,
			 privs_parse(v, &privs));
		ctl_err(rs, 400, msg);
		return;
	}
	u = emu_user_find(em, email);
	if (!u) {
		struct json_object *uj = json_object_new_object(), *name = json_object_new_object();
		struct emu_resp urs;

		json_object_object_add(uj, "primaryEmail", json_object_new_string(email));
		json_object_object_add(name, "givenName",
				       json_object_new_string(jstr(jo, "givenName") ? jstr(jo, "givenName")
										     : "Delegated"));
		json_object_object_add(name, "familyName",
				       json_object_new_string(jstr(jo, "familyName") ? jstr(jo, "familyName")
										      : "Admin"));
		json_object_object_add(uj, "name", name);
		json_object_object_add(uj, "password", json_object_new_string("emulator-password"));
		emu_resp_init(&urs);
		u = emu_user_create_json(em, uj, true, &urs);
		json_object_put(uj);
		if (!u) {
			char err[300];

			resp_msg(&urs, err, sizeof(err));
			emu_resp_cleanup(&urs);
			ctl_err(rs, 400, err);
			return;
		}
		emu_resp_cleanup(&urs);
		u->created_ms -= 86400000LL;
	}
	if (jhas(jo, "privileges", &v)) {
		u->is_admin = false;
		u->privs = privs;
	} else if (jhas(jo, "isAdmin", &v) && !json_object_get_boolean(v)) {
		u->is_admin = false;
		u->privs = 0;
	} else {
		u->is_admin = true;
	}
	emu_user_touch(em, u);
	rs->status = 200;
	buf_adds(&rs->body, "{\"id\":");
	buf_add_jstr(&rs->body, u->id);
	buf_adds(&rs->body, ",\"primaryEmail\":");
	buf_add_jstr(&rs->body, u->email);
	buf_adds(&rs->body, "}");
}

/*
 * POST /_emulator/users/{key}/check-password {"password"} -> {"match", "hashFunction"}
 * POST /_emulator/users/{key}/suspend {"reason"? (ABUSE), "suspended"? (true)}
 * {key} is an address, an alias or an id (a deleted user by id too).
 */
static void ctl_user(struct emu *em, struct emu_req *rq, struct emu_resp *rs,
		     struct json_object *jo)
{
	const char *rest = rq->path + strlen("/_emulator/users/");
	const char *slash = strchr(rest, '/');
	struct json_object *v;

	if (!slash || strcmp(rq->method, "POST")) {
		ctl_err(rs, 404, "unknown control call");
		return;
	}
	char *key = xstrndup(rest, (size_t)(slash - rest));

	pct_decode(key, false);
	struct emu_user *u = emu_user_find(em, key);

	if (!u && !strchr(key, '@'))
		u = emu_user_by_id(em, key);
	free(key);
	if (!u) {
		ctl_err(rs, 404, "no such user");
		return;
	}
	if (!strcmp(slash, "/check-password")) {
		const char *pw = jstr(jo, "password");

		if (!pw) {
			ctl_err(rs, 400, "password is required");
			return;
		}
		buf_addf(&rs->body, "{\"match\":%s,\"hashFunction\":",
			 emu_password_check(u->password, u->hash_fn, pw) ? "true" : "false");
		buf_add_jstr(&rs->body, u->hash_fn ? u->hash_fn : "");
		buf_adds(&rs->body, "}");
	} else if (!strcmp(slash, "/suspend")) {
		const char *reason = jstr(jo, "reason");
		bool on = !jhas(jo, "suspended", &v) || json_object_get_boolean(v);

		if (reason && !valid_suspension_reason(reason)) {
			ctl_err(rs, 400, "reason must be 1 to 64 of A-Z, 0-9 and _");
			return;
		}
		if (u->deleted) {
			ctl_err(rs, 409, "the user is deleted");
			return;
		}
		u->suspended = on;
		str_set(&u->susp_reason, on ? (reason ? reason : "ABUSE") : NULL);
		emu_user_touch(em, u);
		ctl_json(rs, 200, "{}");
	} else {
		ctl_err(rs, 404, "unknown control call");
	}
}

/*
 * POST /_emulator/seed/account: a realistic account, on top of the default state unless
 * "reset": false. {"fixture": {state}} loads a JSON fixture; {"generate": {"seed", "users",
 * "groups"}} generates one deterministically ("returnFixture": true echoes it).
 */
static void ctl_seed_account(struct emu *em, struct emu_resp *rs, struct json_object *jo)
{
	struct json_object *fx = NULL, *gen, *v;
	char err[512] = "";
	long long t0 = now_ms();
	bool owned = false;

	if (jhas(jo, "generate", &gen) && jhas(jo, "fixture", &fx)) {
		ctl_err(rs, 400, "give \"fixture\" or \"generate\", not both");
		return;
	}
	fx = NULL;
	if (jhas(jo, "generate", &gen)) {
		uint64_t seed = jhas(gen, "seed", &v) ? (uint64_t)json_object_get_int64(v) : 1;
		long nu = jhas(gen, "users", &v) ? json_object_get_int64(v) : 200;
		long ng = jhas(gen, "groups", &v) ? json_object_get_int64(v) : 20;

		if (nu < 3 || nu > 100000 || ng < 0 || ng > 10000) {
			ctl_err(rs, 400, "generate: users 3..100000, groups 0..10000");
			return;
		}
		fx = emu_fixture_generate(emu_primary_domain(em), seed, nu, ng);
		owned = true;
	} else if (!jhas(jo, "fixture", &fx) || !json_object_is_type(fx, json_type_object)) {
		ctl_err(rs, 400, "give \"fixture\" (a state object) or \"generate\"");
		return;
	}
	/* The fixture is the state itself: a wrapper such as {"state": {...}} would load nothing. */
	if (unknown_key(fx, state_spec)) {
		char msg[160];

		snprintf(msg, sizeof(msg), "fixture.%.64s is not a member of the state format",
			 unknown_key(fx, state_spec));
		if (owned)
			json_object_put(fx);
		ctl_err(rs, 400, msg);
		return;
	}
	/* values checked before the reset: a refused fixture changes nothing */
	if (state_precheck(fx, err, sizeof(err))) {
		if (owned)
			json_object_put(fx);
		ctl_err(rs, 400, err);
		return;
	}
	if (!jhas(jo, "reset", &v) || json_object_get_boolean(v))
		emu_reset(em, NULL);
	if (emu_state_load(em, fx, err, sizeof(err))) {
		ctl_err(rs, 400, err);
	} else {
		struct jw w;

		jw_init(&w, &rs->body, NULL);
		jw_obj(&w);
		jw_k(&w, "customerId");
		jw_str(&w, em->customer_id);
		jw_k(&w, "users");
		jw_int(&w, (long long)(em->users.n - em->n_deleted));
		jw_k(&w, "deletedUsers");
		jw_int(&w, (long long)em->n_deleted);
		jw_k(&w, "groups");
		jw_int(&w, (long long)em->groups.n);
		jw_k(&w, "domains");
		jw_int(&w, (long long)em->n_domains);
		jw_k(&w, "ms");
		jw_int(&w, now_ms() - t0);
		if (owned && jhas(jo, "returnFixture", &v) && json_object_get_boolean(v)) {
			jw_k(&w, "fixture");
			jw_json(&w, fx);
		}
		jw_end(&w);
	}
	if (owned)
		json_object_put(fx);
}

static bool is(const struct emu_req *rq, const char *method, const char *path)
{
	return !strcmp(rq->path, path) && (!method || !strcmp(rq->method, method));
}

/* Bodies whose every member the spec names: all but a Google key or client JSON (they carry
 * members the emulator does not read) and config/state (checked by their own loaders). */
static bool ctl_body_closed(const char *path)
{
	return strcmp(path, "/_emulator/service-accounts") &&
	       strcmp(path, "/_emulator/oauth-clients") && strcmp(path, "/_emulator/quota") &&
	       strcmp(path, "/_emulator/config") && strcmp(path, "/_emulator/state");
}

void emu_control(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct json_object *jo = NULL, *v;
	char err[512] = "";
	const char *p = rq->path;

	snprintf(rs->ctype, sizeof(rs->ctype), "application/json");
	rs->status = 200;
	if (strcmp(rq->method, "GET") && strcmp(rq->method, "DELETE")) {
		struct json_tokener *tk = json_tokener_new_ex(64);

		jo = rq->body_len ? json_tokener_parse_ex(tk, rq->body, (int)rq->body_len)
				  : json_object_new_object();
		json_tokener_free(tk);
		if (!json_object_is_type(jo, json_type_object)) {
			json_object_put(jo);
			ctl_err(rs, 400, "body must be a JSON object");
			return;
		}
	}
	if (jo && ctl_spec(p) && emu_json_check(jo, ctl_spec(p), err, sizeof(err))) {
		ctl_err(rs, 400, err);
	} else if (jo && ctl_spec(p) && ctl_body_closed(p) && unknown_key(jo, ctl_spec(p))) {
		/* a misspelt member must not leave the call doing something else (seeding nothing) */
		snprintf(err, sizeof(err), "%.64s is not a member of this call's body",
			 unknown_key(jo, ctl_spec(p)));
		ctl_err(rs, 400, err);
	} else if (is(rq, "GET", "/_emulator/health")) {
		ctl_json(rs, 200, "{\"ok\":true}");
	} else if (is(rq, "GET", "/_emulator/info")) {
		struct jw w;
		char admin[300];

		jw_init(&w, &rs->body, NULL);
		jw_obj(&w);
		jw_k(&w, "baseUrl");
		jw_str(&w, em->base_url);
		jw_k(&w, "customerId");
		jw_str(&w, em->customer_id);
		jw_k(&w, "domain");
		jw_str(&w, emu_primary_domain(em));
		/* the reset's super admin, not admin@<primary>: a state may change the primary domain */
		struct emu_user *au = emu_user_by_id(em, em->admin_id);

		if (au && !au->deleted) {
			jw_k(&w, "adminEmail");
			jw_str(&w, au->email);
		}
		jw_k(&w, "tokenUri");
		snprintf(admin, sizeof(admin), "%s/token", em->base_url);
		jw_str(&w, admin);
		jw_k(&w, "users");
		jw_int(&w, (long long)(em->users.n - em->n_deleted));
		jw_k(&w, "groups");
		jw_int(&w, (long long)em->groups.n);
		jw_end(&w);
	} else if (is(rq, "POST", "/_emulator/reset")) {
		if (jstr(jo, "domain") && !valid_domain_name(jstr(jo, "domain"))) {
			ctl_err(rs, 400, "domain is not a domain name");
		} else {
			emu_reset(em, jstr(jo, "domain"));
			ctl_json(rs, 200, "{}");
		}
	} else if (is(rq, "POST", "/_emulator/seed")) {
		long nu = jhas(jo, "users", &v) ? json_object_get_int64(v) : 0;
		long ng = jhas(jo, "groups", &v) ? json_object_get_int64(v) : 0;
		long mpg = jhas(jo, "membersPerGroup", &v) ? json_object_get_int64(v) : 0;
		int ae = jhas(jo, "aliasesEvery", &v) ? json_object_get_int(v) : 10;
		const char *dom = jstr(jo, "domain");
		long long t0 = now_ms();

		if (nu < 0 || nu > 1000000 || ng < 0 || ng > 100000 || mpg < 0) {
			ctl_err(rs, 400, "out of range");
		} else if (dom && !emu_domain_find(em, dom)) {
			ctl_err(rs, 400, "domain is not one of the customer's domains");
		} else {
			long made = emu_seed(em, nu, ng, mpg, ae, dom);

			buf_addf(&rs->body, "{\"users\":%ld,\"groups\":%ld,\"ms\":%lld}", made, ng,
				 now_ms() - t0);
		}
	} else if (is(rq, "POST", "/_emulator/seed/account")) {
		ctl_seed_account(em, rs, jo);
	} else if (is(rq, "POST", "/_emulator/domains")) {
		const char *d = jstr(jo, "domainName");

		if (!d || !valid_domain_name(d)) {
			ctl_err(rs, 400, "domainName must be a domain name: labels of 1-63 letters, "
					 "digits and inner hyphens, 253 characters in all");
		} else {
			emu_domain_add(em, d, !jhas(jo, "verified", &v) || json_object_get_boolean(v));
			ctl_json(rs, 200, "{}");
		}
	} else if (is(rq, "POST", "/_emulator/orgunits")) {
		const char *ou = jstr(jo, "orgUnitPath");

		if (!ou || !valid_ou_path(ou)) {
			ctl_err(rs, 400, "orgUnitPath must be an absolute path");
		} else if (emu_ou_exists(em, ou)) {
			/* as Google's orgunits.insert of an existing unit; "/" always exists */
			ctl_err(rs, 409, "orgUnitPath exists");
		} else {
			strv_add(&em->ous, ou);
			ctl_json(rs, 200, "{}");
		}
	} else if (is(rq, "POST", "/_emulator/admins")) {
		ctl_admins(em, rs, jo);
	} else if (is(rq, "POST", "/_emulator/service-accounts")) {
		if (emu_sa_register(em, jo, err, sizeof(err))) {
			ctl_err(rs, 400, err);
		} else {
			buf_adds(&rs->body, "{\"client_email\":");
			buf_add_jstr(&rs->body, em->sas[em->n_sas - 1]->email);
			buf_adds(&rs->body, "}");
		}
	} else if (is(rq, "POST", "/_emulator/oauth-clients")) {
		if (client_add(em, jo, err, sizeof(err)))
			ctl_err(rs, 400, err);
		else
			ctl_json(rs, 200, "{}");
	} else if (is(rq, "POST", "/_emulator/tokens") ||
		   is(rq, "POST", "/_emulator/tokens/revoke")) {
		ctl_tokens(em, rq, rs, jo);
	} else if (str_has_prefix(p, "/_emulator/users/")) {
		ctl_user(em, rq, rs, jo);
	} else if (str_has_prefix(p, "/_emulator/faults")) {
		ctl_faults(em, rq, rs, jo);
	} else if (is(rq, NULL, "/_emulator/quota") || is(rq, NULL, "/_emulator/config")) {
		if (jo && emu_config_apply(em, jo, err, sizeof(err))) {
			ctl_err(rs, 400, err);
		} else {
			struct jw w;

			rs->status = 200;
			buf_reset(&rs->body);
			jw_init(&w, &rs->body, NULL);
			config_write(em, &w);
		}
	} else if (is(rq, NULL, "/_emulator/requests")) {
		ctl_requests(em, rq, rs);
	} else if (is(rq, "GET", "/_emulator/counters")) {
		struct jw w;

		jw_init(&w, &rs->body, NULL);
		jw_obj(&w);
		jw_k(&w, "counters");
		jw_obj(&w);
		for (size_t i = 0; i < em->counters.cap; i++) {
			if (!map_live(&em->counters, i))
				continue;
			jw_k(&w, em->counters.e[i].key);
			jw_int(&w, *(long long *)em->counters.e[i].val);
		}
		jw_end(&w);
		jw_end(&w);
	} else if (is(rq, "DELETE", "/_emulator/counters")) {
		for (size_t i = 0; i < em->counters.cap; i++)
			if (map_live(&em->counters, i))
				free(em->counters.e[i].val);
		map_cleanup(&em->counters);
		ctl_json(rs, 200, "{}");
	} else if (is(rq, "GET", "/_emulator/state")) {
		emu_state_write(em, &rs->body);
	} else if (is(rq, "PUT", "/_emulator/state") || is(rq, "POST", "/_emulator/state")) {
		if (emu_state_load(em, jo, err, sizeof(err)))
			ctl_err(rs, 400, err);
		else
			ctl_json(rs, 200, "{}");
	} else if (is(rq, "GET", "/_emulator/routes")) {
		size_t n;
		const struct emu_route *r = emu_routes(&n);
		struct jw w;

		jw_init(&w, &rs->body, NULL);
		jw_obj(&w);
		jw_k(&w, "routes");
		jw_arr(&w);
		for (size_t i = 0; i < n; i++) {
			jw_obj(&w);
			jw_k(&w, "method");
			jw_str(&w, r[i].method);
			jw_k(&w, "path");
			jw_str(&w, r[i].pattern);
			jw_k(&w, "name");
			jw_str(&w, r[i].name);
			jw_end(&w);
		}
		jw_end(&w);
		jw_end(&w);
	} else {
		ctl_err(rs, 404, "unknown control call");
	}
	json_object_put(jo);
}
