/*
 * store_tool — calls store functions that no API route reaches, for the Python tests
 * (test_store_authorization.py; test_jobs.py drives the job items a runner records).
 *
 *   store_tool URL mark-stale DAYS       → {"moved": N}
 *   store_tool URL touch INTEGRATION_ID  → {"written": true|false}
 *   store_tool URL job-item-add JOB OWNER TYPE OBJECT OUTCOME
 *   store_tool URL job-items-done JOB TYPE → the object ids done, one a line
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_authorization.h"
#include "store_jobs.h"

static int outcome_parse(const char *s)
{
	for (int k = 0; k < JOB_NCOUNT; k++) {
		if (!strcmp(s, store_job_outcomes[k]))
			return k;
	}
	return -1;
}

int main(int argc, char **argv)
{
	int args_ok = argc == 4 ||
		      (argc == 8 && !strcmp(argv[2], "job-item-add") && outcome_parse(argv[7]) >= 0) ||
		      (argc == 5 && !strcmp(argv[2], "job-items-done"));
	if (!args_ok) {
		fprintf(stderr, "usage: store_tool URL mark-stale DAYS | touch ID | job-item-add JOB "
				"OWNER TYPE OBJECT OUTCOME | job-items-done JOB TYPE\n");
		return 64;
	}
	struct store_options so = {.url = argv[1], .pool_size = 1, .connect_timeout_s = 5,
				   .acquire_timeout_ms = 5000, .statement_timeout_ms = 10000,
				   .application_name = "store_tool"};
	struct store *st = NULL;
	struct err e = {0};
	int rc = store_open(&so, &st, &e);
	if (!rc && !strcmp(argv[2], "mark-stale")) {
		int n = 0;
		rc = store_integrations_mark_stale(st, atoi(argv[3]), &n, &e);
		if (!rc)
			printf("{\"moved\": %d}\n", n);
	} else if (!rc && !strcmp(argv[2], "touch")) {
		bool written = false;
		rc = store_credential_touch(st, argv[3], &written, &e);
		if (!rc)
			printf("{\"written\": %s}\n", written ? "true" : "false");
	} else if (!rc && !strcmp(argv[2], "job-item-add")) {
		int k = outcome_parse(argv[7]);
		bool failed = k == JOB_FAILED;
		rc = store_job_item_add(st, argv[3], argv[4], argv[5], argv[6],
					(enum store_job_count)k, failed ? "test_failure" : NULL,
					failed ? "failed on purpose" : NULL, &e);
	} else if (!rc && !strcmp(argv[2], "job-items-done")) {
		struct store_job_done done;
		rc = store_job_done_load(st, argv[3], argv[4], &done, &e);
		for (size_t i = 0; !rc && i < done.n; i++)
			printf("%s\n", done.ids[i]);
		if (!rc)
			store_job_done_cleanup(&done);
	} else if (!rc) {
		rc = E_INVAL;
		snprintf(e.msg, sizeof(e.msg), "unknown command %s", argv[2]);
	}
	store_close(st);
	if (rc) {
		fprintf(stderr, "store_tool: %s (%s)\n", e.msg, err_code_name((enum err_code)rc));
		return 1;
	}
	return 0;
}
