/*
 * Unit tests of service/sync/plan_groups.h: every rule of the group management planner
 * (DESIGN.md §4 "Groups", issue 13), one small input each, Google's groups written as JSON text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_pool.h"
#include "plan_groups.h"

/* ------------------------------------------------------------------ fixtures */

static struct plan_groups P;

static int teardown(void **state)
{
	(void)state;
	json_pool_free();
	plan_groups_free(&P);
	return 0;
}

static const char *const DOMAINS[] = {"example.com"};
static const char *const LINKED[] = {"g-ann", "g-bob", "g-cid", "g-old"};
static const char *const ANN_ADDR[] = {"ann@example.com", "annie@example.com"};

static struct plan_groups_settings settings(void)
{
	return (struct plan_groups_settings){
		.domains = DOMAINS,
		.n_domains = 1,
		.linked_user_ids = LINKED,
		.n_linked_user_ids = 4,
	};
}

/* ann and bob linked, dan in scope but not linked. */
static const struct plan_dmember MEMBERS[] = {
	{"u-ann", "ann@example.com", "g-ann", "ann@example.com", ANN_ADDR, 2},
	{"u-bob", "bob@example.com", "g-bob", "bob@example.com", NULL, 0},
	{"u-dan", "dan@example.com", "", "", NULL, 0},
};

/* A bound directory group with an email and members, not linked, nothing in Google. */
static struct plan_group group(void)
{
	return (struct plan_group){
		.group_id = "grp1",
		.exists = true,
		.bound = true,
		.version = 1,
		.email = "Team@Example.com",
		.name = "Team",
		.description = "The team",
		.members = MEMBERS,
		.n_members = 3,
		.google_id = "",
		.link_status = "",
		.link_email = "",
	};
}

/* The same group linked to Google group G1, which matches it. */
static struct plan_group linked(void)
{
	struct plan_group g = group();
	g.google_id = "G1";
	g.link_status = "synced";
	g.link_email = "team@example.com";
	g.g = J("{\"id\":\"G1\",\"email\":\"team@example.com\",\"name\":\"Team\","
		"\"description\":\"The team\"}");
	g.gm_read = true;
	return g;
}

static const struct plan_group_entry *run1(const struct plan_groups_settings *s,
					   const struct plan_group *g)
{
	assert_int_equal(plan_groups_run(s, g, 1, &P), 0);
	assert_int_equal(P.n, 1);
	return &P.entries[0];
}

/* The before (which 0) or after (which 1) JSON text of a change ("<none>" when absent). */
static const char *change(const struct plan_group_entry *e, const char *field, int which)
{
	for (size_t i = 0; i < e->n_changes; i++) {
		if (strcmp(e->changes[i].field, field))
			continue;
		const char *v = which ? e->changes[i].after : e->changes[i].before;
		return v ? v : "<null>";
	}
	return "<none>";
}

/* ------------------------------------------------------------------ group rules */

static void create_with_linked_members(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = group();
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_CREATE);
	assert_string_equal(e->email, "team@example.com");
	assert_null(e->google_id);
	assert_string_equal(json_object_get_string(json_object_object_get(e->body, "email")),
			    "team@example.com");
	assert_string_equal(json_object_get_string(json_object_object_get(e->body, "name")),
			    "Team");
	assert_string_equal(
		json_object_get_string(json_object_object_get(e->body, "description")), "The team");
	/* the unlinked member waits */
	assert_int_equal(e->n_adds, 2);
	assert_string_equal(e->adds[0].key, "ann@example.com");
	assert_string_equal(e->adds[0].user_id, "u-ann");
	assert_string_equal(e->adds[1].google_id, "g-bob");
	assert_int_equal(e->n_removes, 0);
	assert_int_equal(e->wanted, 2);
	assert_int_equal(P.counts[PLAN_GROUP_CREATE], 1);
	assert_int_equal(P.n_adds, 2);
	assert_string_equal(plan_group_op_name(e->op), "create_group");
}

static void no_members_is_skipped(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = group();
	g.n_members = 0;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_SKIP);
	assert_string_equal(e->reason, "no_members");
	assert_null(e->body);
}

static void adopt_by_address(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = group();
	g.by_addr = J("{\"id\":\"G9\",\"email\":\"team@example.com\",\"name\":\"Old name\","
		      "\"description\":\"The team\"}");
	struct plan_gm gm[] = {{"g-ann", "ann@example.com", PLAN_GM_USER, PLAN_GM_MEMBER}};
	g.gm = gm;
	g.n_gm = 1;
	g.gm_read = true;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_LINK);
	assert_string_equal(e->google_id, "G9");
	assert_int_equal(e->n_changes, 1);
	assert_string_equal(change(e, "name", 0), "\"Old name\"");
	assert_string_equal(change(e, "name", 1), "\"Team\"");
	assert_int_equal(e->n_adds, 1);
	assert_string_equal(e->adds[0].user_id, "u-bob");
}

static void adopt_linked_elsewhere_is_conflict(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = group();
	g.by_addr = J("{\"id\":\"G9\",\"email\":\"team@example.com\",\"name\":\"Team\"}");
	g.by_addr_linked_elsewhere = true;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_CONFLICT);
	assert_string_equal(e->reason, "linked_elsewhere");
	assert_null(e->body);
	assert_int_equal(e->n_adds, 0);
}

static void address_of_a_user_is_conflict(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = group();
	g.addr_is_user = true;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_CONFLICT);
	assert_string_equal(e->reason, "email_owned_by_user");
	assert_int_equal(e->n_adds, 0);
	assert_null(e->body);
}

static void domain_not_configured_never_rewritten(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = group();
	g.email = "team@other.org";
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_SKIP);
	assert_string_equal(e->reason, "domain_not_configured");
	assert_string_equal(e->email, "team@other.org");
	assert_null(e->body);
}

/* Groups that Google's rules or the domains decide are not read from Google at all. */
static void needs_google_only_when_rules_pass(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = group();
	assert_true(plan_group_needs_google(&s, &g));
	g.email = "team@other.org";
	assert_false(plan_group_needs_google(&s, &g));
	g = group();
	g.email = "te..am@example.com";
	assert_false(plan_group_needs_google(&s, &g));
	g = group();
	g.name = "";
	assert_false(plan_group_needs_google(&s, &g));
	g = group();
	g.bound = false;
	assert_false(plan_group_needs_google(&s, &g));
}

static void invalid_email_fails(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = group();
	g.email = "te..am@example.com";
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_FAIL);
	assert_string_equal(e->reason, "invalid_email");
	g.email = "noat";
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_FAIL);
	assert_string_equal(e->reason, "invalid_email");
}

static void name_over_73_fails(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = group();
	char name[80];
	memset(name, 'n', 74);
	name[74] = 0;
	g.name = name;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_FAIL);
	assert_string_equal(e->reason, "invalid_name");
	assert_null(e->body);
	/* 73 characters (multi-byte ones count once) are fine */
	char utf[200] = "";
	for (int i = 0; i < 73; i++)
		strcat(utf, "\xc3\xa9");
	g.name = utf;
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_CREATE);
	g.name = "";
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_FAIL);
}

/* Google refuses a group name with < or > (and = as in user names): failed in the plan, never
 * sent. */
static void name_with_angle_brackets_or_equals_fails(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = group();
	static const char *const bad[] = {"Bad <name>", "a<b", "a>b", "a=b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		g.name = bad[i];
		const struct plan_group_entry *e = run1(&s, &g);
		assert_int_equal(e->op, PLAN_GROUP_FAIL);
		assert_string_equal(e->reason, "invalid_name");
		assert_non_null(strstr(e->message, "< > or ="));
		assert_null(e->body);
		plan_groups_free(&P);
	}
	g.name = "Sales & Marketing (EU) - 2026/27";
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_CREATE);
}

static void description_over_4096_fails(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = group();
	char *d = malloc(4098);
	assert_non_null(d);
	memset(d, 'd', 4097);
	d[4097] = 0;
	g.description = d;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_FAIL);
	assert_string_equal(e->reason, "invalid_description");
	d[4096] = 0;
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_CREATE);
	plan_groups_free(&P);
	free(d);
}

static void linked_unchanged_is_none(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	struct plan_gm gm[] = {{"g-ann", "ann@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
			       {"g-bob", "BOB@example.com", PLAN_GM_USER, PLAN_GM_MEMBER}};
	g.gm = gm;
	g.n_gm = 2;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_NONE);
	assert_null(e->body);
	assert_int_equal(e->n_adds, 0);
	assert_int_equal(e->n_removes, 0);
	assert_int_equal(e->wanted, 2);
	assert_int_equal(e->actual, 2);
}

static void name_and_description_update(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	g.name = "Team A";
	g.description = "";
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_UPDATE);
	assert_int_equal(e->n_changes, 2);
	assert_string_equal(change(e, "name", 1), "\"Team A\"");
	assert_string_equal(change(e, "description", 0), "\"The team\"");
	assert_string_equal(json_object_to_json_string_ext(e->body, JSON_C_TO_STRING_PLAIN),
			    "{\"name\":\"Team A\",\"description\":\"\"}");
}

static void email_change_renames(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	g.email = "crew@example.com";
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_RENAME);
	assert_string_equal(e->google_id, "G1");
	assert_string_equal(change(e, "email", 1), "\"crew@example.com\"");
	assert_string_equal(json_object_to_json_string_ext(e->body, JSON_C_TO_STRING_PLAIN),
			    "{\"email\":\"crew@example.com\"}");
	/* the new address already an alias of the same group: still a rename */
	g.by_addr = g.g;
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_RENAME);
}

static void rename_onto_taken_address_is_conflict(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	g.email = "crew@example.com";
	g.by_addr = J("{\"id\":\"G2\",\"email\":\"crew@example.com\"}");
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_CONFLICT);
	assert_string_equal(e->reason, "email_taken");
	g.by_addr = NULL;
	g.addr_is_user = true;
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_CONFLICT);
	assert_string_equal(e->reason, "email_owned_by_user");
}

static void linked_group_gone(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	g.g = NULL;
	g.g_missing = true;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_DELETED_IN_GOOGLE);
	assert_null(e->body);
	assert_int_equal(e->n_adds, 0);
}

static void delete_requested_deletes_only_out_of_scope(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	g.bound = false;
	g.link_status = "delete_requested";
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_DELETE);
	assert_string_equal(e->google_id, "G1");
	assert_null(e->body);
	assert_string_equal(plan_group_op_name(e->op), "delete_group");
	/* bound again before the run: managed as before, nothing deleted */
	g.bound = true;
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_NONE);
	/* deleted: nothing more */
	g.bound = false;
	g.link_status = "deleted";
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_SKIP);
}

static void leaving_scope_unmanages(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	g.bound = false;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_UNMANAGE);
	assert_string_equal(e->reason, "group_unbound");
	assert_null(e->body);
	assert_int_equal(e->n_removes, 0);
	g = linked();
	g.email = "";
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_UNMANAGE);
	assert_string_equal(e->reason, "email_removed");
	g = linked();
	g.exists = false;
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_string_equal(e->reason, "group_deleted");
	/* already unmanaged, or never linked: nothing */
	g.link_status = "unmanaged";
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_SKIP);
	g = group();
	g.bound = false;
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_SKIP);
	assert_string_equal(e->reason, "not_in_scope");
}

/* ------------------------------------------------------------------ membership */

static void member_listed_under_alias_matches(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	/* ann under her alias, without the id; bob missing */
	struct plan_gm gm[] = {{"", "Annie@example.com", PLAN_GM_USER, PLAN_GM_MEMBER}};
	g.gm = gm;
	g.n_gm = 1;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->n_removes, 0);
	assert_int_equal(e->n_adds, 1);
	assert_string_equal(e->adds[0].key, "bob@example.com");
	/* by id, whatever the address */
	struct plan_gm gm2[] = {{"g-ann", "someone-else@example.com", PLAN_GM_USER, PLAN_GM_MEMBER}};
	g.gm = gm2;
	plan_groups_free(&P);
	e = run1(&s, &g);
	assert_int_equal(e->n_removes, 0);
	assert_int_equal(e->n_adds, 1);
}

static void removes_linked_user_no_longer_wanted(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	struct plan_gm gm[] = {{"g-ann", "ann@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
			       {"g-bob", "bob@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
			       {"g-old", "old@example.com", PLAN_GM_USER, PLAN_GM_MEMBER}};
	g.gm = gm;
	g.n_gm = 3;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->n_adds, 0);
	assert_int_equal(e->n_removes, 1);
	assert_string_equal(e->removes[0].key, "g-old");
	assert_int_equal(P.n_removes, 1);
}

static void additive_keeps_others(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	struct plan_gm gm[] = {
		{"g-ann", "ann@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
		{"g-bob", "bob@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
		{"x1", "guest@partner.org", PLAN_GM_EXTERNAL, PLAN_GM_MEMBER},
		{"x2", "manual@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
	};
	g.gm = gm;
	g.n_gm = 4;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->n_removes, 0);
	assert_int_equal(e->n_adds, 0);
	assert_int_equal(e->not_managed, 2);
}

static void authoritative_removes_user_and_external(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	s.authoritative = true;
	struct plan_group g = linked();
	struct plan_gm gm[] = {
		{"g-ann", "ann@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
		{"g-bob", "bob@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
		{"", "guest@partner.org", PLAN_GM_EXTERNAL, PLAN_GM_MEMBER},
		{"x2", "manual@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
	};
	g.gm = gm;
	g.n_gm = 4;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->n_removes, 2);
	assert_string_equal(e->removes[0].key, "guest@partner.org");
	assert_string_equal(e->removes[1].key, "x2");
	assert_int_equal(e->n_adds, 0);
}

static void owner_manager_group_customer_never_touched(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	s.authoritative = true;
	struct plan_group g = linked();
	struct plan_gm gm[] = {
		{"g-ann", "ann@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
		{"g-bob", "bob@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
		{"o1", "boss@example.com", PLAN_GM_USER, PLAN_GM_OWNER},
		{"g-old", "old@example.com", PLAN_GM_USER, PLAN_GM_MANAGER},
		{"n1", "nested@example.com", PLAN_GM_GROUP, PLAN_GM_MEMBER},
		{"C0abc", "", PLAN_GM_CUSTOMER, PLAN_GM_MEMBER},
		{"w1", "odd@example.com", PLAN_GM_OTHER, PLAN_GM_MEMBER},
	};
	g.gm = gm;
	g.n_gm = 7;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->n_removes, 0);
	assert_int_equal(e->n_adds, 0);
	assert_int_equal(e->not_managed, 5);
	assert_int_equal(e->actual, 7);
}

static void wanted_owner_gets_no_insert(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	struct plan_gm gm[] = {{"g-ann", "ann@example.com", PLAN_GM_USER, PLAN_GM_OWNER},
			       {"g-bob", "bob@example.com", PLAN_GM_USER, PLAN_GM_MANAGER}};
	g.gm = gm;
	g.n_gm = 2;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->n_adds, 0);
	assert_int_equal(e->n_removes, 0);
}

static void unlinked_directory_member_kept(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	s.authoritative = true;
	struct plan_group g = linked();
	struct plan_gm gm[] = {{"g-ann", "ann@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
			       {"g-bob", "bob@example.com", PLAN_GM_USER, PLAN_GM_MEMBER},
			       {"d1", "DAN@example.com", PLAN_GM_USER, PLAN_GM_MEMBER}};
	g.gm = gm;
	g.n_gm = 3;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->n_removes, 0);
	assert_int_equal(e->not_managed, 1);
}

static void last_member_removed_stays_managed(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	g.n_members = 0;
	struct plan_gm gm[] = {{"g-ann", "ann@example.com", PLAN_GM_USER, PLAN_GM_MEMBER}};
	g.gm = gm;
	g.n_gm = 1;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->op, PLAN_GROUP_NONE);
	assert_int_equal(e->n_removes, 1);
	assert_string_equal(e->removes[0].key, "g-ann");
}

static void members_not_read_no_diff(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	g.gm_read = false;
	const struct plan_group_entry *e = run1(&s, &g);
	assert_int_equal(e->n_adds, 0);
	assert_int_equal(e->n_removes, 0);
}

static void changes_json(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group g = linked();
	g.name = "Team \"A\"";
	const struct plan_group_entry *e = run1(&s, &g);
	char *t = plan_group_changes_json(e);
	assert_non_null(t);
	assert_string_equal(t, "[{\"field\":\"name\",\"before\":\"Team\",\"after\":\"Team \\\"A\\\"\"}]");
	free(t);
}

static void several_groups_counts(void **state)
{
	(void)state;
	struct plan_groups_settings s = settings();
	struct plan_group gs[3] = {group(), linked(), group()};
	gs[2].email = "x@other.org";
	assert_int_equal(plan_groups_run(&s, gs, 3, &P), 0);
	assert_int_equal(P.counts[PLAN_GROUP_CREATE], 1);
	assert_int_equal(P.counts[PLAN_GROUP_NONE], 1);
	assert_int_equal(P.counts[PLAN_GROUP_SKIP], 1);
	assert_int_equal(P.entries[2].group, 2);
	assert_int_equal(P.n_adds, 2 + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(create_with_linked_members, teardown),
		cmocka_unit_test_teardown(no_members_is_skipped, teardown),
		cmocka_unit_test_teardown(adopt_by_address, teardown),
		cmocka_unit_test_teardown(adopt_linked_elsewhere_is_conflict, teardown),
		cmocka_unit_test_teardown(address_of_a_user_is_conflict, teardown),
		cmocka_unit_test_teardown(domain_not_configured_never_rewritten, teardown),
		cmocka_unit_test_teardown(needs_google_only_when_rules_pass, teardown),
		cmocka_unit_test_teardown(invalid_email_fails, teardown),
		cmocka_unit_test_teardown(name_over_73_fails, teardown),
		cmocka_unit_test_teardown(name_with_angle_brackets_or_equals_fails, teardown),
		cmocka_unit_test_teardown(description_over_4096_fails, teardown),
		cmocka_unit_test_teardown(linked_unchanged_is_none, teardown),
		cmocka_unit_test_teardown(name_and_description_update, teardown),
		cmocka_unit_test_teardown(email_change_renames, teardown),
		cmocka_unit_test_teardown(rename_onto_taken_address_is_conflict, teardown),
		cmocka_unit_test_teardown(linked_group_gone, teardown),
		cmocka_unit_test_teardown(leaving_scope_unmanages, teardown),
		cmocka_unit_test_teardown(delete_requested_deletes_only_out_of_scope, teardown),
		cmocka_unit_test_teardown(member_listed_under_alias_matches, teardown),
		cmocka_unit_test_teardown(removes_linked_user_no_longer_wanted, teardown),
		cmocka_unit_test_teardown(additive_keeps_others, teardown),
		cmocka_unit_test_teardown(authoritative_removes_user_and_external, teardown),
		cmocka_unit_test_teardown(owner_manager_group_customer_never_touched, teardown),
		cmocka_unit_test_teardown(wanted_owner_gets_no_insert, teardown),
		cmocka_unit_test_teardown(unlinked_directory_member_kept, teardown),
		cmocka_unit_test_teardown(last_member_removed_stays_managed, teardown),
		cmocka_unit_test_teardown(members_not_read_no_diff, teardown),
		cmocka_unit_test_teardown(changes_json, teardown),
		cmocka_unit_test_teardown(several_groups_counts, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
