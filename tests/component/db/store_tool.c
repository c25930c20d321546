/*
 * store_tool — calls store functions that no API route reaches yet, for test_store_authorization.py
 * (the periodic stale-authorization check belongs to the scheduler of a later issue).
 *
 *   store_tool URL mark-stale DAYS       → {"moved": N}
 *   store_tool URL touch INTEGRATION_ID  → {"written": true|false}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_authorization.h"

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: store_tool URL mark-stale DAYS | touch ID\n");
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
