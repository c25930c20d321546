/* SPDX-License-Identifier: MIT */
/* gws-emulator: users and users.aliases (Directory API). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "emu.h"
#include "emu_int.h"

#define NOT_FOUND_USER "Resource Not Found: userKey"

/* ---------------------------------------------------------------- shared helpers */

int emu_check_new_address(struct emu *em, const char *email, const char *invalid_msg,
			  const void *self, struct emu_resp *rs)
{
	if (!email || !valid_email(email)) {
		emu_err(rs, 400, "invalid", invalid_msg);
		return -1;
	}
	struct emu_domain *d = emu_domain_find(em, strchr(email, '@') + 1);

	if (!d || !d->verified) {
		emu_err(rs, 403, "forbidden", "Not Authorized to access this resource/api");
		return -1;
	}
	char *low = str_lower(xstrdup(email));
	void *owner = map_get(&em->emails, low);

	free(low);
	if (owner && owner != self) {
		emu_err(rs, 409, "duplicate", "Entity already exists.");
		return -1;
	}
	return 0;
}

int emu_parse_max(struct emu_req *rq, struct emu_resp *rs, int def, int max, bool clamp,
		  int *out)
{
	char *v = emu_qp(rq, "maxResults");
	char *end = NULL;

	*out = def;
	if (!v)
		return 0;
	long n = strtol(v, &end, 10);

	if (!*v || *end || n < 1 || (!clamp && n > max)) {
		struct buf m;

		buf_init(&m);
		buf_addf(&m, "Invalid value '%s'. Values must be within the range: [1, %d]", v,
			 max);
		emu_err_esf(rs, 400, "invalidParameter", m.p, NULL, "INVALID_ARGUMENT",
			    "maxResults", "parameter");
		buf_cleanup(&m);
		free(v);
		return -1;
	}
	free(v);
	*out = n > max ? max : (int)n;
	return 0;
}

/* domains.list shows unverified domains, but listing users or groups by one is 404. */
static bool domain_listable(struct emu *em, const char *domain)
{
	const struct emu_domain *d = emu_domain_find(em, domain);

	return d && d->verified;
}

/* customer= and domain= check shared by users.list and groups.list. */
int emu_check_customer_domain(struct emu *em, struct emu_req *rq, struct emu_resp *rs,
			      bool required, char **domain_out)
{
	char *customer = emu_qp(rq, "customer");
	char *domain = emu_qp(rq, "domain");
	int rc = 0;

	*domain_out = NULL;
	if (required && !customer && !domain) {
		emu_err(rs, 400, "badRequest", "Bad Request");
		rc = -1;
	} else if (customer && strcmp(customer, "my_customer") &&
		   strcmp(customer, em->customer_id)) {
		emu_err(rs, 400, "badRequest", "Bad Request");
		rc = -1;
	} else if (domain && !domain_listable(em, domain)) {
		emu_err(rs, 404, "notFound", "Domain not found.");
		rc = -1;
	}
	free(customer);
	if (rc == 0 && domain)
		*domain_out = str_lower(domain);
	else
		free(domain);
	return rc;
}

void emu_list_etag(struct emu *em, const char *what, char out[64])
{
	emu_etag(em, what, em->gen, out);
}

/*
 * Resolves {userKey}. A deleted user (restorable for deleted_retention_s) answers 412 "User is
 * deleted." when asked for by id; its addresses were freed, so by address it is 404.
 */
static struct emu_user *user_key(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_user *u = emu_user_find(em, rq->seg[0]);

	if (!u) {
		struct emu_user *d = NULL;

		if (!strchr(rq->seg[0], '@')) {
			emu_deleted_purge(em);
			d = emu_user_by_id(em, rq->seg[0]);
		}
		if (d && d->deleted)
			emu_err(rs, 412, "conditionNotMet", "User is deleted.");
		else
			emu_err(rs, 404, "notFound", NOT_FOUND_USER);
		return NULL;
	}
	return u;
}

/* A delegated (non-super) admin may not change a super admin. */
static bool super_guard(const struct emu_req *rq, const struct emu_user *u, struct emu_resp *rs)
{
	if (rq->subject && !rq->subject->is_admin && u->is_admin) {
		emu_err(rs, 403, "forbidden", "Not Authorized to access this resource/api");
		return true;
	}
	return false;
}

static bool user_creating(struct emu *em, const struct emu_user *u, struct emu_resp *rs)
{
	if (em->create_412_ms > 0 && now_ms() - u->created_ms < em->create_412_ms) {
		emu_err(rs, 412, "conditionNotMet", "User creation is not complete.");
		return true;
	}
	return false;
}

bool emu_enum_param_bad(struct emu_req *rq, struct emu_resp *rs, const char *name,
			const char *const *values)
{
	char *v = emu_qp(rq, name);
	bool ok = false;
	struct buf m;

	if (!v)
		return false;
	buf_init(&m);
	for (size_t k = 0; values[k]; k++) {
		ok = ok || !strcasecmp(v, values[k]);
		buf_addf(&m, "%s%s", k ? ", " : "", values[k]);
	}
	if (!ok) {
		char *vals = xstrdup(m.p);

		buf_reset(&m);
		buf_addf(&m, "Invalid value '%s'. Values must be one of: %s", v, vals);
		emu_err_esf(rs, 400, "invalidParameter", m.p, NULL, "INVALID_ARGUMENT", name,
			    "parameter");
		free(vals);
	}
	buf_cleanup(&m);
	free(v);
	return !ok;
}

/*
 * The enum parameters of users.get/list (discovery: projection, viewType, event, sortOrder; and
 * the boolean showDeleted): a value outside them is a 400, not a silent default. Message as for
 * orderBy [I].
 */
static bool enum_param_bad(struct emu_req *rq, struct emu_resp *rs, bool list)
{
	static const struct {
		const char *name;
		const char *values[6];
		bool list_only;
	} params[] = {
		{ "projection", { "basic", "custom", "full" }, false },
		{ "viewType", { "admin_view", "domain_public" }, false },
		{ "event", { "add", "delete", "makeAdmin", "undelete", "update" }, true },
		{ "sortOrder", { "ASCENDING", "DESCENDING" }, true },
		/* a boolean: "maybe" must not read as false [I] */
		{ "showDeleted", { "true", "false" }, true },
	};
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		if ((list || !params[i].list_only) &&
		    emu_enum_param_bad(rq, rs, params[i].name, params[i].values))
			return true;
	return false;
}

static int projection_of(struct emu_req *rq, char **mask)
{
	char *p = emu_qp(rq, "projection");
	int proj = 0;

	*mask = emu_qp(rq, "customFieldMask");
	if (p && !strcasecmp(p, "full"))
		proj = 2;
	else if (p && !strcasecmp(p, "custom"))
		proj = 1;
	free(p);
	return proj;
}

static void render_user_resp(struct emu *em, struct emu_req *rq, struct emu_resp *rs,
			     const struct emu_user *u)
{
	struct jw w;
	char *mask;
	int proj = projection_of(rq, &mask);

	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	emu_user_render(em, &w, u, proj, mask);
	free(mask);
}

/* ---------------------------------------------------------------- validation of a User body */

enum { M_INSERT, M_UPDATE, M_PATCH };

static const char *const ro_fields[] = {
	"agreedToTerms",      "aliases",	 "creationTime",     "customerId",
	"deletionTime",	      "etag",		 "isAdmin",	     "isDelegatedAdmin",
	"isEnforcedIn2Sv",    "isEnrolledIn2Sv", "isMailboxSetup",   "kind",
	"lastLoginTime",      "nonEditableAliases", "suspensionReason", "thumbnailPhotoEtag",
	"thumbnailPhotoUrl",  "isGuestUser",	 "guestAccountInfo", "id",
};

static const char *const bool_fields[] = {
	"suspended", "archived", "changePasswordAtNextLogin", "ipWhitelisted",
	"includeInGlobalAddressList",
};

static const char *const str_fields[] = {
	"primaryEmail", "password", "hashFunction", "orgUnitPath", "recoveryEmail", "recoveryPhone",
};

struct any_field {
	const char *name;
	size_t max; /* serialized size limit */
	bool repeated;
};

static const struct any_field any_fields[] = {
	{ "addresses", 10240, true },	{ "emails", 10240, true },     { "externalIds", 2048, true },
	{ "gender", 1024, false },	{ "ims", 2048, true },	       { "keywords", 1024, true },
	{ "languages", 1024, true },	{ "locations", 10240, true },  { "notes", 10240, false },
	{ "organizations", 10240, true }, { "phones", 1024, true },    { "posixAccounts", 10240, true },
	{ "relations", 2048, true },	{ "sshPublicKeys", 10240, true }, { "websites", 2048, true },
	{ "customSchemas", 65536, false },
};

static bool in_list(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct any_field *any_field_find(const char *name)
{
	for (size_t i = 0; i < N(any_fields); i++)
		if (!strcmp(any_fields[i].name, name))
			return &any_fields[i];
	return NULL;
}

static void bad_type(struct emu_resp *rs, const char *field, const char *type,
		     struct json_object *v)
{
	struct buf m;

	buf_init(&m);
	buf_addf(&m, "Invalid value at 'resource.%s' (%s), %s", field, type,
		 json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	emu_err_esf(rs, 400, "invalid", m.p, NULL, "INVALID_ARGUMENT", NULL, NULL);
	buf_cleanup(&m);
}

static bool valid_phone(const char *p)
{
	size_t n = strlen(p);

	if (n < 3 || n > 16 || p[0] != '+' || p[1] < '1' || p[1] > '9')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isdigit((unsigned char)p[i]))
			return false;
	return true;
}

/* Validates a User body without changing anything. u is NULL on insert. */
static int user_validate(struct emu *em, struct emu_user *u, struct json_object *jo, int mode,
			 struct emu_resp *rs)
{
	json_object_object_foreach(jo, key, fv) {
		struct json_object *v = fv;
		bool isnull = json_object_is_type(v, json_type_null);

		if (in_list(ro_fields, N(ro_fields), key))
			continue;
		if (in_list(bool_fields, N(bool_fields), key)) {
			if (!isnull && !json_object_is_type(v, json_type_boolean)) {
				bad_type(rs, key, "TYPE_BOOL", v);
				return -1;
			}
			continue;
		}
		if (in_list(str_fields, N(str_fields), key)) {
			if (!isnull && !json_object_is_type(v, json_type_string)) {
				bad_type(rs, key, "TYPE_STRING", v);
				return -1;
			}
			continue;
		}
		if (!strcmp(key, "name")) {
			if (isnull)
				continue;
			if (!json_object_is_type(v, json_type_object)) {
				bad_type(rs, key, "TYPE_MESSAGE", v);
				return -1;
			}
			json_object_object_foreach(v, nk, nv) {
				if (strcmp(nk, "givenName") && strcmp(nk, "familyName") &&
				    strcmp(nk, "fullName") && strcmp(nk, "displayName")) {
					struct buf m;

					buf_init(&m);
					buf_addf(&m, "Required parameter: [resource.name.%s]", nk);
					emu_err(rs, 400, "required", m.p);
					buf_cleanup(&m);
					return -1;
				}
				if (!json_object_is_type(nv, json_type_string) &&
				    !json_object_is_type(nv, json_type_null)) {
					struct buf f;

					buf_init(&f);
					buf_addf(&f, "name.%s", nk);
					bad_type(rs, f.p, "TYPE_STRING", nv);
					buf_cleanup(&f);
					return -1;
				}
			}
			continue;
		}
		const struct any_field *af = any_field_find(key);

		if (!af) {
			struct buf m;

			buf_init(&m);
			buf_addf(&m,
				 "Invalid JSON payload received. Unknown name \"%s\" at 'resource': "
				 "Cannot find field.",
				 key);
			emu_err_esf(rs, 400, "invalid", m.p, NULL, "INVALID_ARGUMENT", NULL, NULL);
			buf_cleanup(&m);
			return -1;
		}
		if (isnull)
			continue;
		if (af->repeated && !json_object_is_type(v, json_type_array)) {
			bad_type(rs, key, "TYPE_LIST", v);
			return -1;
		}
		if (!af->repeated && !json_object_is_type(v, json_type_object)) {
			bad_type(rs, key, "TYPE_MESSAGE", v);
			return -1;
		}
		if (strlen(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)) > af->max) {
			struct buf m;

			buf_init(&m);
			buf_addf(&m, "Invalid Input: %s", key);
			emu_err(rs, 400, "invalid", m.p);
			buf_cleanup(&m);
			return -1;
		}
	}

	struct json_object *v;
	const char *email = NULL;

	if (json_object_object_get_ex(jo, "primaryEmail", &v))
		email = json_object_get_string(v);
	if (mode == M_INSERT || (email && strcasecmp(email, u->email))) {
		if (emu_check_new_address(em, email, "Invalid Input: primary_user_email", u, rs))
			return -1;
	}

	struct json_object *name = NULL;

	json_object_object_get_ex(jo, "name", &name);
	if (json_object_is_type(name, json_type_null) && mode != M_PATCH)
		name = NULL;
	const char *which[2] = { "givenName", "familyName" };
	const char *label[2] = { "GivenName", "FamilyName" };

	for (int i = 0; i < 2; i++) {
		struct json_object *nv = NULL;
		bool present = name && json_object_object_get_ex(name, which[i], &nv);

		if (!present && mode != M_INSERT)
			continue;
		if (!present || !valid_name(json_object_get_string(nv))) {
			struct buf m;

			buf_init(&m);
			buf_addf(&m, "Invalid Given/Family Name: %s", label[i]);
			emu_err(rs, 400, "invalid", m.p);
			buf_cleanup(&m);
			return -1;
		}
	}
	if (name && json_object_object_get_ex(name, "displayName", &v) &&
	    json_object_get_string_len(v) > 256) {
		emu_err(rs, 400, "invalid", "Invalid Input: displayName");
		return -1;
	}

	struct json_object *pw = NULL, *hf = NULL;

	json_object_object_get_ex(jo, "password", &pw);
	json_object_object_get_ex(jo, "hashFunction", &hf);
	if (json_object_is_type(pw, json_type_null))
		pw = NULL;
	if (mode == M_INSERT || pw) {
		const char *hfs = hf ? json_object_get_string(hf) : NULL;

		if (valid_password(pw ? json_object_get_string(pw) : NULL, hfs)) {
			emu_err(rs, 400, "invalid", "Invalid Password");
			return -1;
		}
	}
	if (json_object_object_get_ex(jo, "orgUnitPath", &v) && !json_object_is_type(v, json_type_null)) {
		const char *ou = json_object_get_string(v);

		if (!valid_ou_path(ou) || !emu_ou_exists(em, ou)) {
			emu_err(rs, 400, "invalid", "Invalid Ou Id");
			return -1;
		}
	}
	if (json_object_object_get_ex(jo, "recoveryEmail", &v) &&
	    json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0) {
		char *low = str_lower(xstrdup(json_object_get_string(v)));
		bool ok = strchr(low, '@') && valid_email(low);

		free(low);
		if (!ok) {
			emu_err(rs, 400, "invalid", "Invalid Input: recovery_email");
			return -1;
		}
	}
	if (json_object_object_get_ex(jo, "recoveryPhone", &v) &&
	    json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0 &&
	    !valid_phone(json_object_get_string(v))) {
		emu_err(rs, 400, "invalid", "Invalid Input: recovery_phone");
		return -1;
	}
	/* only an admin's own suspension can be lifted through the API */
	if (u && u->suspended && u->susp_reason && strcmp(u->susp_reason, "ADMIN") &&
	    json_object_object_get_ex(jo, "suspended", &v) &&
	    json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v)) {
		emu_err(rs, 412, "adminCannotUnsuspend", "Cannot restore a user suspended for abuse.");
		return -1;
	}
	return 0;
}

static bool jbool(struct json_object *v, bool def)
{
	return json_object_is_type(v, json_type_null) ? def : json_object_get_boolean(v);
}

static const char *jstr_or_null(struct json_object *v)
{
	if (json_object_is_type(v, json_type_null))
		return NULL;
	const char *s = json_object_get_string(v);

	return s && *s ? s : NULL;
}

static void merge_custom_schemas(struct emu_user *u, struct json_object *v)
{
	const char *cur = emu_user_extra(u, "customSchemas");
	struct json_object *cs = cur ? json_tokener_parse(cur) : json_object_new_object();

	json_object_object_foreach(v, schema, fields) {
		if (json_object_is_type(fields, json_type_null)) {
			json_object_object_del(cs, schema);
			continue;
		}
		json_object_object_add(cs, schema, json_object_get(fields));
	}
	if (json_object_object_length(cs) == 0)
		emu_user_extra_set(u, "customSchemas", NULL);
	else
		emu_user_extra_set(u, "customSchemas",
				   json_object_to_json_string_ext(cs, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(cs);
}

/* Applies a validated body. */
static void user_apply(struct emu *em, struct emu_user *u, struct json_object *jo, int mode)
{
	json_object_object_foreach(jo, key, v) {
		if (!strcmp(key, "primaryEmail")) {
			if (mode != M_INSERT && strcasecmp(json_object_get_string(v), u->email))
				emu_user_rename(em, u, json_object_get_string(v));
		} else if (!strcmp(key, "name")) {
			if (json_object_is_type(v, json_type_null))
				continue;
			struct json_object *nv;

			if (json_object_object_get_ex(v, "givenName", &nv))
				str_set(&u->given, json_object_get_string(nv));
			if (json_object_object_get_ex(v, "familyName", &nv))
				str_set(&u->family, json_object_get_string(nv));
			if (json_object_object_get_ex(v, "displayName", &nv))
				str_set(&u->display, jstr_or_null(nv));
		} else if (!strcmp(key, "password")) {
			if (json_object_is_type(v, json_type_null))
				continue;
			struct json_object *hf = NULL;

			str_set(&u->password, json_object_get_string(v));
			json_object_object_get_ex(jo, "hashFunction", &hf);
			str_set(&u->hash_fn, hf ? jstr_or_null(hf) : NULL);
			u->change_pw = u->change_pw && true;
		} else if (!strcmp(key, "suspended")) {
			bool was = u->suspended;

			u->suspended = jbool(v, false);
			if (!u->suspended || !was)
				str_set(&u->susp_reason, NULL); /* NULL renders as ADMIN */
		} else if (!strcmp(key, "archived")) {
			u->archived = jbool(v, false);
		} else if (!strcmp(key, "changePasswordAtNextLogin")) {
			u->change_pw = jbool(v, false);
		} else if (!strcmp(key, "ipWhitelisted")) {
			u->ip_whitelisted = jbool(v, false);
		} else if (!strcmp(key, "includeInGlobalAddressList")) {
			u->gal = jbool(v, true);
		} else if (!strcmp(key, "orgUnitPath")) {
			if (jstr_or_null(v))
				str_set(&u->ou, json_object_get_string(v));
		} else if (!strcmp(key, "recoveryEmail")) {
			str_set(&u->recovery_email, jstr_or_null(v));
			if (u->recovery_email)
				str_lower(u->recovery_email);
		} else if (!strcmp(key, "recoveryPhone")) {
			str_set(&u->recovery_phone, jstr_or_null(v));
		} else if (!strcmp(key, "customSchemas")) {
			if (json_object_is_type(v, json_type_null)) {
				if (mode != M_PATCH)
					emu_user_extra_set(u, key, NULL);
				continue;
			}
			merge_custom_schemas(u, v);
		} else if (any_field_find(key)) {
			bool empty = json_object_is_type(v, json_type_null) ||
				     (json_object_is_type(v, json_type_array) &&
				      json_object_array_length(v) == 0);

			/* patch cannot clear repeated fields (discovery users.patch) */
			if (empty && mode == M_PATCH)
				continue;
			emu_user_extra_set(u, key, empty ? NULL
						  : json_object_to_json_string_ext(
							    v, JSON_C_TO_STRING_PLAIN |
								       JSON_C_TO_STRING_NOSLASHESCAPE));
		}
	}
	emu_user_touch(em, u);
}

/* ---------------------------------------------------------------- handlers */

struct emu_user *emu_user_create_json(struct emu *em, struct json_object *jo, bool need_pw,
				      struct emu_resp *rs)
{
	struct json_object *tmp = NULL;

	if (!need_pw && !json_object_object_get_ex(jo, "password", &tmp)) {
		/* fixtures may omit passwords: validate as if a placeholder was given */
		json_object_object_add(jo, "password", json_object_new_string("fixture-password"));
	}
	if (user_validate(em, NULL, jo, M_INSERT, rs))
		return NULL;
	struct json_object *name, *g, *f, *e;

	json_object_object_get_ex(jo, "primaryEmail", &e);
	json_object_object_get_ex(jo, "name", &name);
	json_object_object_get_ex(name, "givenName", &g);
	json_object_object_get_ex(name, "familyName", &f);
	struct emu_user *u = emu_user_new(em, json_object_get_string(e), json_object_get_string(g),
					  json_object_get_string(f));

	user_apply(em, u, jo, M_INSERT);
	return u;
}

void h_users_insert(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct json_object *jo = emu_body_json(rq, rs);

	if (!jo)
		return;
	struct emu_user *u = emu_user_create_json(em, jo, true, rs);

	if (u)
		render_user_resp(em, rq, rs, u);
	json_object_put(jo);
}

void h_users_get(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	if (enum_param_bad(rq, rs, false))
		return;
	struct emu_user *u = user_key(em, rq, rs);

	if (!u)
		return;
	if (em->new_user_404_ms > 0 && now_ms() - u->created_ms < em->new_user_404_ms) {
		emu_err(rs, 404, "notFound", NOT_FOUND_USER);
		return;
	}
	render_user_resp(em, rq, rs, u);
}

static void user_write(struct emu *em, struct emu_req *rq, struct emu_resp *rs, int mode)
{
	struct emu_user *u = user_key(em, rq, rs);

	if (!u || user_creating(em, u, rs) || super_guard(rq, u, rs))
		return;
	struct json_object *jo = emu_body_json(rq, rs);

	if (!jo)
		return;
	if (user_validate(em, u, jo, mode, rs) == 0) {
		user_apply(em, u, jo, mode);
		render_user_resp(em, rq, rs, u);
	}
	json_object_put(jo);
}

void h_users_update(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	user_write(em, rq, rs, M_UPDATE);
}

void h_users_patch(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	user_write(em, rq, rs, M_PATCH);
}

void h_users_delete(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_user *u = user_key(em, rq, rs);

	if (!u || user_creating(em, u, rs) || super_guard(rq, u, rs))
		return;
	emu_user_delete(em, u);
	emu_no_content(em, rs);
}

void h_users_undelete(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_user *u;

	emu_deleted_purge(em);
	u = emu_user_by_id(em, rq->seg[0]);
	if (!u || !u->deleted) {
		emu_err(rs, 404, "notFound", NOT_FOUND_USER);
		return;
	}
	struct json_object *jo = emu_body_json(rq, rs);
	struct json_object *v;

	if (!jo)
		return;
	const char *ou = NULL;

	if (json_object_object_get_ex(jo, "orgUnitPath", &v))
		ou = json_object_get_string(v);
	if (ou && *ou && !emu_ou_exists(em, ou)) {
		emu_err(rs, 400, "invalid", "Invalid Ou Id");
	} else if (map_get(&em->emails, u->email)) {
		emu_err(rs, 409, "duplicate", "Entity already exists.");
	} else {
		if (ou && *ou)
			str_set(&u->ou, ou);
		emu_user_undelete(em, u);
		emu_no_content(em, rs);
	}
	json_object_put(jo);
}

void h_users_make_admin(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_user *u = user_key(em, rq, rs);

	if (!u || user_creating(em, u, rs) || super_guard(rq, u, rs))
		return;
	/* only a super admin grants or revokes super admin, a delegated admin not even to itself */
	if (rq->subject && !rq->subject->is_admin) {
		emu_err(rs, 403, "forbidden", "Not Authorized to access this resource/api");
		return;
	}
	struct json_object *jo = emu_body_json(rq, rs);
	struct json_object *v;

	if (!jo)
		return;
	if (!json_object_object_get_ex(jo, "status", &v) ||
	    !json_object_is_type(v, json_type_boolean)) {
		emu_err(rs, 400, "required", "Missing required field: status");
	} else {
		u->is_admin = json_object_get_boolean(v);
		emu_user_touch(em, u);
		emu_no_content(em, rs);
	}
	json_object_put(jo);
}

/* ---------------------------------------------------------------- users.list */

static const char *const query_fields[] = {
	"email",	"givenName",	 "familyName",	   "name",	    "isAdmin",
	"isDelegatedAdmin", "isSuspended", "isArchived",   "isEnrolledIn2Sv", "isEnforcedIn2Sv",
	"orgUnitPath",	"externalId",	 "orgName",	   "orgTitle",	    "orgDepartment",
	"orgDescription", "orgCostCenter", "phone",	   "im",	    "addressLocality",
	"addressRegion", "addressPostalCode", "addressCountry", "addressStreet", "",
};

int emu_query_check(const char *s, const char *const *fields, size_t n_fields,
		    struct emu_query *q, struct emu_resp *rs)
{
	int rc = emu_query_parse(s, fields, n_fields, q);

	/* a boolean field with another value is not read as false: Google cannot read it */
	for (size_t i = 0; rc == 0 && i < q->n; i++)
		if (str_has_prefix(q->c[i].field, "is") && strcasecmp(q->c[i].value, "true") &&
		    strcasecmp(q->c[i].value, "false"))
			rc = -2;
	if (rc == -2)
		emu_err(rs, 400, "invalid", "Invalid Input: query");
	else if (rc)
		emu_err(rs, 400, "invalid", "Invalid query");
	return rc ? -1 : 0;
}

/* ':' matches a word (or prefix of one); '=' the whole value. */
static bool text_match(const char *hay, const struct qclause *c)
{
	size_t vl = strlen(c->value);

	if (c->op == '=' && !c->prefix)
		return !strcasecmp(hay, c->value);
	/* ':' matches a word of the value, the first one included ("Alpha" in "Alpha Beta"). */
	if (!strncasecmp(hay, c->value, vl) &&
	    (c->prefix || hay[vl] == '\0' || (c->op != '=' && !isalnum((unsigned char)hay[vl]))))
		return true;
	for (const char *p = hay; *p; p++) {
		if (isalnum((unsigned char)*p))
			continue;
		const char *w = p + 1;

		if (!strncasecmp(w, c->value, vl) &&
		    (c->prefix || w[vl] == '\0' || !isalnum((unsigned char)w[vl])))
			return true;
	}
	return false;
}

static bool extras_match(const struct emu_user *u, const char *key, const char *jfield,
			 const struct qclause *c)
{
	const char *j = emu_user_extra(u, key);
	char pat[64];

	if (!j)
		return false;
	snprintf(pat, sizeof(pat), "\"%s\":\"", jfield);
	for (const char *p = strstr(j, pat); p; p = strstr(p + 1, pat)) {
		const char *vs = p + strlen(pat);
		const char *ve = strchr(vs, '"');

		if (!ve)
			break;
		char *val = xstrndup(vs, (size_t)(ve - vs));
		bool ok = text_match(val, c);

		free(val);
		if (ok)
			return true;
	}
	return false;
}

static bool user_matches(const struct emu_user *u, const struct emu_query *q)
{
	for (size_t i = 0; i < q->n; i++) {
		const struct qclause *c = &q->c[i];
		const char *f = c->field;
		bool ok = false;

		if (!*f) {
			ok = text_match(u->given, c) || text_match(u->family, c) ||
			     text_match(u->email, c);
		} else if (!strcmp(f, "email")) {
			struct qclause ec = *c;

			ec.op = '=';
			ok = text_match(u->email, &ec);
			for (size_t k = 0; !ok && k < u->aliases.n; k++)
				ok = text_match(u->aliases.v[k], &ec);
		} else if (!strcmp(f, "givenName")) {
			ok = text_match(u->given, c);
		} else if (!strcmp(f, "familyName")) {
			ok = text_match(u->family, c);
		} else if (!strcmp(f, "name")) {
			char full[256];

			snprintf(full, sizeof(full), "%s %s", u->given, u->family);
			ok = c->op == ':' && !c->prefix ? strcasestr(full, c->value) != NULL
							 : text_match(full, c);
		} else if (!strcmp(f, "isAdmin")) {
			ok = u->is_admin == !strcasecmp(c->value, "true");
		} else if (!strcmp(f, "isDelegatedAdmin")) {
			ok = (!u->is_admin && u->privs) == !strcasecmp(c->value, "true");
		} else if (!strcmp(f, "isSuspended")) {
			ok = u->suspended == !strcasecmp(c->value, "true");
		} else if (!strcmp(f, "isArchived")) {
			ok = u->archived == !strcasecmp(c->value, "true");
		} else if (!strcmp(f, "isEnrolledIn2Sv") || !strcmp(f, "isEnforcedIn2Sv")) {
			ok = !strcasecmp(c->value, "false");
		} else if (!strcmp(f, "orgUnitPath")) {
			size_t vl = strlen(c->value);

			ok = !strcmp(c->value, "/") || !strcasecmp(u->ou, c->value) ||
			     (!strncasecmp(u->ou, c->value, vl) && u->ou[vl] == '/');
		} else if (!strcmp(f, "externalId")) {
			ok = extras_match(u, "externalIds", "value", c);
		} else if (str_has_prefix(f, "org")) {
			const char *jf = !strcmp(f, "orgName")	      ? "name"
					 : !strcmp(f, "orgTitle")      ? "title"
					 : !strcmp(f, "orgDepartment") ? "department"
					 : !strcmp(f, "orgDescription") ? "description"
									: "costCenter";

			ok = extras_match(u, "organizations", jf, c);
		} else if (!strcmp(f, "phone")) {
			ok = extras_match(u, "phones", "value", c);
		} else if (!strcmp(f, "im")) {
			ok = extras_match(u, "ims", "im", c);
		} else if (str_has_prefix(f, "address")) {
			const char *jf = !strcmp(f, "addressLocality")	   ? "locality"
					 : !strcmp(f, "addressRegion")	   ? "region"
					 : !strcmp(f, "addressPostalCode") ? "postalCode"
					 : !strcmp(f, "addressCountry")	   ? "country"
									   : "streetAddress";

			ok = extras_match(u, "addresses", jf, c);
		}
		if (!ok)
			return false;
	}
	return true;
}

static bool domain_match(const char *email, const char *domain)
{
	const char *at = strchr(email, '@');

	return !domain || (at && !strcmp(at + 1, domain));
}

static void sort_key(const struct emu_user *u, int ord, struct buf *b)
{
	buf_reset(b);
	if (ord == ORD_GIVEN)
		buf_adds(b, u->given);
	else if (ord == ORD_FAMILY)
		buf_adds(b, u->family);
	buf_add(b, "\x1f", 1);
	buf_adds(b, u->email);
}

static int key_cmp(const struct emu_user *u, int ord, const char *key)
{
	const char *sep = strchr(key, '\x1f');
	int c = 0;

	if (!sep)
		return 1;
	if (ord != ORD_EMAIL) {
		char *fv = xstrndup(key, (size_t)(sep - key));

		c = strcasecmp(ord == ORD_GIVEN ? u->given : u->family, fv);
		free(fv);
	}
	return c ? c : strcmp(u->email, sep + 1);
}

static int cmp_deleted(const void *a, const void *b)
{
	return strcmp((*(struct emu_user *const *)a)->email, (*(struct emu_user *const *)b)->email);
}

void h_users_list(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	char *domain = NULL, *order = NULL, *sorder = NULL, *qs = NULL, *show = NULL;
	char *token = NULL, *key = NULL, *mask = NULL;
	struct emu_query q = { 0 };
	int max, ord = ORD_EMAIL;
	bool desc = false;
	struct buf scope, kb;
	struct emu_user **v;
	size_t n;

	buf_init(&scope);
	buf_init(&kb);
	if (emu_check_customer_domain(em, rq, rs, true, &domain))
		goto out;
	if (emu_parse_max(rq, rs, 100, 500, false, &max) || enum_param_bad(rq, rs, true))
		goto out;
	order = emu_qp(rq, "orderBy");
	sorder = emu_qp(rq, "sortOrder");
	qs = emu_qp(rq, "query");
	show = emu_qp(rq, "showDeleted");
	token = emu_qp(rq, "pageToken");
	if (order) {
		if (!strcasecmp(order, "givenName")) {
			ord = ORD_GIVEN;
		} else if (!strcasecmp(order, "familyName")) {
			ord = ORD_FAMILY;
		} else if (strcasecmp(order, "email")) {
			struct buf m;

			buf_init(&m);
			buf_addf(&m, "Invalid value '%s'. Values must be one of: email, familyName, "
				     "givenName", order);
			emu_err_esf(rs, 400, "invalidParameter", m.p, NULL, "INVALID_ARGUMENT",
				    "orderBy", "parameter");
			buf_cleanup(&m);
			goto out;
		}
	}
	desc = sorder && !strcasecmp(sorder, "DESCENDING"); /* enum_param_bad checked it */
	if (qs && emu_query_check(qs, query_fields, N(query_fields), &q, rs))
		goto out;
	bool deleted = show && !strcasecmp(show, "true");

	if (deleted)
		emu_deleted_purge(em);

	buf_addf(&scope, "users|%s|%s|%d|%d|%d", domain ? domain : "", qs ? qs : "", ord, desc,
		 deleted);
	if (token && *token) {
		key = emu_page_token_parse(em, scope.p, token);
		if (!key) {
			emu_err(rs, 400, "invalid", "Invalid page token");
			goto out;
		}
	}
	struct emu_user **dv = NULL;

	if (deleted) {
		dv = xmalloc((em->n_deleted + 1) * sizeof(*dv));
		memcpy(dv, em->deleted, em->n_deleted * sizeof(*dv));
		qsort(dv, em->n_deleted, sizeof(*dv), cmp_deleted);
		v = dv;
		n = em->n_deleted;
		ord = ORD_EMAIL;
	} else {
		struct emu_sorted *s = emu_users_sorted(em, ord);

		v = s->v;
		n = s->n;
	}
	/* locate the first candidate after the token's key */
	size_t lo = 0, hi = n;

	if (key) {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = key_cmp(v[mid], ord, key);

			if (desc ? c < 0 : c <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (desc) {
			/* descending: walk the index backwards from the entry before key */
			lo = 0;
			hi = n;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;

				if (key_cmp(v[mid], ord, key) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
		}
	}
	int proj = projection_of(rq, &mask);
	struct jw w;
	char etag[64];
	int got = 0;
	const struct emu_user *last = NULL;
	bool more = false;

	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	jw_obj(&w);
	if (jw_k(&w, "kind"))
		jw_str(&w, "admin#directory#users");
	if (jw_k(&w, "etag")) {
		emu_list_etag(em, scope.p, etag);
		jw_str(&w, etag);
	}
	bool opened = false;
	bool want_users = true;

	for (size_t step = 0; step < n; step++) {
		size_t i;

		if (desc) {
			size_t start = key ? lo : n;

			if (step >= start)
				break;
			i = start - 1 - step;
		} else {
			i = (key ? lo : 0) + step;
			if (i >= n)
				break;
		}
		const struct emu_user *u = v[i];

		if (!domain_match(u->email, domain) || (q.n && !user_matches(u, &q)))
			continue;
		if (got == max) {
			more = true;
			break;
		}
		if (!opened) {
			want_users = jw_k(&w, "users");
			if (want_users)
				jw_arr(&w);
			opened = true;
		}
		if (want_users)
			emu_user_render(em, &w, u, proj, mask);
		last = u;
		got++;
	}
	if (opened && want_users)
		jw_end(&w);
	if (more && last) {
		sort_key(last, ord, &kb);
		char *nt = emu_page_token(em, scope.p, kb.p);

		if (jw_k(&w, "nextPageToken"))
			jw_str(&w, nt);
		free(nt);
	}
	jw_end(&w);
	free(dv);
out:
	emu_query_free(&q);
	free(domain);
	free(order);
	free(sorder);
	free(qs);
	free(show);
	free(token);
	free(key);
	free(mask);
	buf_cleanup(&scope);
	buf_cleanup(&kb);
}

/* ---------------------------------------------------------------- aliases (users and groups) */

void emu_alias_render(struct emu *em, struct jw *w, const char *id, const char *primary,
		      const char *alias, unsigned long long gen)
{
	char etag[64];

	jw_obj(w);
	if (jw_k(w, "kind"))
		jw_str(w, "admin#directory#alias");
	if (jw_k(w, "id"))
		jw_str(w, id);
	if (jw_k(w, "etag")) {
		emu_etag(em, alias, gen, etag);
		jw_str(w, etag);
	}
	if (jw_k(w, "primaryEmail"))
		jw_str(w, primary);
	if (jw_k(w, "alias"))
		jw_str(w, alias);
	jw_end(w);
}

void emu_aliases_render(struct emu *em, struct emu_req *rq, struct emu_resp *rs, const char *id,
			const char *primary, const struct strv *aliases, unsigned long long gen)
{
	struct jw w;
	char etag[64];

	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	jw_obj(&w);
	if (jw_k(&w, "kind"))
		jw_str(&w, "admin#directory#aliases");
	if (jw_k(&w, "etag")) {
		emu_etag(em, id, gen, etag);
		jw_str(&w, etag);
	}
	if (aliases->n && jw_k(&w, "aliases")) {
		jw_arr(&w);
		for (size_t i = 0; i < aliases->n; i++)
			emu_alias_render(em, &w, id, primary, aliases->v[i], gen);
		jw_end(&w);
	}
	jw_end(&w);
}

/* Parses {"alias": "..."} and checks the address; returns the lower-cased alias or NULL. */
char *emu_alias_body(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct json_object *jo = emu_body_json(rq, rs);
	struct json_object *v;
	char *alias = NULL;

	if (!jo)
		return NULL;
	if (!json_object_object_get_ex(jo, "alias", &v) ||
	    !json_object_is_type(v, json_type_string) || !json_object_get_string_len(v)) {
		emu_err(rs, 400, "required", "Missing required field: alias");
	} else {
		alias = str_lower(xstrdup(json_object_get_string(v)));
		if (emu_check_new_address(em, alias, "Invalid Input: alias_email", NULL, rs)) {
			free(alias);
			alias = NULL;
		}
	}
	json_object_put(jo);
	return alias;
}

void h_aliases_insert(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_user *u = user_key(em, rq, rs);

	if (!u || user_creating(em, u, rs) || super_guard(rq, u, rs))
		return;
	char *alias = emu_alias_body(em, rq, rs);

	if (!alias)
		return;
	emu_user_alias_add(em, u, alias);
	struct jw w;

	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	emu_alias_render(em, &w, u->id, u->email, alias, u->gen);
	free(alias);
}

void h_aliases_list(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_user *u = user_key(em, rq, rs);

	if (u)
		emu_aliases_render(em, rq, rs, u->id, u->email, &u->aliases, u->gen);
}

void h_aliases_delete(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_user *u = user_key(em, rq, rs);

	if (!u || user_creating(em, u, rs) || super_guard(rq, u, rs))
		return;
	if (!strv_has(&u->aliases, rq->seg[1])) {
		emu_err(rs, 404, "notFound", "Resource Not Found: alias");
		return;
	}
	emu_user_alias_del(em, u, rq->seg[1]);
	emu_no_content(em, rs);
}
