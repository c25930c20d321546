/* SPDX-License-Identifier: MIT */
/* gws-emulator: groups, group aliases, members, domains, customers, Groups Settings. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "emu.h"
#include "emu_int.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct emu_group *group_key(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = emu_group_find(em, rq->seg[0]);

	/* newGroup404Ms: a group can be invisible for a moment after groups.insert */
	if (g && em->new_group_404_ms > 0 && now_ms() - g->created_ms < em->new_group_404_ms)
		g = NULL;
	if (!g)
		emu_err(rs, 404, "notFound", "Resource Not Found: groupKey");
	return g;
}

static void render_group_resp(struct emu *em, struct emu_req *rq, struct emu_resp *rs,
			      const struct emu_group *g)
{
	struct jw w;

	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	emu_group_render(em, &w, g);
}

static void unknown_field(struct emu_resp *rs, const char *key)
{
	struct buf m;

	buf_init(&m);
	buf_addf(&m, "Invalid JSON payload received. Unknown name \"%s\" at 'resource': Cannot find "
		     "field.", key);
	emu_err_esf(rs, 400, "invalid", m.p, NULL, "INVALID_ARGUMENT", NULL, NULL);
	buf_cleanup(&m);
}

static const char *const group_fields[] = {
	"adminCreated", "aliases", "description", "directMembersCount", "email",
	"etag",		"id",	   "kind",	  "name",		"nonEditableAliases",
};

static bool in_list(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

/* Validates a Group body; g is NULL on insert. */
static int group_validate(struct emu *em, struct emu_group *g, struct json_object *jo,
			  struct emu_resp *rs)
{
	struct json_object *v;

	json_object_object_foreach(jo, key, val) {
		if (!in_list(group_fields, N(group_fields), key)) {
			unknown_field(rs, key);
			return -1;
		}
		(void)val;
	}
	const char *email = NULL;

	if (json_object_object_get_ex(jo, "email", &v) && json_object_is_type(v, json_type_string))
		email = json_object_get_string(v);
	if (!g && !email) {
		emu_err(rs, 400, "required", "Missing required field: email");
		return -1;
	}
	if (email && (!g || strcasecmp(email, g->email))) {
		char *low = str_lower(xstrdup(email));
		int rc = emu_check_new_address(em, low, "Invalid Input: email", g, rs);

		free(low);
		if (rc)
			return -1;
	}
	if (json_object_object_get_ex(jo, "name", &v) && json_object_is_type(v, json_type_string) &&
	    (utf8_len(json_object_get_string(v)) > 73 || strpbrk(json_object_get_string(v), "<>"))) {
		emu_err(rs, 400, "invalid", "Invalid Input: groupName");
		return -1;
	}
	if (json_object_object_get_ex(jo, "description", &v) &&
	    json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 4096) {
		emu_err(rs, 400, "invalid", "Invalid Input: description");
		return -1;
	}
	return 0;
}

static void group_apply(struct emu *em, struct emu_group *g, struct json_object *jo)
{
	struct json_object *v;

	if (json_object_object_get_ex(jo, "email", &v) && json_object_is_type(v, json_type_string) &&
	    strcasecmp(json_object_get_string(v), g->email)) {
		/* the old address stays as an alias, as for users */
		strv_add(&g->aliases, g->email);
		str_set(&g->email, json_object_get_string(v));
		str_lower(g->email);
		map_put(&em->emails, g->email, g);
	}
	if (json_object_object_get_ex(jo, "name", &v) && json_object_is_type(v, json_type_string))
		str_set(&g->name, json_object_get_string(v));
	if (json_object_object_get_ex(jo, "description", &v))
		str_set(&g->description,
			json_object_is_type(v, json_type_null) ? "" : json_object_get_string(v));
	emu_group_touch(em, g);
}

struct emu_group *emu_group_create_json(struct emu *em, struct json_object *jo,
					struct emu_resp *rs)
{
	struct json_object *v;

	if (group_validate(em, NULL, jo, rs))
		return NULL;
	json_object_object_get_ex(jo, "email", &v);
	struct emu_group *g = emu_group_new(em, json_object_get_string(v));
	char *at = strchr(g->email, '@');

	str_set(&g->name, NULL);
	g->name = xstrndup(g->email, (size_t)(at - g->email));
	group_apply(em, g, jo);
	return g;
}

void h_groups_insert(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct json_object *jo = emu_body_json(rq, rs);

	if (!jo)
		return;
	struct emu_group *g = emu_group_create_json(em, jo, rs);

	if (g)
		render_group_resp(em, rq, rs, g);
	json_object_put(jo);
}

void h_groups_get(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = group_key(em, rq, rs);

	if (g)
		render_group_resp(em, rq, rs, g);
}

static void group_write(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = group_key(em, rq, rs);

	if (!g)
		return;
	struct json_object *jo = emu_body_json(rq, rs);

	if (!jo)
		return;
	if (group_validate(em, g, jo, rs) == 0) {
		group_apply(em, g, jo);
		render_group_resp(em, rq, rs, g);
	}
	json_object_put(jo);
}

void h_groups_update(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	group_write(em, rq, rs);
}

void h_groups_patch(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	group_write(em, rq, rs);
}

void h_groups_delete(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = group_key(em, rq, rs);

	if (!g)
		return;
	emu_group_delete(em, g);
	emu_no_content(em, rs);
}

static const char *const group_query_fields[] = { "name", "email", "memberKey" };

/* Group query: name / email with = or :prefix*, memberKey=; clauses are ANDed. */
static bool group_matches(struct emu *em, const struct emu_group *g, const struct emu_query *q)
{
	for (size_t i = 0; i < q->n; i++) {
		const struct qclause *c = &q->c[i];
		size_t vl = strlen(c->value);

		if (!strcmp(c->field, "memberKey")) {
			struct emu_user *u = emu_user_find(em, c->value);
			struct emu_group *sub = u ? NULL : emu_group_find(em, c->value);
			const char *id = u ? u->id : sub ? sub->id : NULL;

			if (!id || !map_get(&((struct emu_group *)g)->mem_idx, id))
				return false;
			continue;
		}
		const char *hay = !strcmp(c->field, "name") ? g->name : g->email;

		if (c->prefix ? strncasecmp(hay, c->value, vl) != 0 : strcasecmp(hay, c->value) != 0)
			return false;
	}
	return true;
}

void h_groups_list(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	char *domain = NULL, *ukey = NULL, *qs = NULL, *token = NULL, *key = NULL, *sorder = NULL;
	struct emu_user *member = NULL;
	struct emu_group *gmember = NULL;
	struct emu_query q = { 0 };
	struct buf scope;
	int max;

	buf_init(&scope);
	ukey = emu_qp(rq, "userKey");
	if (emu_check_customer_domain(em, rq, rs, !ukey, &domain))
		goto out;
	if (emu_parse_max(rq, rs, 200, 200, true, &max))
		goto out;
	if (ukey) {
		member = emu_user_find(em, ukey);
		if (!member)
			gmember = emu_group_find(em, ukey);
		if (!member && !gmember) {
			emu_err(rs, 404, "notFound", "Resource Not Found: userKey");
			goto out;
		}
	}
	qs = emu_qp(rq, "query");
	if (qs && emu_query_check(qs, group_query_fields, N(group_query_fields), &q, rs))
		goto out;
	static const char *const sort_orders[] = { "ASCENDING", "DESCENDING", NULL };

	if (emu_enum_param_bad(rq, rs, "sortOrder", sort_orders))
		goto out;
	sorder = emu_qp(rq, "sortOrder");
	token = emu_qp(rq, "pageToken");
	bool desc = sorder && !strcasecmp(sorder, "DESCENDING");

	buf_addf(&scope, "groups|%s|%s|%s|%d", domain ? domain : "", ukey ? ukey : "",
		 qs ? qs : "", desc);
	if (token && *token) {
		key = emu_page_token_parse(em, scope.p, token);
		if (!key) {
			emu_err(rs, 400, "invalid", "Invalid page token");
			goto out;
		}
	}
	size_t n;
	struct emu_group **v = emu_groups_sorted(em, &n);
	const char *mid = member ? member->id : gmember ? gmember->id : NULL;
	struct jw w;
	char etag[64];
	int got = 0;
	bool more = false, opened = false;
	const struct emu_group *last = NULL;

	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	jw_obj(&w);
	if (jw_k(&w, "kind"))
		jw_str(&w, "admin#directory#groups");
	if (jw_k(&w, "etag")) {
		emu_list_etag(em, scope.p, etag);
		jw_str(&w, etag);
	}
	bool want = true;

	for (size_t s = 0; s < n; s++) {
		const struct emu_group *g = v[desc ? n - 1 - s : s];

		if (key && (desc ? strcmp(g->email, key) >= 0 : strcmp(g->email, key) <= 0))
			continue;
		if (domain && strcmp(strchr(g->email, '@') + 1, domain))
			continue;
		if (mid && !map_get(&((struct emu_group *)g)->mem_idx, mid))
			continue;
		if (q.n && !group_matches(em, g, &q))
			continue;
		if (got == max) {
			more = true;
			break;
		}
		if (!opened) {
			opened = true;
			want = jw_k(&w, "groups");
			if (want)
				jw_arr(&w);
		}
		if (want)
			emu_group_render(em, &w, g);
		last = g;
		got++;
	}
	if (opened && want)
		jw_end(&w);
	if (more && last) {
		char *nt = emu_page_token(em, scope.p, last->email);

		if (jw_k(&w, "nextPageToken"))
			jw_str(&w, nt);
		free(nt);
	}
	jw_end(&w);
out:
	emu_query_free(&q);
	free(domain);
	free(ukey);
	free(qs);
	free(token);
	free(key);
	free(sorder);
	buf_cleanup(&scope);
}

void h_galiases_insert(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = group_key(em, rq, rs);

	if (!g)
		return;
	char *alias = emu_alias_body(em, rq, rs);

	if (!alias)
		return;
	emu_group_alias_add(em, g, alias);
	struct jw w;

	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	emu_alias_render(em, &w, g->id, g->email, alias, g->gen);
	free(alias);
}

void h_galiases_list(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = group_key(em, rq, rs);

	if (g)
		emu_aliases_render(em, rq, rs, g->id, g->email, &g->aliases, g->gen);
}

void h_galiases_delete(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = group_key(em, rq, rs);

	if (!g)
		return;
	if (!strv_has(&g->aliases, rq->seg[1])) {
		emu_err(rs, 404, "notFound", "Resource Not Found: alias");
		return;
	}
	emu_group_alias_del(em, g, rq->seg[1]);
	emu_no_content(em, rs);
}

/* ---------------------------------------------------------------- members */

static int role_parse(const char *s)
{
	if (!s || !strcasecmp(s, "MEMBER"))
		return ROLE_MEMBER;
	if (!strcasecmp(s, "MANAGER"))
		return ROLE_MANAGER;
	if (!strcasecmp(s, "OWNER"))
		return ROLE_OWNER;
	return -1;
}

static bool delivery_ok(const char *s)
{
	static const char *const ok[] = { "ALL_MAIL", "DAILY", "DIGEST", "DISABLED", "NONE" };

	return in_list(ok, N(ok), s);
}

/* Resolves a memberKey to the member record of g, or NULL. */
static struct emu_member *member_key(struct emu *em, struct emu_group *g, const char *key)
{
	if (!strchr(key, '@'))
		return emu_member_find(g, key);
	struct emu_user *u = emu_user_find(em, key);

	if (u)
		return emu_member_find(g, u->id);
	struct emu_group *sub = emu_group_find(em, key);

	if (sub)
		return emu_member_find(g, sub->id);
	for (size_t i = 0; i < g->n_mem; i++)
		if (g->mem[i]->email && !strcasecmp(g->mem[i]->email, key))
			return g->mem[i];
	return NULL;
}

static int member_fields_check(struct json_object *jo, struct emu_resp *rs, int *role,
			       const char **delivery)
{
	static const char *const fields[] = { "delivery_settings", "email", "etag", "id",
					      "kind",		   "role",  "status", "type" };
	struct json_object *v;

	json_object_object_foreach(jo, key, val) {
		if (!in_list(fields, N(fields), key)) {
			unknown_field(rs, key);
			return -1;
		}
		(void)val;
	}
	*role = -2;
	if (json_object_object_get_ex(jo, "role", &v) && !json_object_is_type(v, json_type_null)) {
		*role = role_parse(json_object_get_string(v));
		if (*role < 0) {
			emu_err(rs, 400, "invalid", "Invalid Input: role");
			return -1;
		}
	}
	*delivery = NULL;
	if (json_object_object_get_ex(jo, "delivery_settings", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		*delivery = json_object_get_string(v);
		if (!delivery_ok(*delivery)) {
			emu_err(rs, 400, "invalid", "Invalid Input: delivery_settings");
			return -1;
		}
	}
	return 0;
}

struct emu_member *emu_member_insert_json(struct emu *em, struct emu_group *g,
					  struct json_object *jo, struct emu_resp *rs)
{
	struct json_object *v;
	const char *email = NULL, *id = NULL, *delivery;
	int role;

	if (member_fields_check(jo, rs, &role, &delivery))
		return NULL;
	if (json_object_object_get_ex(jo, "email", &v) && json_object_get_string_len(v))
		email = json_object_get_string(v);
	if (json_object_object_get_ex(jo, "id", &v) && json_object_get_string_len(v))
		id = json_object_get_string(v);
	if (!email && !id) {
		emu_err(rs, 400, "required", "Missing required field: memberKey");
		return NULL;
	}
	int type = MT_USER;
	const char *mid = NULL;
	char ext[32];
	struct emu_user *u = NULL;
	struct emu_group *sub = NULL;
	const char *key = email ? email : id;

	if (json_object_object_get_ex(jo, "type", &v) &&
	    !strcasecmp(json_object_get_string(v), "CUSTOMER")) {
		key = id ? id : "";
		if (strcmp(key, em->customer_id)) {
			emu_err(rs, 400, "invalid", "Invalid Input: memberKey");
			return NULL;
		}
		type = MT_CUSTOMER;
		mid = em->customer_id;
	} else if ((u = emu_user_find(em, key))) {
		mid = u->id;
	} else if ((sub = emu_group_find(em, key))) {
		type = MT_GROUP;
		mid = sub->id;
		if (emu_group_contains_group(em, sub, g)) {
			emu_err(rs, 400, "conditionNotMet", "Cyclic memberships not allowed");
			return NULL;
		}
	} else if (email && strchr(email, '@') && !emu_domain_find(em, strchr(email, '@') + 1)) {
		char *low = str_lower(xstrdup(email));

		if (!valid_email(low)) {
			free(low);
			emu_err(rs, 400, "invalid", "Invalid Input: memberKey");
			return NULL;
		}
		/* external addresses get a stable id derived from the address */
		snprintf(ext, sizeof(ext), "0%019llu",
			 (unsigned long long)(hash64(low, strlen(low), 3) % 10000000000000000000ull));
		free(low);
		mid = ext;
		/* Google lists external addresses as USER; EXTERNAL only when asked for, so that
		 * a test can show a client the type API-NOTES §16 says it may meet */
		if (json_object_object_get_ex(jo, "type", &v) &&
		    !strcasecmp(json_object_get_string(v), "EXTERNAL"))
			type = MT_EXTERNAL;
	} else {
		emu_err(rs, 404, "notFound", "Resource Not Found: memberKey");
		return NULL;
	}
	if (emu_member_find(g, mid)) {
		emu_err(rs, 409, "duplicate", "Member already exists.");
		return NULL;
	}
	/* Google lists a member under the address it was added with, which may be an alias */
	const char *as = mid == ext ? email
			 : u && email && strcasecmp(email, u->email) ? email
			 : sub && email && strcasecmp(email, sub->email) ? email
									  : NULL;
	struct emu_member *m = emu_member_add(em, g, mid, as, type, role >= 0 ? role : ROLE_MEMBER);

	if (delivery)
		m->delivery = xstrdup(delivery);
	return m;
}

static void render_member_resp(struct emu *em, struct emu_req *rq, struct emu_resp *rs,
			       const struct emu_group *g, const struct emu_member *m)
{
	struct jw w;

	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	emu_member_render(em, &w, g, m);
}

void h_members_insert(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = group_key(em, rq, rs);

	if (!g)
		return;
	struct json_object *jo = emu_body_json(rq, rs);

	if (!jo)
		return;
	struct emu_member *m = emu_member_insert_json(em, g, jo, rs);

	if (m)
		render_member_resp(em, rq, rs, g, m);
	json_object_put(jo);
}

static struct emu_member *member_of(struct emu *em, struct emu_req *rq, struct emu_resp *rs,
				    struct emu_group **gout)
{
	struct emu_group *g = group_key(em, rq, rs);

	*gout = g;
	if (!g)
		return NULL;
	struct emu_member *m = member_key(em, g, rq->seg[1]);

	if (!m)
		emu_err(rs, 404, "notFound", "Resource Not Found: memberKey");
	return m;
}

void h_members_get(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g;
	struct emu_member *m = member_of(em, rq, rs, &g);

	if (m)
		render_member_resp(em, rq, rs, g, m);
}

static void member_write(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g;
	struct emu_member *m = member_of(em, rq, rs, &g);

	if (!m)
		return;
	struct json_object *jo = emu_body_json(rq, rs);
	const char *delivery;
	int role;

	if (!jo)
		return;
	if (member_fields_check(jo, rs, &role, &delivery) == 0) {
		if (role >= 0)
			m->role = role;
		if (delivery)
			str_set(&m->delivery, delivery);
		m->gen = ++em->gen;
		emu_group_touch(em, g);
		render_member_resp(em, rq, rs, g, m);
	}
	json_object_put(jo);
}

void h_members_update(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	member_write(em, rq, rs);
}

void h_members_patch(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	member_write(em, rq, rs);
}

void h_members_delete(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g;
	struct emu_member *m = member_of(em, rq, rs, &g);

	if (!m)
		return;
	emu_member_del(em, g, m);
	emu_no_content(em, rs);
}

void h_members_has(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = group_key(em, rq, rs);

	if (!g)
		return;
	const char *key = rq->seg[1];
	struct emu_user *u = emu_user_find(em, key);
	struct emu_group *sub = u ? NULL : emu_group_find(em, key);
	const char *id = u ? u->id : sub ? sub->id : NULL;
	bool is = false;

	if (!id) {
		struct emu_member *m = member_key(em, g, key);

		if (!m) {
			emu_err(rs, 400, "invalid", "Invalid Input: memberKey");
			return;
		}
		is = true;
	} else {
		is = emu_group_has_member(em, g, id, 0);
	}
	struct jw w;

	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	jw_obj(&w);
	if (jw_k(&w, "isMember"))
		jw_bool(&w, is);
	jw_end(&w);
}

struct mlist {
	const struct emu_group **g;
	const struct emu_member **m;
	size_t n, cap;
	struct map seen;
};

static void mlist_collect(struct emu *em, struct mlist *l, const struct emu_group *g,
			  bool derived, int depth)
{
	for (size_t i = 0; i < g->n_mem; i++) {
		const struct emu_member *m = g->mem[i];

		if (derived && m->type == MT_GROUP && depth < 32) {
			struct emu_group *sub = map_get(&em->groups, m->id);

			if (sub)
				mlist_collect(em, l, sub, true, depth + 1);
			continue;
		}
		if (derived) {
			if (map_get(&l->seen, m->id))
				continue;
			map_put(&l->seen, m->id, (void *)m);
		}
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 64;
			l->g = xrealloc(l->g, l->cap * sizeof(*l->g));
			l->m = xrealloc(l->m, l->cap * sizeof(*l->m));
		}
		l->g[l->n] = g;
		l->m[l->n++] = m;
	}
}

void h_members_list(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = group_key(em, rq, rs);
	char *roles = NULL, *der = NULL, *token = NULL, *key = NULL;
	struct mlist l;
	struct buf scope;
	int max;

	memset(&l, 0, sizeof(l));
	buf_init(&scope);
	if (!g || emu_parse_max(rq, rs, 200, 200, true, &max))
		goto out;
	roles = emu_qp(rq, "roles");
	der = emu_qp(rq, "includeDerivedMembership");
	token = emu_qp(rq, "pageToken");
	bool derived = der && !strcasecmp(der, "true");
	unsigned rmask = 0;

	if (roles) {
		char *save = NULL;

		for (char *t = strtok_r(roles, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			int r = role_parse(t);

			if (r < 0) {
				emu_err(rs, 400, "invalid", "Invalid Input: roles");
				goto out;
			}
			rmask |= 1u << r;
		}
	}
	buf_addf(&scope, "members|%s|%u|%d", g->id, rmask, derived);
	size_t start = 0;

	if (token && *token) {
		key = emu_page_token_parse(em, scope.p, token);
		if (!key) {
			emu_err(rs, 400, "invalid", "Invalid page token");
			goto out;
		}
		start = (size_t)strtoull(key, NULL, 10);
	}
	mlist_collect(em, &l, g, derived, 0);
	struct jw w;
	char etag[64];
	int got = 0;
	bool opened = false, want = true;
	size_t next = 0;

	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	jw_obj(&w);
	if (jw_k(&w, "kind"))
		jw_str(&w, "admin#directory#members");
	if (jw_k(&w, "etag")) {
		emu_list_etag(em, scope.p, etag);
		jw_str(&w, etag);
	}
	for (size_t i = start; i < l.n; i++) {
		/* rolesFilter false: Google has at times ignored roles= and listed every role */
		if (rmask && em->roles_filter && !(rmask & (1u << l.m[i]->role)))
			continue;
		if (got == max) {
			next = i;
			break;
		}
		if (!opened) {
			opened = true;
			want = jw_k(&w, "members");
			if (want)
				jw_arr(&w);
		}
		if (want)
			emu_member_render(em, &w, l.g[i], l.m[i]);
		got++;
	}
	if (opened && want)
		jw_end(&w);
	if (next) {
		char nk[32];

		snprintf(nk, sizeof(nk), "%zu", next);
		char *nt = emu_page_token(em, scope.p, nk);

		if (jw_k(&w, "nextPageToken"))
			jw_str(&w, nt);
		free(nt);
	}
	jw_end(&w);
out:
	free(l.g);
	free(l.m);
	map_cleanup(&l.seen);
	free(roles);
	free(der);
	free(token);
	free(key);
	buf_cleanup(&scope);
}

/* ---------------------------------------------------------------- domains and customers */

static bool customer_ok(struct emu *em, const char *c)
{
	return !strcmp(c, "my_customer") || !strcmp(c, em->customer_id);
}

static void domain_render(struct emu *em, struct jw *w, const struct emu_domain *d)
{
	char etag[64];

	jw_obj(w);
	if (jw_k(w, "kind"))
		jw_str(w, "admin#directory#domain");
	if (jw_k(w, "etag")) {
		emu_etag(em, d->name, (unsigned long long)d->created_ms, etag);
		jw_str(w, etag);
	}
	if (jw_k(w, "domainName"))
		jw_str(w, d->name);
	if (jw_k(w, "isPrimary"))
		jw_bool(w, d->primary);
	if (jw_k(w, "verified"))
		jw_bool(w, d->verified);
	if (jw_k(w, "creationTime"))
		jw_i64s(w, d->created_ms);
	jw_end(w);
}

void h_domains_list(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct jw w;
	char etag[64];

	if (!customer_ok(em, rq->seg[0])) {
		emu_err(rs, 400, "badRequest", "Bad Request");
		return;
	}
	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	jw_obj(&w);
	if (jw_k(&w, "kind"))
		jw_str(&w, "admin#directory#domains");
	if (jw_k(&w, "etag")) {
		emu_list_etag(em, "domains", etag);
		jw_str(&w, etag);
	}
	if (em->n_domains && jw_k(&w, "domains")) {
		jw_arr(&w);
		for (size_t i = 0; i < em->n_domains; i++)
			domain_render(em, &w, &em->domains[i]);
		jw_end(&w);
	}
	jw_end(&w);
}

void h_domains_get(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_domain *d = customer_ok(em, rq->seg[0]) ? emu_domain_find(em, rq->seg[1]) : NULL;
	struct jw w;

	if (!d) {
		emu_err(rs, 404, "notFound", "Domain not found.");
		return;
	}
	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	domain_render(em, &w, d);
}

void h_customers_get(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct jw w;
	char etag[64];
	char alt[300];

	if (!customer_ok(em, rq->seg[0])) {
		emu_err(rs, 403, "forbidden", "Not Authorized to access this resource/api");
		return;
	}
	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	jw_obj(&w);
	if (jw_k(&w, "kind"))
		jw_str(&w, "admin#directory#customer");
	if (jw_k(&w, "id"))
		jw_str(&w, em->customer_id);
	if (jw_k(&w, "etag")) {
		emu_etag(em, em->customer_id, 1, etag);
		jw_str(&w, etag);
	}
	if (jw_k(&w, "customerDomain"))
		jw_str(&w, emu_primary_domain(em));
	snprintf(alt, sizeof(alt), "postmaster@%s", emu_primary_domain(em));
	if (jw_k(&w, "alternateEmail"))
		jw_str(&w, alt);
	if (jw_k(&w, "customerCreationTime"))
		jw_time(&w, em->customer_created_ms);
	if (jw_k(&w, "language"))
		jw_str(&w, em->customer_language);
	jw_end(&w);
}

/* ---------------------------------------------------------------- Groups Settings */

struct gs_field {
	const char *name;
	const char *def;
	int type; /* 0 free string, 1 "true"/"false", 2 integer, 3 enum (see gs_enum) */
};

static const struct gs_field gs_fields[] = {
	{ "whoCanJoin", "CAN_REQUEST_TO_JOIN", 3 },
	{ "whoCanViewMembership", "ALL_MEMBERS_CAN_VIEW", 3 },
	{ "whoCanViewGroup", "ALL_MEMBERS_CAN_VIEW", 3 },
	{ "whoCanInvite", "ALL_MANAGERS_CAN_INVITE", 0 },
	{ "whoCanAdd", "ALL_MANAGERS_CAN_ADD", 0 },
	{ "allowExternalMembers", "false", 1 },
	{ "whoCanPostMessage", "ANYONE_CAN_POST", 3 },
	{ "allowWebPosting", "true", 1 },
	{ "primaryLanguage", "en", 0 },
	{ "maxMessageBytes", "26214400", 2 },
	{ "isArchived", "false", 1 },
	{ "archiveOnly", "false", 1 },
	{ "messageModerationLevel", "MODERATE_NONE", 0 },
	{ "spamModerationLevel", "MODERATE", 0 },
	{ "replyTo", "REPLY_TO_IGNORE", 0 },
	{ "includeCustomFooter", "false", 1 },
	{ "customFooterText", "", 0 },
	{ "sendMessageDenyNotification", "false", 1 },
	{ "defaultMessageDenyNotificationText", "", 0 },
	{ "showInGroupDirectory", "false", 1 },
	{ "allowGoogleCommunication", "false", 1 },
	{ "membersCanPostAsTheGroup", "false", 1 },
	{ "messageDisplayFont", "DEFAULT_FONT", 0 },
	{ "includeInGlobalAddressList", "true", 1 },
	{ "whoCanLeaveGroup", "ALL_MEMBERS_CAN_LEAVE", 0 },
	{ "whoCanContactOwner", "ANYONE_CAN_CONTACT", 0 },
	{ "whoCanAddReferences", "NONE", 0 },
	{ "whoCanAssignTopics", "NONE", 0 },
	{ "whoCanUnassignTopic", "NONE", 0 },
	{ "whoCanTakeTopics", "NONE", 0 },
	{ "whoCanMarkDuplicate", "NONE", 0 },
	{ "whoCanMarkNoResponseNeeded", "NONE", 0 },
	{ "whoCanMarkFavoriteReplyOnAnyTopic", "NONE", 0 },
	{ "whoCanMarkFavoriteReplyOnOwnTopic", "NONE", 0 },
	{ "whoCanUnmarkFavoriteReplyOnAnyTopic", "NONE", 0 },
	{ "whoCanEnterFreeFormTags", "NONE", 0 },
	{ "whoCanModifyTagsAndCategories", "NONE", 0 },
	{ "favoriteRepliesOnTop", "true", 1 },
	{ "whoCanApproveMembers", "ALL_MANAGERS_CAN_APPROVE", 0 },
	{ "whoCanBanUsers", "OWNERS_AND_MANAGERS", 0 },
	{ "whoCanModifyMembers", "OWNERS_AND_MANAGERS", 0 },
	{ "whoCanApproveMessages", "OWNERS_AND_MANAGERS", 0 },
	{ "whoCanDeleteAnyPost", "OWNERS_AND_MANAGERS", 0 },
	{ "whoCanDeleteTopics", "OWNERS_AND_MANAGERS", 0 },
	{ "whoCanLockTopics", "OWNERS_AND_MANAGERS", 0 },
	{ "whoCanMoveTopicsIn", "OWNERS_AND_MANAGERS", 0 },
	{ "whoCanMoveTopicsOut", "OWNERS_AND_MANAGERS", 0 },
	{ "whoCanPostAnnouncements", "OWNERS_AND_MANAGERS", 0 },
	{ "whoCanHideAbuse", "NONE", 0 },
	{ "whoCanMakeTopicsSticky", "NONE", 0 },
	{ "whoCanModerateMembers", "OWNERS_AND_MANAGERS", 0 },
	{ "whoCanModerateContent", "OWNERS_AND_MANAGERS", 0 },
	{ "whoCanAssistContent", "NONE", 0 },
	{ "customRolesEnabledForSettingsToBeMerged", "false", 1 },
	{ "enableCollaborativeInbox", "false", 1 },
	{ "whoCanDiscoverGroup", "ALL_IN_DOMAIN_CAN_DISCOVER", 0 },
	{ "default_sender", "DEFAULT_SELF", 0 },
	{ "customReplyTo", "", 0 },
};

static const char *const gs_join[] = { "ANYONE_CAN_JOIN", "ALL_IN_DOMAIN_CAN_JOIN",
				       "INVITED_CAN_JOIN", "CAN_REQUEST_TO_JOIN" };
/* Ordered from broadest to narrowest. */
static const char *const gs_view[] = { "ANYONE_CAN_VIEW", "ALL_IN_DOMAIN_CAN_VIEW",
				       "ALL_MEMBERS_CAN_VIEW", "ALL_MANAGERS_CAN_VIEW",
				       "ALL_OWNERS_CAN_VIEW" };
static const char *const gs_post[] = { "NONE_CAN_POST",	      "ALL_MANAGERS_CAN_POST",
				       "ALL_MEMBERS_CAN_POST",   "ALL_OWNERS_CAN_POST",
				       "ALL_IN_DOMAIN_CAN_POST", "ANYONE_CAN_POST" };

static int rank_of(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return (int)i;
	return -1;
}

static const struct gs_field *gs_find(const char *name)
{
	for (size_t i = 0; i < N(gs_fields); i++)
		if (!strcmp(gs_fields[i].name, name))
			return &gs_fields[i];
	return NULL;
}

static const char *gs_value(const struct emu_group *g, const struct gs_field *f)
{
	struct json_object *v;

	if (g->settings && json_object_object_get_ex(g->settings, f->name, &v))
		return json_object_get_string(v);
	return f->def;
}

static struct emu_group *gs_group(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = strchr(rq->seg[0], '@') ? emu_group_find(em, rq->seg[0]) : NULL;

	if (g && em->new_group_404_ms > 0 && now_ms() - g->created_ms < em->new_group_404_ms)
		g = NULL;
	if (!g)
		emu_err(rs, 404, "notFound", "Resource Not Found: groupUniqueId");
	return g;
}

static void gs_render(struct emu *em, struct emu_req *rq, struct emu_resp *rs,
		      const struct emu_group *g)
{
	char *alt = emu_qp(rq, "alt");
	bool json = alt && !strcmp(alt, "json");

	(void)em;
	free(alt);
	if (!json) {
		/* the API's default representation is Atom */
		rs->status = 200;
		buf_reset(&rs->body);
		snprintf(rs->ctype, sizeof(rs->ctype), "application/atom+xml; charset=UTF-8");
		buf_adds(&rs->body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<entry "
				    "xmlns=\"http://www.w3.org/2005/Atom\" "
				    "xmlns:apps=\"http://schemas.google.com/apps/2006\" "
				    "xmlns:gd=\"http://schemas.google.com/g/2005\">");
		buf_addf(&rs->body, "<id>tag:googleapis.com,2010:apps:groupssettings:GROUP:%s</id>"
				    "<title>Groups Resource Entry</title><author><name>Google"
				    "</name></author><apps:email>%s</apps:email>",
			 g->email, g->email);
		for (size_t i = 0; i < N(gs_fields); i++)
			buf_addf(&rs->body, "<apps:%s>%s</apps:%s>", gs_fields[i].name,
				 gs_value(g, &gs_fields[i]), gs_fields[i].name);
		buf_adds(&rs->body, "</entry>\n");
		return;
	}
	struct jw w;

	emu_json_begin(rs, 200);
	jw_init(&w, &rs->body, rq->fields);
	jw_obj(&w);
	if (jw_k(&w, "kind"))
		jw_str(&w, "groupsSettings#groups");
	if (jw_k(&w, "email"))
		jw_str(&w, g->email);
	if (jw_k(&w, "name"))
		jw_str(&w, g->name);
	if (jw_k(&w, "description"))
		jw_str(&w, g->description);
	for (size_t i = 0; i < N(gs_fields); i++) {
		if (!jw_k(&w, gs_fields[i].name))
			continue;
		if (gs_fields[i].type == 2)
			jw_int(&w, atoll(gs_value(g, &gs_fields[i])));
		else
			jw_str(&w, gs_value(g, &gs_fields[i]));
	}
	jw_end(&w);
}

void h_gsettings_get(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = gs_group(em, rq, rs);

	if (g)
		gs_render(em, rq, rs, g);
}

static void gs_invalid(struct emu_resp *rs, const char *field, const char *value)
{
	struct buf m;

	buf_init(&m);
	buf_addf(&m, "Invalid Value: %s=%s", field, value);
	emu_err(rs, 400, "invalid", m.p);
	buf_cleanup(&m);
}

static void gs_write(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	struct emu_group *g = gs_group(em, rq, rs);

	if (!g)
		return;
	struct json_object *jo = emu_body_json(rq, rs);

	if (!jo)
		return;
	json_object_object_foreach(jo, key, v) {
		if (!strcmp(key, "kind") || !strcmp(key, "email") || !strcmp(key, "name") ||
		    !strcmp(key, "description"))
			continue;
		const struct gs_field *f = gs_find(key);

		if (!f) {
			unknown_field(rs, key);
			goto out;
		}
		if (json_object_is_type(v, json_type_null))
			continue;
		const char *s = json_object_get_string(v);

		if (f->type == 1 && strcmp(s, "true") && strcmp(s, "false")) {
			gs_invalid(rs, key, s);
			goto out;
		}
		if (f->type == 3) {
			int r = !strcmp(key, "whoCanJoin")	   ? rank_of(gs_join, N(gs_join), s)
				: !strcmp(key, "whoCanPostMessage") ? rank_of(gs_post, N(gs_post), s)
								    : rank_of(gs_view, N(gs_view), s);

			if (r < 0) {
				gs_invalid(rs, key, s);
				goto out;
			}
		}
	}
	/* membership visibility may not be broader than group visibility */
	struct json_object *jv;
	const char *vm = json_object_object_get_ex(jo, "whoCanViewMembership", &jv)
				 ? json_object_get_string(jv)
				 : gs_value(g, gs_find("whoCanViewMembership"));
	const char *vg = json_object_object_get_ex(jo, "whoCanViewGroup", &jv)
				 ? json_object_get_string(jv)
				 : gs_value(g, gs_find("whoCanViewGroup"));

	if (rank_of(gs_view, N(gs_view), vm) < rank_of(gs_view, N(gs_view), vg)) {
		emu_err(rs, 400, "invalidArgument",
			"Failed request validation in update settings: "
			"WHO_CAN_VIEW_MEMBERSHIP_CANNOT_BE_BROADER_THAN_WHO_CAN_SEE_GROUP");
		goto out;
	}
	if (!g->settings)
		g->settings = json_object_new_object();
	json_object_object_foreach(jo, k2, v2) {
		if (!strcmp(k2, "name") && json_object_is_type(v2, json_type_string))
			str_set(&g->name, json_object_get_string(v2));
		else if (!strcmp(k2, "description") && json_object_is_type(v2, json_type_string))
			str_set(&g->description, json_object_get_string(v2));
		else if (gs_find(k2) && !json_object_is_type(v2, json_type_null))
			json_object_object_add(g->settings, k2,
					       json_object_new_string(json_object_get_string(v2)));
	}
	emu_group_touch(em, g);
	gs_render(em, rq, rs, g);
out:
	json_object_put(jo);
}

void h_gsettings_update(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	gs_write(em, rq, rs);
}

void h_gsettings_patch(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	gs_write(em, rq, rs);
}
