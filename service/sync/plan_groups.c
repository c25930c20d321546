#include "plan_groups.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_put.h"

static const char *const op_names[PLAN_GROUP_OP_N] = {
	"none",		"link_group", "create_group",	"rename_group",
	"update_group", "unmanage_group", "skip",	"conflict",
	"fail",		"mark_deleted_in_google", "delete_group",
};

const char *plan_group_op_name(enum plan_group_op op)
{
	return op < PLAN_GROUP_OP_N ? op_names[op] : "?";
}

/* ------------------------------------------------------------------ small helpers */

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* A JSON string literal of s (malloc'd), or NULL when out of memory. */
static char *json_quote(const char *s)
{
	struct json_object *jo = json_object_new_string(s);
	if (!jo)
		return NULL;
	char *t = strdup(json_object_to_json_string_ext(jo, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(jo);
	return t;
}

/* Google's group address rule: local part 1–64 of a-z 0-9 - _ ' . without leading, trailing or
 * double periods, and a domain. NULL when fine. */
static const char *email_problem(const char *addr)
{
	const char *at = strrchr(addr, '@');
	if (!at || !at[1] || strchr(at + 1, ' '))
		return "the group email needs a local part and a domain";
	size_t n = (size_t)(at - addr);
	if (n == 0 || n > 64)
		return "the group email's local part must have 1-64 characters";
	if (addr[0] == '.' || addr[n - 1] == '.')
		return "the group email's local part may not start or end with a period";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)addr[i];
		if (c >= 0x80 || !(isalnum(c) || c == '-' || c == '_' || c == '\'' || c == '.'))
			return "the group email's local part may hold only a-z 0-9 - _ ' and .";
		if (c == '.' && addr[i + 1] == '.')
			return "the group email's local part may not hold two periods in a row";
	}
	return NULL;
}

static bool domain_allowed(const struct plan_groups_settings *s, const char *email)
{
	const char *at = strrchr(email, '@');
	if (!at)
		return false;
	for (size_t i = 0; i < s->n_domains; i++)
		if (!strcasecmp(at + 1, s->domains[i]))
			return true;
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool linked_user(const char *const *sorted, size_t n, const char *id)
{
	return id[0] && bsearch(&id, sorted, n, sizeof(*sorted), cmp_str) != NULL;
}

static bool member_has_address(const struct plan_dmember *m, const char *addr)
{
	if (!addr[0])
		return false;
	if (m->primary_email[0] && !strcasecmp(m->primary_email, addr))
		return true;
	for (size_t i = 0; i < m->n_addresses; i++)
		if (!strcasecmp(m->addresses[i], addr))
			return true;
	return false;
}

/* ------------------------------------------------------------------ entries */

static void change_list_free(struct plan_change *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].field);
		free(c[i].before);
		free(c[i].after);
	}
	free(c);
}

static void mc_free(struct plan_member_change *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].user_id);
		free(c[i].key);
		free(c[i].google_id);
	}
	free(c);
}

static void entry_free(struct plan_group_entry *e)
{
	free(e->reason);
	free(e->message);
	free(e->google_id);
	free(e->email);
	change_list_free(e->changes, e->n_changes);
	json_object_put(e->body);
	mc_free(e->adds, e->n_adds);
	mc_free(e->removes, e->n_removes);
	memset(e, 0, sizeof(*e));
}

static int set_reason(struct plan_group_entry *e, enum plan_group_op op, const char *reason,
		      const char *message)
{
	e->op = op;
	e->reason = reason ? strdup(reason) : NULL;
	e->message = message ? strdup(message) : NULL;
	return (reason && !e->reason) || (message && !e->message) ? -1 : 0;
}

/* Records field: before → after (plain strings) and puts after into the body. */
static int add_change(struct plan_group_entry *e, const char *field, const char *before,
		      const char *after)
{
	struct plan_change *c = realloc(e->changes, (e->n_changes + 1) * sizeof(*c));
	if (!c)
		return -1;
	e->changes = c;
	c = &e->changes[e->n_changes];
	memset(c, 0, sizeof(*c));
	e->n_changes++;
	c->field = strdup(field);
	c->before = before ? json_quote(before) : NULL;
	c->after = json_quote(after);
	if (!c->field || (before && !c->before) || !c->after)
		return -1;
	if (!e->body && !(e->body = json_object_new_object()))
		return -1;
	return json_put(e->body, field, json_object_new_string(after));
}

static int mc_push(struct plan_member_change **arr, size_t *n, const char *user_id,
		   const char *key, const char *google_id)
{
	struct plan_member_change *a = realloc(*arr, (*n + 1) * sizeof(*a));
	if (!a)
		return -1;
	*arr = a;
	a = &a[(*n)++];
	a->user_id = xstrdup(user_id);
	a->key = xstrdup(key);
	a->google_id = xstrdup(google_id);
	return a->user_id && a->key && a->google_id ? 0 : -1;
}

/* ------------------------------------------------------------------ membership */

static int plan_members(const struct plan_groups_settings *s, const char *const *linked,
			size_t n_linked, const struct plan_group *g, struct plan_group_entry *e)
{
	size_t nm = g->n_members;
	bool *present = calloc(nm ? nm : 1, sizeof(*present));
	if (!present)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < nm; i++)
		e->wanted += g->members[i].google_id[0] != 0;
	e->actual = (int)g->n_gm;
	for (size_t j = 0; j < g->n_gm; j++) {
		const struct plan_gm *m = &g->gm[j];
		if (m->type != PLAN_GM_USER && m->type != PLAN_GM_EXTERNAL) {
			e->not_managed++;
			continue;
		}
		/* by id first, then by address */
		size_t hit = nm;
		for (size_t i = 0; i < nm && hit == nm; i++)
			if (g->members[i].google_id[0] && m->id[0] &&
			    !strcmp(g->members[i].google_id, m->id))
				hit = i;
		for (size_t i = 0; i < nm && hit == nm; i++)
			if (g->members[i].google_id[0] && member_has_address(&g->members[i], m->email))
				hit = i;
		if (hit < nm) {
			present[hit] = true;
			continue;
		}
		if (m->role != PLAN_GM_MEMBER) {
			e->not_managed++;
			continue;
		}
		bool unlinked_member = false;
		for (size_t i = 0; i < nm && !unlinked_member; i++)
			unlinked_member = !g->members[i].google_id[0] && m->email[0] &&
					  !strcasecmp(g->members[i].email, m->email);
		if (unlinked_member) {
			e->not_managed++;
			continue;
		}
		bool ours = m->type == PLAN_GM_USER && linked_user(linked, n_linked, m->id);
		if (!ours && !s->authoritative) {
			e->not_managed++;
			continue;
		}
		if (mc_push(&e->removes, &e->n_removes, "", m->id[0] ? m->id : m->email,
			    m->id)) {
			rc = -1;
			goto out;
		}
	}
	for (size_t i = 0; i < nm; i++) {
		const struct plan_dmember *d = &g->members[i];
		if (!d->google_id[0] || present[i])
			continue;
		const char *key = d->primary_email[0] ? d->primary_email : d->google_id;
		if (mc_push(&e->adds, &e->n_adds, d->user_id, key, d->google_id)) {
			rc = -1;
			goto out;
		}
	}
out:
	free(present);
	return rc;
}

/* ------------------------------------------------------------------ one group */

bool plan_group_in_scope(const struct plan_group *g)
{
	return g->exists && g->bound && g->email[0];
}

/* Name and description of the directory group against Google's group t. */
static int plan_fields(const struct plan_group *g, struct json_object *t,
		       struct plan_group_entry *e)
{
	if (strcmp(jstr(t, "name"), g->name) && add_change(e, "name", jstr(t, "name"), g->name))
		return -1;
	if (strcmp(jstr(t, "description"), g->description) &&
	    add_change(e, "description", jstr(t, "description"), g->description))
		return -1;
	return 0;
}

struct rule_outcome {
	enum plan_group_op op;
	const char *reason, *message;
};

/* Google's rules and the allowed domains, before anything is read from Google: false with the
 * outcome in *r when the group breaks one. */
static bool group_rules(const struct plan_groups_settings *s, const struct plan_group *g,
			struct rule_outcome *r)
{
	const char *why = strlen(g->email) >= 320 ? "the group email is too long"
						   : email_problem(g->email);
	size_t nchars = utf8_chars(g->name);
	if (why)
		*r = (struct rule_outcome){PLAN_GROUP_FAIL, "invalid_email", why};
	else if (!domain_allowed(s, g->email))
		*r = (struct rule_outcome){PLAN_GROUP_SKIP, "domain_not_configured",
					   "the group's email domain is not an allowed domain of "
					   "the integration"};
	else if (nchars == 0 || nchars > PLAN_GROUP_NAME_MAX)
		*r = (struct rule_outcome){PLAN_GROUP_FAIL, "invalid_name",
					   "Google requires a group name of 1-73 characters"};
	else if (strpbrk(g->name, "<>="))
		/* Google refuses < and > in names (400 "Invalid Input: groupName"); = as in user
		 * names, which its older rules forbade too (API-NOTES §8) */
		*r = (struct rule_outcome){PLAN_GROUP_FAIL, "invalid_name",
					   "the group name contains < > or =, which Google refuses"};
	else if (utf8_chars(g->description) > PLAN_GROUP_DESCRIPTION_MAX)
		*r = (struct rule_outcome){PLAN_GROUP_FAIL, "invalid_description",
					   "Google allows at most 4096 characters of description"};
	else
		return true;
	return false;
}

bool plan_group_needs_google(const struct plan_groups_settings *s, const struct plan_group *g)
{
	struct rule_outcome r;
	return plan_group_in_scope(g) && group_rules(s, g, &r);
}

static int plan_one(const struct plan_groups_settings *s, const char *const *linked,
		    size_t n_linked, const struct plan_group *g, size_t idx,
		    struct plan_group_entry *e)
{
	e->group = idx;
	e->op = PLAN_GROUP_NONE;
	bool has_link = g->google_id[0] != 0;
	if (!plan_group_in_scope(g)) {
		if (has_link && !strcmp(g->link_status, "delete_requested")) {
			e->google_id = xstrdup(g->google_id);
			return e->google_id ? set_reason(e, PLAN_GROUP_DELETE, NULL, NULL) : -1;
		}
		if (has_link && strcmp(g->link_status, "unmanaged") &&
		    strcmp(g->link_status, "deleted")) {
			e->google_id = xstrdup(g->google_id);
			const char *why = !g->exists ? "group_deleted"
					  : !g->bound ? "group_unbound"
						      : "email_removed";
			return e->google_id ? set_reason(e, PLAN_GROUP_UNMANAGE, why, NULL) : -1;
		}
		return set_reason(e, PLAN_GROUP_SKIP, "not_in_scope", NULL);
	}
	char email[320];
	if ((size_t)snprintf(email, sizeof(email), "%s", g->email) >= sizeof(email))
		return set_reason(e, PLAN_GROUP_FAIL, "invalid_email", "the group email is too long");
	for (char *c = email; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (!(e->email = strdup(email)))
		return -1;
	if (has_link && !(e->google_id = strdup(g->google_id)))
		return -1;
	struct rule_outcome r;
	if (!group_rules(s, g, &r))
		return set_reason(e, r.op, r.reason, r.message);

	if (has_link) {
		if (g->g_missing)
			return set_reason(e, PLAN_GROUP_DELETED_IN_GOOGLE, "deleted_in_google",
					  NULL);
		if (!g->g)
			return set_reason(e, PLAN_GROUP_SKIP, "not_read", NULL);
		if (strcasecmp(jstr(g->g, "email"), email)) {
			if (g->addr_is_user)
				return set_reason(e, PLAN_GROUP_CONFLICT, "email_owned_by_user",
						  "a Google user holds the group's new email");
			if (g->by_addr && strcmp(jstr(g->by_addr, "id"), g->google_id))
				return set_reason(e, PLAN_GROUP_CONFLICT, "email_taken",
						  "another Google group holds the group's new "
						  "email");
			if (add_change(e, "email", jstr(g->g, "email"), email))
				return -1;
		}
		if (plan_fields(g, g->g, e))
			return -1;
		e->op = e->n_changes == 0		    ? PLAN_GROUP_NONE
			: !strcmp(e->changes[0].field, "email") ? PLAN_GROUP_RENAME
							      : PLAN_GROUP_UPDATE;
		return g->gm_read ? plan_members(s, linked, n_linked, g, e) : 0;
	}
	if (g->addr_is_user)
		return set_reason(e, PLAN_GROUP_CONFLICT, "email_owned_by_user",
				  "a Google user holds the group's email (primary or alias)");
	if (g->by_addr) {
		if (g->by_addr_linked_elsewhere)
			return set_reason(e, PLAN_GROUP_CONFLICT, "linked_elsewhere",
					  "the Google group is linked to another group");
		if (!(e->google_id = xstrdup(jstr(g->by_addr, "id"))))
			return -1;
		e->op = PLAN_GROUP_LINK;
		/* Adopted by an alias: the directory's email becomes the primary address in the same
		 * write (Google keeps the old one as an alias), as a takeover of a user does. */
		const char *primary = jstr(g->by_addr, "email");
		if (primary && strcasecmp(primary, email) && add_change(e, "email", primary, email))
			return -1;
		if (plan_fields(g, g->by_addr, e))
			return -1;
		return g->gm_read ? plan_members(s, linked, n_linked, g, e) : 0;
	}
	if (g->n_members == 0)
		return set_reason(e, PLAN_GROUP_SKIP, "no_members", NULL);
	e->op = PLAN_GROUP_CREATE;
	if (add_change(e, "email", NULL, email) || add_change(e, "name", NULL, g->name))
		return -1;
	if (g->description[0] && add_change(e, "description", NULL, g->description))
		return -1;
	struct plan_group empty = *g;
	empty.gm = NULL;
	empty.n_gm = 0;
	return plan_members(s, linked, n_linked, &empty, e);
}

int plan_groups_run(const struct plan_groups_settings *s, const struct plan_group *groups, size_t n,
		    struct plan_groups *p)
{
	memset(p, 0, sizeof(*p));
	size_t nl = s->n_linked_user_ids;
	const char **linked = malloc((nl ? nl : 1) * sizeof(*linked));
	p->entries = calloc(n ? n : 1, sizeof(*p->entries));
	if (!linked || !p->entries)
		goto oom;
	if (nl)
		memcpy(linked, s->linked_user_ids, nl * sizeof(*linked));
	qsort(linked, nl, sizeof(*linked), cmp_str);
	p->n = n;
	for (size_t i = 0; i < n; i++) {
		if (plan_one(s, linked, nl, &groups[i], i, &p->entries[i]))
			goto oom;
		p->counts[p->entries[i].op]++;
		p->n_adds += (int)p->entries[i].n_adds;
		p->n_removes += (int)p->entries[i].n_removes;
	}
	free(linked);
	return 0;
oom:
	free(linked);
	plan_groups_free(p);
	return -1;
}

void plan_groups_free(struct plan_groups *p)
{
	for (size_t i = 0; i < p->n; i++)
		entry_free(&p->entries[i]);
	free(p->entries);
	memset(p, 0, sizeof(*p));
}

char *plan_group_changes_json(const struct plan_group_entry *e)
{
	struct json_object *arr = json_object_new_array();
	if (!arr)
		return NULL;
	for (size_t i = 0; i < e->n_changes; i++) {
		const struct plan_change *c = &e->changes[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "field", json_object_new_string(c->field));
		json_object_object_add(o, "before", c->before ? json_tokener_parse(c->before) : NULL);
		json_object_object_add(o, "after", c->after ? json_tokener_parse(c->after) : NULL);
		json_object_array_add(arr, o);
	}
	const char *t = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE);
	char *out = t ? strdup(t) : NULL;
	json_object_put(arr);
	return out;
}
