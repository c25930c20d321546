/* SPDX-License-Identifier: MIT */
/*
 * gws-emulator: a realistic account as a state document (the format `PUT /_emulator/state`
 * loads), generated deterministically from a seed: secondary domains (verified and not), org
 * units, users with aliases, non-ASCII names, suspended (by an admin and for abuse), archived
 * and deleted users, super and delegated admins, groups with owners, managers and members,
 * members added by alias, nested groups, a CUSTOMER entry and an external member.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "emu.h"
#include "emu_int.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* splitmix64: small, fast and the same on every platform */
static uint64_t next(uint64_t *st)
{
	uint64_t z = (*st += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t pick(uint64_t *st, size_t n)
{
	return (size_t)(next(st) % n);
}

/* display name, and the ASCII form used in addresses */
struct name {
	const char *shown;
	const char *ascii;
};

static const struct name givens[] = {
	{ "Olivia", "olivia" }, { "Liam", "liam" },	{ "José", "jose" },   { "Zoë", "zoe" },
	{ "Søren", "soren" },	{ "Łukasz", "lukasz" }, { "Amelia", "amelia" }, { "Noah", "noah" },
	{ "Yuki", "yuki" },	{ "Fatima", "fatima" }, { "Inès", "ines" },   { "Jonas", "jonas" },
	{ "Omar", "omar" },	{ "Freya", "freya" },	{ "Ravi", "ravi" },   { "Aiko", "aiko" },
	{ "Seán", "sean" },	{ "Chloé", "chloe" },	{ "Mateo", "mateo" }, { "Leila", "leila" },
};

static const struct name families[] = {
	{ "Smith", "smith" },	{ "García", "garcia" }, { "Müller", "muller" }, { "O'Brien", "obrien" },
	{ "Nguyen", "nguyen" }, { "Patel", "patel" },	{ "Tanaka", "tanaka" }, { "Novák", "novak" },
	{ "Jensen", "jensen" }, { "Khan", "khan" },	{ "Lopez", "lopez" },	{ "Dubois", "dubois" },
	{ "Rossi", "rossi" },	{ "Kowalski", "kowalski" }, { "Haddad", "haddad" },
	{ "Ivanova", "ivanova" }, { "山田", "yamada" },	{ "Walsh", "walsh" },
};

static const char *const depts[] = { "Engineering", "Sales", "Finance", "Support", "Marketing" };

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_bool(struct json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

static struct json_object *member(const char *key, const char *as, const char *role,
				  const char *type)
{
	struct json_object *m = json_object_new_object();

	if (key)
		add_str(m, as, key);
	add_str(m, "role", role);
	if (type)
		add_str(m, "type", type);
	return m;
}

struct genuser {
	char email[384];
	char alias[384];
	int dept;
	bool active; /* not suspended, archived or deleted: may join groups */
};

struct json_object *emu_fixture_generate(const char *domain, uint64_t seed, long n_users,
					 long n_groups)
{
	uint64_t st = seed;
	struct json_object *root = json_object_new_object();
	struct json_object *doms = json_object_new_array();
	struct json_object *ous = json_object_new_array();
	struct json_object *users = json_object_new_array();
	struct json_object *groups = json_object_new_array();
	struct json_object *o, *a;
	struct genuser *gu = xcalloc((size_t)n_users + 1, sizeof(*gu));
	struct map taken;
	char buf[512], second[300], pending[300], cid[16];

	map_init(&taken);
	snprintf(cid, sizeof(cid), "C0");
	for (int i = 0; i < 7; i++)
		cid[2 + i] = "abcdefghijklmnopqrstuvwxyz0123456789"[pick(&st, 36)];
	cid[9] = '\0';
	o = json_object_new_object();
	add_str(o, "id", cid);
	json_object_object_add(root, "customer", o);

	snprintf(second, sizeof(second), "eu.%s", domain);
	snprintf(pending, sizeof(pending), "acquired-%u.example", (unsigned)(seed % 1000));
	const char *dnames[] = { domain, second, pending };

	for (size_t i = 0; i < N(dnames); i++) {
		o = json_object_new_object();
		add_str(o, "domainName", dnames[i]);
		add_bool(o, "verified", i < 2);
		add_bool(o, "isPrimary", i == 0);
		json_object_array_add(doms, o);
	}
	json_object_object_add(root, "domains", doms);
	for (size_t i = 0; i < N(depts); i++) {
		snprintf(buf, sizeof(buf), "/%s", depts[i]);
		json_object_array_add(ous, json_object_new_string(buf));
	}
	json_object_array_add(ous, json_object_new_string("/Engineering/Platform"));
	json_object_array_add(ous, json_object_new_string("/Leavers"));
	json_object_object_add(root, "orgUnits", ous);

	for (long i = 0; i < n_users; i++) {
		const struct name *g = &givens[pick(&st, N(givens))];
		const struct name *f = &families[pick(&st, N(families))];
		const char *dom = pick(&st, 8) == 0 ? second : domain;
		struct genuser *u = &gu[i];
		uint64_t r = next(&st);

		snprintf(u->email, sizeof(u->email), "%s.%s@%s", g->ascii, f->ascii, dom);
		for (long k = 2; map_get(&taken, u->email); k++)
			snprintf(u->email, sizeof(u->email), "%s.%s%ld@%s", g->ascii, f->ascii, k,
				 dom);
		map_put(&taken, u->email, u);
		u->dept = (int)pick(&st, N(depts));
		o = json_object_new_object();
		snprintf(buf, sizeof(buf), "1%019llu",
			 (unsigned long long)(next(&st) % 10000000000000000000ull));
		add_str(o, "id", buf);
		add_str(o, "primaryEmail", u->email);
		a = json_object_new_object();
		add_str(a, "givenName", g->shown);
		add_str(a, "familyName", f->shown);
		json_object_object_add(o, "name", a);
		snprintf(buf, sizeof(buf), "Passw0rd-%llu-%ld", (unsigned long long)seed, i);
		add_str(o, "password", buf);
		/* the first users are the admins: always active */
		bool suspended = i > 2 && r % 100 < 3, archived = i > 2 && !suspended && r % 100 < 6;
		bool deleted = i > 2 && !suspended && !archived && r % 100 < 7;

		snprintf(buf, sizeof(buf), "/%s", archived ? "Leavers" : depts[u->dept]);
		add_str(o, "orgUnitPath", buf);
		if (suspended) {
			add_bool(o, "suspended", true);
			add_str(o, "suspensionReason", (r / 100) % 3 == 0 ? "ABUSE" : "ADMIN");
		}
		if (archived)
			add_bool(o, "archived", true);
		if (deleted)
			add_bool(o, "deleted", true);
		u->active = !suspended && !archived && !deleted;
		snprintf(buf, sizeof(buf),
			 "[{\"value\":\"emp-%llu-%05ld\",\"type\":\"organization\"}]",
			 (unsigned long long)seed, i);
		json_object_object_add(o, "externalIds", json_tokener_parse(buf));
		snprintf(buf, sizeof(buf),
			 "[{\"title\":\"%s\",\"department\":\"%s\",\"primary\":true}]",
			 i < (long)N(depts) ? "Head" : "Specialist", depts[u->dept]);
		json_object_object_add(o, "organizations", json_tokener_parse(buf));
		if (i % 5 == 0) {
			snprintf(u->alias, sizeof(u->alias), "%c%s%ld@%s", g->ascii[0], f->ascii, i,
				 dom);
			if (!map_get(&taken, u->alias)) {
				map_put(&taken, u->alias, u);
				a = json_object_new_array();
				json_object_array_add(a, json_object_new_string(u->alias));
				json_object_object_add(o, "aliases", a);
			} else {
				u->alias[0] = '\0';
			}
		}
		if (i == 0)
			add_bool(o, "isAdmin", true);
		if (i == 1 || i == 2) {
			a = json_object_new_array();
			json_object_array_add(a, json_object_new_string("users"));
			if (i == 1)
				json_object_array_add(a, json_object_new_string("groups"));
			json_object_object_add(o, "privileges", a);
		}
		json_object_array_add(users, o);
	}
	json_object_object_add(root, "users", users);

	/* groups: all-staff (CUSTOMER entry + department groups), departments, projects */
	for (long gi = 0; gi < n_groups; gi++) {
		struct json_object *ms = json_object_new_array();
		const char *gdom = domain;

		o = json_object_new_object();
		/* A group id from the seed and the index alone (no draw: memberships stay as they were). */
		snprintf(buf, sizeof(buf), "0%014llx",
			 (unsigned long long)(((uint64_t)seed * 0x9E3779B97F4A7C15ull ^
					       ((uint64_t)gi + 1) * 0xBF58476D1CE4E5B9ull) &
					      0xFFFFFFFFFFFFFull));
		add_str(o, "id", buf);
		if (gi == 0) {
			snprintf(buf, sizeof(buf), "all-staff@%s", domain);
			add_str(o, "name", "All staff");
			json_object_array_add(ms, member(NULL, "id", "MEMBER", "CUSTOMER"));
			for (long d = 1; d <= (long)N(depts) && d < n_groups; d++) {
				char ge[384];

				snprintf(ge, sizeof(ge), "%s@%s", depts[d - 1], domain);
				for (char *c = ge; *c; c++)
					*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
				json_object_array_add(ms, member(ge, "email", "MEMBER", NULL));
			}
		} else if (gi <= (long)N(depts)) {
			int d = (int)gi - 1;

			snprintf(buf, sizeof(buf), "%s@%s", depts[d], domain);
			for (char *c = buf; *c; c++)
				*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
			add_str(o, "name", depts[d]);
			int owners = 0;

			for (long i = 0; i < n_users; i++) {
				if (gu[i].dept != d || !gu[i].active)
					continue;
				const char *role = owners == 0 ? "OWNER" : owners == 1 ? "MANAGER"
										 : "MEMBER";
				/* every alias holder joins by the alias, as people do */
				const char *key = gu[i].alias[0] ? gu[i].alias : gu[i].email;

				json_object_array_add(ms, member(key, "email", role, NULL));
				owners++;
			}
		} else {
			if (gi % 6 == 0)
				gdom = second;
			snprintf(buf, sizeof(buf), "project-%03ld@%s", gi, gdom);
			char name[64];

			snprintf(name, sizeof(name), "Project %03ld", gi);
			add_str(o, "name", name);
			long want = n_users ? 3 + (long)pick(&st, 13) : 0;
			struct map in;

			map_init(&in);
			for (long k = 0, tries = 0; k < want && tries < want * 4; tries++) {
				struct genuser *u = &gu[pick(&st, (size_t)n_users)];

				if (!u->active || map_get(&in, u->email))
					continue;
				map_put(&in, u->email, u);
				json_object_array_add(ms, member(u->email, "email",
								 k == 0 ? "OWNER" : "MEMBER", NULL));
				k++;
			}
			map_cleanup(&in);
			if (gi % 4 == 0) {
				char al[384];

				snprintf(al, sizeof(al), "proj%03ld@%s", gi, gdom);
				a = json_object_new_array();
				json_object_array_add(a, json_object_new_string(al));
				json_object_object_add(o, "aliases", a);
			}
			if (gi % 5 == 0)
				json_object_array_add(ms, member("partner@outside.example", "email",
								 "MEMBER", NULL));
			if (gi % 7 == 0 && gi + 1 < n_groups) {
				char ge[384];

				/* nested: the next project group is a member of this one */
				snprintf(ge, sizeof(ge), "project-%03ld@%s", gi + 1,
					 (gi + 1) % 6 == 0 ? second : domain);
				json_object_array_add(ms, member(ge, "email", "MEMBER", NULL));
			}
		}
		add_str(o, "email", buf);
		json_object_object_add(o, "members", ms);
		json_object_array_add(groups, o);
	}
	json_object_object_add(root, "groups", groups);
	map_cleanup(&taken);
	free(gu);
	return root;
}
