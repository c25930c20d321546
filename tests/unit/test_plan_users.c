/*
 * Unit tests of service/sync/plan_users.h: every rule of the user export planner (DESIGN.md §4,
 * issue 12 "Behaviour"), one small input each, with Google's resource written as JSON text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "json_pool.h"
#include "plan_users.h"

/* ------------------------------------------------------------------ fixtures */

static struct plan P;

static int teardown(void **state)
{
	(void)state;
	json_pool_free();
	plan_free(&P);
	return 0;
}

static const char *const DOMAINS[] = {"example.com"};

static struct plan_settings settings(void)
{
	return (struct plan_settings){
		.domains = DOMAINS,
		.n_domains = 1,
		.default_domain = NULL,
		.export_mask = PLAN_ATTR_PASSWORD | PLAN_ATTR_STATE,
		.integration_active = true,
		.full = true,
	};
}

/* An active, in-scope, unlinked user with a password, nothing found in Google. */
static struct plan_user user(void)
{
	return (struct plan_user){
		.user_id = "u1",
		.exists = true,
		.in_scope = true,
		.version = 1,
		.email = "liz@example.com",
		.first_name = "Liz",
		.last_name = "Lemon",
		.state = "active",
		.alternate_email = "",
		.cost_center = "",
		.department = "",
		.employee_type = "",
		.job_title = "",
		.employee_id = "",
		.addresses_json = "[]",
		.phones_json = "[]",
		.password_digest = "pwdigest-1",
		.google_id = "",
		.link_status = "",
		.link_primary_email = "",
		.link_password_digest = "",
		.m_state = {PLAN_G_NOT_FOUND, PLAN_G_NOT_FOUND},
	};
}

#define G_LIZ                                                                                  \
	"{\"id\":\"g1\",\"primaryEmail\":\"liz@example.com\","                                \
	"\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\","                          \
	"\"fullName\":\"Liz Lemon\"},"                                                        \
	"\"suspended\":false,\"isAdmin\":false"

/* The user linked to g1, whose Google resource (full reconcile) is g_text. */
static struct plan_user linked(const char *g_text)
{
	struct plan_user u = user();
	u.google_id = "g1";
	u.link_status = "synced";
	u.link_primary_email = "liz@example.com";
	u.link_password_digest = "pwdigest-1";
	u.g_state = PLAN_G_FOUND;
	u.g = g_text ? J(g_text) : NULL;
	if (!g_text)
		u.g_state = PLAN_G_UNKNOWN;
	return u;
}

static const struct plan_entry *plan_n(const struct plan_settings *s, const struct plan_user *u,
				       size_t n)
{
	plan_free(&P);
	assert_int_equal(plan_users_run(s, u, n, &P), 0);
	assert_int_equal(P.n, n);
	return &P.entries[0];
}

static const struct plan_entry *plan1(const struct plan_settings *s, const struct plan_user *u)
{
	return plan_n(s, u, 1);
}

/* The entry of input user idx. */
static const struct plan_entry *entry_of(size_t idx)
{
	size_t i = 0;
	while (i < P.n && P.entries[i].user != idx)
		i++;
	assert_true(i < P.n);
	return &P.entries[i];
}

static bool json_text_equal(const char *got, const char *want)
{
	if (!got || !want)
		return got == want;
	struct json_object *a = json_tokener_parse(got), *b = json_tokener_parse(want);
	bool eq = a && b && json_object_equal(a, b);
	json_object_put(a);
	json_object_put(b);
	return eq;
}

static void check_op(const struct plan_entry *e, enum plan_op op, const char *reason)
{
	if (e->op != op)
		fail_msg("op %s (reason %s: %s), want %s", plan_op_name(e->op),
			 e->reason ? e->reason : "-", e->message ? e->message : "-",
			 plan_op_name(op));
	if (reason)
		assert_string_equal(e->reason ? e->reason : "(null)", reason);
	else if (op != PLAN_NONE && op != PLAN_SKIP && op != PLAN_FAIL && op != PLAN_CONFLICT)
		assert_null(e->reason);
}

/* want NULL: no body at all; else the body equals that JSON. */
static void check_body(const struct plan_entry *e, const char *want)
{
	if (!want) {
		assert_null(e->body);
		return;
	}
	assert_non_null(e->body);
	const char *got = json_object_to_json_string_ext(e->body, JSON_C_TO_STRING_PLAIN);
	if (!json_text_equal(got, want))
		fail_msg("body %s, want %s", got, want);
}

static void check_one(const struct plan_change *c, const char *field, const char *before,
		      const char *after)
{
	assert_string_equal(c->field, field);
	if (!json_text_equal(c->before, before))
		fail_msg("%s before %s, want %s", field, c->before ? c->before : "NULL",
			 before ? before : "NULL");
	if (!json_text_equal(c->after, after))
		fail_msg("%s after %s, want %s", field, c->after ? c->after : "NULL",
			 after ? after : "NULL");
}

static void check_change(const struct plan_entry *e, size_t i, const char *field,
			 const char *before, const char *after)
{
	assert_true(i < e->n_changes);
	check_one(&e->changes[i], field, before, after);
}

static void check_flags(const struct plan_entry *e, bool send_password, bool random_password,
			bool clear_change_at_login, bool guarded)
{
	assert_int_equal(e->send_password, send_password);
	assert_int_equal(e->random_password, random_password);
	assert_int_equal(e->clear_change_at_login, clear_change_at_login);
	assert_int_equal(e->guarded, guarded);
}

/* {field: sha256(canonical JSON text)} as a link records it. */
static struct json_object *hashes(const char *const *kv)
{
	struct json_object *jo = J("{}");
	for (; kv[0]; kv += 2) {
		char dg[65];
		assert_int_equal(crypto_sha256_hex(kv[1], strlen(kv[1]), dg), 0);
		json_object_object_add(jo, kv[0], json_object_new_string(dg));
	}
	return jo;
}

/* ------------------------------------------------------------------ addresses */

static void test_primary_email(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	char out[256];
	const char *reason;
	assert_true(plan_primary_email(&s, "Liz.Lemon@Example.COM", out, sizeof(out), &reason));
	assert_string_equal(out, "liz.lemon@example.com");
	assert_null(reason);

	assert_false(plan_primary_email(&s, "liz@other.org", out, sizeof(out), &reason));
	assert_string_equal(reason, "domain_not_configured");

	s.default_domain = "example.com";
	assert_true(plan_primary_email(&s, "Liz@Other.org", out, sizeof(out), &reason));
	assert_string_equal(out, "liz@example.com");

	assert_false(plan_primary_email(&s, "no-at-sign", out, sizeof(out), &reason));
	assert_string_equal(reason, "invalid_email");
}

static void test_allowed_domain_keeps_email(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = user();
	u.email = "Liz@EXAMPLE.com";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_CREATE, NULL);
	assert_string_equal(e->primary_email, "liz@example.com");
	check_body(e, "{\"primaryEmail\":\"liz@example.com\","
		      "\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"}}");
}

static void test_default_domain_rewrite(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.default_domain = "example.com";
	struct plan_user u = user();
	u.email = "Liz@Partner.org";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_CREATE, NULL);
	assert_string_equal(e->primary_email, "liz@example.com");
	check_body(e, "{\"primaryEmail\":\"liz@example.com\","
		      "\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"}}");
}

static void test_no_default_domain_skips(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = user();
	u.email = "liz@partner.org";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_SKIP, "domain_not_configured");
	check_body(e, NULL);
	check_flags(e, false, false, false, false);
	assert_int_equal(P.counts[PLAN_SKIP], 1);
}

/* A domain configured on the integration but not verified in Google says so. */
static void test_unverified_domain_skips(void **state)
{
	(void)state;
	static const char *const UNVERIFIED[] = {"partner.org"};
	struct plan_settings s = settings();
	s.unverified = UNVERIFIED;
	s.n_unverified = 1;
	char out[256];
	const char *reason;
	assert_false(plan_primary_email(&s, "liz@Partner.ORG", out, sizeof(out), &reason));
	assert_string_equal(reason, "domain_not_verified");
	assert_false(plan_primary_email(&s, "liz@other.org", out, sizeof(out), &reason));
	assert_string_equal(reason, "domain_not_configured");

	struct plan_user u = user();
	u.email = "liz@partner.org";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_SKIP, "domain_not_verified");
	assert_non_null(strstr(e->message, "not verified"));
	check_body(e, NULL);
	assert_int_equal(P.counts[PLAN_SKIP], 1);

	/* linked earlier, under a domain Google verified then: stays linked, nothing written */
	u = linked("{\"id\":\"g1\",\"primaryEmail\":\"liz@partner.org\","
		   "\"name\":{\"givenName\":\"Old\",\"familyName\":\"Name\"},\"suspended\":false}");
	u.email = "liz@partner.org";
	u.link_primary_email = "liz@partner.org";
	e = plan1(&s, &u);
	check_op(e, PLAN_SKIP, "domain_not_verified");
	assert_non_null(strstr(e->message, "stays linked"));
	check_body(e, NULL);

	/* a default domain still rewrites it */
	s.default_domain = "example.com";
	u = user();
	u.email = "liz@partner.org";
	e = plan1(&s, &u);
	check_op(e, PLAN_CREATE, NULL);
	assert_string_equal(e->primary_email, "liz@example.com");
}

/* ------------------------------------------------------------------ Google's rules */

static void test_username_rules(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	char long65[80], long64[80];
	memset(long65, 'a', 65);
	strcpy(long65 + 65, "@example.com");
	memset(long64, 'a', 64);
	strcpy(long64 + 64, "@example.com");
	const char *bad[] = {"abuse@example.com", "Postmaster@example.com",
			     "liz..lemon@example.com", ".liz@example.com", "liz.@example.com",
			     "liz+x@example.com", long65};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct plan_user u = user();
		u.email = bad[i];
		const struct plan_entry *e = plan1(&s, &u);
		check_op(e, PLAN_FAIL, "invalid_username");
		assert_non_null(e->message);
		check_body(e, NULL);
		assert_false(e->send_password);
	}
	const char *good[] = {long64, "liz.lemon@example.com", "o'neil_x-y@example.com",
			      "abuser@example.com"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct plan_user u = user();
		u.email = good[i];
		check_op(plan1(&s, &u), PLAN_CREATE, NULL);
	}
}

static void test_name_rules(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	char n61[62], n60u[200];
	memset(n61, 'x', 61);
	n61[61] = 0;
	n60u[0] = 0;
	for (int i = 0; i < 60; i++)
		strcat(n60u, "\xc3\xa9"); /* é: 60 characters, 120 bytes */

	struct plan_user u = user();
	u.first_name = n61;
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_FAIL, "invalid_name");
	assert_non_null(strstr(e->message, "first name"));
	check_body(e, NULL);

	u = user();
	u.last_name = "<b>Lemon</b>";
	e = plan1(&s, &u);
	check_op(e, PLAN_FAIL, "invalid_name");
	assert_non_null(strstr(e->message, "last name"));

	u = user();
	u.last_name = "a=b";
	check_op(plan1(&s, &u), PLAN_FAIL, "invalid_name");

	u = user();
	u.first_name = "";
	check_op(plan1(&s, &u), PLAN_FAIL, "invalid_name");

	u = user();
	u.first_name = n60u;
	e = plan1(&s, &u);
	check_op(e, PLAN_CREATE, NULL);
	assert_string_equal(
		json_object_get_string(json_object_object_get(json_object_object_get(e->body,
										      "name"),
							      "givenName")),
		n60u);

	/* A rule violation on a linked user: a failure, never a write. */
	u = linked(G_LIZ "}");
	u.first_name = n61;
	e = plan1(&s, &u);
	check_op(e, PLAN_FAIL, "invalid_name");
	check_body(e, NULL);
}

/* ------------------------------------------------------------------ takeover and conflicts */

static void test_takeover_by_primary(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = user();
	u.m_state[0] = PLAN_G_FOUND;
	u.m[0] = J("{\"id\":\"g1\",\"primaryEmail\":\"liz@example.com\","
		   "\"name\":{\"givenName\":\"Elizabeth\",\"familyName\":\"Lemon\"},"
		   "\"suspended\":false}");
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_LINK, NULL);
	assert_string_equal(e->google_id, "g1");
	assert_string_equal(e->primary_email, "liz@example.com");
	assert_int_equal(e->n_changes, 2);
	check_change(e, 0, "name.givenName", "\"Elizabeth\"", "\"Liz\"");
	check_change(e, 1, "password", NULL, NULL);
	check_body(e, "{\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"}}");
	check_flags(e, true, false, false, false);
}

static void test_takeover_by_alias(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.default_domain = "example.com";
	struct plan_user u = user();
	u.email = "liz@partner.org";
	u.password_digest = "";
	s.provision_without_password = false;
	u.m_state[1] = PLAN_G_FOUND; /* the rewritten liz@example.com is an alias of g7 */
	u.m[1] = J("{\"id\":\"g7\",\"primaryEmail\":\"elizabeth@example.com\","
		   "\"aliases\":[\"liz@example.com\"],"
		   "\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"},"
		   "\"suspended\":false}");
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_LINK, NULL);
	assert_string_equal(e->google_id, "g7");
	assert_int_equal(e->n_changes, 1);
	check_change(e, 0, "primaryEmail", "\"elizabeth@example.com\"", "\"liz@example.com\"");
	check_body(e, "{\"primaryEmail\":\"liz@example.com\"}");
	check_flags(e, false, false, false, false);
}

static void test_takeover_same_user_both_addresses(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.default_domain = "example.com";
	struct plan_user u = user();
	u.email = "liz@partner.org";
	u.m_state[0] = u.m_state[1] = PLAN_G_FOUND;
	u.m[0] = J(G_LIZ "}");
	u.m[1] = J(G_LIZ "}");
	check_op(plan1(&s, &u), PLAN_LINK, NULL);
}

static void test_ambiguous_match(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.default_domain = "example.com";
	struct plan_user u = user();
	u.email = "liz@partner.org";
	u.m_state[0] = u.m_state[1] = PLAN_G_FOUND;
	u.m[0] = J("{\"id\":\"g1\",\"primaryEmail\":\"liz@partner.org\"}");
	u.m[1] = J("{\"id\":\"g2\",\"primaryEmail\":\"liz@example.com\"}");
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_CONFLICT, "ambiguous_match");
	check_body(e, NULL);
	check_flags(e, false, false, false, false);
	assert_int_equal(P.counts[PLAN_CONFLICT], 1);
}

static void test_two_users_one_google_user(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u[2] = {user(), user()};
	u[1].user_id = "u2";
	u[1].email = "lizzy@example.com"; /* an alias of g1 */
	u[0].m_state[0] = u[1].m_state[0] = PLAN_G_FOUND;
	u[0].m[0] = J(G_LIZ ",\"aliases\":[\"lizzy@example.com\"]}");
	u[1].m[0] = J(G_LIZ ",\"aliases\":[\"lizzy@example.com\"]}");
	plan_n(&s, u, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct plan_entry *e = entry_of(i);
		check_op(e, PLAN_CONFLICT, "several_directory_users");
		check_body(e, NULL);
		check_flags(e, false, false, false, false);
	}
	assert_int_equal(P.counts[PLAN_CONFLICT], 2);
}

static void test_two_users_one_primary_email(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.default_domain = "example.com";
	struct plan_user u[3] = {user(), user(), user()};
	u[1].user_id = "u2";
	u[1].email = "LIZ@partner.org"; /* rewritten to liz@example.com */
	u[2].user_id = "u3";
	u[2].email = "jack@example.com";
	plan_n(&s, u, 3);
	for (size_t i = 0; i < 2; i++) {
		const struct plan_entry *e = entry_of(i);
		check_op(e, PLAN_CONFLICT, "duplicate_primary_email");
		check_body(e, NULL);
		check_flags(e, false, false, false, false);
	}
	check_op(entry_of(2), PLAN_CREATE, NULL);
}

static void test_linked_to_another_user(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	/* The runner knows the match is linked elsewhere. */
	struct plan_user u = user();
	u.m_state[0] = PLAN_G_FOUND;
	u.m[0] = J(G_LIZ "}");
	u.g_linked_elsewhere = true;
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_CONFLICT, "linked_to_another_user");
	check_body(e, NULL);
	check_flags(e, false, false, false, false);

	/* The other directory user is in the same plan. */
	struct plan_user v[2] = {user(), linked(G_LIZ ",\"aliases\":[\"lizzy@example.com\"]}")};
	v[0].email = "lizzy@example.com";
	v[0].m_state[0] = PLAN_G_FOUND;
	v[0].m[0] = v[1].g;
	v[1].user_id = "u2";
	plan_n(&s, v, 2);
	check_op(entry_of(0), PLAN_CONFLICT, "linked_to_another_user");
	check_body(entry_of(0), NULL);
	check_op(entry_of(1), PLAN_NONE, NULL);
}


/*
 * Planning in chunks (plan_users_chunk, settled entries dropped, plan_users_finish) gives what one
 * plan of everyone gives: the cross-user checks see the settled keys of earlier chunks.
 */
/*
 * A targeted run plans its users with the other users of the scope they meet as context
 * entries: those only feed the cross-user checks, so the planned users get the conflicts a full
 * plan gives them, and the context entries are never in the plan.
 */
static const struct plan_entry *plan_ctx(const struct plan_settings *s, const struct plan_user *u,
					 size_t n, size_t planned)
{
	plan_free(&P);
	assert_int_equal(plan_users_run(s, u, n, &P), 0);
	assert_int_equal(P.n, planned);
	for (size_t i = 0; i < P.n; i++)
		assert_false(u[P.entries[i].user].context);
	int total = 0;
	for (int k = 0; k < PLAN_OP_N; k++)
		total += P.counts[k];
	assert_int_equal(total, (int)planned);
	return P.n ? &P.entries[0] : NULL;
}

static void test_context_several_users_one_google_user(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.full = false;
	/* The targeted user matches g1 by its alias; the context user by its primaryEmail. */
	struct plan_user u[2] = {user(), user()};
	u[0].user_id = "u14";
	u[0].email = "lizzy@example.com";
	u[1].user_id = "u13";
	u[1].context = true;
	u[0].m_state[0] = u[1].m_state[0] = PLAN_G_FOUND;
	u[0].m[0] = J(G_LIZ ",\"aliases\":[\"lizzy@example.com\"]}");
	u[1].m[0] = u[0].m[0];
	const struct plan_entry *e = plan_ctx(&s, u, 2, 1);
	check_op(e, PLAN_CONFLICT, "several_directory_users");
	assert_int_equal(e->user, 0);
	check_body(e, NULL);
	check_flags(e, false, false, false, false);
	assert_int_equal(P.counts[PLAN_CONFLICT], 1);
	/* the other order: the context user is the one that matches by the alias */
	u[0].context = true;
	u[1].context = false;
	e = plan_ctx(&s, u, 2, 1);
	check_op(e, PLAN_CONFLICT, "several_directory_users");
	assert_int_equal(e->user, 1);
	/* without the context user the takeover was planned (what a targeted run did before) */
	u[0].context = false;
	check_op(plan_ctx(&s, u, 1, 1), PLAN_LINK, NULL);
}

static void test_context_linked_to_another_user(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.full = false;
	/* the context user is linked to g1 (its Google state not read); the target matches g1 */
	struct plan_user u[2] = {user(), linked(NULL)};
	u[0].email = "lizzy@example.com";
	u[0].m_state[0] = PLAN_G_FOUND;
	u[0].m[0] = J(G_LIZ ",\"aliases\":[\"lizzy@example.com\"]}");
	u[1].user_id = "u2";
	u[1].context = true;
	const struct plan_entry *e = plan_ctx(&s, u, 2, 1);
	check_op(e, PLAN_CONFLICT, "linked_to_another_user");
	check_body(e, NULL);
	assert_string_equal(P.entries[0].google_id, "g1");
}

static void test_context_same_primary_email(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.full = false;
	s.default_domain = "example.com";
	/* both want liz@example.com; Google holds nobody there */
	struct plan_user u[3] = {user(), user(), user()};
	u[1].user_id = "u2";
	u[1].email = "LIZ@partner.org";
	u[1].context = true;
	u[2].user_id = "u3";
	u[2].email = "jack@example.com";
	u[2].context = true; /* meets nobody: changes nothing */
	const struct plan_entry *e = plan_ctx(&s, u, 3, 1);
	check_op(e, PLAN_CONFLICT, "duplicate_primary_email");
	check_body(e, NULL);
	check_flags(e, false, false, false, false);
	/* a context user that meets nobody leaves the plan as it was */
	u[1].email = "jack@partner.org";
	u[2].email = "jill@example.com";
	check_op(plan_ctx(&s, u, 3, 1), PLAN_CREATE, NULL);
	/* a context entry is never settled (recorded as unchanged) */
	struct plan_user l = linked(NULL);
	l.context = true;
	struct plan_entry none = {.op = PLAN_NONE};
	assert_false(plan_entry_settled(&l, &none));
	l.context = false;
	assert_true(plan_entry_settled(&l, &none));
}

/*
 * A takeover of a Google user linked to another directory user is linked_to_another_user in a
 * targeted and a full run alike, even when another user wants the same address. The targeted run
 * knows of the context user u3 only the Google user it read (g1, by u3's rewritten address): u3
 * wanted ahaddad210@ too, and the address check, made first, named u1's conflict
 * duplicate_primary_email; the full run also knows g7 (u3's own address), u3 is ambiguous_match.
 */
static void test_takeover_of_a_linked_user_is_one_conflict_in_every_run(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.default_domain = "example.com";
	struct json_object *g1 = J(G_LIZ ",\"aliases\":[\"ahaddad210@example.com\"]}");
	struct plan_user u[3] = {user(), linked(NULL), user()};
	u[0].email = "AHaddad210@example.com";
	u[0].m_state[0] = PLAN_G_FOUND;
	u[0].m[0] = g1;
	u[1].user_id = "u2";
	u[2].user_id = "u3";
	u[2].email = "ahaddad210@partner.org"; /* rewritten to ahaddad210@example.com */
	u[2].m_state[1] = PLAN_G_FOUND;
	u[2].m[1] = g1;
	/* targeted: u2 and u3 are context; u3's own address was not read */
	s.full = false;
	u[1].context = u[2].context = true;
	u[2].m_state[0] = PLAN_G_UNKNOWN;
	const struct plan_entry *e = plan_ctx(&s, u, 3, 1);
	check_op(e, PLAN_CONFLICT, "linked_to_another_user");
	check_body(e, NULL);
	/* full: everyone planned, u3's own address is another Google user */
	s.full = true;
	u[1].context = u[2].context = false;
	u[1].g_state = PLAN_G_FOUND;
	u[1].g = g1;
	u[2].m_state[0] = PLAN_G_FOUND;
	u[2].m[0] = J("{\"id\":\"g7\",\"primaryEmail\":\"ahaddad210@partner.org\"}");
	plan_n(&s, u, 3);
	check_op(entry_of(0), PLAN_CONFLICT, "linked_to_another_user");
	check_op(entry_of(2), PLAN_CONFLICT, "ambiguous_match");
}

static void test_chunks_match_one_plan(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.default_domain = "example.com";
	struct plan_user u[5] = {linked(G_LIZ ",\"aliases\":[\"lizzy@example.com\"]}"), user(),
				 user(), user(), linked(G_LIZ "}")};
	u[1].user_id = "u2";
	u[1].email = "LIZ@partner.org"; /* rewritten to liz@example.com, which u1 holds */
	u[2].user_id = "u3";
	u[2].email = "lizzy@example.com"; /* an alias of g1, linked to u1 */
	u[2].m_state[0] = PLAN_G_FOUND;
	u[2].m[0] = u[0].g;
	u[3].user_id = "u4";
	u[3].email = "jack@example.com";
	/* linked to g9 under an older address: unchanged in Google, but not settled */
	u[4].user_id = "u5";
	u[4].email = "jenna@example.com";
	u[4].google_id = "g9";
	u[4].link_primary_email = "old@example.com";
	u[4].g = J("{\"id\":\"g9\",\"primaryEmail\":\"jenna@example.com\",\"name\":{"
		   "\"givenName\":\"Liz\",\"familyName\":\"Lemon\"},\"suspended\":false}");
	plan_n(&s, u, 5);
	enum plan_op want[5];
	for (size_t i = 0; i < 5; i++)
		want[i] = entry_of(i)->op;
	assert_int_equal(want[0], PLAN_NONE);
	assert_int_equal(want[1], PLAN_CONFLICT);
	assert_int_equal(want[2], PLAN_CONFLICT);
	assert_int_equal(want[3], PLAN_CREATE);
	assert_int_equal(want[4], PLAN_NONE);

	/* chunk 1: u1 alone, settled (linked under the address it wants) */
	struct plan c1 = {0};
	struct plan_settled st = {0};
	assert_int_equal(plan_users_chunk(&s, u, 1, &c1), 0);
	assert_true(plan_entry_settled(&u[0], &c1.entries[0]));
	assert_int_equal(plan_settled_add(&st, &u[0], &c1.entries[0]), 0);
	plan_free(&c1);
	/* chunk 2: the others; u5 is unchanged but kept (its link names another address) */
	plan_free(&P);
	assert_int_equal(plan_users_chunk(&s, u + 1, 4, &P), 0);
	for (size_t i = 0; i < 4; i++)
		assert_false(plan_entry_settled(&u[1 + i], &P.entries[i]));
	assert_int_equal(plan_keyset_seal(&st.primary), 0);
	assert_int_equal(plan_keyset_seal(&st.linked), 0);
	assert_int_equal(plan_users_finish(&s, u + 1, &P, &st), 0);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(entry_of(i)->op, want[1 + i]);
	check_op(entry_of(0), PLAN_CONFLICT, "duplicate_primary_email");
	check_op(entry_of(1), PLAN_CONFLICT, "linked_to_another_user");
	/* order: the create before the rest */
	assert_int_equal(P.entries[0].op, PLAN_CREATE);
	assert_int_equal(P.counts[PLAN_CONFLICT], 2);
	plan_settled_free(&st);

	/* without the settled keys, the newcomers would pass: the keys are what makes it exact */
	plan_free(&P);
	assert_int_equal(plan_users_chunk(&s, u + 1, 4, &P), 0);
	assert_int_equal(plan_users_finish(&s, u + 1, &P, NULL), 0);
	assert_int_equal(entry_of(0)->op, PLAN_CREATE);
	assert_int_equal(entry_of(1)->op, PLAN_LINK);
}


/* The planner's JSON string text is json-c's, byte for byte (the links' digests are of it). */
static void test_json_string_text_is_json_c(void **state)
{
	(void)state;
	char s[300];
	size_t k = 0;
	for (int c = 1; c < 256; c++)
		s[k++] = (char)c;
	s[k] = 0;
	const char *cases[] = {"", "Liz", "a/b \"q\" \\ é \t\n", s};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *o = json_object_new_string(cases[i]);
		const char *want = json_object_to_json_string_ext(
			o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		char *got = plan_json_string_text(cases[i]);
		assert_non_null(got);
		assert_string_equal(got, want);
		free(got);
		json_object_put(o);
	}
}

/* ------------------------------------------------------------------ provisioning */

static void test_create_with_password(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.export_mask |= PLAN_ATTR_JOB_TITLE | PLAN_ATTR_MOBILE_PHONES;
	struct plan_user u = user();
	u.job_title = "Producer";
	u.phones_json = "[{\"type\":\"mobile\",\"value\":\"+1 555 0100\"},"
			"{\"type\":\"home\",\"value\":\"+1 555 0199\"}]";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_CREATE, NULL);
	assert_null(e->google_id);
	assert_int_equal(e->n_changes, 0);
	check_body(e, "{\"primaryEmail\":\"liz@example.com\","
		      "\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"},"
		      "\"organizations\":[{\"primary\":true,\"title\":\"Producer\"}],"
		      "\"phones\":[{\"type\":\"mobile\",\"value\":\"+1 555 0100\"}]}");
	check_flags(e, true, false, false, false);
	assert_non_null(e->hashes);
	assert_int_equal(P.counts[PLAN_CREATE], 1);
}

static void test_create_awaits_password(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = user();
	u.password_digest = "";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_SKIP, "awaiting_password");
	check_body(e, NULL);
	check_flags(e, false, false, false, false);
}

static void test_create_without_password(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.provision_without_password = true;
	struct plan_user u = user();
	u.password_digest = "";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_CREATE, NULL);
	check_body(e, "{\"primaryEmail\":\"liz@example.com\","
		      "\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"},"
		      "\"changePasswordAtNextLogin\":true}");
	check_flags(e, false, true, false, false);
}

static void test_create_staged_waits(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.provision_without_password = true;
	struct plan_user u = user();
	u.state = "staged";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_SKIP, "staged");
	check_body(e, NULL);
	check_flags(e, false, false, false, false);
}

/* Only active users are provisioned, whether or not the state rule is exported. */
static void test_create_only_active(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = user();
	u.state = "suspended";
	check_op(plan1(&s, &u), PLAN_SKIP, "not_active");
	s.export_mask &= ~(unsigned)PLAN_ATTR_STATE;
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_SKIP, "not_active");
	check_body(e, NULL);
}

/* ------------------------------------------------------------------ changes (full reconcile) */

static void test_full_unchanged(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.export_mask |= PLAN_ATTR_JOB_TITLE | PLAN_ATTR_WORK_PHONES | PLAN_ATTR_EMPLOYEE_ID |
			 PLAN_ATTR_ALTERNATE_EMAIL | PLAN_ATTR_HOME_ADDRESSES;
	struct plan_user u = linked(
		G_LIZ ",\"organizations\":[{\"title\":\"Producer\",\"primary\":true,"
		      "\"name\":\"NBC\"}],"
		      "\"phones\":[{\"type\":\"home\",\"value\":\"1\"},"
		      "{\"type\":\"work\",\"value\":\"2\","
		      "\"primary\":true}],"
		      "\"externalIds\":[{\"type\":\"organization\",\"value\":\"E7\"}],"
		      "\"emails\":[{\"address\":\"liz@example.com\",\"primary\":true},"
		      "{\"address\":\"liz@home.org\",\"type\":\"other\"}],"
		      "\"addresses\":[{\"type\":\"home\",\"streetAddress\":\"30 Rock\","
		      "\"locality\":\"NYC\",\"formatted\":\"30 Rock NYC\"}]}");
	u.job_title = "Producer";
	u.phones_json = "[{\"type\":\"work\",\"value\":\"2\"}]";
	u.employee_id = "E7";
	u.alternate_email = "liz@home.org";
	u.addresses_json = "[{\"type\":\"home\",\"street_address\":\"30 Rock\","
			   "\"locality\":\"NYC\","
			   "\"formatted\":\"30 Rock NYC\"}]";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_NONE, NULL);
	assert_int_equal(e->n_changes, 0);
	assert_int_equal(json_object_object_length(e->body), 0);
	check_flags(e, false, false, false, false);
	assert_int_equal(P.counts[PLAN_NONE], 1);
}

static void test_one_scalar_change(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.export_mask |= PLAN_ATTR_JOB_TITLE | PLAN_ATTR_DEPARTMENT;
	struct plan_user u = linked(
		G_LIZ ",\"organizations\":[{\"name\":\"Old Co\"},{\"title\":\"Writer\","
		      "\"department\":\"TGS\",\"primary\":true,\"name\":\"NBC\"}]}");
	u.job_title = "Producer";
	u.department = "TGS";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, NULL);
	assert_string_equal(e->google_id, "g1");
	assert_int_equal(e->n_changes, 1);
	check_change(e, 0, "organizations.title", "\"Writer\"", "\"Producer\"");
	check_body(e, "{\"organizations\":[{\"name\":\"Old Co\"},{\"title\":\"Producer\","
		      "\"department\":\"TGS\",\"primary\":true,\"name\":\"NBC\"}]}");
	check_flags(e, false, false, false, false);
}

/* The field case of issue 12: phones mobile, work and home; rules export mobile and work. */
static void test_phones_rebuilt_whole(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.export_mask |= PLAN_ATTR_MOBILE_PHONES | PLAN_ATTR_WORK_PHONES;
	struct plan_user u = linked(G_LIZ ",\"phones\":["
					  "{\"type\":\"mobile\",\"value\":\"+1 111\"},"
					  "{\"type\":\"work\",\"value\":\"+1 222\","
					  "\"primary\":true},"
					  "{\"type\":\"home\",\"value\":\"+1 333\"}]}");
	u.phones_json = "[]";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, NULL);
	assert_int_equal(e->n_changes, 1);
	check_change(e, 0, "phones",
		     "[{\"type\":\"mobile\",\"value\":\"+1 111\"},"
		     "{\"type\":\"work\",\"value\":\"+1 222\"}]",
		     "[]");
	check_body(e, "{\"phones\":[{\"type\":\"home\",\"value\":\"+1 333\"}]}");

	/* With home absent too: the emptied array is sent as []. */
	u = linked(G_LIZ ",\"phones\":[{\"type\":\"mobile\",\"value\":\"+1 111\"},"
			 "{\"type\":\"work\",\"value\":\"+1 222\"}]}");
	e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, NULL);
	check_body(e, "{\"phones\":[]}");

	/* A re-plan against what the write left: nothing. */
	u = linked(G_LIZ ",\"phones\":[{\"type\":\"home\",\"value\":\"+1 333\"}]}");
	e = plan1(&s, &u);
	check_op(e, PLAN_NONE, NULL);
	assert_int_equal(e->n_changes, 0);

	/* A new work phone replaces Google's work entries, home kept. */
	u = linked(G_LIZ ",\"phones\":[{\"type\":\"home\",\"value\":\"+1 333\"},"
			 "{\"type\":\"work\",\"value\":\"+1 222\"}]}");
	u.phones_json = "[{\"type\":\"work\",\"value\":\"+1 444\"}]";
	e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, NULL);
	check_body(e, "{\"phones\":[{\"type\":\"home\",\"value\":\"+1 333\"},"
		      "{\"type\":\"work\",\"value\":\"+1 444\"}]}");
}

static void test_rename(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = linked("{\"id\":\"g1\",\"primaryEmail\":\"liz.lemon@example.com\","
				    "\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"},"
				    "\"suspended\":false}");
	u.link_primary_email = "liz.lemon@example.com";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_RENAME, NULL);
	assert_string_equal(e->google_id, "g1");
	assert_int_equal(e->n_changes, 1);
	check_change(e, 0, "primaryEmail", "\"liz.lemon@example.com\"", "\"liz@example.com\"");
	check_body(e, "{\"primaryEmail\":\"liz@example.com\"}");
	check_flags(e, false, false, false, false);
}

/*
 * An address a Google group holds (the runner's groups.get): a create or rename onto it is a
 * conflict, address_in_use, never written; only creates and renames claim an address (and get
 * the lookup).
 */
static void test_group_holds_address(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u[3] = {user(),
				 linked("{\"id\":\"g2\",\"primaryEmail\":\"old@example.com\","
					"\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"},"
					"\"suspended\":false}"),
				 linked(G_LIZ "}")};
	u[0].user_id = "new";
	u[0].email = "sales@example.com";
	u[1].user_id = "renamed";
	u[1].email = "team@example.com";
	u[1].google_id = "g2";
	u[1].link_primary_email = "old@example.com";
	u[2].user_id = "updated";
	u[2].first_name = "Elizabeth";
	plan_free(&P);
	assert_int_equal(plan_users_chunk(&s, u, 3, &P), 0);
	assert_int_equal(P.n, 3);
	check_op(&P.entries[0], PLAN_CREATE, NULL);
	check_op(&P.entries[1], PLAN_RENAME, NULL);
	check_op(&P.entries[2], PLAN_UPDATE, NULL);
	assert_true(plan_entry_claims_address(&P.entries[0]));
	assert_true(plan_entry_claims_address(&P.entries[1]));
	assert_false(plan_entry_claims_address(&P.entries[2]));
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(plan_entry_group_holds(&P.entries[i]), 0);
	assert_int_equal(plan_users_finish(&s, u, &P, NULL), 0);
	const struct plan_entry *e = entry_of(0);
	check_op(e, PLAN_CONFLICT, "address_in_use");
	assert_string_equal(e->primary_email, "sales@example.com");
	assert_non_null(strstr(e->message, "group"));
	check_body(e, NULL);
	assert_int_equal(e->n_changes, 0);
	check_flags(e, false, false, false, false);
	e = entry_of(1);
	check_op(e, PLAN_CONFLICT, "address_in_use");
	assert_string_equal(e->google_id, "g2");
	check_body(e, NULL);
	check_op(entry_of(2), PLAN_UPDATE, NULL);
	assert_int_equal(P.counts[PLAN_CONFLICT], 2);
	assert_int_equal(P.counts[PLAN_UPDATE], 1);
	assert_int_equal(P.counts[PLAN_CREATE] + P.counts[PLAN_RENAME], 0);
}

/* ------------------------------------------------------------------ suspension */

static void test_suspend_directory_suspended(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = linked(G_LIZ "}");
	u.state = "suspended";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_SUSPEND, NULL);
	assert_int_equal(e->n_changes, 1);
	check_change(e, 0, "suspended", "false", "true");
	check_body(e, "{\"suspended\":true}");
	check_flags(e, false, false, false, true);
	assert_int_equal(P.counts[PLAN_SUSPEND], 1);
}

static void test_suspend_unbound_and_deleted(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = linked(G_LIZ "}");
	u.in_scope = false;
	u.first_name = ""; /* Google's rules are not checked for a suspension */
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_SUSPEND, NULL);
	check_body(e, "{\"suspended\":true}");
	check_flags(e, false, false, false, true);

	u = linked(G_LIZ "}");
	u.exists = false;
	u.password_digest = "pwdigest-2"; /* no password for a deleted user */
	e = plan1(&s, &u);
	check_op(e, PLAN_SUSPEND, NULL);
	assert_int_equal(e->n_changes, 1);
	check_body(e, "{\"suspended\":true}");
	check_flags(e, false, false, false, true);

	/* Already suspended: nothing. */
	u = linked(G_LIZ ",\"suspended\":true}");
	u.exists = false;
	check_op(plan1(&s, &u), PLAN_NONE, NULL);
}

/* Unbinding suspends only while the integration is active. */
static void test_unbound_inactive_integration(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.integration_active = false;
	struct plan_user u = linked(G_LIZ "}");
	u.in_scope = false;
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_NONE, NULL);
	check_flags(e, false, false, false, false);
}

/*
 * A conflict (or failure, skip, wait) on a user never linked to a Google user is released once the
 * user leaves the scope: nothing to plan, no read, and the link stops reporting it. A linked user
 * is suspended instead; one still in scope keeps what the plan says.
 */
static void test_unlinked_user_leaving_scope_releases_its_link(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	static const char *const stale[] = {"conflict", "failed", "skipped", "pending"};
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
		struct plan_user u = user();
		u.link_status = stale[i];
		assert_false(plan_link_release_due(&u));
		u.in_scope = false;
		assert_true(plan_link_release_due(&u));
		check_op(plan1(&s, &u), PLAN_NONE, NULL);
		assert_false(plan_user_needs_read(&s, &u));
		u.in_scope = true;
		u.exists = false;
		assert_true(plan_link_release_due(&u));
	}
	struct plan_user u = user();
	u.in_scope = false;
	u.link_status = ""; /* no link */
	assert_false(plan_link_release_due(&u));
	u.link_status = "released";
	assert_false(plan_link_release_due(&u));
	u.link_status = "creating"; /* a create may have gone through: the next run looks it up */
	assert_false(plan_link_release_due(&u));
	u = user();
	u.link_status = "conflict";
	u.in_scope = false;
	u.context = true; /* never applied */
	assert_false(plan_link_release_due(&u));
	u = linked(G_LIZ "}");
	u.link_status = "conflict"; /* e.g. a rename refused: still linked, so suspended */
	u.in_scope = false;
	assert_false(plan_link_release_due(&u));
	check_op(plan1(&s, &u), PLAN_SUSPEND, NULL);
}

static void test_lockout_and_expiry(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = linked(G_LIZ "}");
	u.locked = true;
	check_op(plan1(&s, &u), PLAN_NONE, NULL); /* maintain */
	s.lockout_suspend = true;
	check_op(plan1(&s, &u), PLAN_SUSPEND, NULL);
	u = linked(G_LIZ "}");
	u.password_expired = true;
	check_op(plan1(&s, &u), PLAN_NONE, NULL);
	s.password_expiry_suspend = true;
	check_op(plan1(&s, &u), PLAN_SUSPEND, NULL);
}

static void test_staged_linked_no_state_write(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = linked(G_LIZ ",\"suspended\":true}");
	u.state = "staged";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_NONE, NULL);
	assert_null(json_object_object_get(e->body, "suspended"));

	u = linked("{\"id\":\"g1\",\"primaryEmail\":\"liz@example.com\","
		   "\"name\":{\"givenName\":\"L\",\"familyName\":\"Lemon\"},\"suspended\":true}");
	u.state = "staged";
	e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, NULL);
	assert_int_equal(e->n_changes, 1);
	check_body(e, "{\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"}}");
}

static void test_super_admin_protected(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = linked(G_LIZ ",\"isAdmin\":true}");
	u.state = "suspended";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_SKIP, "protected_admin");
	check_flags(e, false, false, false, false);
	assert_int_equal(e->n_changes, 0);

	/* Another change goes ahead without the suspension; a new password never. */
	u = linked("{\"id\":\"g1\",\"primaryEmail\":\"liz@example.com\",\"isAdmin\":true,"
		   "\"name\":{\"givenName\":\"L\",\"familyName\":\"Lemon\"},\"suspended\":false}");
	u.state = "suspended";
	u.password_digest = "pwdigest-2";
	e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, NULL);
	assert_int_equal(e->n_changes, 1);
	check_change(e, 0, "name.givenName", "\"L\"", "\"Liz\"");
	check_body(e, "{\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"}}");
	check_flags(e, false, false, false, false);
	assert_null(json_object_object_get(e->hashes, "suspended"));

	/* Deleted from the directory: still not suspended. */
	u = linked(G_LIZ ",\"isAdmin\":true}");
	u.exists = false;
	e = plan1(&s, &u);
	check_op(e, PLAN_SKIP, "protected_admin");
	assert_int_equal(e->n_changes, 0);

	/* Password alone: none. */
	u = linked(G_LIZ ",\"isAdmin\":true}");
	u.password_digest = "pwdigest-2";
	e = plan1(&s, &u);
	assert_int_not_equal(e->op, PLAN_SET_PASSWORD);
	assert_false(e->send_password);
}

static void test_authorizing_admin_protected(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.admin_email = "liz@example.com";
	struct plan_user u = linked(G_LIZ "}");
	u.state = "suspended";
	u.password_digest = "pwdigest-2";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_SKIP, "protected_admin");
	check_flags(e, false, false, false, false);

	/* Matched through an alias. */
	s.admin_email = "boss@example.com";
	u = linked(G_LIZ ",\"aliases\":[\"Boss@example.com\"]}");
	u.in_scope = false;
	check_op(plan1(&s, &u), PLAN_SKIP, "protected_admin");
}

static void test_delegated_admin(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.delegated_admin = true;
	struct plan_user u = linked("{\"id\":\"g1\",\"primaryEmail\":\"liz@example.com\","
				    "\"isAdmin\":true,\"name\":{\"givenName\":\"L\","
				    "\"familyName\":\"Lemon\"},\"suspended\":false}");
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_SKIP, "protected_admin");
	check_body(e, NULL);
	check_flags(e, false, false, false, false);

	u = linked(G_LIZ ",\"isDelegatedAdmin\":true}");
	u.state = "suspended";
	check_op(plan1(&s, &u), PLAN_SKIP, "protected_admin");

	/* A takeover of an admin. */
	u = user();
	u.m_state[0] = PLAN_G_FOUND;
	u.m[0] = J(G_LIZ ",\"isAdmin\":true}");
	check_op(plan1(&s, &u), PLAN_SKIP, "protected_admin");

	/* Non-admins are written as usual. */
	u = linked(G_LIZ "}");
	u.state = "suspended";
	check_op(plan1(&s, &u), PLAN_SUSPEND, NULL);
}

static void test_unsuspend(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = linked(G_LIZ ",\"suspended\":true,\"suspensionReason\":\"ADMIN\"}");
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_UNSUSPEND, NULL);
	check_change(e, 0, "suspended", "true", "false");
	check_body(e, "{\"suspended\":false}");
	check_flags(e, false, false, false, false);

	u = linked(G_LIZ ",\"suspended\":true,\"suspensionReason\":\"ABUSE\"}");
	e = plan1(&s, &u);
	check_op(e, PLAN_FAIL, "adminCannotUnsuspend");
	assert_false(e->send_password);

	/* Also when the unsuspension rides on a rename. */
	u = linked("{\"id\":\"g1\",\"primaryEmail\":\"old@example.com\","
		   "\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"},"
		   "\"suspended\":true,\"suspensionReason\":\"ABUSE\"}");
	e = plan1(&s, &u);
	check_op(e, PLAN_FAIL, "adminCannotUnsuspend");
}

/* A takeover never lifts Google's own suspension. */
static void test_takeover_keeps_google_suspension(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = user();
	u.password_digest = "";
	u.m_state[0] = PLAN_G_FOUND;
	u.m[0] = J(G_LIZ ",\"suspended\":true,\"suspensionReason\":\"ABUSE\"}");
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_LINK, NULL);
	assert_int_equal(e->n_changes, 0);
	assert_null(json_object_object_get(e->body, "suspended"));
	assert_null(json_object_object_get(e->hashes, "suspended"));

	/* An admin's suspension is lifted by the takeover. */
	u.m[0] = J(G_LIZ ",\"suspended\":true,\"suspensionReason\":\"ADMIN\"}");
	e = plan1(&s, &u);
	check_op(e, PLAN_LINK, NULL);
	check_body(e, "{\"suspended\":false}");
}

/* ------------------------------------------------------------------ deleted in Google */

static void test_deleted_in_google(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = linked(NULL);
	u.g_state = PLAN_G_NOT_FOUND;
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_DELETED_IN_GOOGLE, "deleted_in_google");
	assert_string_equal(plan_op_name(e->op), "mark_deleted_in_google");
	assert_string_equal(e->google_id, "g1");
	check_body(e, NULL);
	check_flags(e, false, false, false, false);

	u.g_state = PLAN_G_DELETED;
	e = plan1(&s, &u);
	check_op(e, PLAN_DELETED_IN_GOOGLE, "deleted_in_google");
	check_body(e, NULL);

	/* Already marked and still gone: nothing. */
	u.link_status = "deleted_in_google";
	e = plan1(&s, &u);
	check_op(e, PLAN_NONE, NULL);
	check_flags(e, false, false, false, false);

	/* recreate: a new Google user. */
	s.recreate_deleted = true;
	e = plan1(&s, &u);
	check_op(e, PLAN_CREATE, NULL);
	assert_null(e->google_id);
	check_body(e, "{\"primaryEmail\":\"liz@example.com\","
		      "\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"}}");
	check_flags(e, true, false, false, false);

	/* ...but not for a user who left the scope. */
	u.in_scope = false;
	check_op(plan1(&s, &u), PLAN_NONE, NULL);
}

/* ------------------------------------------------------------------ password */

static void test_set_password(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = linked(G_LIZ "}");
	u.password_digest = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_SET_PASSWORD, NULL);
	assert_int_equal(e->n_changes, 1);
	check_change(e, 0, "password", NULL, NULL);
	check_flags(e, true, false, false, false);
	char *t = plan_changes_json(e);
	assert_non_null(t);
	assert_true(json_text_equal(t, "[{\"field\":\"password\",\"changed\":true}]"));
	assert_null(strstr(t, u.password_digest));
	free(t);
	assert_null(strstr(json_object_to_json_string(e->body), u.password_digest));
	assert_null(strstr(json_object_to_json_string(e->hashes), u.password_digest));
	check_body(e, "{}");

	/* Password not exported: nothing. */
	s.export_mask &= ~(unsigned)PLAN_ATTR_PASSWORD;
	check_op(plan1(&s, &u), PLAN_NONE, NULL);
}

static void test_password_after_random(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = linked(G_LIZ "}");
	u.link_password_digest = "random";
	u.password_digest = "pwdigest-2";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_SET_PASSWORD, NULL);
	check_body(e, "{\"changePasswordAtNextLogin\":false}");
	check_flags(e, true, false, true, false);
}

/* ------------------------------------------------------------------ targeted runs */

static const char *const LIZ_HASHES[] = {
	"primaryEmail", "\"liz@example.com\"", "name.givenName", "\"Liz\"",
	"name.familyName", "\"Lemon\"", "suspended", "false", NULL,
};

static void test_targeted_unchanged(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.full = false;
	struct plan_user u = linked(NULL);
	u.field_hashes = hashes(LIZ_HASHES);
	assert_false(plan_user_needs_read(&s, &u));
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_NONE, NULL);
	assert_int_equal(e->n_changes, 0);
	check_flags(e, false, false, false, false);
	/* What a write would record equals what the link holds. */
	assert_true(json_object_equal(e->hashes, u.field_hashes));

	/* The hashes a full reconcile records make a later targeted run a no-op. */
	s.full = true;
	u = linked(G_LIZ "}");
	e = plan1(&s, &u);
	check_op(e, PLAN_NONE, NULL);
	struct plan_user t = linked(NULL);
	t.field_hashes = json_object_get(e->hashes);
	json_pool_keep(t.field_hashes);
	s.full = false;
	assert_false(plan_user_needs_read(&s, &t));
	check_op(plan1(&s, &t), PLAN_NONE, NULL);
}

static void test_targeted_scalar_change(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.full = false;
	struct plan_user u = linked(NULL);
	u.field_hashes = hashes(LIZ_HASHES);
	u.first_name = "Elizabeth";
	assert_false(plan_user_needs_read(&s, &u));
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, NULL);
	assert_int_equal(e->n_changes, 1);
	check_change(e, 0, "name.givenName", NULL, "\"Elizabeth\"");
	check_body(e, "{\"name\":{\"givenName\":\"Elizabeth\",\"familyName\":\"Lemon\"}}");

	/* An email change: a rename without a read. */
	u = linked(NULL);
	u.field_hashes = hashes(LIZ_HASHES);
	u.email = "elizabeth@example.com";
	assert_false(plan_user_needs_read(&s, &u));
	e = plan1(&s, &u);
	check_op(e, PLAN_RENAME, NULL);
	check_body(e, "{\"primaryEmail\":\"elizabeth@example.com\"}");

	/* A suspension or a password needs the protected-admin check from a fresh read. */
	u = linked(NULL);
	u.field_hashes = hashes(LIZ_HASHES);
	u.state = "suspended";
	assert_true(plan_user_needs_read(&s, &u));
	u = linked(NULL);
	u.field_hashes = hashes(LIZ_HASHES);
	u.password_digest = "pwdigest-2";
	assert_true(plan_user_needs_read(&s, &u));

	/* Unlinked users are looked up by address. */
	u = user();
	assert_true(plan_user_needs_read(&s, &u));
}

static void test_targeted_phone_change_needs_read(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.full = false;
	s.export_mask |= PLAN_ATTR_WORK_PHONES;
	const char *const kv[] = {"primaryEmail",
				  "\"liz@example.com\"",
				  "name.givenName",
				  "\"Liz\"",
				  "name.familyName",
				  "\"Lemon\"",
				  "suspended",
				  "false",
				  "phones",
				  "[{\"type\":\"work\",\"value\":\"+1 222\"}]",
				  NULL};
	struct plan_user u = linked(NULL);
	u.field_hashes = hashes(kv);
	u.phones_json = "[{\"type\":\"work\",\"value\":\"+1 222\"},"
			"{\"type\":\"home\",\"value\":\"9\"}]";
	assert_false(plan_user_needs_read(&s, &u)); /* home is not exported */
	u.phones_json = "[{\"type\":\"work\",\"value\":\"+1 999\"}]";
	assert_true(plan_user_needs_read(&s, &u));

	/* Once read, the rebuild keeps Google's other entries. */
	u.g_state = PLAN_G_FOUND;
	u.g = J(G_LIZ ",\"phones\":[{\"type\":\"work\",\"value\":\"+1 222\"},"
		      "{\"type\":\"home\",\"value\":\"+1 333\"}]}");
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, NULL);
	assert_int_equal(e->n_changes, 1);
	check_change(e, 0, "phones", "[{\"type\":\"work\",\"value\":\"+1 222\"}]",
		     "[{\"type\":\"work\",\"value\":\"+1 999\"}]");
	check_body(e, "{\"phones\":[{\"type\":\"home\",\"value\":\"+1 333\"},"
		      "{\"type\":\"work\",\"value\":\"+1 999\"}]}");
}

/* ------------------------------------------------------------------ other typed arrays */

static void test_manager_alternate_email_employee_id(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.export_mask |= PLAN_ATTR_MANAGER | PLAN_ATTR_ALTERNATE_EMAIL | PLAN_ATTR_EMPLOYEE_ID;
	struct plan_user u = linked(
		G_LIZ ",\"relations\":[{\"value\":\"pete@example.com\",\"type\":\"manager\"},"
		      "{\"value\":\"jack@example.com\",\"type\":\"dotted_line_manager\"}],"
		      "\"emails\":[{\"address\":\"liz@example.com\",\"primary\":true},"
		      "{\"address\":\"liz@old.org\",\"type\":\"other\"},"
		      "{\"address\":\"liz@work.org\",\"type\":\"work\"}],"
		      "\"externalIds\":[{\"value\":\"E1\",\"type\":\"organization\"},"
		      "{\"value\":\"X\",\"type\":\"account\"}]}");
	u.has_manager = true;
	u.manager_email = "jack@example.com";
	u.alternate_email = "liz@new.org";
	u.employee_id = "";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, NULL);
	assert_int_equal(e->n_changes, 3);
	check_change(e, 0, "externalIds", "[{\"value\":\"E1\",\"type\":\"organization\"}]", "[]");
	check_change(e, 1, "emails", "[{\"address\":\"liz@old.org\",\"type\":\"other\"}]",
		     "[{\"address\":\"liz@new.org\",\"type\":\"other\"}]");
	check_change(e, 2, "relations", "[{\"value\":\"pete@example.com\",\"type\":\"manager\"}]",
		     "[{\"value\":\"jack@example.com\",\"type\":\"manager\"}]");
	check_body(e, "{\"externalIds\":[{\"value\":\"X\",\"type\":\"account\"}],"
		      "\"emails\":[{\"address\":\"liz@example.com\",\"primary\":true},"
		      "{\"address\":\"liz@work.org\",\"type\":\"work\"},"
		      "{\"address\":\"liz@new.org\",\"type\":\"other\"}],"
		      "\"relations\":[{\"value\":\"jack@example.com\","
		      "\"type\":\"dotted_line_manager\"},"
		      "{\"value\":\"jack@example.com\",\"type\":\"manager\"}]}");

	/* A manager who is not linked yet: the relation is left alone. */
	u = linked(G_LIZ ",\"relations\":[{\"value\":\"pete@example.com\",\"type\":\"manager\"}]}");
	u.has_manager = true;
	u.manager_email = NULL;
	s.export_mask = PLAN_ATTR_PASSWORD | PLAN_ATTR_STATE | PLAN_ATTR_MANAGER;
	check_op(plan1(&s, &u), PLAN_NONE, NULL);
	/* No manager any more: the relation goes. */
	u.has_manager = false;
	e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, NULL);
	check_body(e, "{\"relations\":[]}");
}

/* Deactivation released the link: no suspension; the next run matches again by address. */
static void test_released_link(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = linked(G_LIZ "}");
	u.link_status = "released";
	u.in_scope = false;
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_NONE, NULL);
	check_flags(e, false, false, false, false);

	u = linked(NULL);
	u.link_status = "released";
	u.m_state[0] = PLAN_G_FOUND;
	u.m[0] = J(G_LIZ "}");
	e = plan1(&s, &u);
	check_op(e, PLAN_LINK, NULL);
	assert_string_equal(e->google_id, "g1");
	check_flags(e, false, false, false, false); /* the link's password digest still holds */
}

/* A password with another change: one update that also sends the password. */
static void test_update_with_password(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u = linked(G_LIZ "}");
	u.last_name = "Lemon-Hornberger";
	u.password_digest = "pwdigest-2";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, NULL);
	assert_int_equal(e->n_changes, 2);
	check_change(e, 0, "name.familyName", "\"Lemon\"", "\"Lemon-Hornberger\"");
	check_change(e, 1, "password", NULL, NULL);
	check_body(e, "{\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon-Hornberger\"}}");
	check_flags(e, true, false, false, false);
	char *t = plan_changes_json(e);
	assert_non_null(t);
	assert_true(json_text_equal(t, "[{\"field\":\"name.familyName\",\"before\":\"Lemon\","
				       "\"after\":\"Lemon-Hornberger\"},"
				       "{\"field\":\"password\",\"changed\":true}]"));
	assert_null(strstr(t, "pwdigest"));
	free(t);
}

static void test_names_and_bits(void **state)
{
	(void)state;
	assert_string_equal(plan_op_name(PLAN_NONE), "none");
	assert_string_equal(plan_op_name(PLAN_SET_PASSWORD), "set_password");
	assert_string_equal(plan_op_name(PLAN_OP_N), "?");
	assert_int_equal(plan_attr_bit("job_title"), PLAN_ATTR_JOB_TITLE);
	assert_int_equal(plan_attr_bit("work_mobile_phones"), PLAN_ATTR_WORK_MOBILE_PHONES);
	assert_int_equal(plan_attr_bit("company"), 0);
}

/* ------------------------------------------------------------------ order */

static void test_execution_order(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	struct plan_user u[6];
	u[0] = linked(G_LIZ "}");
	u[0].user_id = "suspend";
	u[0].state = "suspended";
	u[1] = user();
	u[1].user_id = "create";
	u[1].email = "jack@example.com";
	u[2] = user();
	u[2].user_id = "link";
	u[2].email = "kenneth@example.com";
	u[2].m_state[0] = PLAN_G_FOUND;
	u[2].m[0] = J("{\"id\":\"g3\",\"primaryEmail\":\"kenneth@example.com\","
		      "\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"}}");
	u[3] = linked("{\"id\":\"g4\",\"primaryEmail\":\"tracy@example.com\","
		      "\"name\":{\"givenName\":\"T\",\"familyName\":\"Lemon\"},"
		      "\"suspended\":false}");
	u[3].user_id = "update";
	u[3].google_id = "g4";
	u[3].email = "tracy@example.com";
	u[4] = linked("{\"id\":\"g5\",\"primaryEmail\":\"jenna.old@example.com\","
		      "\"name\":{\"givenName\":\"Liz\",\"familyName\":\"Lemon\"},"
		      "\"suspended\":false}");
	u[4].user_id = "rename";
	u[4].google_id = "g5";
	u[4].email = "jenna@example.com";
	u[5] = user();
	u[5].user_id = "skip";
	u[5].email = "pete@example.com";
	u[5].password_digest = "";
	plan_n(&s, u, 6);
	const enum plan_op want[] = {PLAN_RENAME, PLAN_UPDATE, PLAN_LINK,
				     PLAN_CREATE, PLAN_SUSPEND, PLAN_SKIP};
	const size_t user_idx[] = {4, 3, 2, 1, 0, 5};
	for (size_t i = 0; i < 6; i++) {
		check_op(&P.entries[i], want[i], NULL);
		assert_int_equal(P.entries[i].user, user_idx[i]);
	}
	int total = 0;
	for (int op = 0; op < PLAN_OP_N; op++)
		total += P.counts[op];
	assert_int_equal(total, 6);
	assert_int_equal(P.counts[PLAN_RENAME], 1);
	assert_int_equal(P.counts[PLAN_SUSPEND], 1);
}

/* ------------------------------------------------------------------ identity_source google */

static void check_kept(const struct plan_entry *e, size_t i, const char *field, const char *before,
		       const char *after)
{
	assert_true(i < e->n_kept);
	check_one(&e->kept[i], field, before, after);
}

/* Google owns email, names and suspension of a linked user: other fields still flow. */
static void test_google_identity_linked_full(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.identity_google = true;
	s.export_mask |= PLAN_ATTR_JOB_TITLE;
	struct plan_user u = linked("{\"id\":\"g1\",\"primaryEmail\":\"Liz.Lemon@example.com\","
				    "\"name\":{\"givenName\":\"Elizabeth\",\"familyName\":\"Lemon\"},"
				    "\"suspended\":true,\"suspensionReason\":\"ADMIN\"}");
	u.link_primary_email = "liz.lemon@example.com";
	u.job_title = "Head Writer";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, "identity_source_google");
	assert_int_equal(e->n_changes, 1);
	check_change(e, 0, "organizations.title", "\"\"", "\"Head Writer\"");
	check_body(e, "{\"organizations\":[{\"primary\":true,\"title\":\"Head Writer\"}]}");
	check_flags(e, false, false, false, false);
	assert_int_equal(e->n_kept, 3);
	check_kept(e, 0, "primaryEmail", "\"Liz.Lemon@example.com\"", "\"liz@example.com\"");
	check_kept(e, 1, "name.givenName", "\"Elizabeth\"", "\"Liz\"");
	check_kept(e, 2, "suspended", "true", "false");
	assert_non_null(strstr(e->message, "name.givenName"));
	/* the link keeps Google's address and records no digest of what was not written */
	assert_string_equal(e->primary_email, "liz.lemon@example.com");
	assert_null(json_object_object_get(e->hashes, "primaryEmail"));
	assert_null(json_object_object_get(e->hashes, "name.givenName"));
	assert_null(json_object_object_get(e->hashes, "suspended"));
	assert_non_null(json_object_object_get(e->hashes, "organizations.title"));
	char *t = plan_changes_json(e);
	assert_non_null(t);
	assert_non_null(strstr(t, "\"left_alone\":\"identity_source_google\""));
	free(t);

	/* Only identity fields differ: nothing is written, the entry says what was left alone. */
	u.job_title = "";
	e = plan1(&s, &u);
	check_op(e, PLAN_NONE, "identity_source_google");
	assert_int_equal(e->n_changes, 0);
	assert_int_equal(e->n_kept, 3);

	/* Nothing differs: no note. */
	u = linked(G_LIZ "}");
	e = plan1(&s, &u);
	check_op(e, PLAN_NONE, NULL);
	assert_null(e->reason);
	assert_int_equal(e->n_kept, 0);

	/* The directory source (default) writes them as before. */
	s.identity_google = false;
	u = linked("{\"id\":\"g1\",\"primaryEmail\":\"liz@example.com\","
		   "\"name\":{\"givenName\":\"Elizabeth\",\"familyName\":\"Lemon\"},"
		   "\"suspended\":false}");
	e = plan1(&s, &u);
	check_op(e, PLAN_UPDATE, NULL);
	assert_int_equal(e->n_kept, 0);
}

/* Neither a directory suspension, an unbinding nor a deletion suspends; names are not checked. */
static void test_google_identity_never_suspends(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.identity_google = true;
	struct plan_user u = linked(G_LIZ "}");
	u.state = "suspended";
	u.first_name = "<Liz>"; /* Google's name rules matter only when names are written */
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_NONE, "identity_source_google");
	check_flags(e, false, false, false, false);
	assert_int_equal(e->n_kept, 2);
	check_kept(e, 0, "name.givenName", "\"Liz\"", "\"<Liz>\"");
	check_kept(e, 1, "suspended", "false", "true");
	assert_int_equal(P.counts[PLAN_SUSPEND], 0);

	u = linked(G_LIZ "}");
	u.in_scope = false;
	e = plan1(&s, &u);
	check_op(e, PLAN_NONE, "identity_source_google");
	check_body(e, "{}");
	check_flags(e, false, false, false, false);

	u = linked(G_LIZ "}");
	u.exists = false;
	e = plan1(&s, &u);
	check_op(e, PLAN_NONE, "identity_source_google");
	check_flags(e, false, false, false, false);
	assert_int_equal(e->n_kept, 1);
	check_kept(e, 0, "suspended", "false", "true");

	/* Google's own suspension of an active directory user stays too. */
	u = linked(G_LIZ ",\"suspended\":true}");
	e = plan1(&s, &u);
	check_op(e, PLAN_NONE, "identity_source_google");
	check_kept(e, 0, "suspended", "true", "false");
}

/* A takeover links without renaming; a create still sends address and names (and checks them). */
static void test_google_identity_link_and_create(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.identity_google = true;
	struct plan_user u = user();
	u.m_state[0] = PLAN_G_FOUND;
	u.m[0] = J("{\"id\":\"g7\",\"primaryEmail\":\"Lizzy@example.com\","
		   "\"aliases\":[\"liz@example.com\"],"
		   "\"name\":{\"givenName\":\"Lizzy\",\"familyName\":\"Lemon\"},\"suspended\":false}");
	u.first_name = "Liz=";
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_LINK, "identity_source_google");
	assert_string_equal(e->google_id, "g7");
	assert_string_equal(e->primary_email, "lizzy@example.com");
	assert_null(json_object_object_get(e->body, "primaryEmail"));
	assert_null(json_object_object_get(e->body, "name"));
	assert_int_equal(e->n_kept, 2);
	check_kept(e, 0, "primaryEmail", "\"Lizzy@example.com\"", "\"liz@example.com\"");
	check_kept(e, 1, "name.givenName", "\"Lizzy\"", "\"Liz=\"");

	u = user();
	e = plan1(&s, &u);
	check_op(e, PLAN_CREATE, NULL);
	check_body(e, "{\"primaryEmail\":\"liz@example.com\",\"name\":{\"givenName\":\"Liz\","
		      "\"familyName\":\"Lemon\"}}");
	assert_int_equal(e->n_kept, 0);

	u.last_name = "";
	e = plan1(&s, &u);
	check_op(e, PLAN_FAIL, "invalid_name");
}

/* A targeted run reports a difference only against what gwsync once wrote, and reads nothing. */
static void test_google_identity_targeted(void **state)
{
	(void)state;
	struct plan_settings s = settings();
	s.identity_google = true;
	s.full = false;
	struct plan_user u = linked(NULL);
	u.field_hashes = hashes(LIZ_HASHES);
	u.first_name = "Elizabeth";
	u.email = "elizabeth@example.com";
	u.state = "suspended";
	assert_false(plan_user_needs_read(&s, &u));
	const struct plan_entry *e = plan1(&s, &u);
	check_op(e, PLAN_NONE, "identity_source_google");
	assert_int_equal(e->n_kept, 3);
	check_kept(e, 0, "primaryEmail", NULL, "\"elizabeth@example.com\"");
	check_kept(e, 1, "name.givenName", NULL, "\"Elizabeth\"");
	check_kept(e, 2, "suspended", NULL, "true");
	assert_string_equal(e->primary_email, "liz@example.com");

	/* No digest recorded (never written by gwsync): unknown, so not reported. */
	u = linked(NULL);
	u.field_hashes = NULL;
	u.first_name = "Elizabeth";
	assert_false(plan_user_needs_read(&s, &u));
	e = plan1(&s, &u);
	check_op(e, PLAN_NONE, NULL);
	assert_int_equal(e->n_kept, 0);

	/* A suspension asked for with no digest (an imported user): read, so the plan can say
	 * it was left alone; with a digest the digest tells it and nothing is read. */
	u = linked(NULL);
	u.field_hashes = NULL;
	u.state = "suspended";
	assert_true(plan_user_needs_read(&s, &u));
	u.field_hashes = hashes(LIZ_HASHES);
	assert_false(plan_user_needs_read(&s, &u));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_primary_email, teardown),
		cmocka_unit_test_teardown(test_allowed_domain_keeps_email, teardown),
		cmocka_unit_test_teardown(test_default_domain_rewrite, teardown),
		cmocka_unit_test_teardown(test_no_default_domain_skips, teardown),
		cmocka_unit_test_teardown(test_unverified_domain_skips, teardown),
		cmocka_unit_test_teardown(test_username_rules, teardown),
		cmocka_unit_test_teardown(test_name_rules, teardown),
		cmocka_unit_test_teardown(test_takeover_by_primary, teardown),
		cmocka_unit_test_teardown(test_takeover_by_alias, teardown),
		cmocka_unit_test_teardown(test_takeover_same_user_both_addresses, teardown),
		cmocka_unit_test_teardown(test_context_several_users_one_google_user, teardown),
		cmocka_unit_test_teardown(test_context_linked_to_another_user, teardown),
		cmocka_unit_test_teardown(test_context_same_primary_email, teardown),
		cmocka_unit_test_teardown(test_ambiguous_match, teardown),
		cmocka_unit_test_teardown(test_two_users_one_google_user, teardown),
		cmocka_unit_test_teardown(test_two_users_one_primary_email, teardown),
		cmocka_unit_test_teardown(test_linked_to_another_user, teardown),
		cmocka_unit_test_teardown(test_takeover_of_a_linked_user_is_one_conflict_in_every_run,
					  teardown),
		cmocka_unit_test_teardown(test_chunks_match_one_plan, teardown),
		cmocka_unit_test_teardown(test_json_string_text_is_json_c, teardown),
		cmocka_unit_test_teardown(test_create_with_password, teardown),
		cmocka_unit_test_teardown(test_create_awaits_password, teardown),
		cmocka_unit_test_teardown(test_create_without_password, teardown),
		cmocka_unit_test_teardown(test_create_staged_waits, teardown),
		cmocka_unit_test_teardown(test_create_only_active, teardown),
		cmocka_unit_test_teardown(test_full_unchanged, teardown),
		cmocka_unit_test_teardown(test_one_scalar_change, teardown),
		cmocka_unit_test_teardown(test_phones_rebuilt_whole, teardown),
		cmocka_unit_test_teardown(test_rename, teardown),
		cmocka_unit_test_teardown(test_group_holds_address, teardown),
		cmocka_unit_test_teardown(test_suspend_directory_suspended, teardown),
		cmocka_unit_test_teardown(test_suspend_unbound_and_deleted, teardown),
		cmocka_unit_test_teardown(test_unbound_inactive_integration, teardown),
		cmocka_unit_test_teardown(test_unlinked_user_leaving_scope_releases_its_link, teardown),
		cmocka_unit_test_teardown(test_lockout_and_expiry, teardown),
		cmocka_unit_test_teardown(test_staged_linked_no_state_write, teardown),
		cmocka_unit_test_teardown(test_super_admin_protected, teardown),
		cmocka_unit_test_teardown(test_authorizing_admin_protected, teardown),
		cmocka_unit_test_teardown(test_delegated_admin, teardown),
		cmocka_unit_test_teardown(test_unsuspend, teardown),
		cmocka_unit_test_teardown(test_takeover_keeps_google_suspension, teardown),
		cmocka_unit_test_teardown(test_deleted_in_google, teardown),
		cmocka_unit_test_teardown(test_set_password, teardown),
		cmocka_unit_test_teardown(test_password_after_random, teardown),
		cmocka_unit_test_teardown(test_targeted_unchanged, teardown),
		cmocka_unit_test_teardown(test_targeted_scalar_change, teardown),
		cmocka_unit_test_teardown(test_targeted_phone_change_needs_read, teardown),
		cmocka_unit_test_teardown(test_manager_alternate_email_employee_id, teardown),
		cmocka_unit_test_teardown(test_released_link, teardown),
		cmocka_unit_test_teardown(test_update_with_password, teardown),
		cmocka_unit_test_teardown(test_names_and_bits, teardown),
		cmocka_unit_test_teardown(test_execution_order, teardown),
		cmocka_unit_test_teardown(test_google_identity_linked_full, teardown),
		cmocka_unit_test_teardown(test_google_identity_never_suspends, teardown),
		cmocka_unit_test_teardown(test_google_identity_link_and_create, teardown),
		cmocka_unit_test_teardown(test_google_identity_targeted, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
