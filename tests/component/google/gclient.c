/*
 * gclient — a small driver of service/google for the component tests against gws-emulator
 * (test_google_emulator.py sets up faults and reads the emulator's request log).
 *
 *   gclient BASE TOKEN call METHOD PATH [BODY]
 *   gclient BASE TOKEN burst N PATH              N sequential calls through the token bucket
 *   gclient BASE TOKEN list PATH ITEMS_KEY MAX [FIELDS]
 *   gclient BASE TOKEN batch < lines             "METHOD PATH [BODY]" per line
 *
 * Settings from the environment: GCLIENT_QPM (bucket rate), GCLIENT_RETRY_BASE_MS,
 * GCLIENT_RETRY_MAX_ATTEMPTS. Prints one JSON object on stdout; exit 0 unless the usage is wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "google_batch.h"
#include "google_client.h"
#include "google_int.h"
#include "httpc.h"

static int static_token(void *ctx, int force_refresh, char *out, size_t cap, struct err *e)
{
	(void)force_refresh;
	(void)e;
	snprintf(out, cap, "%s", (const char *)ctx);
	return E_OK;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : def;
}

static void print_metrics(struct google_client *gc, json_object *jo)
{
	struct google_metrics m;
	google_client_metrics(gc, &m);
	unsigned long long attempts = 0;
	for (int i = 0; i < GOOGLE_METHOD_N; i++)
		for (int o = 0; o < GOOGLE_OUTCOME_N; o++)
			attempts += m.requests[i][o];
	json_object_object_add(jo, "attempts", json_object_new_int64((int64_t)attempts));
	json_object_object_add(jo, "retries", json_object_new_int64((int64_t)m.retries));
	json_object_object_add(jo, "waits", json_object_new_int64((int64_t)m.ratelimit_waits));
	json_object_object_add(jo, "cuts", json_object_new_int64((int64_t)m.ratelimit_cuts));
}

static void err_json(json_object *jo, int rc, const struct err *e, int status)
{
	json_object_object_add(jo, "rc", json_object_new_string(err_code_name((enum err_code)rc)));
	json_object_object_add(jo, "status", json_object_new_int(status));
	json_object_object_add(jo, "reason", json_object_new_string(rc ? e->reason : ""));
	json_object_object_add(jo, "message", json_object_new_string(rc ? e->msg : ""));
}

struct count {
	int items, pages;
};

static int count_page(void *ctx, struct json_object *items, struct err *e)
{
	(void)e;
	struct count *c = ctx;
	c->items += (int)json_object_array_length(items);
	c->pages++;
	return E_OK;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: gclient BASE TOKEN call|burst|list|batch ...\n");
		return 64;
	}
	if (httpc_global_init())
		return 1;
	struct google_client_options o = {
		.api_base = argv[1],
		.allow_http = 1,
		.timeout_ms = 10000,
		.token = static_token,
		.token_ctx = argv[2],
	};
	o.retry.base_ms = env_long("GCLIENT_RETRY_BASE_MS", 20);
	o.retry.cap_ms = 200;
	o.retry.max_attempts = (int)env_long("GCLIENT_RETRY_MAX_ATTEMPTS", 5);
	o.ratelimit_options.per_minute = (double)env_long("GCLIENT_QPM", 100000);
	o.ratelimit_options.burst = 1;
	struct google_client *gc = NULL;
	struct err e = {0};
	if (google_client_new(&o, &gc, &e)) {
		fprintf(stderr, "gclient: %s\n", e.msg);
		return 1;
	}
	json_object *jo = json_object_new_object();
	const char *cmd = argv[3];
	int usage = 0;
	if (!strcmp(cmd, "call") && argc >= 6) {
		int status = 0;
		char *body = NULL;
		size_t len = 0;
		int rc = google_call(gc, argv[4], argv[5], argc > 6 ? argv[6] : NULL, &status, &body,
				     &len, &e);
		err_json(jo, rc, &e, status);
		json_object_object_add(jo, "body", json_object_new_string(body ? body : ""));
		free(body);
	} else if (!strcmp(cmd, "burst") && argc >= 6) {
		int n = atoi(argv[4]), ok = 0;
		long long t0 = mono_ms();
		for (int i = 0; i < n; i++)
			ok += google_call(gc, "GET", argv[5], NULL, NULL, NULL, NULL, &e) == E_OK;
		json_object_object_add(jo, "elapsed_ms", json_object_new_int64(mono_ms() - t0));
		json_object_object_add(jo, "ok", json_object_new_int(ok));
	} else if (!strcmp(cmd, "list") && argc >= 7) {
		struct count c = {0, 0};
		int rc = google_list_pages(gc, argv[4], argv[5], atoi(argv[6]),
					   argc > 7 ? argv[7] : NULL, count_page, &c, &e);
		err_json(jo, rc, &e, 0);
		json_object_object_add(jo, "items", json_object_new_int(c.items));
		json_object_object_add(jo, "pages", json_object_new_int(c.pages));
	} else if (!strcmp(cmd, "batch")) {
		static char lines[256][1024];
		struct google_batch_item items[256];
		size_t n = 0;
		memset(items, 0, sizeof(items));
		while (n < 256 && fgets(lines[n], sizeof(lines[n]), stdin)) {
			char *l = lines[n];
			l[strcspn(l, "\n")] = '\0';
			char *sp = strchr(l, ' ');
			if (!sp)
				continue;
			*sp = '\0';
			char *path = sp + 1, *body = strchr(path, ' ');
			if (body)
				*body++ = '\0';
			items[n].method = l;
			items[n].path = path;
			items[n].body = body;
			n++;
		}
		int rc = google_batch(gc, items, n, &e);
		err_json(jo, rc, &e, 0);
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			json_object *it = json_object_new_object();
			json_object_object_add(it, "status", json_object_new_int(items[i].status));
			json_object_object_add(it, "reason",
					       json_object_new_string(items[i].e.reason));
			json_object_object_add(it, "rc", json_object_new_string(err_code_name(
								 items[i].e.code)));
			json_object_array_add(arr, it);
		}
		json_object_object_add(jo, "items", arr);
		google_batch_items_cleanup(items, n);
	} else {
		usage = 1;
	}
	if (!usage) {
		print_metrics(gc, jo);
		printf("%s\n", json_object_to_json_string_ext(jo, JSON_C_TO_STRING_PLAIN));
	}
	json_object_put(jo);
	google_client_free(gc);
	httpc_global_cleanup();
	if (usage)
		fprintf(stderr, "gclient: bad arguments for %s\n", cmd);
	return usage ? 64 : 0;
}
