/*
 * export_tool — drives db/store_export.h for test_store_export.py (the export engine, its only
 * caller, lives in service/sync). One command per run; results as JSON on stdout; errors as
 * "export_tool: <message> (<E_CODE>)" on stderr with exit status 1.
 *
 *   export_tool URL scope TENANT INTEGRATION [USER_ID...]         → one JSON object per row
 *   export_tool URL links-write TENANT INTEGRATION JOB OWNER SPEC... (SPEC: user|status|google_id|
 *       primary_email|origin|field_hashes|password_digest|error_reason|error_message|synced|
 *       event_type|event_data, "~" for NULL)                      → {"written": N}
 *   export_tool URL links-release TENANT INTEGRATION             → {"released": N}
 *   export_tool URL plan-append JOB OWNER SPEC... (seq|op|user|google_id|primary_email|reason|
 *       changes|user_version)                                    → {"appended": N}
 *   export_tool URL plan-summary JOB OWNER JSON                  → {"ok": true}
 *   export_tool URL plan-page TENANT JOB AFTER_SEQ LIMIT         → {"n": N, "items": [...]}
 *   export_tool URL guard-counts INTEGRATION WINDOW_S            → {"recent": N, "linked": M}
 *   export_tool URL guard-record TENANT INTEGRATION N            → {"ok": true}
 *   export_tool URL await-approval JOB OWNER                     → {"ok": true}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_export.h"

#define MAX_FIELDS 12

static void put_str(const char *key, const char *v, int first)
{
	printf("%s\"%s\": \"", first ? "" : ", ", key);
	for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if (*c < 0x20)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	putchar('"');
}

static void put_bool(const char *key, int v)
{
	printf(", \"%s\": %s", key, v ? "true" : "false");
}

static int print_row(void *ctx, const struct store_export_row *r, struct err *e)
{
	(void)e;
	int *count = ctx;
	(*count)++;
	printf("{");
	put_str("user_id", r->user_id, 1);
	put_bool("exists", r->exists);
	put_bool("in_scope", r->in_scope);
	put_bool("bound_direct", r->bound_direct);
	printf(", \"version\": %lld", (long long)r->version);
	put_str("email", r->email, 0);
	put_str("first_name", r->first_name, 0);
	put_str("state", r->state, 0);
	put_str("department", r->department, 0);
	put_str("phones", r->phones_json, 0);
	put_str("addresses", r->addresses_json, 0);
	/* The hash itself stays out of test output too. */
	put_bool("has_password", r->password_hash[0] != '\0');
	put_str("password_hash_function", r->password_hash_function, 0);
	put_bool("locked", r->locked);
	put_bool("password_expired", r->password_expired);
	put_str("google_id", r->google_id, 0);
	put_str("link_primary_email", r->link_primary_email, 0);
	put_str("link_status", r->link_status, 0);
	put_str("link_origin", r->link_origin, 0);
	put_str("field_hashes", r->field_hashes_json, 0);
	put_str("password_digest", r->password_digest, 0);
	put_str("link_error_reason", r->link_error_reason, 0);
	printf("}\n");
	return E_OK;
}

/* Splits spec at '|' into fields (in place); "~" becomes NULL. Returns the field count. */
static int split(char *spec, const char **f)
{
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(spec, "|", &save); t && n < MAX_FIELDS;
	     t = strtok_r(NULL, "|", &save))
		f[n++] = strcmp(t, "~") == 0 ? NULL : t;
	return n;
}

static int run(struct store *st, int argc, char **argv, struct err *e)
{
	const char *cmd = argv[2];
	if (!strcmp(cmd, "scope") && argc >= 5) {
		int count = 0;
		return store_export_scope(st, argv[3], argv[4], (const char *const *)argv + 5,
					  (size_t)(argc - 5), print_row, &count, e);
	}
	if (!strcmp(cmd, "links-write") && argc >= 8) {
		size_t n = (size_t)(argc - 7);
		struct store_link_write *w = calloc(n, sizeof(*w));
		if (!w)
			return err_set(e, E_NOMEM, "writes");
		for (size_t i = 0; i < n; i++) {
			const char *f[MAX_FIELDS] = {0};
			if (split(argv[7 + i], f) != MAX_FIELDS) {
				free(w);
				return err_set(e, E_INVAL, "a link spec has %d fields", MAX_FIELDS);
			}
			w[i] = (struct store_link_write){
				.user_id = f[0], .status = f[1], .google_id = f[2],
				.primary_email = f[3], .origin = f[4], .field_hashes_json = f[5],
				.password_digest = f[6], .error_reason = f[7],
				.error_message = f[8], .synced = f[9] && !strcmp(f[9], "t"),
				.event_type = f[10], .event_data_json = f[11]};
		}
		int rc = store_links_write(st, argv[3], argv[4], argv[5], argv[6], w, n, e);
		free(w);
		if (!rc)
			printf("{\"written\": %zu}\n", n);
		return rc;
	}
	if (!strcmp(cmd, "links-release") && argc == 5) {
		int n = 0;
		int rc = store_links_release(st, argv[3], argv[4], &n, e);
		if (!rc)
			printf("{\"released\": %d}\n", n);
		return rc;
	}
	if (!strcmp(cmd, "plan-append") && argc >= 6) {
		size_t n = (size_t)(argc - 5);
		struct store_plan_entry *pe = calloc(n, sizeof(*pe));
		if (!pe)
			return err_set(e, E_NOMEM, "entries");
		for (size_t i = 0; i < n; i++) {
			const char *f[MAX_FIELDS] = {0};
			if (split(argv[5 + i], f) != 8) {
				free(pe);
				return err_set(e, E_INVAL, "a plan spec has 8 fields");
			}
			pe[i] = (struct store_plan_entry){
				.seq = f[0] ? atoll(f[0]) : 0, .op = f[1], .user_id = f[2],
				.google_id = f[3], .primary_email = f[4], .reason = f[5],
				.changes_json = f[6], .user_version = f[7] ? atoll(f[7]) : 0};
		}
		int rc = store_plan_append(st, argv[3], argv[4], pe, n, e);
		free(pe);
		if (!rc)
			printf("{\"appended\": %zu}\n", n);
		return rc;
	}
	if (!strcmp(cmd, "plan-summary") && argc == 6) {
		int rc = store_plan_summary_set(st, argv[3], argv[4], argv[5], e);
		if (!rc)
			printf("{\"ok\": true}\n");
		return rc;
	}
	if (!strcmp(cmd, "plan-page") && argc == 7) {
		char *items = NULL;
		size_t n = 0;
		int rc = store_plan_page(st, argv[3], argv[4], atoll(argv[5]), atoi(argv[6]), &items,
					 &n, e);
		if (!rc)
			printf("{\"n\": %zu, \"items\": %s}\n", n, items);
		free(items);
		return rc;
	}
	if (!strcmp(cmd, "guard-counts") && argc == 5) {
		int recent = 0, linked = 0;
		int rc = store_guard_counts(st, argv[3], atoi(argv[4]), &recent, &linked, e);
		if (!rc)
			printf("{\"recent\": %d, \"linked\": %d}\n", recent, linked);
		return rc;
	}
	if (!strcmp(cmd, "guard-record") && argc == 6) {
		int rc = store_guard_record(st, argv[3], argv[4], atoi(argv[5]), e);
		if (!rc)
			printf("{\"ok\": true}\n");
		return rc;
	}
	if (!strcmp(cmd, "await-approval") && argc == 5) {
		int rc = store_job_await_approval(st, argv[3], argv[4], e);
		if (!rc)
			printf("{\"ok\": true}\n");
		return rc;
	}
	return err_set(e, E_INVAL, "unknown command or arguments: %s", cmd);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: export_tool URL COMMAND ARGS... (see the source)\n");
		return 64;
	}
	struct store_options so = {.url = argv[1], .pool_size = 2, .connect_timeout_s = 5,
				   .acquire_timeout_ms = 5000, .statement_timeout_ms = 10000,
				   .application_name = "export_tool"};
	struct store *st = NULL;
	struct err e = {0};
	int rc = store_open(&so, &st, &e);
	if (!rc)
		rc = run(st, argc, argv, &e);
	store_close(st);
	if (rc) {
		fprintf(stderr, "export_tool: %s (%s)\n", e.msg, err_code_name((enum err_code)rc));
		return 1;
	}
	return 0;
}
