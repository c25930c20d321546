#include "plan_users.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "plan_shared.h"

static const char *const op_names[PLAN_OP_N] = {
	"none",	   "link",   "create", "rename",   "suspend", "unsuspend",
	"update",  "set_password", "skip", "conflict", "fail", "mark_deleted_in_google",
};

const char *plan_op_name(enum plan_op op)
{
	return op < PLAN_OP_N ? op_names[op] : "?";
}

static const struct {
	const char *rule;
	unsigned bit;
} attr_bits[] = {
	{"password", PLAN_ATTR_PASSWORD},
	{"state", PLAN_ATTR_STATE},
	{"manager", PLAN_ATTR_MANAGER},
	{"alternate_email", PLAN_ATTR_ALTERNATE_EMAIL},
	{"cost_center", PLAN_ATTR_COST_CENTER},
	{"department", PLAN_ATTR_DEPARTMENT},
	{"employee_type", PLAN_ATTR_EMPLOYEE_TYPE},
	{"job_title", PLAN_ATTR_JOB_TITLE},
	{"employee_id", PLAN_ATTR_EMPLOYEE_ID},
	{"home_addresses", PLAN_ATTR_HOME_ADDRESSES},
	{"work_addresses", PLAN_ATTR_WORK_ADDRESSES},
	{"other_addresses", PLAN_ATTR_OTHER_ADDRESSES},
	{"home_phones", PLAN_ATTR_HOME_PHONES},
	{"mobile_phones", PLAN_ATTR_MOBILE_PHONES},
	{"other_phones", PLAN_ATTR_OTHER_PHONES},
	{"work_phones", PLAN_ATTR_WORK_PHONES},
	{"work_fax_phones", PLAN_ATTR_WORK_FAX_PHONES},
	{"work_mobile_phones", PLAN_ATTR_WORK_MOBILE_PHONES},
};

unsigned plan_attr_bit(const char *rule_name)
{
	for (size_t i = 0; i < sizeof(attr_bits) / sizeof(attr_bits[0]); i++)
		if (!strcmp(attr_bits[i].rule, rule_name))
			return attr_bits[i].bit;
	return 0;
}

const struct plan_type_bit plan_phone_types[PLAN_PHONE_TYPES] = {
	{"home", PLAN_ATTR_HOME_PHONES},	 {"mobile", PLAN_ATTR_MOBILE_PHONES},
	{"other", PLAN_ATTR_OTHER_PHONES},	 {"work", PLAN_ATTR_WORK_PHONES},
	{"work_fax", PLAN_ATTR_WORK_FAX_PHONES}, {"work_mobile", PLAN_ATTR_WORK_MOBILE_PHONES},
};
const struct plan_type_bit plan_address_types[PLAN_ADDRESS_TYPES] = {
	{"home", PLAN_ATTR_HOME_ADDRESSES},
	{"work", PLAN_ATTR_WORK_ADDRESSES},
	{"other", PLAN_ATTR_OTHER_ADDRESSES},
};

/* Directory address keys → Google's, in the order the canonical form uses. */
const char *const plan_address_keys[PLAN_ADDRESS_KEYS][2] = {
	{"street_address", "streetAddress"}, {"locality", "locality"}, {"region", "region"},
	{"postal_code", "postalCode"},	     {"country", "country"},   {"formatted", "formatted"},
};

/* Primary-organization fields: rule bit, directory value offset in the entry, Google key. */
enum { ORG_TITLE, ORG_DEPARTMENT, ORG_COST_CENTER, ORG_DESCRIPTION, ORG_N };
static const struct {
	unsigned bit;
	const char *gkey;
	const char *field;
} org_fields[ORG_N] = {
	{PLAN_ATTR_JOB_TITLE, "title", "organizations.title"},
	{PLAN_ATTR_DEPARTMENT, "department", "organizations.department"},
	{PLAN_ATTR_COST_CENTER, "costCenter", "organizations.costCenter"},
	{PLAN_ATTR_EMPLOYEE_TYPE, "description", "organizations.description"},
};

#define ORG_BITS                                                                               \
	(PLAN_ATTR_JOB_TITLE | PLAN_ATTR_DEPARTMENT | PLAN_ATTR_COST_CENTER |                  \
	 PLAN_ATTR_EMPLOYEE_TYPE)

static void drop_write(struct plan_entry *e);

/* ------------------------------------------------------------------ small helpers */

const char *plan_jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

bool plan_jbool(struct json_object *o, const char *key)
{
	struct json_object *v;
	return o && json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

struct json_object *plan_jarr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Characters of a UTF-8 string (continuation bytes not counted). */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* Google's name rule (API-NOTES §8): 1–60 characters, none of < > =. NULL when fine. */
static const char *name_problem(const char *v)
{
	if (!v[0])
		return "is empty (Google requires 1-60 characters)";
	if (utf8_chars(v) > 60)
		return "is longer than Google's 60 characters";
	if (strpbrk(v, "<>="))
		return "contains < > or =, which Google refuses";
	return NULL;
}

/* Google's username rule (API-NOTES §8) for the local part of addr. NULL when fine. */
static const char *username_problem(const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t n = at ? (size_t)(at - addr) : strlen(addr);
	if (n == 0 || n > 64)
		return "the username must have 1-64 characters";
	if (addr[0] == '.' || addr[n - 1] == '.')
		return "the username may not start or end with a period";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)addr[i];
		if (!(isalnum(c) || c == '-' || c == '_' || c == '\'' || c == '.') || c >= 0x80)
			return "the username may hold only a-z 0-9 - _ ' and .";
		if (c == '.' && i + 1 < n && addr[i + 1] == '.')
			return "the username may not hold two periods in a row";
	}
	if ((n == 5 && !strncasecmp(addr, "abuse", 5)) ||
	    (n == 10 && !strncasecmp(addr, "postmaster", 10)))
		return "abuse and postmaster are reserved by Google";
	return NULL;
}

bool plan_primary_email(const struct plan_settings *s, const char *email, char *out, size_t cap,
			const char **reason)
{
	const char *at = strrchr(email, '@');
	*reason = NULL;
	if (!at || at == email || !at[1] || cap < 2) {
		*reason = "invalid_email";
		return false;
	}
	for (size_t i = 0; i < s->n_domains; i++) {
		if (!strcasecmp(at + 1, s->domains[i])) {
			if ((size_t)snprintf(out, cap, "%s", email) >= cap) {
				*reason = "invalid_email";
				return false;
			}
			lower(out);
			return true;
		}
	}
	if (s->default_domain && s->default_domain[0]) {
		if ((size_t)snprintf(out, cap, "%.*s@%s", (int)(at - email), email,
				     s->default_domain) >= cap) {
			*reason = "invalid_email";
			return false;
		}
		lower(out);
		return true;
	}
	*reason = "domain_not_configured";
	for (size_t i = 0; i < s->n_unverified; i++)
		if (!strcasecmp(at + 1, s->unverified[i]))
			*reason = "domain_not_verified";
	return false;
}

int plan_match_keys(const struct plan_settings *s, const char *email, char keys[2][320])
{
	const char *why;
	int n = 0;
	if (!email || !email[0] || (size_t)snprintf(keys[0], 320, "%s", email) >= 320)
		return 0;
	lower(keys[0]);
	n = 1;
	if (plan_primary_email(s, email, keys[1], 320, &why) && strcmp(keys[0], keys[1]))
		n = 2;
	return n;
}

/* ------------------------------------------------------------------ canonical "our part" */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An array of JSON texts sorted and joined into "[a,b]" (order of entries never matters). */
static char *join_sorted(char **v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_str);
	size_t len = 3;
	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	char *out = malloc(len);
	if (!out)
		return NULL;
	char *p = out;
	*p++ = '[';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		size_t l = strlen(v[i]);
		memcpy(p, v[i], l);
		p += l;
	}
	*p++ = ']';
	*p = 0;
	return out;
}

/*
 * JSON text of a string value, byte for byte as json-c writes it (JSON_C_TO_STRING_PLAIN |
 * NOSLASHESCAPE: " \\ \b \f \n \r \t escaped, other control characters as \u00xx, the rest
 * as is), without building an object: the digests on the links are of this text
 * (plan_json_string_text; unit test compares with json-c).
 */
static char *json_text_str(const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 3;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		n += *c < 0x20 ? 6 : (*c == '"' || *c == '\\') ? 2 : 1;
	char *out = malloc(n), *o = out;
	if (!out)
		return NULL;
	*o++ = '"';
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		const char *esc = NULL;
		switch (*c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default: break;
		}
		if (esc) {
			*o++ = esc[0];
			*o++ = esc[1];
		} else if (*c < 0x20) {
			memcpy(o, "\\u00", 4);
			o[4] = hex[*c >> 4];
			o[5] = hex[*c & 15];
			o += 6;
		} else {
			*o++ = (char)*c;
		}
	}
	*o++ = '"';
	*o = 0;
	return out;
}

char *plan_json_string_text(const char *s)
{
	return json_text_str(s);
}

static char *obj_text(struct json_object *o)
{
	return xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
}

bool plan_type_managed(const char *type, unsigned mask, bool phones)
{
	if (!type)
		return false;
	if (phones) {
		for (size_t i = 0; i < sizeof(plan_phone_types) / sizeof(plan_phone_types[0]); i++)
			if (!strcmp(type, plan_phone_types[i].type))
				return (mask & plan_phone_types[i].bit) != 0;
	} else {
		for (size_t i = 0; i < sizeof(plan_address_types) / sizeof(plan_address_types[0]); i++)
			if (!strcmp(type, plan_address_types[i].type))
				return (mask & plan_address_types[i].bit) != 0;
	}
	return false;
}

/*
 * A canonical Google entry of a typed array: phones {type, value}; addresses {type, then the
 * address keys that are set}. dir_keys: the entry uses the replica's keys (snake case).
 */
static struct json_object *canon_entry(struct json_object *e, bool phones, bool dir_keys)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	const char *type = plan_jstr(e, "type");
	json_object_object_add(o, "type", json_object_new_string(type ? type : ""));
	if (phones) {
		const char *v = plan_jstr(e, "value");
		json_object_object_add(o, "value", json_object_new_string(v ? v : ""));
		return o;
	}
	for (size_t k = 0; k < sizeof(plan_address_keys) / sizeof(plan_address_keys[0]); k++) {
		const char *v = plan_jstr(e, plan_address_keys[k][dir_keys ? 0 : 1]);
		if (v && v[0])
			json_object_object_add(o, plan_address_keys[k][1], json_object_new_string(v));
	}
	return o;
}

/*
 * The managed entries of a typed array as canonical objects (owned array), from the replica's
 * entries (dir) or Google's.
 */
static struct json_object *managed_entries(struct json_object *arr, unsigned mask, bool phones,
					   bool dir)
{
	struct json_object *out = json_object_new_array();
	size_t n = arr ? json_object_array_length(arr) : 0;
	for (size_t i = 0; out && i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		if (plan_type_managed(plan_jstr(e, "type"), mask, phones))
			json_object_array_add(out, canon_entry(e, phones, dir));
	}
	return out;
}

/* Sorted canonical text of an array of objects. */
static char *array_canon(struct json_object *arr)
{
	size_t n = arr ? json_object_array_length(arr) : 0;
	char **v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = obj_text(json_object_array_get_idx(arr, i));
	char *out = NULL;
	bool ok = true;
	for (size_t i = 0; i < n; i++)
		ok = ok && v[i];
	if (ok)
		out = join_sorted(v, n);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return out;
}

char *plan_managed_text(struct json_object *arr, unsigned mask, bool phones, bool dir_keys)
{
	struct json_object *m = managed_entries(arr, mask, phones, dir_keys);
	char *t = m ? array_canon(m) : NULL;
	json_object_put(m);
	return t;
}

/* ------------------------------------------------------------------ the fields */

enum field_id {
	F_PRIMARY,
	F_GIVEN,
	F_FAMILY,
	F_ORG_TITLE,
	F_ORG_DEPARTMENT,
	F_ORG_COST_CENTER,
	F_ORG_DESCRIPTION,
	F_EXTERNAL_IDS,
	F_PHONES,
	F_ADDRESSES,
	F_EMAILS,
	F_RELATIONS,
	F_SUSPENDED,
	F_N
};

static const char *const field_names[F_N] = {
	"primaryEmail",		  "name.givenName",
	"name.familyName",	  "organizations.title",
	"organizations.department", "organizations.costCenter",
	"organizations.description", "externalIds",
	"phones",		  "addresses",
	"emails",		  "relations",
	"suspended",
};

static bool field_is_array(enum field_id f)
{
	return f >= F_ORG_TITLE && f <= F_RELATIONS;
}

/* The fields Google owns for linked users under identity_source google. */
static bool identity_field(enum field_id f)
{
	return f == F_PRIMARY || f == F_GIVEN || f == F_FAMILY || f == F_SUSPENDED;
}

#define KEPT_REASON "identity_source_google"

/* What one user should hold: the canonical text of each managed field (NULL: not managed). */
struct desired {
	char *want[F_N];
	char *have[F_N]; /* Google's, when the resource is known */
	char primary[320];
	bool suspend_want, suspend_managed;
	struct json_object *ours[F_N]; /* managed entries to send (arrays), owned */
};

static void desired_free(struct desired *d)
{
	for (int f = 0; f < F_N; f++) {
		free(d->want[f]);
		free(d->have[f]);
		if (d->ours[f])
			json_object_put(d->ours[f]);
	}
	memset(d, 0, sizeof(*d));
}

/* The primary organization entry of a Google user (primary: true, else the first), or NULL. */
struct json_object *plan_primary_org(struct json_object *g)
{
	struct json_object *orgs = plan_jarr(g, "organizations");
	size_t n = orgs ? json_object_array_length(orgs) : 0;
	for (size_t i = 0; i < n; i++)
		if (plan_jbool(json_object_array_get_idx(orgs, i), "primary"))
			return json_object_array_get_idx(orgs, i);
	return n ? json_object_array_get_idx(orgs, 0) : NULL;
}

/* Entries of arr whose type equals type, as {type, <key>} objects. */
static struct json_object *typed_entries(struct json_object *arr, const char *type,
					 const char *key)
{
	struct json_object *out = json_object_new_array();
	size_t n = arr ? json_object_array_length(arr) : 0;
	for (size_t i = 0; out && i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *t = plan_jstr(e, "type"), *v = plan_jstr(e, key);
		if (t && !strcmp(t, type) && !plan_jbool(e, "primary")) {
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, key, json_object_new_string(v ? v : ""));
			json_object_object_add(o, "type", json_object_new_string(type));
			json_object_array_add(out, o);
		}
	}
	return out;
}

static struct json_object *one_typed(const char *key, const char *value, const char *type)
{
	struct json_object *arr = json_object_new_array();
	if (arr && value && value[0]) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, key, json_object_new_string(value));
		json_object_object_add(o, "type", json_object_new_string(type));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* Whether the user should be suspended in Google; false in *managed when its state is not ours. */
static bool want_suspended(const struct plan_settings *s, const struct plan_user *u, bool *managed)
{
	*managed = (s->export_mask & PLAN_ATTR_STATE) != 0;
	if (!*managed)
		return false;
	if (!u->exists)
		return true;
	if (!u->in_scope) {
		/* An explicit unbind suspends only while the integration is active. */
		*managed = s->integration_active;
		return *managed;
	}
	if (!strcmp(u->state, "staged")) {
		*managed = false;
		return false;
	}
	if (!strcmp(u->state, "suspended"))
		return true;
	if (u->locked && s->lockout_suspend)
		return true;
	if (u->password_expired && s->password_expiry_suspend)
		return true;
	return false;
}

static int set_field(struct desired *d, enum field_id f, struct json_object *ours_arr,
		     struct json_object *have_arr, bool have_known)
{
	d->ours[f] = ours_arr;
	d->want[f] = array_canon(ours_arr);
	if (have_known)
		d->have[f] = array_canon(have_arr);
	if (have_arr)
		json_object_put(have_arr);
	return d->want[f] && (!have_known || d->have[f]) ? 0 : -1;
}

static int set_scalar(struct desired *d, enum field_id f, const char *want, const char *have,
		      bool have_known)
{
	d->want[f] = json_text_str(want ? want : "");
	if (have_known)
		d->have[f] = json_text_str(have ? have : "");
	return d->want[f] && (!have_known || d->have[f]) ? 0 : -1;
}

/*
 * Computes the desired fields of u against Google's resource g (NULL: unknown). Only the
 * suspension is computed for users who are out of scope or gone from the directory.
 */
static int desired_compute(const struct plan_settings *s, const struct plan_user *u,
			   struct json_object *g, struct desired *d)
{
	memset(d, 0, sizeof(*d));
	bool known = g != NULL;
	d->suspend_want = want_suspended(s, u, &d->suspend_managed);
	if (d->suspend_managed) {
		d->want[F_SUSPENDED] = strdup(d->suspend_want ? "true" : "false");
		if (known)
			d->have[F_SUSPENDED] = strdup(plan_jbool(g, "suspended") ? "true" : "false");
		if (!d->want[F_SUSPENDED] || (known && !d->have[F_SUSPENDED]))
			return -1;
	}
	if (!u->exists || !u->in_scope)
		return 0;
	const char *reason;
	if (plan_primary_email(s, u->email, d->primary, sizeof(d->primary), &reason) &&
	    set_scalar(d, F_PRIMARY, d->primary, plan_jstr(g, "primaryEmail"), known))
		return -1;
	struct json_object *name = NULL;
	if (g)
		json_object_object_get_ex(g, "name", &name);
	if (set_scalar(d, F_GIVEN, u->first_name, plan_jstr(name, "givenName"), known) ||
	    set_scalar(d, F_FAMILY, u->last_name, plan_jstr(name, "familyName"), known))
		return -1;
	struct json_object *org = known ? plan_primary_org(g) : NULL;
	const char *org_values[ORG_N] = {u->job_title, u->department, u->cost_center,
					 u->employee_type};
	for (int i = 0; i < ORG_N; i++)
		if ((s->export_mask & org_fields[i].bit) &&
		    set_scalar(d, (enum field_id)(F_ORG_TITLE + i), org_values[i],
			       plan_jstr(org, org_fields[i].gkey), known))
			return -1;
	if ((s->export_mask & PLAN_ATTR_EMPLOYEE_ID) &&
	    set_field(d, F_EXTERNAL_IDS, one_typed("value", u->employee_id, "organization"),
		      known ? typed_entries(plan_jarr(g, "externalIds"), "organization", "value") : NULL,
		      known))
		return -1;
	if (s->export_mask & PLAN_PHONE_BITS) {
		struct json_object *dir = json_tokener_parse(u->phones_json);
		int rc = set_field(d, F_PHONES, managed_entries(dir, s->export_mask, true, true),
				   known ? managed_entries(plan_jarr(g, "phones"), s->export_mask, true,
							   false)
					 : NULL,
				   known);
		if (dir)
			json_object_put(dir);
		if (rc)
			return -1;
	}
	if (s->export_mask & PLAN_ADDRESS_BITS) {
		struct json_object *dir = json_tokener_parse(u->addresses_json);
		int rc = set_field(d, F_ADDRESSES, managed_entries(dir, s->export_mask, false, true),
				   known ? managed_entries(plan_jarr(g, "addresses"), s->export_mask,
							   false, false)
					 : NULL,
				   known);
		if (dir)
			json_object_put(dir);
		if (rc)
			return -1;
	}
	if ((s->export_mask & PLAN_ATTR_ALTERNATE_EMAIL) &&
	    set_field(d, F_EMAILS, one_typed("address", u->alternate_email, "other"),
		      known ? typed_entries(plan_jarr(g, "emails"), "other", "address") : NULL, known))
		return -1;
	/* A manager who is not linked yet leaves the relation alone until a later run. */
	if ((s->export_mask & PLAN_ATTR_MANAGER) && (!u->has_manager || u->manager_email) &&
	    set_field(d, F_RELATIONS, one_typed("value", u->manager_email, "manager"),
		      known ? typed_entries(plan_jarr(g, "relations"), "manager", "value") : NULL, known))
		return -1;
	return 0;
}

static bool digest_of(const char *text, char out[65])
{
	return crypto_sha256_hex(text, strlen(text), out) == 0;
}

/* Whether the link holds a digest of field f (what gwsync last wrote or saw in Google). */
static bool has_digest(const struct plan_user *u, enum field_id f)
{
	struct json_object *h;
	return u->field_hashes && json_object_object_get_ex(u->field_hashes, field_names[f], &h);
}

/* Whether field f differs: from Google's value when known, else from the link's digest. */
static bool field_differs(const struct plan_user *u, const struct desired *d, enum field_id f)
{
	if (!d->want[f])
		return false;
	if (d->have[f])
		return strcmp(d->want[f], d->have[f]) != 0;
	struct json_object *h;
	if (!u->field_hashes || !json_object_object_get_ex(u->field_hashes, field_names[f], &h))
		return true;
	char dg[65];
	return !digest_of(d->want[f], dg) || strcmp(dg, json_object_get_string(h)) != 0;
}

static bool password_due(const struct plan_settings *s, const struct plan_user *u)
{
	return (s->export_mask & PLAN_ATTR_PASSWORD) && u->password_digest[0] &&
	       strcmp(u->password_digest, u->link_password_digest) != 0;
}

bool plan_user_needs_read(const struct plan_settings *s, const struct plan_user *u)
{
	bool linked = u->google_id[0] && strcmp(u->link_status, "released") != 0;
	if (!linked)
		return u->exists && u->in_scope;
	if (!strcmp(u->link_status, "deleted_in_google") || !strcmp(u->link_status, "creating"))
		return true;
	struct desired d;
	if (desired_compute(s, u, NULL, &d))
		return true;
	bool need = false;
	for (int f = 0; f < F_N && !need; f++) {
		if (s->identity_google && identity_field((enum field_id)f)) {
			/* never written, so nothing to read for it; but a suspension the directory
			 * asks for is reported as left alone, which needs Google's value when no
			 * digest of gwsync's tells it (an imported user's link has none) */
			need = f == F_SUSPENDED && d.suspend_want && !has_digest(u, F_SUSPENDED);
			continue;
		}
		if (!field_differs(u, &d, (enum field_id)f))
			continue;
		need = field_is_array((enum field_id)f) || (f == F_SUSPENDED && d.suspend_want) ||
		       s->delegated_admin;
	}
	desired_free(&d);
	return need || password_due(s, u);
}

bool plan_link_release_due(const struct plan_user *u)
{
	static const char *const stale[] = {"conflict", "failed", "skipped", "pending"};
	if ((u->exists && u->in_scope) || u->context || u->google_id[0])
		return false;
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++)
		if (!strcmp(u->link_status, stale[i]))
			return true;
	return false;
}

/* ------------------------------------------------------------------ building an entry */

/* Appends {field, before, after} (copied) to the list *v of *n changes. */
static int push_change(struct plan_change **v, size_t *n, const char *field, const char *before,
		       const char *after)
{
	struct plan_change *c = realloc(*v, (*n + 1) * sizeof(*c));
	if (!c)
		return -1;
	*v = c;
	c = &c[*n];
	c->field = strdup(field);
	c->before = xstrdup(before);
	c->after = xstrdup(after);
	if (!c->field || (before && !c->before) || (after && !c->after)) {
		free(c->field);
		free(c->before);
		free(c->after);
		return -1;
	}
	(*n)++;
	return 0;
}

static int add_change(struct plan_entry *e, const char *field, const char *before,
		      const char *after)
{
	return push_change(&e->changes, &e->n_changes, field, before, after);
}

/*
 * Whether an identity field Google owns differs from the directory: from Google's value when
 * known; in a targeted run only when the link holds a digest (what gwsync once wrote) that the
 * directory's value no longer matches, so an unknown is never reported as a difference.
 */
static bool kept_differs(const struct plan_user *u, const struct desired *d, enum field_id f)
{
	if (!d->want[f])
		return false;
	if (d->have[f])
		return strcmp(d->want[f], d->have[f]) != 0;
	return has_digest(u, f) && field_differs(u, d, f);
}

static int add_kept(struct plan_entry *e, const char *field, const char *before,
		    const char *after)
{
	return push_change(&e->kept, &e->n_kept, field, before, after);
}

/* Reason and message naming the differences left alone (identity_source google). */
static int note_kept(struct plan_entry *e)
{
	char msg[256];
	size_t len = (size_t)snprintf(msg, sizeof(msg),
				      "identity_source is google: left as Google holds it:");
	for (size_t i = 0; i < e->n_kept && len < sizeof(msg); i++)
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s %s", i ? "," : "",
					e->kept[i].field);
	free(e->reason);
	free(e->message);
	e->reason = strdup(KEPT_REASON);
	e->message = strdup(msg);
	return e->reason && e->message ? 0 : -1;
}

/* Google's array key of a field's body value, and whether entries of other types are kept. */
static const char *array_key(enum field_id f)
{
	switch (f) {
	case F_EXTERNAL_IDS: return "externalIds";
	case F_PHONES: return "phones";
	case F_ADDRESSES: return "addresses";
	case F_EMAILS: return "emails";
	case F_RELATIONS: return "relations";
	default: return NULL;
	}
}

/* Whether Google's entry e belongs to the part gwsync manages of field f. */
static bool entry_ours(const struct plan_settings *s, enum field_id f, struct json_object *e)
{
	const char *t = plan_jstr(e, "type");
	switch (f) {
	case F_EXTERNAL_IDS: return t && !strcmp(t, "organization");
	case F_PHONES: return plan_type_managed(t, s->export_mask, true);
	case F_ADDRESSES: return plan_type_managed(t, s->export_mask, false);
	case F_EMAILS: return t && !strcmp(t, "other") && !plan_jbool(e, "primary");
	case F_RELATIONS: return t && !strcmp(t, "manager");
	default: return false;
	}
}

/* The whole array to send for field f: Google's other entries unchanged, then ours. */
static struct json_object *rebuild_array(const struct plan_settings *s, enum field_id f,
					 struct json_object *g, struct json_object *ours)
{
	struct json_object *out = json_object_new_array();
	struct json_object *arr = plan_jarr(g, array_key(f));
	size_t n = arr ? json_object_array_length(arr) : 0;
	for (size_t i = 0; out && i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		if (!entry_ours(s, f, e))
			json_object_array_add(out, json_object_get(e));
	}
	n = ours ? json_object_array_length(ours) : 0;
	for (size_t i = 0; out && i < n; i++)
		json_object_array_add(out, json_object_get(json_object_array_get_idx(ours, i)));
	return out;
}

/* organizations to send: Google's entries with the primary one's managed keys set. */
static struct json_object *rebuild_orgs(const struct plan_settings *s, const struct plan_user *u,
					struct json_object *g)
{
	const char *vals[ORG_N] = {u->job_title, u->department, u->cost_center, u->employee_type};
	struct json_object *orgs = plan_jarr(g, "organizations");
	struct json_object *out = orgs ? json_object_new_array() : NULL;
	struct json_object *prim = plan_primary_org(g);
	size_t n = orgs ? json_object_array_length(orgs) : 0;
	struct json_object *target = NULL;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(orgs, i);
		if (e == prim) {
			target = json_object_new_object();
			json_object_object_foreach(e, k, v) json_object_object_add(target, k,
								     json_object_get(v));
			json_object_array_add(out, target);
		} else {
			json_object_array_add(out, json_object_get(e));
		}
	}
	if (!out)
		out = json_object_new_array();
	bool any = false;
	for (int i = 0; i < ORG_N; i++)
		any = any || ((s->export_mask & org_fields[i].bit) && vals[i][0]);
	if (!target) {
		if (!any)
			return out;
		target = json_object_new_object();
		json_object_object_add(target, "primary", json_object_new_boolean(1));
		json_object_array_add(out, target);
	}
	for (int i = 0; i < ORG_N; i++) {
		if (!(s->export_mask & org_fields[i].bit))
			continue;
		if (vals[i][0])
			json_object_object_add(target, org_fields[i].gkey,
					       json_object_new_string(vals[i]));
		else
			json_object_object_del(target, org_fields[i].gkey);
	}
	return out;
}

/* The Google resource's admin flags: super admin, delegated admin, the authorizing admin. */
static void admin_flags(const struct plan_settings *s, struct json_object *g, bool *super,
			bool *delegated, bool *authorizer)
{
	*super = plan_jbool(g, "isAdmin");
	*delegated = plan_jbool(g, "isDelegatedAdmin");
	*authorizer = false;
	if (!s->admin_email || !s->admin_email[0] || !g)
		return;
	const char *pe = plan_jstr(g, "primaryEmail");
	*authorizer = pe && !strcasecmp(pe, s->admin_email);
	struct json_object *al = plan_jarr(g, "aliases");
	size_t n = al ? json_object_array_length(al) : 0;
	for (size_t i = 0; i < n && !*authorizer; i++)
		*authorizer = !strcasecmp(json_object_get_string(json_object_array_get_idx(al, i)),
					  s->admin_email);
}

static int set_reason(struct plan_entry *e, enum plan_op op, const char *reason,
		      const char *message)
{
	e->op = op;
	free(e->reason);
	free(e->message);
	e->reason = xstrdup(reason);
	e->message = xstrdup(message);
	return (reason && !e->reason) || (message && !e->message) ? -1 : 0;
}

/* Google suspended g itself (suspensionReason not ADMIN): only an admin may lift it. */
static bool google_suspended_itself(struct json_object *g)
{
	const char *why = plan_jstr(g, "suspensionReason");
	return g && plan_jbool(g, "suspended") && why && why[0] && strcmp(why, "ADMIN") != 0;
}

/*
 * The write for a user whose Google resource is g (NULL in a targeted run where nothing needs
 * it): fills changes, body and hashes; for_create builds an insert body instead; a takeover
 * leaves Google's own suspension in place.
 */
static int plan_write(const struct plan_settings *s, const struct plan_user *u,
		      struct json_object *g, bool for_create, bool takeover, struct plan_entry *e)
{
	struct desired d;
	if (desired_compute(s, u, for_create ? NULL : g, &d))
		goto oom;
	e->body = json_object_new_object();
	e->hashes = json_object_new_object();
	if (!e->body || !e->hashes)
		goto oom;
	bool super = false, delegated = false, authorizer = false;
	if (g && !for_create)
		admin_flags(s, g, &super, &delegated, &authorizer);
	bool name_done = false, orgs_done = false;
	for (int fi = 0; fi < F_N; fi++) {
		enum field_id f = (enum field_id)fi;
		if (!d.want[f])
			continue;
		if (s->identity_google && !for_create && identity_field(f)) {
			/* Google owns it: never written, never recorded as written. */
			if (kept_differs(u, &d, f) && add_kept(e, field_names[f], d.have[f], d.want[f]))
				goto oom;
			continue;
		}
		char dg[65];
		if (!digest_of(d.want[f], dg))
			goto oom;
		json_object_object_add(e->hashes, field_names[f], json_object_new_string(dg));
		if (!for_create && !field_differs(u, &d, f))
			continue;
		if (for_create && (f == F_SUSPENDED || (field_is_array(f) && !strcmp(d.want[f], "[]")) ||
				   (f >= F_ORG_TITLE && f <= F_ORG_DESCRIPTION &&
				    !strcmp(d.want[f], "\"\""))))
			continue;
		if (f == F_SUSPENDED && d.suspend_want && (super || authorizer)) {
			json_object_object_del(e->hashes, field_names[f]);
			continue; /* protected: never suspended */
		}
		if (f == F_SUSPENDED && !d.suspend_want && takeover && google_suspended_itself(g)) {
			json_object_object_del(e->hashes, field_names[f]);
			continue; /* a takeover never lifts Google's own suspension */
		}
		if (!for_create && add_change(e, field_names[f], d.have[f], d.want[f]))
			goto oom;
		switch (f) {
		case F_PRIMARY:
			json_object_object_add(e->body, "primaryEmail", json_object_new_string(d.primary));
			break;
		case F_GIVEN:
		case F_FAMILY:
			if (!name_done) {
				struct json_object *nm = json_object_new_object();
				json_object_object_add(nm, "givenName",
						       json_object_new_string(u->first_name));
				json_object_object_add(nm, "familyName",
						       json_object_new_string(u->last_name));
				json_object_object_add(e->body, "name", nm);
				name_done = true;
			}
			break;
		case F_ORG_TITLE:
		case F_ORG_DEPARTMENT:
		case F_ORG_COST_CENTER:
		case F_ORG_DESCRIPTION:
			if (!orgs_done) {
				json_object_object_add(e->body, "organizations",
						       rebuild_orgs(s, u, for_create ? NULL : g));
				orgs_done = true;
			}
			break;
		case F_SUSPENDED:
			json_object_object_add(e->body, "suspended",
					       json_object_new_boolean(d.suspend_want));
			break;
		default:
			json_object_object_add(e->body, array_key(f),
					       rebuild_array(s, f, for_create ? NULL : g, d.ours[f]));
			break;
		}
	}
	if (for_create) {
		e->send_password = u->password_digest[0] != 0;
		e->random_password = !e->send_password;
		if (e->random_password)
			json_object_object_add(e->body, "changePasswordAtNextLogin",
					       json_object_new_boolean(1));
	} else if (password_due(s, u) && u->exists && u->in_scope) {
		if (super || authorizer) {
			/* protected: never given a new password */
		} else {
			e->send_password = true;
			if (!strcmp(u->link_password_digest, "random")) {
				e->clear_change_at_login = true;
				json_object_object_add(e->body, "changePasswordAtNextLogin",
						       json_object_new_boolean(0));
			}
			if (add_change(e, "password", NULL, NULL))
				goto oom;
		}
	}
	(void)delegated;
	desired_free(&d);
	if (e->n_kept && note_kept(e))
		return -1;
	return 0;
oom:
	desired_free(&d);
	return -1;
}

/* op of a write to a linked user, from what it changes. */
static enum plan_op classify(const struct plan_entry *e)
{
	bool rename = false, pw = false;
	int suspend = -1, other = 0;
	for (size_t i = 0; i < e->n_changes; i++) {
		const char *f = e->changes[i].field;
		if (!strcmp(f, "primaryEmail"))
			rename = true;
		else if (!strcmp(f, "suspended"))
			suspend = !strcmp(e->changes[i].after, "true");
		else if (!strcmp(f, "password"))
			pw = true;
		else
			other++;
	}
	if (rename)
		return PLAN_RENAME;
	if (suspend == 1)
		return PLAN_SUSPEND;
	if (suspend == 0)
		return PLAN_UNSUSPEND;
	if (pw && !other)
		return PLAN_SET_PASSWORD;
	return e->n_changes ? PLAN_UPDATE : PLAN_NONE;
}

/* Whether e writes suspended: false (whatever its op: a rename can carry it). */
static bool lifts_suspension(const struct plan_entry *e)
{
	for (size_t i = 0; i < e->n_changes; i++)
		if (!strcmp(e->changes[i].field, "suspended") && e->changes[i].after &&
		    !strcmp(e->changes[i].after, "false"))
			return true;
	return false;
}

/* Google's name rules; returns 1 when e was set to a failure. */
static int check_names(const struct plan_user *u, struct plan_entry *e, int *rc)
{
	char msg[160];
	const char *p;
	*rc = 0;
	if ((p = name_problem(u->first_name))) {
		snprintf(msg, sizeof(msg), "first name %s", p);
		*rc = set_reason(e, PLAN_FAIL, "invalid_name", msg);
		return 1;
	}
	if ((p = name_problem(u->last_name))) {
		snprintf(msg, sizeof(msg), "last name %s", p);
		*rc = set_reason(e, PLAN_FAIL, "invalid_name", msg);
		return 1;
	}
	return 0;
}

/*
 * Google's rules for what would be written (names only when names); returns 1 when e was set to a
 * failure or skip.
 */
static int check_rules(const struct plan_settings *s, const struct plan_user *u,
		       struct plan_entry *e, bool names, int *rc)
{
	char primary[320];
	const char *reason, *p;
	*rc = 0;
	if (!plan_primary_email(s, u->email, primary, sizeof(primary), &reason)) {
		bool unverified = !strcmp(reason, "domain_not_verified");
		*rc = set_reason(e, strcmp(reason, "invalid_email") ? PLAN_SKIP : PLAN_FAIL, reason,
				 !strcmp(reason, "invalid_email") ? "the email is not an address"
				 : !unverified ? "the email's domain is not allowed and no default domain is set"
				 : !u->google_id[0] || !strcmp(u->link_status, "released")
					 ? "the email's domain is configured but Google has not verified it, and "
					   "no default domain is set"
					 : "the email's domain is configured but Google no longer verifies it: the "
					   "Google user stays linked, nothing is written to it meanwhile");
		return 1;
	}
	if ((p = username_problem(primary))) {
		*rc = set_reason(e, PLAN_FAIL, "invalid_username", p);
		return 1;
	}
	if (names && check_names(u, e, rc))
		return 1;
	e->primary_email = strdup(primary);
	*rc = e->primary_email ? 0 : -1;
	return *rc ? 1 : 0;
}

static bool is_protected_delegated(const struct plan_settings *s, struct json_object *g)
{
	return s->delegated_admin && g && (plan_jbool(g, "isAdmin") || plan_jbool(g, "isDelegatedAdmin"));
}

/* Provisioning of an unlinked (or deleted-and-recreated) user. */
static int plan_create(const struct plan_settings *s, const struct plan_user *u,
		       struct plan_entry *e)
{
	bool managed;
	if (!strcmp(u->state, "staged"))
		return set_reason(e, PLAN_SKIP, "staged", "staged users are provisioned when activated");
	if (strcmp(u->state, "active") != 0 || (want_suspended(s, u, &managed) && managed))
		return set_reason(e, PLAN_SKIP, "not_active",
				  "only active users are provisioned");
	if (!u->password_digest[0] && !s->provision_without_password)
		return set_reason(e, PLAN_SKIP, "awaiting_password",
				  "provisioned once a password arrives");
	int rc;
	if (s->identity_google && check_names(u, e, &rc))
		return rc; /* not checked before: a takeover writes no names then */
	if (plan_write(s, u, NULL, true, false, e))
		return -1;
	e->op = PLAN_CREATE;
	return 0;
}

static int plan_one(const struct plan_settings *s, const struct plan_user *u, size_t idx,
		    struct plan_entry *e)
{
	int rc;
	e->user = idx;
	e->op = PLAN_NONE;
	bool linked = u->google_id[0] && strcmp(u->link_status, "released") != 0;
	bool wanted = u->exists && u->in_scope;
	if (linked) {
		if (!(e->google_id = strdup(u->google_id)))
			return -1;
		if (u->g_state == PLAN_G_DELETED || u->g_state == PLAN_G_NOT_FOUND) {
			if (s->recreate_deleted && wanted) {
				if (check_rules(s, u, e, true, &rc))
					return rc;
				free(e->google_id);
				e->google_id = NULL;
				return plan_create(s, u, e);
			}
			if (!strcmp(u->link_status, "deleted_in_google"))
				return 0;
			return set_reason(e, PLAN_DELETED_IN_GOOGLE, "deleted_in_google",
					  u->g_state == PLAN_G_DELETED
						  ? "Google answers 412 User is deleted. (restorable for a while)"
						  : "Google answers 404: the linked Google user no longer exists");
		}
		struct json_object *g = u->g_state == PLAN_G_FOUND ? u->g : NULL;
		if (!g && (s->full || !strcmp(u->link_status, "deleted_in_google")))
			return 0; /* nothing known to compare with */
		if (wanted && s->identity_google) {
			/* Google's address stays; the link keeps recording it. */
			const char *pe = g ? plan_jstr(g, "primaryEmail") : u->link_primary_email;
			if (pe && pe[0] && !(e->primary_email = strdup(pe)))
				return -1;
			if (e->primary_email)
				lower(e->primary_email);
		} else if (wanted && check_rules(s, u, e, true, &rc)) {
			return rc;
		}
		if (is_protected_delegated(s, g))
			return set_reason(e, PLAN_SKIP, "protected_admin",
					  "an admin user; the integration's admin may not change it");
		if (plan_write(s, u, g, false, false, e))
			return -1;
		e->op = classify(e);
		e->guarded = e->op == PLAN_SUSPEND;
		if (e->op == PLAN_RENAME && u->primary_taken) {
			drop_write(e);
			return set_reason(e, PLAN_CONFLICT, "address_in_use",
					  "the new address belongs to another Google user, alias or group");
		}
		bool super, delegated, authorizer;
		admin_flags(s, g, &super, &delegated, &authorizer);
		if (e->op == PLAN_NONE && g && (super || authorizer) && !plan_jbool(g, "suspended") &&
		    !s->identity_google) {
			bool managed;
			if (want_suspended(s, u, &managed) && managed)
				return set_reason(e, PLAN_SKIP, "protected_admin",
						  "super admins and the authorizing admin are never suspended");
		}
		if (lifts_suspension(e) && google_suspended_itself(g)) {
			drop_write(e);
			return set_reason(e, PLAN_FAIL, "adminCannotUnsuspend",
					  "Google suspended this user itself; an admin must lift it");
		}
		return 0;
	}
	if (!wanted)
		return 0;
	if (check_rules(s, u, e, !s->identity_google, &rc))
		return rc;
	struct json_object *mg = NULL;
	for (int i = 0; i < 2; i++) {
		if (u->m_state[i] != PLAN_G_FOUND || !u->m[i])
			continue;
		if (mg && strcmp(plan_jstr(mg, "id") ? plan_jstr(mg, "id") : "",
				 plan_jstr(u->m[i], "id") ? plan_jstr(u->m[i], "id") : "") != 0)
			return set_reason(e, PLAN_CONFLICT, "ambiguous_match",
					  "the email and its rewritten address match different Google users");
		mg = u->m[i];
	}
	if (!mg)
		return plan_create(s, u, e);
	const char *gid = plan_jstr(mg, "id");
	if (!gid || !(e->google_id = strdup(gid)))
		return -1;
	if (u->g_linked_elsewhere)
		return set_reason(e, PLAN_CONFLICT, "linked_to_another_user",
				  "the matching Google user is linked to another directory user");
	if (is_protected_delegated(s, mg))
		return set_reason(e, PLAN_SKIP, "protected_admin",
				  "an admin user; the integration's admin may not change it");
	if (s->identity_google) {
		/* No rename: the link records Google's address. */
		const char *pe = plan_jstr(mg, "primaryEmail");
		if (pe && pe[0]) {
			free(e->primary_email);
			if (!(e->primary_email = strdup(pe)))
				return -1;
			lower(e->primary_email);
		}
	}
	if (plan_write(s, u, mg, false, true, e))
		return -1;
	/* A takeover never lifts Google's own suspension (suspensionReason not ADMIN). */
	e->op = PLAN_LINK;
	return 0;
}

/* ------------------------------------------------------------------ the whole plan */

struct keyed {
	const char *key;
	size_t entry;
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->entry > y->entry) - (x->entry < y->entry);
}

static bool writes_user(enum plan_op op)
{
	return op == PLAN_LINK || op == PLAN_CREATE || op == PLAN_RENAME || op == PLAN_SUSPEND ||
	       op == PLAN_UNSUSPEND || op == PLAN_UPDATE || op == PLAN_SET_PASSWORD ||
	       op == PLAN_NONE;
}

static void changes_free(struct plan_change **v, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		free((*v)[i].field);
		free((*v)[i].before);
		free((*v)[i].after);
	}
	free(*v);
	*v = NULL;
	*n = 0;
}

/* Forgets the write an entry had planned (it became a skip, failure or conflict). */
static void drop_write(struct plan_entry *e)
{
	if (e->body)
		json_object_put(e->body);
	if (e->hashes)
		json_object_put(e->hashes);
	e->body = e->hashes = NULL;
	changes_free(&e->changes, &e->n_changes);
	changes_free(&e->kept, &e->n_kept);
	e->send_password = e->random_password = e->clear_change_at_login = e->guarded = false;
}

/*
 * Marks every entry whose key occurs more than once (among entries that want it, and the settled
 * entries of earlier chunks: in_settled) a conflict, except owner (when given): the user already
 * linked under that address keeps it, so a newcomer never breaks an account that works.
 */
static int conflict_duplicates(struct plan *p, const struct plan_user *users, struct keyed *k,
			       size_t nk, bool by_primary, const struct plan_keyset *in_settled,
			       const char *reason, const char *message)
{
	if (nk > 1)
		qsort(k, nk, sizeof(*k), cmp_keyed);
	for (size_t i = 0; i < nk;) {
		size_t j = i + 1;
		while (j < nk && !strcmp(k[i].key, k[j].key))
			j++;
		bool dup = j - i > 1 || plan_keyset_has(in_settled, k[i].key);
		for (size_t m = i; dup && m < j; m++) {
			struct plan_entry *e = &p->entries[k[m].entry];
			const struct plan_user *u = &users[e->user];
			if (by_primary && u->google_id[0] && strcmp(u->link_status, "released") &&
			    !strcasecmp(u->link_primary_email, k[m].key))
				continue;
			drop_write(e);
			if (set_reason(e, PLAN_CONFLICT, reason, message))
				return -1;
		}
		i = j;
	}
	return 0;
}

/*
 * A takeover of a Google user another directory user is linked to: that conflict whatever else
 * the entry meets, so it is decided before the address checks. Made after them, a takeover that
 * also shared its address with another entry was named duplicate_primary_email, and whether it
 * did depended on which entries the run saw: a targeted run's context entry knows only the Google
 * users the run read and may want an address a full reconcile's entry for the same user does not.
 */
static int conflict_taken_over(const struct plan_user *users, struct plan *p,
			       const struct plan_settled *settled)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < p->n; i++) {
		struct plan_entry *e = &p->entries[i];
		if (e->op != PLAN_LINK)
			continue;
		bool taken = settled && plan_keyset_has(&settled->linked, e->google_id);
		for (size_t j = 0; !taken && j < p->n; j++) {
			const struct plan_user *o = &users[p->entries[j].user];
			taken = j != i && o->google_id[0] && strcmp(o->link_status, "released") &&
				!strcmp(o->google_id, e->google_id);
		}
		if (taken) {
			drop_write(e);
			rc = set_reason(e, PLAN_CONFLICT, "linked_to_another_user",
					"the matching Google user is linked to another directory user");
		}
	}
	return rc;
}

static int cross_checks(const struct plan_settings *s, const struct plan_user *users,
			struct plan *p, const struct plan_settled *settled)
{
	(void)s;
	if (conflict_taken_over(users, p, settled))
		return -1;
	struct keyed *k = calloc(p->n ? p->n : 1, sizeof(*k));
	if (!k)
		return -1;
	size_t nk = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct plan_entry *e = &p->entries[i];
		if (writes_user(e->op) && e->primary_email)
			k[nk++] = (struct keyed){e->primary_email, i};
	}
	int rc = conflict_duplicates(p, users, k, nk, true, settled ? &settled->primary : NULL,
				     "duplicate_primary_email",
				     "another directory user wants the same Google address");
	nk = 0;
	for (size_t i = 0; !rc && i < p->n; i++) {
		struct plan_entry *e = &p->entries[i];
		if (e->op == PLAN_LINK && e->google_id)
			k[nk++] = (struct keyed){e->google_id, i};
	}
	if (!rc)
		rc = conflict_duplicates(p, users, k, nk, false, NULL, "several_directory_users",
					 "several directory users match this Google user");
	free(k);
	return rc;
}

static int op_rank(enum plan_op op)
{
	switch (op) {
	case PLAN_RENAME: return 0;
	case PLAN_UPDATE:
	case PLAN_UNSUSPEND:
	case PLAN_SET_PASSWORD: return 1;
	case PLAN_LINK: return 2;
	case PLAN_CREATE: return 3;
	case PLAN_SUSPEND: return 4;
	default: return 5;
	}
}

static int cmp_entry(const void *a, const void *b)
{
	const struct plan_entry *x = a, *y = b;
	int rx = op_rank(x->op), ry = op_rank(y->op);
	if (rx != ry)
		return rx - ry;
	return (x->user > y->user) - (x->user < y->user);
}

static void entry_free(struct plan_entry *e)
{
	drop_write(e);
	free(e->reason);
	free(e->message);
	free(e->google_id);
	free(e->primary_email);
}

void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		entry_free(&p->entries[i]);
	free(p->entries);
	memset(p, 0, sizeof(*p));
}

int plan_users_chunk(const struct plan_settings *s, const struct plan_user *users, size_t n,
		     struct plan *p)
{
	memset(p, 0, sizeof(*p));
	p->entries = calloc(n ? n : 1, sizeof(*p->entries));
	if (!p->entries)
		return -1;
	p->n = n;
	for (size_t i = 0; i < n; i++) {
		if (plan_one(s, &users[i], i, &p->entries[i])) {
			plan_free(p);
			return -1;
		}
	}
	return 0;
}

int plan_users_finish(const struct plan_settings *s, const struct plan_user *users,
		      struct plan *p, const struct plan_settled *settled)
{
	if (cross_checks(s, users, p, settled)) {
		plan_free(p);
		return -1;
	}
	/* Context entries served the checks only: they are never planned or applied. */
	size_t kept = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (users[p->entries[i].user].context)
			entry_free(&p->entries[i]);
		else
			p->entries[kept++] = p->entries[i];
	}
	p->n = kept;
	if (p->n > 1) /* entries may be NULL when nothing is left to plan */
		qsort(p->entries, p->n, sizeof(*p->entries), cmp_entry);
	memset(p->counts, 0, sizeof(p->counts));
	for (size_t i = 0; i < p->n; i++)
		p->counts[p->entries[i].op]++;
	return 0;
}

int plan_users_run(const struct plan_settings *s, const struct plan_user *users, size_t n,
		   struct plan *p)
{
	if (plan_users_chunk(s, users, n, p))
		return -1;
	return plan_users_finish(s, users, p, NULL);
}

bool plan_entry_settled(const struct plan_user *u, const struct plan_entry *e)
{
	/*
	 * The cross-user checks change only entries that want a primaryEmail someone else wants
	 * (but never its linked owner's) and takeovers: an unchanged entry is final when it wants
	 * no address, or when its user is linked under that very address.
	 */
	if (e->op != PLAN_NONE || u->context)
		return false;
	/* a difference left alone (identity_source google) is reported on the user's item */
	if (e->n_kept)
		return false;
	if (!e->primary_email)
		return true;
	return u->google_id[0] && strcmp(u->link_status, "released") &&
	       !strcasecmp(u->link_primary_email, e->primary_email);
}

int plan_settled_add(struct plan_settled *st, const struct plan_user *u, const struct plan_entry *e)
{
	if (e->primary_email && plan_keyset_add(&st->primary, e->primary_email))
		return -1;
	if (u->google_id[0] && strcmp(u->link_status, "released") &&
	    plan_keyset_add(&st->linked, u->google_id))
		return -1;
	st->n++;
	return 0;
}

/* ------------------------------------------------------------------ compact key sets */

int plan_keyset_add(struct plan_keyset *ks, const char *key)
{
	size_t l = strlen(key) + 1;
	if (ks->len + l > ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 4096;
		while (cap < ks->len + l)
			cap *= 2;
		char *na = realloc(ks->arena, cap);
		if (!na)
			return -1;
		ks->arena = na;
		ks->cap = cap;
	}
	if (ks->n == ks->cap_off) {
		size_t c = ks->cap_off ? ks->cap_off * 2 : 1024;
		size_t *no = realloc(ks->off, c * sizeof(*no));
		if (!no)
			return -1;
		ks->off = no;
		ks->cap_off = c;
	}
	memcpy(ks->arena + ks->len, key, l);
	ks->off[ks->n++] = ks->len;
	ks->len += l;
	ks->sorted = false;
	return 0;
}

/* qsort takes no context: each element carries its arena (no global state). */
struct keyref {
	const char *arena;
	size_t off;
};

static int cmp_keyref(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	return strcmp(x->arena + x->off, y->arena + y->off);
}

int plan_keyset_seal(struct plan_keyset *ks)
{
	if (ks->sorted || ks->n < 2) {
		ks->sorted = true;
		return 0;
	}
	struct keyref *r = malloc(ks->n * sizeof(*r));
	if (!r)
		return -1;
	for (size_t i = 0; i < ks->n; i++)
		r[i] = (struct keyref){ks->arena, ks->off[i]};
	if (ks->n > 1)
		qsort(r, ks->n, sizeof(*r), cmp_keyref);
	for (size_t i = 0; i < ks->n; i++)
		ks->off[i] = r[i].off;
	free(r);
	ks->sorted = true;
	return 0;
}

bool plan_keyset_has(const struct plan_keyset *ks, const char *key)
{
	if (!ks || !key || !ks->n)
		return false;
	size_t lo = 0, hi = ks->n;
	if (!ks->sorted) { /* not sealed: a linear look (only ever small) */
		for (size_t i = 0; i < ks->n; i++)
			if (!strcmp(ks->arena + ks->off[i], key))
				return true;
		return false;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(ks->arena + ks->off[mid], key);
		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

void plan_keyset_free(struct plan_keyset *ks)
{
	free(ks->arena);
	free(ks->off);
	memset(ks, 0, sizeof(*ks));
}

void plan_settled_free(struct plan_settled *st)
{
	plan_keyset_free(&st->primary);
	plan_keyset_free(&st->linked);
	st->n = 0;
}

void plan_entry_release(struct plan_entry *e)
{
	entry_free(e);
	memset(e, 0, sizeof(*e));
}

/* {field, before, after} of c (password: {field, changed}), with left_alone when given. */
static struct json_object *change_json(const struct plan_change *c, const char *left_alone)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "field", json_object_new_string(c->field));
	if (!left_alone && !strcmp(c->field, "password")) {
		json_object_object_add(o, "changed", json_object_new_boolean(1));
		return o;
	}
	json_object_object_add(o, "before", c->before ? json_tokener_parse(c->before) : NULL);
	json_object_object_add(o, "after", c->after ? json_tokener_parse(c->after) : NULL);
	if (left_alone)
		json_object_object_add(o, "left_alone", json_object_new_string(left_alone));
	return o;
}

char *plan_changes_json(const struct plan_entry *e)
{
	struct json_object *arr = json_object_new_array();
	if (!arr)
		return NULL;
	for (size_t i = 0; i < e->n_changes; i++)
		json_object_array_add(arr, change_json(&e->changes[i], NULL));
	for (size_t i = 0; i < e->n_kept; i++)
		json_object_array_add(arr, change_json(&e->kept[i], KEPT_REASON));
	char *t = obj_text(arr);
	json_object_put(arr);
	return t;
}

int plan_entry_skip(struct plan_entry *e, const char *reason, const char *message)
{
	drop_write(e);
	return set_reason(e, PLAN_SKIP, reason, message);
}

bool plan_entry_claims_address(const struct plan_entry *e)
{
	return (e->op == PLAN_CREATE || e->op == PLAN_RENAME) && e->primary_email &&
	       e->primary_email[0];
}

int plan_entry_group_holds(struct plan_entry *e)
{
	if (!plan_entry_claims_address(e))
		return 0;
	bool create = e->op == PLAN_CREATE;
	drop_write(e);
	return set_reason(e, PLAN_CONFLICT, "address_in_use",
			  create ? "the address belongs to a Google group (its email or an alias)"
				 : "the new address belongs to a Google group (its email or an alias)");
}

const char *plan_google_fields(unsigned export_mask, char *buf, size_t cap)
{
	static const struct {
		unsigned bits;
		const char *field;
	} arrays[] = {
		{PLAN_ATTR_ALTERNATE_EMAIL, ",emails"}, {PLAN_PHONE_BITS, ",phones"},
		{PLAN_ADDRESS_BITS, ",addresses"},		{ORG_BITS, ",organizations"},
		{PLAN_ATTR_EMPLOYEE_ID, ",externalIds"}, {PLAN_ATTR_MANAGER, ",relations"},
	};
	size_t len = 0;
	if (cap)
		buf[0] = 0;
	for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++) {
		size_t l = strlen(arrays[i].field);
		if ((export_mask & arrays[i].bits) && len + l < cap) {
			memcpy(buf + len, arrays[i].field, l + 1);
			len += l;
		}
	}
	return buf;
}
