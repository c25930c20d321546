/*
 * Unit tests of service/sync/plan_import.h: match states and their precedence, what each mode
 * does with each state, the import rules (only attributes set to import flow back), identity
 * source google, the cross-page check, and chosen users Google does not hold. Google's
 * resources are written as JSON text.
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
#include "plan_import.h"

static struct import_plan P;

static int teardown(void **state)
{
	(void)state;
	json_pool_free();
	import_plan_free(&P);
	return 0;
}

static const char *const DOMAINS[] = {"example.com"};
static struct plan_settings MATCH = {
	.domains = DOMAINS, .n_domains = 1, .default_domain = "example.com"};

static struct import_settings settings(void)
{
	return (struct import_settings){.match = &MATCH, .import_mask = PLAN_ATTR_JOB_TITLE};
}

static struct import_dir dir(const char *id, const char *email)
{
	return (struct import_dir){.user_id = id, .exists = true, .version = 3, .email = email,
				   .first_name = "Ann", .last_name = "Old", .state = "active",
				   .alternate_email = "", .cost_center = "", .department = "",
				   .employee_type = "", .job_title = "", .employee_id = "",
				   .addresses_json = "[]", .phones_json = "[]", .google_id = "",
				   .link_status = ""};
}

static const struct import_entry *plan1(const struct import_settings *s, const char *g,
					const struct import_dir *dirs, size_t nd)
{
	struct json_object *gu = J(g);
	assert_int_equal(plan_import_run(s, &gu, 1, dirs, nd, &P), 0);
	assert_int_equal(P.n, 1);
	return &P.entries[P.n - 1];
}

static const char *field(const struct import_entry *e, const char *key)
{
	struct json_object *v;
	if (!e->fields || !json_object_object_get_ex(e->fields, key, &v))
		return NULL;
	return json_object_get_string(v);
}

#define G_NEW                                                                                  \
	"{\"id\":\"111\",\"primaryEmail\":\"New@Example.com\",\"name\":{\"givenName\":\"Nina\","  \
	"\"familyName\":\"New\"},\"organizations\":[{\"name\":\"Other\"},{\"name\":\"Acme\","     \
	"\"title\":\"Eng\",\"department\":\"R&D\",\"primary\":true}],\"locations\":[{\"area\":"   \
	"\"desk\",\"buildingId\":\"HQ\"}]}"

static void test_new_user_created(void **state)
{
	(void)state;
	struct import_settings s = settings();
	const struct import_entry *e = plan1(&s, G_NEW, NULL, 0);
	assert_int_equal(e->op, IMPORT_OP_CREATE);
	assert_int_equal(e->state, IMPORT_NEW);
	assert_string_equal(e->user_id, "google:111");
	assert_string_equal(field(e, "email"), "new@example.com");
	assert_string_equal(field(e, "first_name"), "Nina");
	assert_string_equal(field(e, "company"), "Acme"); /* the primary organization */
	assert_string_equal(field(e, "location"), "HQ");
	assert_string_equal(field(e, "job_title"), "Eng"); /* rule import */
	assert_null(field(e, "department"));		  /* rule export: never imported */
	assert_int_equal(P.counts[IMPORT_OP_CREATE], 1);
}

static void test_inactive_never_created(void **state)
{
	(void)state;
	struct import_settings s = settings();
	const char *gs[] = {"{\"id\":\"1\",\"primaryEmail\":\"s@example.com\",\"suspended\":true}",
			    "{\"id\":\"2\",\"primaryEmail\":\"r@example.com\",\"archived\":true,"
			    "\"suspended\":false}"};
	for (int i = 0; i < 2; i++) {
		const struct import_entry *e = plan1(&s, gs[i], NULL, 0);
		assert_int_equal(e->state, IMPORT_INACTIVE);
		assert_int_equal(e->op, IMPORT_OP_SKIP);
		assert_string_equal(e->reason, "inactive");
		assert_null(e->fields);
		import_plan_free(&P);
	}
}

static void test_matched_by_primary_alias_and_rewrite(void **state)
{
	(void)state;
	struct import_settings s = settings();
	struct import_dir d[] = {dir("p", "P@example.com"), dir("a", "alias@example.com"),
				 dir("r", "rew@elsewhere.test")};
	const char *gs[] = {"{\"id\":\"1\",\"primaryEmail\":\"p@example.com\"}",
			    "{\"id\":\"2\",\"primaryEmail\":\"x@example.com\",\"aliases\":[\"Alias@"
			    "example.com\"]}",
			    "{\"id\":\"3\",\"primaryEmail\":\"rew@example.com\"}"};
	const char *want[] = {"p", "a", "r"};
	for (int i = 0; i < 3; i++) {
		const struct import_entry *e = plan1(&s, gs[i], d, 3);
		assert_int_equal(e->state, IMPORT_MATCHED);
		assert_int_equal(e->op, IMPORT_OP_LINK);
		assert_string_equal(e->user_id, want[i]);
		import_plan_free(&P);
	}
}

static void test_matched_before_inactive_and_linked_first(void **state)
{
	(void)state;
	struct import_settings s = settings();
	struct import_dir d[] = {dir("m", "m@example.com"), dir("l", "other@example.com")};
	d[1].google_id = "9";
	d[1].link_status = "synced";
	const struct import_entry *e =
		plan1(&s, "{\"id\":\"1\",\"primaryEmail\":\"m@example.com\",\"suspended\":true}", d, 2);
	assert_int_equal(e->state, IMPORT_MATCHED);
	import_plan_free(&P);
	/* linked by id wins over an address that matches someone else */
	e = plan1(&s, "{\"id\":\"9\",\"primaryEmail\":\"m@example.com\"}", d, 2);
	assert_int_equal(e->state, IMPORT_LINKED);
	assert_string_equal(e->user_id, "l");
	assert_int_equal(e->op, IMPORT_OP_NONE);
}

static void test_conflicts(void **state)
{
	(void)state;
	struct import_settings s = settings();
	struct import_dir d[] = {dir("a", "a@example.com"), dir("b", "b@example.com")};
	const struct import_entry *e = plan1(
		&s, "{\"id\":\"1\",\"primaryEmail\":\"a@example.com\",\"aliases\":[\"b@example.com\"]}",
		d, 2);
	assert_int_equal(e->op, IMPORT_OP_CONFLICT);
	assert_string_equal(e->reason, "ambiguous_match");
	import_plan_free(&P);
	d[0].google_id = "77";
	d[0].link_status = "synced";
	e = plan1(&s, "{\"id\":\"1\",\"primaryEmail\":\"a@example.com\"}", d, 2);
	assert_int_equal(e->op, IMPORT_OP_CONFLICT);
	assert_string_equal(e->reason, "linked_to_another_google_user");
	import_plan_free(&P);
	/* a released link of another user keeps its Google user from being handed over */
	d[0].google_id = "";
	d[0].link_status = "";
	d[1].google_id = "1";
	d[1].link_status = "released";
	e = plan1(&s, "{\"id\":\"1\",\"primaryEmail\":\"a@example.com\"}", d, 2);
	assert_int_equal(e->op, IMPORT_OP_CONFLICT);
	assert_string_equal(e->reason, "linked_to_another_user");
}

static void test_updates_only(void **state)
{
	(void)state;
	struct import_settings s = settings();
	s.updates_only = true;
	struct import_dir d[] = {dir("m", "m@example.com"), dir("l", "l@example.com")};
	d[1].google_id = "2";
	d[1].link_status = "synced";
	d[1].job_title = "Old";
	struct json_object *g[] = {J(G_NEW), J("{\"id\":\"1\",\"primaryEmail\":\"m@example.com\"}"),
				   J("{\"id\":\"2\",\"primaryEmail\":\"l@example.com\","
				     "\"organizations\":[{\"title\":\"New\"}]}")};
	assert_int_equal(plan_import_run(&s, g, 3, d, 2, &P), 0);
	assert_int_equal(P.entries[0].op, IMPORT_OP_SKIP);
	assert_string_equal(P.entries[0].reason, "not_linked");
	assert_int_equal(P.entries[1].op, IMPORT_OP_SKIP);
	assert_int_equal(P.entries[2].op, IMPORT_OP_UPDATE);
	assert_string_equal(field(&P.entries[2], "job_title"), "New");
	assert_non_null(strstr(P.entries[2].changes_json, "\"before\":\"Old\""));
	assert_int_equal(P.counts[IMPORT_OP_UPDATE], 1);
	assert_int_equal(P.counts[IMPORT_OP_SKIP], 2);
}

static void test_unchanged_and_identity_source(void **state)
{
	(void)state;
	struct import_settings s = settings();
	struct import_dir d[] = {dir("l", "l@example.com")};
	d[0].google_id = "2";
	d[0].link_status = "synced";
	d[0].job_title = "Eng";
	const char *g = "{\"id\":\"2\",\"primaryEmail\":\"L2@example.com\",\"suspended\":true,"
			"\"name\":{\"givenName\":\"Ann\",\"familyName\":\"New\"},"
			"\"organizations\":[{\"title\":\"Eng\"}]}";
	/* directory: names, email and suspension stay the directory's */
	const struct import_entry *e = plan1(&s, g, d, 1);
	assert_int_equal(e->op, IMPORT_OP_NONE);
	assert_null(e->changes_json);
	import_plan_free(&P);
	s.identity_google = true;
	e = plan1(&s, g, d, 1);
	assert_int_equal(e->op, IMPORT_OP_UPDATE);
	assert_string_equal(field(e, "email"), "l2@example.com");
	assert_string_equal(field(e, "last_name"), "New");
	assert_null(field(e, "first_name"));
	assert_string_equal(field(e, "state"), "suspended");
	import_plan_free(&P);
	/* Google lifted the suspension: the replica follows */
	d[0].state = "suspended";
	e = plan1(&s, "{\"id\":\"2\",\"primaryEmail\":\"l@example.com\",\"name\":{\"givenName\":"
		      "\"Ann\",\"familyName\":\"Old\"},\"organizations\":[{\"title\":\"Eng\"}]}",
		  d, 1);
	assert_string_equal(field(e, "state"), "active");
}

static void test_phones_merge(void **state)
{
	(void)state;
	struct import_settings s = settings();
	s.import_mask = PLAN_ATTR_WORK_PHONES;
	struct import_dir d[] = {dir("l", "l@example.com")};
	d[0].google_id = "2";
	d[0].link_status = "synced";
	d[0].phones_json = "[{\"type\":\"home\",\"value\":\"1\"},{\"type\":\"work\",\"value\":\"2\"}]";
	const struct import_entry *e =
		plan1(&s,
		      "{\"id\":\"2\",\"primaryEmail\":\"l@example.com\",\"phones\":[{\"type\":\"work\","
		      "\"value\":\"2\"},{\"type\":\"mobile\",\"value\":\"9\"}]}",
		      d, 1);
	assert_int_equal(e->op, IMPORT_OP_NONE); /* the work phone is the same; mobile not imported */
	import_plan_free(&P);
	e = plan1(&s,
		  "{\"id\":\"2\",\"primaryEmail\":\"l@example.com\",\"phones\":[{\"type\":\"work\","
		  "\"value\":\"3\"}]}",
		  d, 1);
	assert_int_equal(e->op, IMPORT_OP_UPDATE);
	struct json_object *ph;
	assert_true(json_object_object_get_ex(e->fields, "phones", &ph));
	assert_int_equal(json_object_array_length(ph), 2); /* the home phone is kept */
	assert_non_null(strstr(json_object_to_json_string(ph), "\"3\""));
}

static void test_cross_check_several_google_users(void **state)
{
	(void)state;
	struct import_settings s = settings();
	struct import_dir d[] = {dir("a", "a@example.com")};
	struct json_object *g1 = J("{\"id\":\"1\",\"primaryEmail\":\"a@example.com\"}"),
			   *g2 = J("{\"id\":\"2\",\"primaryEmail\":\"x@example.com\",\"aliases\":"
				   "[\"a@example.com\"]}");
	assert_int_equal(plan_import_run(&s, &g1, 1, d, 1, &P), 0); /* page 1 */
	assert_int_equal(plan_import_run(&s, &g2, 1, d, 1, &P), 0); /* page 2 */
	assert_int_equal(plan_import_cross_check(&P), 0);
	assert_int_equal(P.entries[0].op, IMPORT_OP_CONFLICT);
	assert_int_equal(P.entries[1].op, IMPORT_OP_CONFLICT);
	assert_string_equal(P.entries[1].reason, "several_google_users");
	assert_int_equal(P.counts[IMPORT_OP_LINK], 0);
	assert_int_equal(P.counts[IMPORT_OP_CONFLICT], 2);
}

/* A chosen id Google does not hold is a skip with its reason, counted, and no write. */
static void test_absent_chosen_user_is_a_skip(void **state)
{
	(void)state;
	struct import_settings s = settings();
	plan1(&s, G_NEW, NULL, 0);
	assert_int_equal(plan_import_absent(&P, "999", "not_found_in_google", "no such user"), 0);
	assert_int_equal(P.n, 2);
	const struct import_entry *e = &P.entries[1];
	assert_int_equal(e->op, IMPORT_OP_SKIP);
	assert_string_equal(e->google_id, "999");
	assert_string_equal(e->primary_email, "");
	assert_null(e->user_id);
	assert_null(e->fields);
	assert_string_equal(e->reason, "not_found_in_google");
	assert_int_equal(P.counts[IMPORT_OP_SKIP], 1);
	assert_int_equal(P.counts[IMPORT_OP_CREATE], 1);
	assert_int_equal(plan_import_cross_check(&P), 0);
	assert_int_equal(P.counts[IMPORT_OP_SKIP], 1);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(import_state_name(IMPORT_INACTIVE), "inactive");
	assert_int_equal(import_state_parse("matched"), IMPORT_MATCHED);
	assert_int_equal(import_state_parse("x"), IMPORT_STATE_N);
	assert_string_equal(import_op_name(IMPORT_OP_LINK), "link");
	char keys[2][320];
	struct plan_settings ps = MATCH;
	assert_int_equal(plan_match_keys(&ps, "Bob@Example.com", keys), 1);
	assert_string_equal(keys[0], "bob@example.com");
	assert_int_equal(plan_match_keys(&ps, "bob@other.test", keys), 2);
	assert_string_equal(keys[1], "bob@example.com");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_new_user_created, teardown),
		cmocka_unit_test_teardown(test_inactive_never_created, teardown),
		cmocka_unit_test_teardown(test_matched_by_primary_alias_and_rewrite, teardown),
		cmocka_unit_test_teardown(test_matched_before_inactive_and_linked_first, teardown),
		cmocka_unit_test_teardown(test_conflicts, teardown),
		cmocka_unit_test_teardown(test_updates_only, teardown),
		cmocka_unit_test_teardown(test_unchanged_and_identity_source, teardown),
		cmocka_unit_test_teardown(test_phones_merge, teardown),
		cmocka_unit_test_teardown(test_cross_check_several_google_users, teardown),
		cmocka_unit_test_teardown(test_absent_chosen_user_is_a_skip, teardown),
		cmocka_unit_test_teardown(test_names, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
