/* Directory users and their passwords. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "handlers_directory.h"
#include "log.h"
#include "password.h"
#include "validate.h"

#define PATCH_ATTEMPTS 3

/* ---- shared with handlers_groups.c ---- */

const char *directory_path_id(struct api_request *rq, struct api_response *rs, const char *name,
			      const char *what, bool creates)
{
	const char *id = router_param(&rq->params, name);
	if (id && validate_directory_id(id))
		return id;
	if (creates) {
		struct problem p;
		char pointer[64];
		problem_set(&p, 400, "validation", "Invalid request", "the %s id is not valid",
			    what);
		snprintf(pointer, sizeof(pointer), "/path/%s", name);
		problem_add_error(&p, pointer,
				  "must be 1 to 128 characters of A-Z a-z 0-9 . _ : -");
		api_reply_problem(rs, &p, NULL);
	} else {
		api_reply_error(rs, 404, "not-found", "Not found", "no such %s", what);
	}
	return NULL;
}

int64_t directory_if_version(const struct api_request *rq)
{
	if (rq->if_version < 0 && rq->if_match)
		return 0; /* "*": the resource must exist */
	return rq->if_version;
}

void directory_reply_err(struct api_response *rs, const struct err *e)
{
	if (e->code == E_INVAL && e->reason[0] == '/') {
		/* The body fit the contract; a field names what does not exist here: 422. */
		struct problem p;
		problem_set(&p, 422, "invalid-reference", "Invalid reference", "%s", e->msg);
		problem_add_error(&p, e->reason, "%s", e->msg);
		api_reply_problem(rs, &p, NULL);
		return;
	}
	api_reply_err(rs, e);
}

/* ---- the user as JSON ---- */

/* A JSON array from text the store kept (always an array it validated); [] if unreadable. */
static json_object *stored_array(const char *text)
{
	json_object *jo = text ? json_tokener_parse(text) : NULL;
	if (jo && json_object_is_type(jo, json_type_array))
		return jo;
	json_object_put(jo);
	return json_object_new_array();
}

/* The optional text attributes, in the order of the JSON and of struct store_user_input. */
static const struct user_attr {
	const char *name;
	size_t cur_off; /* in struct store_user */
	size_t in_off;	/* in struct store_user_input */
} user_attrs[] = {
/* clang-format off */
#define ATTR(f) {#f, offsetof(struct store_user, f), offsetof(struct store_user_input, f)}
	ATTR(cost_center), ATTR(department), ATTR(employee_type), ATTR(job_title),
	ATTR(employee_id), ATTR(company), ATTR(location),
#undef ATTR
	/* clang-format on */
};

#define N_USER_ATTRS (sizeof(user_attrs) / sizeof(user_attrs[0]))

static json_object *user_json(const struct store_user *u)
{
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "id", u->id);
	api_json_put_str(jo, "email", u->email);
	api_json_put_str(jo, "first_name", u->first_name);
	api_json_put_str(jo, "last_name", u->last_name);
	api_json_put_str(jo, "state", u->state);
	api_json_put_str_or_null(jo, "alternate_email", u->alternate_email);
	api_json_put_str_or_null(jo, "manager_id", u->manager_id);
	for (size_t i = 0; i < N_USER_ATTRS; i++)
		api_json_put_str_or_null(jo, user_attrs[i].name,
					 (const char *)u + user_attrs[i].cur_off);
	api_json_put(jo, "addresses", stored_array(u->addresses_json));
	api_json_put(jo, "phones", stored_array(u->phones_json));
	/* Whether a password is waiting, never the hash. */
	api_json_put(jo, "password_set", json_object_new_boolean(u->password_set));
	api_json_put_str_or_null(jo, "password_set_at", u->password_set_at);
	api_json_put_str(jo, "created_at", u->created_at);
	api_json_put_str(jo, "updated_at", u->updated_at);
	return jo;
}

static void reply_user(struct api_response *rs, int status, const struct store_user *u)
{
	api_set_etag(rs, u->version);
	api_reply_json(rs, status, user_json(u));
}

/* ---- the request body ---- */

static const char *const states[] = {"staged", "active", "suspended", NULL};

/* Adds why (a validate_* verdict) for pointer unless it is NULL. */
static void add_if(struct problem *p, const char *pointer, const char *why)
{
	if (why)
		problem_add_error(p, pointer, "%s", why);
}

/* A body member: 0 absent, 1 present (*v NULL for JSON null). */
static int member_get(json_object *obj, const char *key, json_object **v)
{
	*v = NULL;
	return json_object_object_get_ex(obj, key, v) ? 1 : 0;
}

/* The string of v or NULL after adding "must be a string" for pointer. */
static const char *string_of(json_object *v, struct problem *p, const char *pointer)
{
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	problem_add_error(p, pointer, "must be a string");
	return NULL;
}

/*
 * The members of an address or a phone; type (and a phone's value) required, the others
 * optional ("" or null: dropped). Their rules: validate_address_member(), validate_phone_member().
 */
struct item_field {
	const char *name;
	bool required;
};

static const struct item_field address_fields[] = {
	{"type", true},	 {"street_address", false}, {"locality", false}, {"region", false},
	{"postal_code", false}, {"country", false},	    {"formatted", false},
};

static const struct item_field phone_fields[] = {{"type", true}, {"value", true}};

struct repeated {
	const char *name; /* "addresses" */
	size_t max;
	const struct item_field *fields;
	size_t n_fields;
	const char *(*validate)(const char *member, const char *value);
};

static const struct repeated addresses = {"addresses", VALIDATE_ADDRESSES_MAX, address_fields,
					  sizeof(address_fields) / sizeof(address_fields[0]),
					  validate_address_member};
static const struct repeated phones = {"phones", VALIDATE_PHONES_MAX, phone_fields,
				       sizeof(phone_fields) / sizeof(phone_fields[0]),
				       validate_phone_member};

/* Checks one item's members into the canonical object it becomes (errors added to p). */
static json_object *check_item(const struct repeated *r, json_object *item, size_t i,
			       struct problem *p)
{
	char ptr[128];
	json_object_object_foreach(item, key, val)
	{
		(void)val;
		bool known = false;
		for (size_t f = 0; f < r->n_fields; f++)
			known |= strcmp(key, r->fields[f].name) == 0;
		if (!known) {
			snprintf(ptr, sizeof(ptr), "/%s/%zu/%s", r->name, i, key);
			problem_add_error(p, ptr, "unknown field");
		}
	}
	json_object *out = json_object_new_object();
	for (size_t f = 0; f < r->n_fields; f++) {
		const struct item_field *fd = &r->fields[f];
		json_object *fv;
		snprintf(ptr, sizeof(ptr), "/%s/%zu/%s", r->name, i, fd->name);
		if (!member_get(item, fd->name, &fv) || !fv) {
			if (fd->required)
				problem_add_error(p, ptr, "is required");
			continue;
		}
		const char *s = string_of(fv, p, ptr);
		if (!s || (!fd->required && !*s))
			continue;
		const char *why = r->validate(fd->name, s);
		if (why)
			problem_add_error(p, ptr, "%s", why);
		else
			api_json_put_str(out, fd->name, s);
	}
	return out;
}

/*
 * Checks addresses or phones (an array, or null for none) and renders the canonical JSON text
 * the store keeps: only known members, empty strings dropped. *out is malloc'd (caller frees)
 * or NULL when invalid.
 */
static void check_repeated(const struct repeated *r, json_object *v, struct problem *p,
			   char **out)
{
	char ptr[128];
	snprintf(ptr, sizeof(ptr), "/%s", r->name);
	*out = NULL;
	if (!v) {
		*out = strdup("[]");
		return;
	}
	if (!json_object_is_type(v, json_type_array)) {
		problem_add_error(p, ptr, "must be an array (or null)");
		return;
	}
	size_t n = json_object_array_length(v);
	if (n > r->max) {
		problem_add_error(p, ptr, "must have at most %zu items", r->max);
		return;
	}
	size_t errors = p->n_errors;
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(v, i);
		if (!json_object_is_type(item, json_type_object)) {
			snprintf(ptr, sizeof(ptr), "/%s/%zu", r->name, i);
			problem_add_error(p, ptr, "must be an object");
			continue;
		}
		json_object_array_add(arr, check_item(r, item, i, p));
	}
	if (p->n_errors == errors)
		*out = strdup(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
	json_object_put(arr);
}

/*
 * A user body, checked. in's pointers borrow from the parsed body (keep it alive) or from
 * addresses/phones (owned here). present[] says which members the body had (PATCH keeps the
 * others).
 */
struct user_body {
	struct store_user_input in;
	char *addresses;
	char *phones;
	bool has_email, has_first, has_last, has_state, has_alt, has_manager, has_addr, has_phones;
	bool has_attr[N_USER_ATTRS];
};

static void user_body_cleanup(struct user_body *ub)
{
	free(ub->addresses);
	free(ub->phones);
}

static const char *const user_readonly[] = {"id",	  "password_set", "password_set_at",
					    "created_at", "updated_at",	  NULL};

static void check_members(json_object *body, struct problem *p)
{
	static const char *const known[] = {"email",	 "first_name",	    "last_name",
					    "state",	 "alternate_email", "manager_id",
					    "addresses", "phones",	    NULL};
	json_object_object_foreach(body, key, val)
	{
		(void)val;
		int ok = api_one_of(key, known);
		for (size_t i = 0; i < N_USER_ATTRS; i++)
			ok |= strcmp(key, user_attrs[i].name) == 0;
		if (ok)
			continue;
		char ptr[128];
		snprintf(ptr, sizeof(ptr), "/%s", key);
		if (api_one_of(key, user_readonly))
			problem_add_error(p, ptr, "is read-only");
		else if (strcmp(key, "password") == 0)
			problem_add_error(
				p, ptr, "unknown field; set it with POST /v1/users/{id}/password");
		else
			problem_add_error(p, ptr, "unknown field");
	}
}

/* A required string (email, names): absent is an error on PUT; null never allowed. */
static const char *required_string(json_object *body, const char *key, bool patch, bool *has,
				   struct problem *p)
{
	json_object *v;
	char ptr[64];
	snprintf(ptr, sizeof(ptr), "/%s", key);
	*has = member_get(body, key, &v);
	if (!*has) {
		if (!patch)
			problem_add_error(p, ptr, "is required");
		return NULL;
	}
	if (!v) {
		problem_add_error(p, ptr, "is required and cannot be null");
		return NULL;
	}
	return string_of(v, p, ptr);
}

/* An optional string: NULL for null or "" (both clear it). */
static const char *optional_string(json_object *body, const char *key, bool *has, struct problem *p)
{
	json_object *v;
	char ptr[64];
	snprintf(ptr, sizeof(ptr), "/%s", key);
	*has = member_get(body, key, &v);
	if (!*has || !v)
		return NULL;
	const char *s = string_of(v, p, ptr);
	return s && *s ? s : NULL;
}

/*
 * Checks every member of body. PUT (patch false): the required members must be there and
 * absent optional ones become null (state: staged). PATCH: only the members present count.
 */
static void user_body_parse(json_object *body, bool patch, const char *self_id,
			    struct user_body *ub, struct problem *p)
{
	memset(ub, 0, sizeof(*ub));
	check_members(body, p);
	struct store_user_input *in = &ub->in;

	in->email = required_string(body, "email", patch, &ub->has_email, p);
	if (in->email)
		add_if(p, "/email", validate_user_field("email", in->email));
	in->first_name = required_string(body, "first_name", patch, &ub->has_first, p);
	if (in->first_name)
		add_if(p, "/first_name", validate_user_field("first_name", in->first_name));
	in->last_name = required_string(body, "last_name", patch, &ub->has_last, p);
	if (in->last_name)
		add_if(p, "/last_name", validate_user_field("last_name", in->last_name));

	json_object *v;
	ub->has_state = member_get(body, "state", &v);
	if (!ub->has_state) {
		in->state = "staged";
	} else if (!v || !json_object_is_type(v, json_type_string) ||
		   !api_one_of(json_object_get_string(v), states)) {
		api_add_one_of(p, "/state", states);
	} else {
		in->state = json_object_get_string(v);
	}

	in->alternate_email = optional_string(body, "alternate_email", &ub->has_alt, p);
	if (in->alternate_email)
		add_if(p, "/alternate_email", validate_user_field("alternate_email", in->alternate_email));
	in->manager_id = optional_string(body, "manager_id", &ub->has_manager, p);
	if (in->manager_id && !validate_directory_id(in->manager_id))
		problem_add_error(p, "/manager_id",
				  "must be a user id (1 to 128 characters of "
				  "A-Z a-z 0-9 . _ : -)");

	for (size_t i = 0; i < N_USER_ATTRS; i++) {
		const char *s = optional_string(body, user_attrs[i].name, &ub->has_attr[i], p);
		char ptr[64];
		snprintf(ptr, sizeof(ptr), "/%s", user_attrs[i].name);
		if (s)
			add_if(p, ptr, validate_user_field(user_attrs[i].name, s));
		*(const char **)((char *)in + user_attrs[i].in_off) = s;
	}

	ub->has_addr = member_get(body, "addresses", &v);
	if (ub->has_addr || !patch)
		check_repeated(&addresses, v, p, &ub->addresses);
	ub->has_phones = member_get(body, "phones", &v);
	if (ub->has_phones || !patch)
		check_repeated(&phones, v, p, &ub->phones);
	in->addresses_json = ub->addresses;
	in->phones_json = ub->phones;
	if ((ub->has_addr || !patch) && !ub->addresses && !p->n_errors)
		problem_add_error(p, "/addresses", "out of memory");
	if ((ub->has_phones || !patch) && !ub->phones && !p->n_errors)
		problem_add_error(p, "/phones", "out of memory");
	/* A well-formed body whose manager is the user itself names no other user: 422, as the store
	 * answers for a manager_id that names no user at all. */
	if (!p->n_errors && in->manager_id && strcmp(in->manager_id, self_id) == 0) {
		problem_set(p, 422, "invalid-reference", "Invalid reference",
			    "manager_id must be another user, not the user itself");
		problem_add_error(p, "/manager_id", "must be another user, not the user itself");
	}
}

static const char *or_null(const char *s)
{
	return s && *s ? s : NULL;
}

/* PATCH: what the body did not name comes from the stored user. */
static void user_merge(struct user_body *ub, const struct store_user *cur)
{
	struct store_user_input *in = &ub->in;
	if (!ub->has_email)
		in->email = cur->email;
	if (!ub->has_first)
		in->first_name = cur->first_name;
	if (!ub->has_last)
		in->last_name = cur->last_name;
	if (!ub->has_state)
		in->state = cur->state;
	if (!ub->has_alt)
		in->alternate_email = or_null(cur->alternate_email);
	if (!ub->has_manager)
		in->manager_id = or_null(cur->manager_id);
	for (size_t i = 0; i < N_USER_ATTRS; i++) {
		if (!ub->has_attr[i])
			*(const char **)((char *)in + user_attrs[i].in_off) =
				or_null((const char *)cur + user_attrs[i].cur_off);
	}
	if (!ub->has_addr)
		in->addresses_json = cur->addresses_json;
	if (!ub->has_phones)
		in->phones_json = cur->phones_json;
}

/* ---- handlers ---- */

/*
 * What one user request works on, kept off the stack: CivetWeb's worker threads have small
 * stacks (100 KiB in Debian's build, most of it taken before a handler runs).
 */
struct user_work {
	json_object *body; /* the request's, parsed; in borrows from it */
	struct problem p;
	struct user_body ub;
	struct store_user cur;
	struct store_user u;
};

static struct user_work *user_work_new(struct api_response *rs)
{
	struct user_work *w = calloc(1, sizeof(*w));
	if (!w)
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
	return w;
}

static void user_work_free(struct user_work *w)
{
	if (!w)
		return;
	user_body_cleanup(&w->ub);
	store_user_cleanup(&w->cur);
	store_user_cleanup(&w->u);
	json_object_put(w->body);
	free(w);
}

/*
 * The preamble of PUT and PATCH: the path id (PUT may create it), If-Match, the body parsed and
 * checked into w->ub. NULL when it answered (400, 404, 412, 415, ...).
 */
static struct user_work *user_write_begin(struct api_request *rq, struct api_response *rs,
					  bool patch, const char **id, int64_t *if_version)
{
	*id = directory_path_id(rq, rs, "user_id", "user", !patch);
	*if_version = directory_if_version(rq);
	if (!*id)
		return NULL;
	struct user_work *w = user_work_new(rs);
	if (!w)
		return NULL;
	w->body = api_body_begin(rq, rs, patch ? "the patch is not valid" : "the user is not valid",
				 NULL, NULL, &w->p);
	if (w->body)
		user_body_parse(w->body, patch, *id, &w->ub, &w->p);
	if (w->body && !w->p.n_errors)
		return w;
	if (w->body)
		api_reply_problem(rs, &w->p, NULL);
	user_work_free(w);
	return NULL;
}

void handle_users_put(struct api_request *rq, struct api_response *rs)
{
	const char *id;
	int64_t if_version;
	struct user_work *w = user_write_begin(rq, rs, false, &id, &if_version);
	if (!w)
		return;
	struct err e = {0};
	bool created = false;
	struct store_actor actor = api_actor(rq, NULL);
	if (store_user_put(rq->ctx->st, &actor, rq->who.tenant_id, id, &w->ub.in, if_version, &w->u,
			   &created, &e)) {
		directory_reply_err(rs, &e);
		goto out;
	}
	if (created)
		snprintf(rs->location, sizeof(rs->location), "/v1/users/%s", id);
	reply_user(rs, created ? 201 : 200, &w->u);
out:
	user_work_free(w);
}

void handle_users_patch(struct api_request *rq, struct api_response *rs)
{
	const char *id;
	int64_t if_version;
	struct user_work *w = user_write_begin(rq, rs, true, &id, &if_version);
	if (!w)
		return;
	struct store_actor actor = api_actor(rq, NULL);
	/*
	 * Read, merge, write if the version is still the one read. Without If-Match a concurrent
	 * writer only makes us merge again; with it, the caller's version must hold.
	 */
	for (int attempt = 0; attempt < PATCH_ATTEMPTS; attempt++) {
		struct err e = {0};
		store_user_cleanup(&w->cur);
		if (store_user_get(rq->ctx->st, rq->who.tenant_id, id, &w->cur, &e)) {
			api_reply_err(rs, &e);
			goto out;
		}
		if (if_version > 0 && w->cur.version != if_version) {
			api_reply_error(rs, 412, "precondition-failed", "Precondition failed",
					"the user changed since that ETag; read it again");
			goto out;
		}
		struct user_body merged = w->ub; /* borrows: freed through w->ub only */
		user_merge(&merged, &w->cur);
		int rc = store_user_update(rq->ctx->st, &actor, rq->who.tenant_id, id, &merged.in,
					   w->cur.version, &w->u, &e);
		if (rc == E_PRECONDITION && if_version <= 0 && attempt + 1 < PATCH_ATTEMPTS)
			continue;
		if (rc)
			directory_reply_err(rs, &e);
		else
			reply_user(rs, 200, &w->u);
		goto out;
	}
out:
	user_work_free(w);
}

void handle_users_get(struct api_request *rq, struct api_response *rs)
{
	const char *id = directory_path_id(rq, rs, "user_id", "user", false);
	if (!id)
		return;
	struct store_user *u = calloc(1, sizeof(*u));
	struct err e = {0};
	if (!u)
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
	else if (store_user_get(rq->ctx->st, rq->who.tenant_id, id, u, &e))
		api_reply_err(rs, &e);
	else
		reply_user(rs, 200, u);
	store_user_cleanup(u);
	free(u);
}

API_ROW_JSON(user_row, user_json)

void handle_users_list(struct api_request *rq, struct api_response *rs)
{
	struct api_page pg;
	if (api_page_begin(rq, rs, API_CURSOR_ID, &pg))
		return;
	char email[VALIDATE_EMAIL_MAX + 2], state[16];
	int has_email = api_query_get(rq, "email", email, sizeof(email));
	int has_state = api_query_one_of(rq, rs, "state", states, state, sizeof(state));
	if (has_state < 0)
		return;
	struct store_user *us = NULL;
	int rc = store_user_list(rq->ctx->st, rq->who.tenant_id, has_email ? email : NULL,
				 has_state ? state : NULL, api_page_after(&pg), pg.fetch, &us,
				 &pg.n, &pg.e);
	api_reply_rows(rs, &pg, rc, us, sizeof(*us), offsetof(struct store_user, id), user_row,
		       NULL);
	store_users_free(us, pg.n);
}

void handle_users_delete(struct api_request *rq, struct api_response *rs)
{
	const char *id = directory_path_id(rq, rs, "user_id", "user", false);
	int64_t if_version = directory_if_version(rq);
	if (!id)
		return;
	struct err e = {0};
	struct store_actor actor = api_actor(rq, NULL);
	if (store_user_delete(rq->ctx->st, &actor, rq->who.tenant_id, id, if_version, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	rs->status = 204;
	rs->content_type = "application/json";
}

/*
 * The clear text of a password lives in the request body and in json-c's copy of the string;
 * both are wiped before the handler returns, on every path.
 */
static void wipe_request(struct api_request *rq, json_object *password)
{
	if (password && json_object_is_type(password, json_type_string))
		crypto_wipe((char *)json_object_get_string(password),
			    (size_t)json_object_get_string_len(password));
	/* http.c owns the body as writable heap memory (a literal "" only when empty). */
	if (rq->body_len)
		crypto_wipe((char *)rq->body, rq->body_len);
}

void handle_users_password(struct api_request *rq, struct api_response *rs)
{
	json_object *pw = NULL, *hash = NULL, *fn = NULL;
	char stored[PASSWORD_HASH_MAX + 1] = "";
	const char *function = NULL;
	struct user_work *w = NULL;
	int64_t if_version;
	const char *id = directory_path_id(rq, rs, "user_id", "user", false);
	if (!id)
		goto out;
	if_version = directory_if_version(rq);
	w = user_work_new(rs);
	if (!w)
		goto out;
	static const char *const allowed[] = {"password", "hash", "hash_function", NULL};
	struct problem *p = &w->p;
	json_object *body = w->body =
		api_body_begin(rq, rs, "the password is not valid", allowed, NULL, p);
	if (!body)
		goto out;
	int has_pw = member_get(body, "password", &pw);
	int has_hash = member_get(body, "hash", &hash);
	int has_fn = member_get(body, "hash_function", &fn);
	if (has_pw && (has_hash || has_fn)) {
		problem_add_error(p, "/password",
				  "send either password or hash with "
				  "hash_function, not both");
	} else if (has_pw) {
		const char *why =
			!json_object_is_type(pw, json_type_string)
				? "must be a string"
				: password_clear_check(json_object_get_string(pw),
						       (size_t)json_object_get_string_len(pw));
		if (why)
			problem_add_error(p, "/password", "%s", why);
	} else if (has_hash || has_fn) {
		static const char *const functions[] = {"crypt", "SHA-1", "MD5", NULL};
		if (!has_fn || !fn)
			problem_add_error(p, "/hash_function", "is required with hash");
		else if (!json_object_is_type(fn, json_type_string) ||
			 !api_one_of(json_object_get_string(fn), functions))
			api_add_one_of(p, "/hash_function", functions);
		else
			function = json_object_get_string(fn);
		if (!has_hash || !hash)
			problem_add_error(p, "/hash", "is required with hash_function");
		else if (!json_object_is_type(hash, json_type_string))
			problem_add_error(p, "/hash", "must be a string");
		else if (function) {
			const char *why = password_hash_normalize(
				json_object_get_string(hash),
				(size_t)json_object_get_string_len(hash), function, stored);
			if (why)
				problem_add_error(p, "/hash", "%s", why);
		}
	} else {
		problem_add_error(p, "/password", "is required (or send hash with hash_function)");
	}
	if (p->n_errors) {
		api_reply_problem(rs, p, NULL);
		goto out;
	}

	struct err e = {0};
	if (has_pw) {
		function = "crypt";
		if (password_hash_sha512(json_object_get_string(pw),
					 (size_t)json_object_get_string_len(pw), stored, &e)) {
			log_write(LOG_ERROR, "api", "password_hash_failed", e.msg, NULL, 0);
			api_reply_err(rs, &e);
			goto out;
		}
	}
	/* Nothing below needs the clear text. */
	wipe_request(rq, pw);
	if (hash && json_object_is_type(hash, json_type_string))
		crypto_wipe((char *)json_object_get_string(hash),
			    (size_t)json_object_get_string_len(hash));

	struct store_actor actor = api_actor(rq, "set_password");
	if (store_user_set_password(rq->ctx->st, &actor, rq->who.tenant_id, id, stored, function,
				    if_version, &w->u, &e)) {
		api_reply_err(rs, &e);
		goto out;
	}
	log_write(LOG_INFO, "api", "user_password_set", NULL,
		  (struct log_field[]){LOG_STR("user_id", id), LOG_STR("hash_function", function)},
		  2);
	json_object *jo = json_object_new_object();
	api_json_put(jo, "password_set", json_object_new_boolean(true));
	api_json_put_str(jo, "password_set_at", w->u.password_set_at);
	api_reply_json(rs, 200, jo);
out:
	wipe_request(rq, pw);
	crypto_wipe(stored, sizeof(stored));
	user_work_free(w); /* and the body */
}
