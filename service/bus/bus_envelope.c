/* Envelopes: the jobs message and directory events (CloudEvents 1.0, structured JSON). */
#include <ctype.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "utf8.h"
#include "validate.h"

#define EVENT_MAX_BYTES (256 * 1024)
#define EVENT_MAX_DEPTH 16

/*
 * A fault of the raw text at pointer: named like the other data faults ("first_name ...",
 * "addresses/0/locality ..."), invalid_data inside "data", else the message is malformed.
 */
static json_object *text_fault(const char *pointer, const char *rule, struct err *e)
{
	bool in_data = strncmp(pointer, "/data/", 6) == 0;
	const char *name = in_data ? pointer + 6 : pointer[0] ? pointer + 1 : "the message";
	err_set(e, E_INVAL, "%s %s", name, rule);
	snprintf(e->reason, sizeof(e->reason), "%s", in_data ? "invalid_data" : "malformed_json");
	return NULL;
}

static json_object *parse_object(const char *payload, size_t len, struct err *e)
{
	if (len > EVENT_MAX_BYTES) {
		err_set(e, E_INVAL, "message of %zu bytes is larger than %d", len, EVENT_MAX_BYTES);
		snprintf(e->reason, sizeof(e->reason), "malformed_json");
		return NULL;
	}
	/*
	 * Refused, not repaired or guessed at: json-c would store a lone surrogate as U+FFFD and keep
	 * the last of two members with the same name (REST refuses both too).
	 */
	char bad[128];
	size_t bad_at;
	enum json_text_fault fault = json_text_check(payload, len, bad, sizeof(bad), &bad_at);
	if (fault == JSON_TEXT_NOMEM) {
		err_set(e, E_NOMEM, "json text check");
		return NULL;
	}
	if (fault == JSON_TEXT_BAD_UNICODE)
		return text_fault(bad, JSON_TEXT_UNICODE_RULE, e);
	json_tokener *tok = json_tokener_new_ex(EVENT_MAX_DEPTH);
	if (!tok) {
		err_set(e, E_NOMEM, "json tokener");
		return NULL;
	}
	json_object *jo = json_tokener_parse_ex(tok, payload, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!jo || jerr != json_tokener_success || used != len ||
	    !json_object_is_type(jo, json_type_object)) {
		json_object_put(jo);
		err_set(e, E_INVAL, "not a JSON object%s%s", jerr ? ": " : "",
			jerr ? json_tokener_error_desc(jerr) : "");
		snprintf(e->reason, sizeof(e->reason), "malformed_json");
		return NULL;
	}
	if (fault == JSON_TEXT_DUPLICATE_NAME) {
		json_object_put(jo);
		return text_fault(bad, JSON_TEXT_DUPLICATE_RULE, e);
	}
	return jo;
}

static bool is_uuid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

int bus_job_message_parse(const char *payload, size_t len, char job_id[BUS_ID_MAX + 1],
			  struct err *e)
{
	struct err local;
	if (!e)
		e = &local;
	json_object *jo = parse_object(payload, len, e);
	if (!jo)
		return E_INVAL;
	json_object *v = NULL;
	const char *id = json_object_object_get_ex(jo, "job_id", &v) &&
					 json_object_is_type(v, json_type_string)
				 ? json_object_get_string(v)
				 : NULL;
	int rc = E_OK;
	if (!is_uuid(id))
		rc = err_set(e, E_INVAL, "the message names no job");
	else
		memcpy(job_id, id, BUS_ID_MAX + 1);
	json_object_put(jo);
	return rc;
}

void bus_dir_event_cleanup(struct bus_dir_event *ev)
{
	char **fields[] = {&ev->id,		&ev->source,	   &ev->type,
			   &ev->tenant,		&ev->subject,	   &ev->time,
			   &ev->user_id,	&ev->email,	   &ev->first_name,
			   &ev->last_name,	&ev->state,	   &ev->alternate_email,
			   &ev->manager_id,	&ev->cost_center,  &ev->department,
			   &ev->employee_type,	&ev->job_title,	   &ev->employee_id,
			   &ev->company,	&ev->location,	   &ev->addresses_json,
			   &ev->phones_json,	&ev->group_id,	   &ev->group_name,
			   &ev->group_description, &ev->group_email, &ev->integration_id};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		free(*fields[i]);
		*fields[i] = NULL;
	}
}

static int bad(struct err *e, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct err *e, const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = err_vset_reason(e, E_INVAL, reason, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Copies string member key of obj into *dst (cut at max bytes is an error). Absent or null:
 * *dst stays NULL, and required makes it an error.
 */
static int take(json_object *obj, const char *key, size_t max, bool required, char **dst,
		const char *where, struct err *e)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || !v) {
		if (required)
			return bad(e, where[0] == 'd' ? "invalid_data" : "not_a_cloudevent",
				   "%s is required", key);
		return E_OK;
	}
	if (!json_object_is_type(v, json_type_string))
		return bad(e, where[0] == 'd' ? "invalid_data" : "not_a_cloudevent",
			   "%s must be a string", key);
	size_t n = (size_t)json_object_get_string_len(v);
	const char *s = json_object_get_string(v);
	if (n > max || strlen(s) != n)
		return bad(e, "invalid_data", "%s is too long or holds NUL", key);
	if (required && n == 0)
		return bad(e, where[0] == 'd' ? "invalid_data" : "not_a_cloudevent",
			   "%s must not be empty", key);
	*dst = strdup(s);
	return *dst ? E_OK : err_set(e, E_NOMEM, "event");
}

/*
 * Checks a user's addresses or phones as the REST API does: at most max objects whose members
 * pass member_rule (validate_address_member, validate_phone_member); required names members
 * every item must have. An empty optional text is dropped there, so it is skipped here.
 */
static int check_items(json_object *v, const char *key, size_t max,
		       const char *(*member_rule)(const char *, const char *),
		       const char *const *required, struct err *e)
{
	size_t n = json_object_array_length(v);
	if (n > max)
		return bad(e, "invalid_data", "%s must have at most %zu items", key, max);
	for (size_t i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(v, i);
		if (!json_object_is_type(item, json_type_object))
			return bad(e, "invalid_data", "%s/%zu must be an object", key, i);
		for (const char *const *r = required; *r; r++) {
			json_object *m = NULL;
			if (!json_object_object_get_ex(item, *r, &m) || !m)
				return bad(e, "invalid_data", "%s/%zu/%s is required", key, i, *r);
		}
		json_object_object_foreach(item, name, val)
		{
			if (!val)
				continue;
			if (!json_object_is_type(val, json_type_string))
				return bad(e, "invalid_data", "%s/%zu/%s must be a string", key, i,
					   name);
			const char *s = json_object_get_string(val);
			bool optional = true;
			for (const char *const *r = required; *r; r++)
				optional &= strcmp(*r, name) != 0;
			const char *why = *s || !optional ? member_rule(name, s) : NULL;
			if (why)
				return bad(e, "invalid_data", "%s/%zu/%s %s", key, i, name, why);
		}
	}
	return E_OK;
}

static int take_array(json_object *obj, const char *key, char **dst, struct err *e)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return E_OK;
	if (!json_object_is_type(v, json_type_array))
		return bad(e, "invalid_data", "%s must be an array", key);
	static const char *const address_required[] = {"type", NULL};
	static const char *const phone_required[] = {"type", "value", NULL};
	int rc = strcmp(key, "addresses") == 0
			 ? check_items(v, key, VALIDATE_ADDRESSES_MAX, validate_address_member,
				       address_required, e)
			 : check_items(v, key, VALIDATE_PHONES_MAX, validate_phone_member,
				       phone_required, e);
	if (rc)
		return rc;
	*dst = strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	return *dst ? E_OK : err_set(e, E_NOMEM, "event");
}

/* Passwords travel only over REST: an event that carries one anywhere is refused whole. */
static bool has_password(json_object *jo, int depth)
{
	if (depth > EVENT_MAX_DEPTH)
		return false;
	if (json_object_is_type(jo, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(jo); i++) {
			if (has_password(json_object_array_get_idx(jo, i), depth + 1))
				return true;
		}
		return false;
	}
	if (!json_object_is_type(jo, json_type_object))
		return false;
	json_object_object_foreach(jo, key, val)
	{
		if (strcasestr(key, "password") && strcmp(key, "password_expired_at") != 0)
			return true;
		if (has_password(val, depth + 1))
			return true;
	}
	return false;
}

static const char *const event_types[] = {
	"user.created",	     "user.updated",	    "user.deleted",	    "user.state_changed",
	"user.locked",	     "user.password_expired", "user.bound",	    "user.unbound",
	"group.created",     "group.updated",	    "group.deleted",	    "group.member_added",
	"group.member_removed", "group.bound",	    "group.unbound",	    NULL,
};

/* Bytes of a text field: its characters (service/core/validate.h) of up to 4 bytes each. */
#define TEXT_BYTES(what) (VALIDATE_DIRECTORY_##what##_MAX * 4)
#define ID_RULE "must be 1 to 128 characters of A-Z a-z 0-9 . _ : -"

/*
 * The data of an event, checked field by field with the rules the REST API applies
 * (validate_user_field, validate_group_field): the replica takes the same users and groups on
 * both paths, and an event it refuses is dead-lettered with the rule it broke.
 */
static int decode_data(json_object *data, struct bus_dir_event *ev, struct err *e)
{
	const char *t = ev->type;
	const char *d = "data";
	int rc;
	if (strncmp(t, "user.", 5) == 0) {
		if ((rc = take(data, "id", 128, true, &ev->user_id, d, e)))
			return rc;
		if (!validate_directory_id(ev->user_id))
			return bad(e, "invalid_data", "id %s", ID_RULE);
		if (!strcmp(t, "user.created") || !strcmp(t, "user.updated")) {
			struct {
				const char *key;
				size_t max;
				bool req;
				char **dst;
			} f[] = {
				{"email", VALIDATE_EMAIL_MAX, true, &ev->email},
				{"first_name", TEXT_BYTES(NAME), false, &ev->first_name},
				{"last_name", TEXT_BYTES(NAME), false, &ev->last_name},
				{"state", 16, true, &ev->state},
				{"alternate_email", VALIDATE_EMAIL_MAX, false, &ev->alternate_email},
				{"manager_id", VALIDATE_DIRECTORY_ID_MAX, false, &ev->manager_id},
				{"cost_center", TEXT_BYTES(ATTR), false, &ev->cost_center},
				{"department", TEXT_BYTES(ATTR), false, &ev->department},
				{"employee_type", TEXT_BYTES(ATTR), false, &ev->employee_type},
				{"job_title", TEXT_BYTES(ATTR), false, &ev->job_title},
				{"employee_id", TEXT_BYTES(ATTR), false, &ev->employee_id},
				{"company", TEXT_BYTES(ATTR), false, &ev->company},
				{"location", TEXT_BYTES(ATTR), false, &ev->location},
			};
			for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
				if ((rc = take(data, f[i].key, f[i].max, f[i].req, f[i].dst, d, e)))
					return rc;
				/* The REST API's rules ("" is null for an optional text, as there). */
				const char *v = *f[i].dst;
				const char *why = v && (*v || f[i].req)
							  ? validate_user_field(f[i].key, v)
							  : NULL;
				if (why)
					return bad(e, "invalid_data", "%s %s", f[i].key, why);
			}
			if ((rc = take_array(data, "addresses", &ev->addresses_json, e)) ||
			    (rc = take_array(data, "phones", &ev->phones_json, e)))
				return rc;
		}
		if (!strcmp(t, "user.state_changed") &&
		    (rc = take(data, "state", 16, true, &ev->state, d, e)))
			return rc;
		if (ev->state && strcmp(ev->state, "staged") && strcmp(ev->state, "active") &&
		    strcmp(ev->state, "suspended"))
			return bad(e, "invalid_data", "state must be staged, active or suspended%s",
				   "");
		if (!strcmp(t, "user.bound") || !strcmp(t, "user.unbound")) {
			if ((rc = take(data, "integration_id", 36, true, &ev->integration_id, d, e)))
				return rc;
		}
	} else {
		if ((rc = take(data, "id", 128, true, &ev->group_id, d, e)))
			return rc;
		if (!validate_directory_id(ev->group_id))
			return bad(e, "invalid_data", "id %s", ID_RULE);
		if (!strcmp(t, "group.created") || !strcmp(t, "group.updated")) {
			struct {
				const char *key;
				size_t max;
				bool req;
				char **dst;
			} f[] = {
				{"name", TEXT_BYTES(NAME), true, &ev->group_name},
				{"description", VALIDATE_GROUP_DESCRIPTION_MAX * 4, false,
				 &ev->group_description},
				{"email", VALIDATE_EMAIL_MAX, false, &ev->group_email},
			};
			for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
				if ((rc = take(data, f[i].key, f[i].max, f[i].req, f[i].dst, d, e)))
					return rc;
				const char *v = *f[i].dst;
				const char *why = v && (*v || f[i].req)
							  ? validate_group_field(f[i].key, v)
							  : NULL;
				if (why)
					return bad(e, "invalid_data", "%s %s", f[i].key, why);
			}
		}
		if (!strcmp(t, "group.member_added") || !strcmp(t, "group.member_removed")) {
			if ((rc = take(data, "user_id", 128, true, &ev->user_id, d, e)))
				return rc;
			if (!validate_directory_id(ev->user_id))
				return bad(e, "invalid_data", "user_id %s", ID_RULE);
		}
		if (!strcmp(t, "group.bound") || !strcmp(t, "group.unbound")) {
			if ((rc = take(data, "integration_id", 36, true, &ev->integration_id, d, e)))
				return rc;
		}
	}
	if (ev->integration_id && !is_uuid(ev->integration_id))
		return bad(e, "invalid_data", "integration_id must be a UUID%s", "");
	return E_OK;
}

int bus_dir_event_decode(const char *payload, size_t len, struct bus_dir_event *ev, struct err *e)
{
	struct err local;
	if (!e)
		e = &local;
	memset(ev, 0, sizeof(*ev));
	json_object *jo = parse_object(payload, len, e);
	if (!jo)
		return E_INVAL;
	int rc;
	json_object *v = NULL;
	const char *specversion = json_object_object_get_ex(jo, "specversion", &v) &&
						  json_object_is_type(v, json_type_string)
					  ? json_object_get_string(v)
					  : NULL;
	if (!specversion) {
		rc = bad(e, "not_a_cloudevent", "specversion is required%s", "");
		goto out;
	}
	if (strcmp(specversion, "1.0") != 0) {
		rc = bad(e, "unsupported_specversion", "specversion %.16s is not 1.0", specversion);
		goto out;
	}
	const char *env = "envelope";
	if ((rc = take(jo, "id", 256, true, &ev->id, env, e)) ||
	    (rc = take(jo, "source", 512, true, &ev->source, env, e)) ||
	    (rc = take(jo, "type", 128, true, &ev->type, env, e)) ||
	    (rc = take(jo, "tenant", 64, true, &ev->tenant, env, e)) ||
	    (rc = take(jo, "subject", 256, false, &ev->subject, env, e)) ||
	    (rc = take(jo, "time", 64, false, &ev->time, env, e)))
		goto out;
	if (!is_uuid(ev->tenant)) {
		rc = bad(e, "not_a_cloudevent", "tenant must be a UUID%s", "");
		goto out;
	}
	bool known = false;
	for (const char *const *t = event_types; *t; t++)
		known |= strcmp(*t, ev->type) == 0;
	if (!known) {
		rc = bad(e, "unknown_type", "unknown event type %.128s", ev->type);
		goto out;
	}
	if (json_object_object_get_ex(jo, "datacontenttype", &v) && v &&
	    (!json_object_is_type(v, json_type_string) ||
	     strncmp(json_object_get_string(v), "application/json", 16) != 0)) {
		rc = bad(e, "unknown_content_type", "datacontenttype must be application/json%s", "");
		goto out;
	}
	json_object *data = NULL;
	if (!json_object_object_get_ex(jo, "data", &data) || !data ||
	    !json_object_is_type(data, json_type_object)) {
		rc = bad(e, "invalid_data", "data must be an object%s", "");
		goto out;
	}
	if (has_password(data, 0)) {
		rc = bad(e, "password_not_allowed",
			 "passwords are accepted over REST only, never in events%s", "");
		goto out;
	}
	rc = decode_data(data, ev, e);
out:
	json_object_put(jo);
	return rc;
}
