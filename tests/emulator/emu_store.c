/* SPDX-License-Identifier: MIT */
/* gws-emulator store: customer, domains, org units, users, groups, members; rendering; seeding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "emu.h"

static const char *const scope_names[] = {
	"admin.directory.user",		 "admin.directory.user.readonly",
	"admin.directory.user.alias",	 "admin.directory.user.alias.readonly",
	"admin.directory.group",	 "admin.directory.group.readonly",
	"admin.directory.group.member", "admin.directory.group.member.readonly",
	"admin.directory.domain",	 "admin.directory.domain.readonly",
	"admin.directory.customer",	 "admin.directory.customer.readonly",
	"apps.groups.settings",		 "cloud-platform",
	"admin.directory.orgunit",	 "admin.directory.orgunit.readonly",
	"admin.directory.user.security",
};

#define SCOPE_PREFIX "https://www.googleapis.com/auth/"

unsigned scope_bit(const char *scope)
{
	if (!str_has_prefix(scope, SCOPE_PREFIX))
		return 0;
	scope += strlen(SCOPE_PREFIX);
	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
		if (!strcmp(scope, scope_names[i]))
			return 1u << i;
	return 0;
}

unsigned scopes_parse(const char *list, bool *unknown)
{
	unsigned bits = 0;
	char *dup = xstrdup(list ? list : "");
	char *save = NULL;

	*unknown = false;
	for (char *t = strtok_r(dup, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
		unsigned b = scope_bit(t);

		/*
		 * Scopes outside the Admin SDK (openid, email, other Google APIs) are allowed but
		 * grant nothing; an admin.* or apps.groups.* scope we do not know does not exist.
		 */
		const char *rest = str_has_prefix(t, SCOPE_PREFIX) ? t + strlen(SCOPE_PREFIX) : NULL;

		if (!b && (rest ? str_has_prefix(rest, "admin.") || str_has_prefix(rest, "apps.groups")
				: strcmp(t, "openid") && strcmp(t, "email") && strcmp(t, "profile")))
			*unknown = true;
		bits |= b;
	}
	free(dup);
	return bits;
}

/* ---------------------------------------------------------------- lifecycle */

static void user_free(struct emu_user *u)
{
	free(u->email);
	free(u->given);
	free(u->family);
	free(u->display);
	free(u->password);
	free(u->hash_fn);
	free(u->ou);
	free(u->recovery_email);
	free(u->recovery_phone);
	free(u->susp_reason);
	strv_clear(&u->aliases);
	strv_clear(&u->nonedit);
	for (size_t i = 0; i < u->n_extras; i++) {
		free(u->extras[i].key);
		free(u->extras[i].json);
	}
	free(u->extras);
	free(u);
}

static void member_free(struct emu_member *m)
{
	free(m->id);
	free(m->email);
	free(m->delivery);
	free(m);
}

static void group_free(struct emu_group *g)
{
	for (size_t i = 0; i < g->n_mem; i++)
		member_free(g->mem[i]);
	free(g->mem);
	map_cleanup(&g->mem_idx);
	free(g->email);
	free(g->name);
	free(g->description);
	strv_clear(&g->aliases);
	strv_clear(&g->nonedit);
	json_object_put(g->settings);
	free(g);
}

static void store_clear(struct emu *em)
{
	for (size_t i = 0; i < em->users.cap; i++)
		if (map_live(&em->users, i))
			user_free(em->users.e[i].val);
	for (size_t i = 0; i < em->groups.cap; i++)
		if (map_live(&em->groups, i))
			group_free(em->groups.e[i].val);
	map_cleanup(&em->users);
	map_cleanup(&em->groups);
	map_cleanup(&em->emails);
	for (int o = 0; o < ORD_N; o++) {
		free(em->usort[o].v);
		memset(&em->usort[o], 0, sizeof(em->usort[o]));
	}
	free(em->gsort);
	em->gsort = NULL;
	em->n_gsort = 0;
	free(em->deleted);
	em->deleted = NULL;
	em->n_deleted = 0;
	for (size_t i = 0; i < em->n_domains; i++)
		free(em->domains[i].name);
	free(em->domains);
	em->domains = NULL;
	em->n_domains = 0;
	strv_clear(&em->ous);
	for (size_t i = 0; i < em->n_sas; i++)
		emu_sa_free(em->sas[i]);
	free(em->sas);
	em->sas = NULL;
	em->n_sas = 0;
	for (size_t i = 0; i < em->n_clients; i++)
		emu_client_free(em->clients[i]);
	free(em->clients);
	em->clients = NULL;
	em->n_clients = 0;
	for (size_t i = 0; i < em->tokens.cap; i++)
		if (map_live(&em->tokens, i))
			emu_token_free(em->tokens.e[i].val);
	map_cleanup(&em->tokens);
	for (size_t i = 0; i < em->codes.cap; i++)
		if (map_live(&em->codes, i))
			emu_code_free(em->codes.e[i].val);
	map_cleanup(&em->codes);
	for (size_t i = 0; i < em->n_faults; i++)
		emu_fault_free(em->faults[i]);
	free(em->faults);
	em->faults = NULL;
	em->n_faults = 0;
	for (size_t i = 0; i < em->quota.cap; i++) {
		if (!map_live(&em->quota, i))
			continue;
		struct emu_quota_win *qw = em->quota.e[i].val;

		free(qw->ts);
		free(qw);
	}
	map_cleanup(&em->quota);
	for (size_t i = 0; i < em->counters.cap; i++)
		if (map_live(&em->counters, i))
			free(em->counters.e[i].val);
	map_cleanup(&em->counters);
	emu_log_free(em);
	free(em->customer_language);
	em->customer_language = NULL;
	free(em->project_number);
	em->project_number = NULL;
	free(em->consent);
	em->consent = NULL;
	free(em->consent_user);
	em->consent_user = NULL;
}

static void rand_alnum(char *out, size_t n)
{
	static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";

	for (size_t i = 0; i < n; i++)
		out[i] = al[rand_u64() % 36];
	out[n] = '\0';
}

void emu_reset(struct emu *em, const char *domain)
{
	char dom[256];

	snprintf(dom, sizeof(dom), "%s", domain ? domain : em->default_domain);
	store_clear(em);
	strcpy(em->customer_id, "C0");
	rand_alnum(em->customer_id + 2, 7);
	em->customer_created_ms = now_ms() - 86400000LL * 365;
	em->customer_language = xstrdup("en");
	em->project_number = xstrdup("123456789012");
	em->consent = xstrdup("allow");
	em->sdk_disabled = false;
	em->api_access = true;
	em->create_412_ms = 0;
	em->delete_status = 204;
	em->token_ttl_s = 3599;
	em->refresh_ttl_s = 0;
	em->code_ttl_s = 600;
	em->jwt_skew_s = 300;
	em->quota_per_minute = 0;
	em->concurrency = 0;
	em->quota_window_ms = 60000;
	em->deleted_retention_s = 20 * 86400;
	em->new_user_404_ms = 0;
	em->new_group_404_ms = 0;
	em->member_status = true;
	em->member_alias_email = true;
	em->roles_filter = true;
	em->next_fault_id = 1;
	strv_add(&em->ous, "/");
	emu_domain_add(em, dom, true);
	em->domains[0].primary = true;
	char admin[300];

	snprintf(admin, sizeof(admin), "admin@%s", dom);
	struct emu_user *u = emu_user_new(em, admin, "Admin", "User");

	u->is_admin = true;
	u->agreed_terms = true;
	u->password = xstrdup("emulator-admin-password");
	em->consent_user = xstrdup(u->id);
	snprintf(em->admin_id, sizeof(em->admin_id), "%s", u->id);
}

void emu_init(struct emu *em, const char *domain)
{
	memset(em, 0, sizeof(*em));
	pthread_condattr_t ca;

	pthread_mutex_init(&em->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&em->wake, &ca);
	pthread_condattr_destroy(&ca);
	em->max_sleepers = 32 - EMU_THREADS_RESERVE;
	rand_alnum(em->nonce, 16);
	rand_token(em->page_key, 32); /* secret: from OpenSSL, not the id generator */
	em->log = xcalloc(EMU_LOG_MAX, sizeof(*em->log));
	snprintf(em->default_domain, sizeof(em->default_domain), "%s", domain ? domain : "example.com");
	emu_reset(em, NULL);
}

void emu_cleanup(struct emu *em)
{
	store_clear(em);
	free(em->log);
	pthread_cond_destroy(&em->wake);
	pthread_mutex_destroy(&em->mu);
}

const char *emu_primary_domain(const struct emu *em)
{
	for (size_t i = 0; i < em->n_domains; i++)
		if (em->domains[i].primary)
			return em->domains[i].name;
	return em->n_domains ? em->domains[0].name : "example.com";
}

struct emu_domain *emu_domain_find(struct emu *em, const char *name)
{
	for (size_t i = 0; i < em->n_domains; i++)
		if (!strcasecmp(em->domains[i].name, name))
			return &em->domains[i];
	return NULL;
}

struct emu_domain *emu_domain_add(struct emu *em, const char *name, bool verified)
{
	struct emu_domain *d = emu_domain_find(em, name);

	if (d) {
		d->verified = verified;
		return d;
	}
	em->domains = xrealloc(em->domains, (em->n_domains + 1) * sizeof(*em->domains));
	d = &em->domains[em->n_domains++];
	memset(d, 0, sizeof(*d));
	d->name = str_lower(xstrdup(name));
	d->verified = verified;
	d->created_ms = now_ms();
	return d;
}

bool emu_ou_exists(const struct emu *em, const char *path)
{
	return strv_has(&em->ous, path);
}

/* ---------------------------------------------------------------- lookups */

static void *email_lookup(struct emu *em, const char *key)
{
	char low[512];
	size_t n = strlen(key);

	if (n >= sizeof(low))
		return NULL;
	memcpy(low, key, n + 1);
	str_lower(low);
	return map_get(&em->emails, low);
}

struct emu_user *emu_user_by_id(struct emu *em, const char *id)
{
	return map_get(&em->users, id);
}

struct emu_user *emu_user_find(struct emu *em, const char *key)
{
	if (strchr(key, '@')) {
		struct emu_user *u = email_lookup(em, key);

		return u && u->kind == OBJ_USER ? u : NULL;
	}
	struct emu_user *u = map_get(&em->users, key);

	return u && !u->deleted ? u : NULL;
}

struct emu_group *emu_group_find(struct emu *em, const char *key)
{
	if (strchr(key, '@')) {
		struct emu_group *g = email_lookup(em, key);

		return g && g->kind == OBJ_GROUP ? g : NULL;
	}
	return map_get(&em->groups, key);
}

/* ---------------------------------------------------------------- users */

struct emu_user *emu_user_new(struct emu *em, const char *email, const char *given,
			      const char *family)
{
	struct emu_user *u = xcalloc(1, sizeof(*u));

	u->kind = OBJ_USER;
	do {
		snprintf(u->id, sizeof(u->id), "1%010llu%010llu",
			 (unsigned long long)(rand_u64() % 10000000000ull),
			 (unsigned long long)(rand_u64() % 10000000000ull));
	} while (map_get(&em->users, u->id));
	u->email = str_lower(xstrdup(email));
	u->given = xstrdup(given);
	u->family = xstrdup(family);
	u->ou = xstrdup("/");
	u->gal = true;
	u->created_ms = now_ms();
	u->gen = ++em->gen;
	map_put(&em->users, u->id, u);
	map_put(&em->emails, u->email, u);
	em->users_gen++;
	return u;
}

void emu_user_touch(struct emu *em, struct emu_user *u)
{
	u->gen = ++em->gen;
	em->users_gen++;
}

static void group_remove_member_id(struct emu *em, const char *id)
{
	for (size_t i = 0; i < em->groups.cap; i++) {
		if (!map_live(&em->groups, i))
			continue;
		struct emu_group *g = em->groups.e[i].val;
		struct emu_member *m = emu_member_find(g, id);

		if (m)
			emu_member_del(em, g, m);
	}
}

void emu_user_delete(struct emu *em, struct emu_user *u)
{
	map_del(&em->emails, u->email);
	for (size_t i = 0; i < u->aliases.n; i++)
		map_del(&em->emails, u->aliases.v[i]);
	group_remove_member_id(em, u->id);
	u->deleted = true;
	u->deleted_ms = now_ms();
	u->gen = ++em->gen;
	em->deleted = xrealloc(em->deleted, (em->n_deleted + 1) * sizeof(*em->deleted));
	em->deleted[em->n_deleted++] = u;
	em->users_gen++;
}

void emu_deleted_purge(struct emu *em)
{
	long long cutoff = now_ms() - (long long)em->deleted_retention_s * 1000;
	size_t k = 0;

	for (size_t i = 0; i < em->n_deleted; i++) {
		struct emu_user *u = em->deleted[i];

		if (u->deleted_ms >= cutoff) {
			em->deleted[k++] = u;
			continue;
		}
		map_del(&em->users, u->id);
		user_free(u);
	}
	if (k != em->n_deleted) {
		em->n_deleted = k;
		em->users_gen++;
		em->gen++;
	}
}

void emu_user_undelete(struct emu *em, struct emu_user *u)
{
	for (size_t i = 0; i < em->n_deleted; i++) {
		if (em->deleted[i] != u)
			continue;
		memmove(&em->deleted[i], &em->deleted[i + 1],
			(em->n_deleted - i - 1) * sizeof(*em->deleted));
		em->n_deleted--;
		break;
	}
	u->deleted = false;
	u->deleted_ms = 0;
	map_put(&em->emails, u->email, u);
	for (size_t i = 0; i < u->aliases.n;) {
		if (map_get(&em->emails, u->aliases.v[i])) {
			strv_del(&u->aliases, u->aliases.v[i]);
			continue;
		}
		map_put(&em->emails, u->aliases.v[i], u);
		i++;
	}
	emu_user_touch(em, u);
}

void emu_user_rename(struct emu *em, struct emu_user *u, const char *email)
{
	char *old = u->email;

	u->email = str_lower(xstrdup(email));
	map_put(&em->emails, u->email, u);
	/* a rename onto one of the user's own aliases makes it the primary: no longer an alias */
	strv_del(&u->aliases, u->email);
	/* Google keeps the old address as an alias (it stays taken) */
	strv_add(&u->aliases, old);
	free(old);
	emu_user_touch(em, u);
}

void emu_user_alias_add(struct emu *em, struct emu_user *u, const char *alias)
{
	char *low = str_lower(xstrdup(alias));

	strv_add(&u->aliases, low);
	map_put(&em->emails, low, u);
	free(low);
	emu_user_touch(em, u);
}

void emu_user_alias_del(struct emu *em, struct emu_user *u, const char *alias)
{
	char *low = str_lower(xstrdup(alias));

	strv_del(&u->aliases, low);
	map_del(&em->emails, low);
	free(low);
	emu_user_touch(em, u);
}

const char *emu_user_extra(const struct emu_user *u, const char *key)
{
	for (size_t i = 0; i < u->n_extras; i++)
		if (!strcmp(u->extras[i].key, key))
			return u->extras[i].json;
	return NULL;
}

void emu_user_extra_set(struct emu_user *u, const char *key, const char *json)
{
	for (size_t i = 0; i < u->n_extras; i++) {
		if (strcmp(u->extras[i].key, key))
			continue;
		if (json) {
			str_set(&u->extras[i].json, json);
			return;
		}
		free(u->extras[i].key);
		free(u->extras[i].json);
		memmove(&u->extras[i], &u->extras[i + 1], (u->n_extras - i - 1) * sizeof(*u->extras));
		u->n_extras--;
		return;
	}
	if (!json)
		return;
	u->extras = xrealloc(u->extras, (u->n_extras + 1) * sizeof(*u->extras));
	u->extras[u->n_extras].key = xstrdup(key);
	u->extras[u->n_extras].json = xstrdup(json);
	u->n_extras++;
}

int emu_user_cmp(const struct emu_user *a, const struct emu_user *b, int ord)
{
	int c = 0;

	if (ord == ORD_GIVEN)
		c = strcasecmp(a->given, b->given);
	else if (ord == ORD_FAMILY)
		c = strcasecmp(a->family, b->family);
	return c ? c : strcmp(a->email, b->email);
}

static int cmp_email(const void *a, const void *b)
{
	return emu_user_cmp(*(struct emu_user *const *)a, *(struct emu_user *const *)b, ORD_EMAIL);
}

static int cmp_given(const void *a, const void *b)
{
	return emu_user_cmp(*(struct emu_user *const *)a, *(struct emu_user *const *)b, ORD_GIVEN);
}

static int cmp_family(const void *a, const void *b)
{
	return emu_user_cmp(*(struct emu_user *const *)a, *(struct emu_user *const *)b,
			    ORD_FAMILY);
}

struct emu_sorted *emu_users_sorted(struct emu *em, int ord)
{
	struct emu_sorted *s = &em->usort[ord];

	if (s->v && s->gen == em->users_gen)
		return s;
	free(s->v);
	s->v = xmalloc((em->users.n + 1) * sizeof(*s->v));
	s->n = 0;
	for (size_t i = 0; i < em->users.cap; i++) {
		if (!map_live(&em->users, i))
			continue;
		struct emu_user *u = em->users.e[i].val;

		if (!u->deleted)
			s->v[s->n++] = u;
	}
	qsort(s->v, s->n, sizeof(*s->v),
	      ord == ORD_GIVEN ? cmp_given : ord == ORD_FAMILY ? cmp_family : cmp_email);
	s->gen = em->users_gen;
	return s;
}

static int cmp_group(const void *a, const void *b)
{
	return strcmp((*(struct emu_group *const *)a)->email, (*(struct emu_group *const *)b)->email);
}

struct emu_group **emu_groups_sorted(struct emu *em, size_t *n)
{
	if (!em->gsort || em->gsort_gen != em->groups_gen) {
		free(em->gsort);
		em->gsort = xmalloc((em->groups.n + 1) * sizeof(*em->gsort));
		em->n_gsort = 0;
		for (size_t i = 0; i < em->groups.cap; i++)
			if (map_live(&em->groups, i))
				em->gsort[em->n_gsort++] = em->groups.e[i].val;
		qsort(em->gsort, em->n_gsort, sizeof(*em->gsort), cmp_group);
		em->gsort_gen = em->groups_gen;
	}
	*n = em->n_gsort;
	return em->gsort;
}

/* ---------------------------------------------------------------- groups and members */

struct emu_group *emu_group_new(struct emu *em, const char *email)
{
	struct emu_group *g = xcalloc(1, sizeof(*g));

	g->kind = OBJ_GROUP;
	do {
		g->id[0] = '0';
		rand_alnum(g->id + 1, 14);
	} while (map_get(&em->groups, g->id));
	g->email = str_lower(xstrdup(email));
	g->name = xstrdup("");
	g->description = xstrdup("");
	g->admin_created = true;
	g->created_ms = now_ms();
	g->gen = ++em->gen;
	map_put(&em->groups, g->id, g);
	map_put(&em->emails, g->email, g);
	em->groups_gen++;
	return g;
}

void emu_group_touch(struct emu *em, struct emu_group *g)
{
	g->gen = ++em->gen;
	em->groups_gen++;
}

void emu_group_delete(struct emu *em, struct emu_group *g)
{
	map_del(&em->emails, g->email);
	for (size_t i = 0; i < g->aliases.n; i++)
		map_del(&em->emails, g->aliases.v[i]);
	map_del(&em->groups, g->id);
	group_remove_member_id(em, g->id);
	em->groups_gen++;
	em->gen++;
	group_free(g);
}

void emu_group_alias_add(struct emu *em, struct emu_group *g, const char *alias)
{
	char *low = str_lower(xstrdup(alias));

	strv_add(&g->aliases, low);
	map_put(&em->emails, low, g);
	free(low);
	emu_group_touch(em, g);
}

void emu_group_alias_del(struct emu *em, struct emu_group *g, const char *alias)
{
	char *low = str_lower(xstrdup(alias));

	strv_del(&g->aliases, low);
	map_del(&em->emails, low);
	free(low);
	emu_group_touch(em, g);
}

struct emu_member *emu_member_find(struct emu_group *g, const char *id)
{
	return map_get(&g->mem_idx, id);
}

struct emu_member *emu_member_add(struct emu *em, struct emu_group *g, const char *id,
				  const char *email, int type, int role)
{
	struct emu_member *m = xcalloc(1, sizeof(*m));

	m->id = xstrdup(id);
	m->email = email ? str_lower(xstrdup(email)) : NULL;
	m->type = type;
	m->role = role;
	m->gen = ++em->gen;
	if (g->n_mem == g->cap_mem) {
		g->cap_mem = g->cap_mem ? g->cap_mem * 2 : 8;
		g->mem = xrealloc(g->mem, g->cap_mem * sizeof(*g->mem));
	}
	g->mem[g->n_mem++] = m;
	map_put(&g->mem_idx, m->id, m);
	emu_group_touch(em, g);
	return m;
}

void emu_member_del(struct emu *em, struct emu_group *g, struct emu_member *m)
{
	map_del(&g->mem_idx, m->id);
	for (size_t i = 0; i < g->n_mem; i++) {
		if (g->mem[i] != m)
			continue;
		memmove(&g->mem[i], &g->mem[i + 1], (g->n_mem - i - 1) * sizeof(*g->mem));
		g->n_mem--;
		break;
	}
	member_free(m);
	emu_group_touch(em, g);
}

const char *emu_member_email(struct emu *em, const struct emu_member *m)
{
	if (m->email && (m->type == MT_USER || m->type == MT_GROUP)) {
		void *owner = map_get(&em->emails, m->email);
		const char *oid = !owner ? NULL
				  : ((struct emu_user *)owner)->kind == OBJ_USER
					  ? ((struct emu_user *)owner)->id
					  : ((struct emu_group *)owner)->id;

		if (em->member_alias_email && oid && !strcmp(oid, m->id))
			return m->email;
	}
	if (m->type == MT_USER) {
		struct emu_user *u = map_get(&em->users, m->id);

		if (u)
			return u->email;
	} else if (m->type == MT_GROUP) {
		struct emu_group *g = map_get(&em->groups, m->id);

		if (g)
			return g->email;
	}
	return m->email;
}

bool emu_group_contains_group(struct emu *em, struct emu_group *outer, struct emu_group *inner)
{
	if (outer == inner)
		return true;
	return emu_group_has_member(em, outer, inner->id, 0);
}

bool emu_group_has_member(struct emu *em, struct emu_group *g, const char *id, int depth)
{
	if (depth > 32)
		return false;
	if (emu_member_find(g, id))
		return true;
	for (size_t i = 0; i < g->n_mem; i++) {
		if (g->mem[i]->type != MT_GROUP)
			continue;
		struct emu_group *sub = map_get(&em->groups, g->mem[i]->id);

		if (sub && emu_group_has_member(em, sub, id, depth + 1))
			return true;
	}
	return false;
}

const char *emu_role_name(int role)
{
	return role == ROLE_OWNER ? "OWNER" : role == ROLE_MANAGER ? "MANAGER" : "MEMBER";
}

const char *emu_mtype_name(int type)
{
	switch (type) {
	case MT_GROUP:
		return "GROUP";
	case MT_CUSTOMER:
		return "CUSTOMER";
	case MT_EXTERNAL:
		return "EXTERNAL";
	default:
		return "USER";
	}
}

/* ---------------------------------------------------------------- rendering */

void emu_etag(const struct emu *em, const char *id, unsigned long long gen, char out[64])
{
	unsigned char h[24];
	char a[24], b[16];
	uint64_t x = hash64(id, strlen(id), gen);
	uint64_t y = hash64(em->nonce, strlen(em->nonce), gen ^ x);
	uint64_t z = hash64(&gen, sizeof(gen), y);

	memcpy(h, &x, 8);
	memcpy(h + 8, &y, 8);
	memcpy(h + 16, &z, 8);
	b64url_encode(h, 15, a);
	b64url_encode(h + 15, 9, b);
	snprintf(out, 64, "\"%s/%s\"", a, b);
}

static void render_default_emails(struct jw *w, const struct emu_user *u)
{
	jw_arr(w);
	jw_obj(w);
	if (jw_k(w, "address"))
		jw_str(w, u->email);
	if (jw_k(w, "primary"))
		jw_bool(w, true);
	jw_end(w);
	for (size_t i = 0; i < u->aliases.n; i++) {
		jw_obj(w);
		if (jw_k(w, "address"))
			jw_str(w, u->aliases.v[i]);
		jw_end(w);
	}
	jw_end(w);
}

static bool mask_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);

		if (l == n && !strncmp(p, name, n))
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

void emu_user_render(struct emu *em, struct jw *w, const struct emu_user *u, int projection,
		     const char *custom_mask)
{
	char etag[64];

	jw_obj(w);
	if (jw_k(w, "kind"))
		jw_str(w, "admin#directory#user");
	if (jw_k(w, "id"))
		jw_str(w, u->id);
	if (jw_k(w, "etag")) {
		emu_etag(em, u->id, u->gen, etag);
		jw_str(w, etag);
	}
	if (jw_k(w, "primaryEmail"))
		jw_str(w, u->email);
	if (jw_k(w, "name")) {
		jw_obj(w);
		if (jw_k(w, "givenName"))
			jw_str(w, u->given);
		if (jw_k(w, "familyName"))
			jw_str(w, u->family);
		if (jw_k(w, "fullName")) {
			struct buf fb;

			buf_init(&fb);
			buf_addf(&fb, "%s %s", u->given, u->family);
			jw_str(w, fb.p);
			buf_cleanup(&fb);
		}
		if (u->display && jw_k(w, "displayName"))
			jw_str(w, u->display);
		jw_end(w);
	}
	if (jw_k(w, "isAdmin"))
		jw_bool(w, u->is_admin);
	if (jw_k(w, "isDelegatedAdmin"))
		jw_bool(w, !u->is_admin && u->privs != 0);
	if (jw_k(w, "lastLoginTime"))
		jw_time(w, u->last_login_ms);
	if (jw_k(w, "creationTime"))
		jw_time(w, u->created_ms);
	if (u->deleted && jw_k(w, "deletionTime"))
		jw_time(w, u->deleted_ms);
	if (jw_k(w, "agreedToTerms"))
		jw_bool(w, u->agreed_terms);
	if (jw_k(w, "suspended"))
		jw_bool(w, u->suspended);
	if (u->suspended && jw_k(w, "suspensionReason"))
		jw_str(w, u->susp_reason ? u->susp_reason : "ADMIN");
	if (jw_k(w, "archived"))
		jw_bool(w, u->archived);
	if (jw_k(w, "changePasswordAtNextLogin"))
		jw_bool(w, u->change_pw);
	if (jw_k(w, "ipWhitelisted"))
		jw_bool(w, u->ip_whitelisted);
	if (!emu_user_extra(u, "emails") && jw_k(w, "emails"))
		render_default_emails(w, u);
	for (size_t i = 0; i < u->n_extras; i++) {
		const struct prop *p = &u->extras[i];

		if (!strcmp(p->key, "customSchemas")) {
			if (projection == 0)
				continue;
			if (projection == 1) {
				struct json_object *cs = json_tokener_parse(p->json);

				if (!jw_k(w, p->key)) {
					json_object_put(cs);
					continue;
				}
				jw_obj(w);
				json_object_object_foreach(cs, k, v) {
					if (mask_has(custom_mask, k) && jw_k(w, k))
						jw_json(w, v);
				}
				jw_end(w);
				json_object_put(cs);
				continue;
			}
		}
		if (jw_k(w, p->key))
			jw_raw(w, p->json);
	}
	if (u->aliases.n && jw_k(w, "aliases")) {
		jw_arr(w);
		for (size_t i = 0; i < u->aliases.n; i++)
			jw_str(w, u->aliases.v[i]);
		jw_end(w);
	}
	if (u->nonedit.n && jw_k(w, "nonEditableAliases")) {
		jw_arr(w);
		for (size_t i = 0; i < u->nonedit.n; i++)
			jw_str(w, u->nonedit.v[i]);
		jw_end(w);
	}
	if (jw_k(w, "customerId"))
		jw_str(w, em->customer_id);
	if (jw_k(w, "orgUnitPath"))
		jw_str(w, u->ou);
	if (jw_k(w, "isMailboxSetup"))
		jw_bool(w, true);
	if (jw_k(w, "isEnrolledIn2Sv"))
		jw_bool(w, false);
	if (jw_k(w, "isEnforcedIn2Sv"))
		jw_bool(w, false);
	if (jw_k(w, "includeInGlobalAddressList"))
		jw_bool(w, u->gal);
	if (u->recovery_email && jw_k(w, "recoveryEmail"))
		jw_str(w, u->recovery_email);
	if (u->recovery_phone && jw_k(w, "recoveryPhone"))
		jw_str(w, u->recovery_phone);
	if (u->hash_fn && jw_k(w, "hashFunction"))
		jw_str(w, u->hash_fn);
	jw_end(w);
}

void emu_group_render(struct emu *em, struct jw *w, const struct emu_group *g)
{
	char etag[64];

	jw_obj(w);
	if (jw_k(w, "kind"))
		jw_str(w, "admin#directory#group");
	if (jw_k(w, "id"))
		jw_str(w, g->id);
	if (jw_k(w, "etag")) {
		emu_etag(em, g->id, g->gen, etag);
		jw_str(w, etag);
	}
	if (jw_k(w, "email"))
		jw_str(w, g->email);
	if (jw_k(w, "name"))
		jw_str(w, g->name);
	if (jw_k(w, "directMembersCount"))
		jw_i64s(w, (long long)g->n_mem);
	if (jw_k(w, "description"))
		jw_str(w, g->description);
	if (jw_k(w, "adminCreated"))
		jw_bool(w, g->admin_created);
	if (g->aliases.n && jw_k(w, "aliases")) {
		jw_arr(w);
		for (size_t i = 0; i < g->aliases.n; i++)
			jw_str(w, g->aliases.v[i]);
		jw_end(w);
	}
	if (g->nonedit.n && jw_k(w, "nonEditableAliases")) {
		jw_arr(w);
		for (size_t i = 0; i < g->nonedit.n; i++)
			jw_str(w, g->nonedit.v[i]);
		jw_end(w);
	}
	jw_end(w);
}

void emu_member_render(struct emu *em, struct jw *w, const struct emu_group *g,
		       const struct emu_member *m)
{
	char etag[64];
	char key[96];

	jw_obj(w);
	if (jw_k(w, "kind"))
		jw_str(w, "admin#directory#member");
	if (jw_k(w, "etag")) {
		snprintf(key, sizeof(key), "%s/%s", g->id, m->id);
		emu_etag(em, key, m->gen, etag);
		jw_str(w, etag);
	}
	if (jw_k(w, "id"))
		jw_str(w, m->id);
	const char *email = emu_member_email(em, m);

	if (email && jw_k(w, "email"))
		jw_str(w, email);
	if (jw_k(w, "role"))
		jw_str(w, emu_role_name(m->role));
	if (jw_k(w, "type"))
		jw_str(w, emu_mtype_name(m->type));
	/* a CUSTOMER entry ("all users in the domain") has neither email nor status */
	if (em->member_status && m->type != MT_CUSTOMER && jw_k(w, "status")) {
		const struct emu_user *mu = m->type == MT_USER ? map_get(&em->users, m->id) : NULL;

		jw_str(w, mu && mu->suspended ? "SUSPENDED" : "ACTIVE");
	}
	if (m->delivery && jw_k(w, "delivery_settings"))
		jw_str(w, m->delivery);
	jw_end(w);
}

/* ---------------------------------------------------------------- seeding */

static const char *const given_names[] = {
	"Olivia", "Liam",   "Emma",  "Noah",  "Amelia", "Oliver", "Ava",    "Elijah", "Sophia",
	"Lucas",  "Mia",    "Mateo", "Isla",  "Levi",   "Chloe",  "Hugo",   "Lena",   "Arjun",
	"Yuki",   "Fatima", "Ines",  "Jonas", "Zoe",    "Omar",   "Freya",  "Ravi",   "Nora",
	"Tomas",  "Aiko",   "Leila", "Felix", "Sara",
};

static const char *const family_names[] = {
	"Smith",  "Johnson", "Garcia", "Martin", "Rossi",  "Muller", "Dubois", "Silva",
	"Kim",	  "Nguyen",  "Patel",  "Tanaka", "Novak",  "Jensen", "Khan",   "Lopez",
	"Brown",  "Wilson",  "Moreau", "Costa",  "Fischer", "Ito",   "Sato",   "Haddad",
	"Olsen",  "Kowalski", "Ivanov", "Murphy", "Walsh",  "Byrne",  "Evans",  "Reyes",
};

static const char *const departments[] = { "Engineering", "Sales", "Finance", "Support",
					   "Marketing" };

long emu_seed(struct emu *em, long n_users, long n_groups, long members_per_group,
	      int aliases_every, const char *domain)
{
	const size_t ng = sizeof(given_names) / sizeof(given_names[0]);
	const size_t nf = sizeof(family_names) / sizeof(family_names[0]);
	const size_t nd = sizeof(departments) / sizeof(departments[0]);
	char email[320], buf[512];
	struct emu_user **made = xmalloc(((size_t)n_users + 1) * sizeof(*made));
	long made_n = 0;
	long base = (long)em->users.n;

	if (!domain)
		domain = emu_primary_domain(em);
	for (size_t i = 0; i < nd; i++) {
		snprintf(buf, sizeof(buf), "/%s", departments[i]);
		if (!emu_ou_exists(em, buf))
			strv_add(&em->ous, buf);
	}
	for (long i = 0; i < n_users; i++) {
		long k = base + i;
		const char *gn = given_names[(size_t)k % ng];
		const char *fn = family_names[(size_t)(k / (long)ng) % nf];
		const char *dep = departments[(size_t)k % nd];

		snprintf(email, sizeof(email), "%s.%s.%06ld@%s", gn, fn, k, domain);
		str_lower(email);
		if (map_get(&em->emails, email))
			continue;
		struct emu_user *u = emu_user_new(em, email, gn, fn);

		made[made_n++] = u;
		snprintf(buf, sizeof(buf), "/%s", dep);
		str_set(&u->ou, buf);
		u->agreed_terms = true;
		u->last_login_ms = u->created_ms - (k % 1000) * 60000;
		snprintf(buf, sizeof(buf), "[{\"value\":\"src-%06ld\",\"type\":\"organization\"}]", k);
		emu_user_extra_set(u, "externalIds", buf);
		snprintf(buf, sizeof(buf),
			 "[{\"title\":\"%s %ld\",\"department\":\"%s\",\"primary\":true,"
			 "\"customType\":\"\"}]",
			 k % 7 ? "Specialist" : "Manager", k % 5 + 1, dep);
		emu_user_extra_set(u, "organizations", buf);
		snprintf(buf, sizeof(buf), "[{\"value\":\"+1650555%04ld\",\"type\":\"work\"}]",
			 k % 10000);
		emu_user_extra_set(u, "phones", buf);
		if (aliases_every > 0 && i % aliases_every == 0) {
			snprintf(email, sizeof(email), "%c%s.%06ld@%s", gn[0], fn, k, domain);
			str_lower(email);
			if (!map_get(&em->emails, email))
				emu_user_alias_add(em, u, email);
		}
	}
	long gbase = (long)em->groups.n;

	for (long i = 0; i < n_groups; i++) {
		snprintf(email, sizeof(email), "group-%05ld@%s", gbase + i, domain);
		if (map_get(&em->emails, email))
			continue;
		struct emu_group *g = emu_group_new(em, email);

		snprintf(buf, sizeof(buf), "Group %ld", gbase + i);
		str_set(&g->name, buf);
		snprintf(buf, sizeof(buf), "Seeded group %ld", gbase + i);
		str_set(&g->description, buf);
		for (long j = 0; j < members_per_group && made_n > 0; j++) {
			struct emu_user *u = made[(i * 7919 + j) % made_n];

			if (j >= made_n)
				break;
			if (emu_member_find(g, u->id))
				continue;
			emu_member_add(em, g, u->id, NULL, MT_USER, j == 0 ? ROLE_OWNER : ROLE_MEMBER);
		}
	}
	free(made);
	return made_n;
}
