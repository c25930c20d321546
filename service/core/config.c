#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

enum config_type { T_STR, T_INT, T_LISTEN, T_LOGLEVEL, T_BOOL };

enum config_flag {
	F_SECRET = 1, /* redacted when printed; may come from NAME_FILE */
};

struct config_entry {
	const char *name;
	enum config_type type;
	size_t offset;
	const char *def; /* NULL: no default */
	long min, max;	 /* for T_INT */
	unsigned required_by;
	unsigned used_by;
	unsigned flags;
	const char *doc;
};

#define OFF(f) offsetof(struct config, f)
#define ALL CONFIG_ROLE_ALL
#define API CONFIG_ROLE_API
#define WORKER CONFIG_ROLE_WORKER
#define DB_ROLES (CONFIG_ROLE_API | CONFIG_ROLE_WORKER | CONFIG_ROLE_MIGRATE | CONFIG_ROLE_KEYS)
#define BUS_ROLES (CONFIG_ROLE_API | CONFIG_ROLE_WORKER)
#define KEYS CONFIG_ROLE_KEYS

static const struct config_entry config_table[] = {
	{"GWSYNC_DATABASE_URL", T_STR, OFF(database_url), NULL, 0, 0, DB_ROLES, DB_ROLES, F_SECRET,
	 "PostgreSQL connection URI (libpq syntax). Also as GWSYNC_DATABASE_URL_FILE."},
	{"GWSYNC_DB_POOL_SIZE", T_INT, OFF(db_pool_size), "16", 1, 512, 0, DB_ROLES, 0,
	 "Database connections per process. More than a few per PostgreSQL core only queue inside "
	 "PostgreSQL and lengthen the slowest requests."},
	{"GWSYNC_DB_CONNECT_TIMEOUT_S", T_INT, OFF(db_connect_timeout_s), "3", 1, 60, 0, DB_ROLES, 0,
	 "Seconds to wait for a new database connection."},
	{"GWSYNC_DB_ACQUIRE_TIMEOUT_MS", T_INT, OFF(db_acquire_timeout_ms), "2000", 10, 60000, 0,
	 DB_ROLES, 0, "Milliseconds a request waits for a free pooled connection before a 503."},
	{"GWSYNC_DB_STATEMENT_TIMEOUT_MS", T_INT, OFF(db_statement_timeout_ms), "10000", 100,
	 600000, 0, DB_ROLES, 0, "PostgreSQL statement_timeout for every pooled connection."},
	{"GWSYNC_KAFKA_BROKERS", T_STR, OFF(kafka_brokers), NULL, 0, 0, BUS_ROLES, BUS_ROLES, 0,
	 "Kafka bootstrap servers, host:port[,host:port...]."},
	{"GWSYNC_KAFKA_GROUP", T_STR, OFF(kafka_group), "gwsync-workers", 0, 0, 0, WORKER, 0,
	 "Consumer group of the worker role."},
	{"GWSYNC_KAFKA_SESSION_TIMEOUT_MS", T_INT, OFF(kafka_session_timeout_ms), "8000", 1000,
	 300000, 0, WORKER, 0,
	 "How long the group waits for a silent worker before giving its partitions to the others "
	 "(librdkafka session.timeout.ms): after a crash, the worker's jobs move on after "
	 "GWSYNC_JOB_LEASE_MS and at most this long. The broker's group.min.session.timeout.ms and "
	 "group.max.session.timeout.ms bound it (6000 and 1800000 by default)."},
	{"GWSYNC_KAFKA_HEARTBEAT_MS", T_INT, OFF(kafka_heartbeat_ms), "0", 0, 100000, 0, WORKER, 0,
	 "How often a worker tells the group it is alive (librdkafka heartbeat.interval.ms); at most "
	 "a third of GWSYNC_KAFKA_SESSION_TIMEOUT_MS. 0: a third of it."},
	{"GWSYNC_KAFKA_TOPIC_JOBS", T_STR, OFF(topic_jobs), "gwsync.jobs", 0, 0, 0, BUS_ROLES, 0,
	 "Topic that announces queued jobs."},
	{"GWSYNC_KAFKA_TOPIC_DIRECTORY_EVENTS", T_STR, OFF(topic_directory_events),
	 "gwsync.directory-events", 0, 0, 0, BUS_ROLES, 0,
	 "Topic of directory events published by the platform."},
	{"GWSYNC_KAFKA_TOPIC_DIRECTORY_EVENTS_DLQ", T_STR, OFF(topic_directory_events_dlq),
	 "gwsync.directory-events.dlq", 0, 0, 0, BUS_ROLES, 0,
	 "Dead-letter topic for directory events that cannot be applied."},
	{"GWSYNC_KAFKA_TOPIC_EVENTS", T_STR, OFF(topic_events), "gwsync.events", 0, 0, 0,
	 BUS_ROLES, 0, "Topic of the events gwsync publishes."},
	{"GWSYNC_HTTP_LISTEN", T_LISTEN, OFF(http_listen), "127.0.0.1:8080", 0, 0, 0, API, 0,
	 "Address and port the API listens on (IPv4 host:port; port 0 picks a free one)."},
	{"GWSYNC_HTTP_THREADS", T_INT, OFF(http_threads), "64", 2, 1024, 0, API, 0,
	 "Request worker threads of the API; a keep-alive connection holds one while open."},
	{"GWSYNC_HTTP_MAX_BODY_BYTES", T_INT, OFF(http_max_body_bytes), "1048576", 1024,
	 16777216, 0, API, 0, "Largest request body accepted; larger ones get 413."},
	{"GWSYNC_HTTP_REQUEST_TIMEOUT_MS", T_INT, OFF(http_request_timeout_ms), "10000", 100,
	 600000, 0, API, 0,
	 "Socket read/write timeout of the API: a client that sends nothing for this long (a "
	 "request head it never finishes included) loses its connection and the thread it held."},
	{"GWSYNC_HEALTH_LISTEN", T_LISTEN, OFF(health_listen), NULL, 0, 0, 0, BUS_ROLES, 0,
	 "Address and port of the health listener: `/healthz`, `/readyz` and `/metrics` on their "
	 "own threads, so probes and Prometheus are answered while slow clients or a Google outage "
	 "hold the API's threads (IPv4 host:port; port 0 picks a free one). The API also keeps them "
	 "on GWSYNC_HTTP_LISTEN (so on the api it needs a port of its own: the same port on the same "
	 "host or 0.0.0.0 is refused); the worker has no other listener. Unset: no health listener."},
	{"GWSYNC_JSON_MAX_DEPTH", T_INT, OFF(json_max_depth), "32", 2, 1000, 0, API, 0,
	 "Deepest nesting accepted in a JSON request body."},
	{"GWSYNC_AUTH_CACHE_TTL_MS", T_INT, OFF(auth_cache_ttl_ms), "5000", 0, 60000, 0, API, 0,
	 "How long a replica trusts an API key it has checked; a key revoked through another "
	 "replica still works there for up to this long. 0 checks every request."},
	{"GWSYNC_READ_CACHE_MB", T_INT, OFF(read_cache_mb), "64", 0, 65536, 0, API, 0,
	 "Memory for answers of the integration and directory GET routes kept per replica; changes "
	 "reach every replica through PostgreSQL notifications. 0 reads the database every time."},
	{"GWSYNC_READ_CACHE_MAX_AGE_MS", T_INT, OFF(read_cache_max_age_ms), "10000", 0, 600000, 0,
	 API, 0, "Longest a cached answer is served, even when no change was announced."},
	{"GWSYNC_READYZ_TIMEOUT_MS", T_INT, OFF(readyz_timeout_ms), "1500", 100, 30000, 0,
	 BUS_ROLES, 0,
	 "Time each readiness check (database, Kafka) may take."},
	{"GWSYNC_GOOGLE_REQUEST_DEADLINE_MS", T_INT, OFF(google_request_deadline_ms), "5000", 500,
	 120000, 0, API, 0,
	 "Overall time the Google calls of one API request may take, retries included "
	 "(authorization, verification, the OAuth callback, the domain check); then the request "
	 "answers 503 google-unreachable. Jobs on the worker are not bound by it."},
	{"GWSYNC_WORKER_CONCURRENCY", T_INT, OFF(worker_concurrency), "4", 1, 256, 0, WORKER, 0,
	 "Jobs one worker process runs at the same time; it takes no new job while all are busy."},
	{"GWSYNC_JOB_LEASE_MS", T_INT, OFF(job_lease_ms), "30000", 500, 3600000, 0, BUS_ROLES, 0,
	 "How long a worker's claim on a running job lasts without renewal (it renews every third "
	 "of it); after that the scheduler queues the job again."},
	{"GWSYNC_JOB_MAX_ATTEMPTS", T_INT, OFF(job_max_attempts), "3", 1, 100, 0, API, 0,
	 "Runs of a job whose lease expired before it is failed for good."},
	{"GWSYNC_JOB_REANNOUNCE_S", T_INT, OFF(job_reannounce_s), "30", 1, 86400, 0, API, 0,
	 "A job still queued this long after its last announcement is announced on Kafka again."},
	{"GWSYNC_EXPORT_RECONCILE_H", T_INT, OFF(export_reconcile_h), "24", 0, 8760, 0, API, 0,
	 "Hours between scheduled full reconciles of every active integration with bindings (they "
	 "correct what was changed by hand in Google's admin console); counted from the last full "
	 "export or the authorization. 0 turns them off."},
	{"GWSYNC_DOMAINS_MAX_AGE_MS", T_INT, OFF(domains_max_age_ms), "600000", 0, 86400000, 0,
	 WORKER, 0,
	 "A sync run (export, groups, import) asks Google for the domains' verified flags "
	 "(domains.list) only when they were last checked longer ago than this (by a run, verify or "
	 "the domain check); 0 asks on every run."},
	{"GWSYNC_IMPORT_MINUTE_MS", T_INT, OFF(import_minute_ms), "60000", 100, 60000, 0, API, 0,
	 "Test only: milliseconds in one minute of settings.import_schedule.interval_minutes, so "
	 "tests can watch scheduled imports come around in seconds. Never below 60000 in "
	 "production."},
	{"GWSYNC_JOB_TEST_RUNNERS", T_INT, OFF(job_test_runners), "0", 0, 1, 0, BUS_ROLES, 0,
	 "1 enables the test-only job type test_sleep (API and worker). Never in production."},
	{"GWSYNC_REAUTHORIZE_AFTER_DAYS", T_INT, OFF(reauthorize_after_days), "180", 1, 3650, 0,
	 API, 0,
	 "An active integration whose credential has not been used for this many days needs "
	 "authorizing again (the scheduler checks once a minute)."},
	{"GWSYNC_SCHEDULER_INTERVAL_MS", T_INT, OFF(scheduler_interval_ms), "5000", 100, 600000, 0,
	 API, 0,
	 "Period of the scheduler (expired leases, scheduled imports, re-announcements, pruning); "
	 "one api replica at a time runs each tick."},
	{"GWSYNC_OUTBOX_POLL_MS", T_INT, OFF(outbox_poll_ms), "1000", 10, 60000, 0, API, 0,
	 "Longest the outbox relay sleeps between looks when no notification wakes it."},
	{"GWSYNC_OUTBOX_BATCH", T_INT, OFF(outbox_batch), "500", 1, 10000, 0, API, 0,
	 "Outbox rows one relay publishes per transaction."},
	{"GWSYNC_OUTBOX_RETENTION_H", T_INT, OFF(outbox_retention_h), "24", 1, 8760, 0, API, 0,
	 "Hours published outbox rows are kept before the scheduler deletes them."},
	{"GWSYNC_PROCESSED_EVENTS_RETENTION_H", T_INT, OFF(processed_events_retention_h), "168", 1,
	 87600, 0, API, 0,
	 "Hours the ids of applied directory events are kept for deduplication."},
	{"GWSYNC_SHUTDOWN_TIMEOUT_S", T_INT, OFF(shutdown_timeout_s), "20", 1, 600, 0, BUS_ROLES, 0,
	 "Upper bound for a graceful stop after SIGTERM; then the process exits anyway."},
	{"GWSYNC_LOG_LEVEL", T_LOGLEVEL, OFF(log_level), "info", 0, 0, 0, ALL, 0,
	 "Lowest level logged: debug, info, warn or error."},
	{"GWSYNC_SECRET_KEY", T_STR, OFF(secret_key), NULL, 0, 0, BUS_ROLES, BUS_ROLES | KEYS,
	 F_SECRET,
	 "Key that seals stored Google credentials (AES-256-GCM): `kid:base64(32 bytes)`, kid "
	 "1-32 of `[A-Za-z0-9_-]`. Also as GWSYNC_SECRET_KEY_FILE. Rotate with `gwsync keys "
	 "rotate-secret`."},
	{"GWSYNC_SECRET_KEYS_PREVIOUS", T_STR, OFF(secret_keys_previous), NULL, 0, 0, 0,
	 BUS_ROLES | KEYS, F_SECRET,
	 "Earlier sealing keys, comma-separated `kid:base64`, that may still open stored "
	 "secrets (during a rotation). Also as GWSYNC_SECRET_KEYS_PREVIOUS_FILE."},
	{"GWSYNC_GOOGLE_API_URL", T_STR, OFF(google_api_url), "https://admin.googleapis.com", 0, 0,
	 0, BUS_ROLES, 0, "Base URL of Google's Admin SDK (the emulator's URL in tests)."},
	{"GWSYNC_GOOGLE_TOKEN_URL", T_STR, OFF(google_token_url),
	 "https://oauth2.googleapis.com/token", 0, 0, 0, BUS_ROLES, 0,
	 "Google's OAuth token endpoint (also the audience of service-account assertions)."},
	{"GWSYNC_GOOGLE_AUTH_URL", T_STR, OFF(google_auth_url),
	 "https://accounts.google.com/o/oauth2/v2/auth", 0, 0, 0, API, 0,
	 "Google's consent page (authorization-code flow)."},
	{"GWSYNC_GOOGLE_ALLOW_HTTP", T_BOOL, OFF(google_allow_http), "false", 0, 0, 0, BUS_ROLES, 0,
	 "Allow plain http:// Google URLs (the emulator); TLS is verified otherwise."},
	{"GWSYNC_GOOGLE_CONNECT_TIMEOUT_MS", T_INT, OFF(google_connect_timeout_ms), "5000", 100,
	 60000, 0, BUS_ROLES, 0, "Time to connect to Google."},
	{"GWSYNC_GOOGLE_TIMEOUT_MS", T_INT, OFF(google_timeout_ms), "30000", 500, 600000, 0,
	 BUS_ROLES, 0, "Time one HTTP exchange with Google may take."},
	{"GWSYNC_GOOGLE_QPM", T_INT, OFF(google_qpm), "2300", 1, 100000, 0, BUS_ROLES, 0,
	 "Directory API calls per minute per integration (token bucket; Google allows 2,400). "
	 "Halved when Google reports rate limits, recovering gradually."},
	{"GWSYNC_GOOGLE_RETRY_MAX_ATTEMPTS", T_INT, OFF(google_retry_max_attempts), "7", 1, 20, 0,
	 BUS_ROLES, 0, "Attempts per Google call (the first and the retries) for transient errors."},
	{"GWSYNC_GOOGLE_RETRY_BASE_MS", T_INT, OFF(google_retry_base_ms), "1000", 1, 60000, 0,
	 BUS_ROLES, 0, "First backoff before retrying a Google call; doubles each retry, jittered."},
	{"GWSYNC_GOOGLE_RETRY_CAP_MS", T_INT, OFF(google_retry_cap_ms), "32000", 1, 600000, 0,
	 BUS_ROLES, 0, "Longest backoff between two attempts."},
	{"GWSYNC_GOOGLE_RETRY_MAX_TOTAL_MS", T_INT, OFF(google_retry_max_total_ms), "120000", 10,
	 3600000, 0, BUS_ROLES, 0,
	 "Upper bound of the time one Google call may spend retrying (waits for the rate limit not "
	 "counted)."},
	{"GWSYNC_GOOGLE_OAUTH_CLIENT_ID", T_STR, OFF(google_oauth_client_id), NULL, 0, 0, 0,
	 BUS_ROLES, 0,
	 "OAuth web client id for \"Authorize sync\" (consent flow); unset turns that flow off."},
	{"GWSYNC_GOOGLE_OAUTH_CLIENT_SECRET", T_STR, OFF(google_oauth_client_secret), NULL, 0, 0,
	 0, BUS_ROLES, F_SECRET,
	 "Secret of that OAuth client. Also as GWSYNC_GOOGLE_OAUTH_CLIENT_SECRET_FILE."},
	{"GWSYNC_OAUTH_REDIRECT_URL", T_STR, OFF(oauth_redirect_url), NULL, 0, 0, 0, API, 0,
	 "Public URL of gwsync's `GET /v1/oauth/callback`, registered as the client's redirect "
	 "URI; needed for the consent flow."},
	{"GWSYNC_OAUTH_RETURN_URL", T_STR, OFF(oauth_return_url), NULL, 0, 0, 0, API, 0,
	 "Where the callback redirects the admin's browser, with `integration_id`, `outcome` and "
	 "`problem` in the query; unset: the callback answers JSON."},
};

#define KAFKA_X_PREFIX "GWSYNC_KAFKA_X_"

struct errs {
	char *buf;
	size_t cap;
	size_t len;
	int count;
};

static void errs_add(struct errs *es, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void errs_add(struct errs *es, const char *fmt, ...)
{
	es->count++;
	if (!es->buf || es->len + 1 >= es->cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(es->buf + es->len, es->cap - es->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	es->len += (size_t)n;
	if (es->len >= es->cap)
		es->len = es->cap - 1;
	if (es->len + 1 < es->cap) {
		es->buf[es->len++] = '\n';
		es->buf[es->len] = '\0';
	}
}

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	for (char *const *p = envp; p && *p; p++) {
		if (strncmp(*p, name, n) == 0 && (*p)[n] == '=')
			return *p + n + 1;
	}
	return NULL;
}

#define SLURP_MAX 65536

/*
 * Frees a buffer that held a secret, wiped first. memset before free is a dead store the compiler
 * may drop; explicit_bzero is never dropped.
 */
static void secret_free(char *s, size_t cap)
{
	if (!s)
		return;
	explicit_bzero(s, cap);
	free(s);
}

/*
 * Reads a whole small file (secrets mounted by Kubernetes), dropping one trailing newline. The
 * result is a buffer of SLURP_MAX + 1 bytes: free it with secret_free(buf, SLURP_MAX + 1).
 */
static char *file_slurp(const char *path, char *why, size_t why_cap)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(why, why_cap, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	/* Unbuffered: no copy of the secret stays behind in a stdio buffer freed by fclose. */
	setvbuf(f, NULL, _IONBF, 0);
	char *buf = malloc(SLURP_MAX + 1);
	if (!buf) {
		fclose(f);
		snprintf(why, why_cap, "out of memory");
		return NULL;
	}
	size_t n = fread(buf, 1, SLURP_MAX, f);
	int big = !feof(f);
	fclose(f);
	if (big) {
		secret_free(buf, SLURP_MAX + 1);
		snprintf(why, why_cap, "%s is larger than 64 KiB", path);
		return NULL;
	}
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return buf;
}

static int parse_long(const char *s, long *out)
{
	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int listen_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return 0;
	long port;
	if (parse_long(colon + 1, &port) || port < 0 || port > 65535)
		return 0;
	char host[INET_ADDRSTRLEN];
	size_t hlen = (size_t)(colon - s);
	if (hlen >= sizeof(host))
		return 0;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	struct in_addr addr;
	return inet_pton(AF_INET, host, &addr) == 1;
}

/*
 * Whether two valid listen addresses would take the same socket: the same port (0 picks a free
 * one each time, so never) on the same host, or on any host when either is 0.0.0.0.
 */
static bool listen_overlap(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	const char *ca = strrchr(a, ':'), *cb = strrchr(b, ':');
	long pa, pb;
	if (!ca || !cb || parse_long(ca + 1, &pa) || parse_long(cb + 1, &pb) || pa != pb || !pa)
		return false;
	size_t ha = (size_t)(ca - a), hb = (size_t)(cb - b);
	bool any = (ha == 7 && !strncmp(a, "0.0.0.0", 7)) || (hb == 7 && !strncmp(b, "0.0.0.0", 7));
	return any || (ha == hb && !strncmp(a, b, ha));
}

static void entry_apply(struct config *cfg, const struct config_entry *ce, const char *val,
			struct errs *es)
{
	char *base = (char *)cfg;
	long v;
	enum log_level lvl;
	switch (ce->type) {
	case T_STR:
	case T_LISTEN:
		if (ce->type == T_LISTEN && !listen_valid(val)) {
			errs_add(es, "%s: \"%s\" is not an IPv4 host:port", ce->name, val);
			return;
		}
		if (!*val) {
			errs_add(es, "%s: must not be empty", ce->name);
			return;
		}
		if (*(char **)(base + ce->offset) && (ce->flags & F_SECRET))
			explicit_bzero(*(char **)(base + ce->offset),
				       strlen(*(char **)(base + ce->offset)));
		free(*(char **)(base + ce->offset));
		*(char **)(base + ce->offset) = strdup(val);
		return;
	case T_INT:
		if (parse_long(val, &v)) {
			errs_add(es, "%s: \"%s\" is not an integer", ce->name, val);
			return;
		}
		if (v < ce->min || v > ce->max) {
			errs_add(es, "%s: %ld is outside %ld..%ld", ce->name, v, ce->min, ce->max);
			return;
		}
		*(int *)(base + ce->offset) = (int)v;
		return;
	case T_BOOL:
		if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes"))
			*(int *)(base + ce->offset) = 1;
		else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no"))
			*(int *)(base + ce->offset) = 0;
		else
			errs_add(es, "%s: \"%s\" is not true or false", ce->name, val);
		return;
	case T_LOGLEVEL:
		if (log_level_parse(val, &lvl)) {
			errs_add(es, "%s: \"%s\" is not one of debug, info, warn, error", ce->name,
				 val);
			return;
		}
		*(enum log_level *)(base + ce->offset) = lvl;
		return;
	}
}

static void kafka_props_load(struct config *cfg, char *const *envp, struct errs *es)
{
	size_t plen = strlen(KAFKA_X_PREFIX);
	for (char *const *p = envp; p && *p; p++) {
		if (strncmp(*p, KAFKA_X_PREFIX, plen) != 0)
			continue;
		const char *eq = strchr(*p, '=');
		if (!eq || eq == *p + plen) {
			/* Never echo the value: it may be a secret. */
			errs_add(es, "%s: names no librdkafka property", KAFKA_X_PREFIX);
			continue;
		}
		struct config_kv *grown =
			realloc(cfg->kafka_props, (cfg->n_kafka_props + 1) * sizeof(*grown));
		if (!grown) {
			errs_add(es, "%s: out of memory", KAFKA_X_PREFIX);
			return;
		}
		cfg->kafka_props = grown;
		char *key = strndup(*p + plen, (size_t)(eq - *p - (ptrdiff_t)plen));
		char *value = strdup(eq + 1);
		if (!key || !value) {
			free(key);
			free(value);
			errs_add(es, "%s: out of memory", KAFKA_X_PREFIX);
			return;
		}
		for (char *k = key; *k; k++)
			*k = *k == '_' ? '.' : (char)tolower((unsigned char)*k);
		cfg->kafka_props[cfg->n_kafka_props].key = key;
		cfg->kafka_props[cfg->n_kafka_props].value = value;
		cfg->n_kafka_props++;
	}
}

int config_load(struct config *cfg, unsigned roles, char *const *envp, char *errs, size_t errs_cap)
{
	struct errs es = {errs, errs_cap, 0, 0};
	if (errs && errs_cap)
		errs[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));

	for (size_t i = 0; i < sizeof(config_table) / sizeof(config_table[0]); i++) {
		const struct config_entry *ce = &config_table[i];
		const char *val = env_get(envp, ce->name);
		char *from_file = NULL;
		if (ce->flags & F_SECRET) {
			char file_var[128];
			snprintf(file_var, sizeof(file_var), "%s_FILE", ce->name);
			const char *path = env_get(envp, file_var);
			if (path && val) {
				errs_add(&es, "%s: set either %s or %s, not both", ce->name, ce->name,
					 file_var);
				continue;
			}
			if (path) {
				char why[256];
				from_file = file_slurp(path, why, sizeof(why));
				if (!from_file) {
					errs_add(&es, "%s: %s", file_var, why);
					continue;
				}
				val = from_file;
			}
		}
		if (!val)
			val = ce->def;
		if (!val) {
			if (ce->required_by & roles)
				errs_add(&es, "%s: required but not set", ce->name);
			continue;
		}
		entry_apply(cfg, ce, val, &es);
		if (from_file) {
			/* The secret now lives in cfg; wipe the transient copy. */
			secret_free(from_file, SLURP_MAX + 1);
		}
	}
	kafka_props_load(cfg, envp, &es);
	if ((roles & API) && listen_overlap(cfg->http_listen, cfg->health_listen))
		errs_add(&es,
			 "GWSYNC_HEALTH_LISTEN: %s is the address of the API (GWSYNC_HTTP_LISTEN=%s); "
			 "the health listener needs a port of its own",
			 cfg->health_listen, cfg->http_listen);
	if (cfg->kafka_heartbeat_ms > 0 && cfg->kafka_session_timeout_ms > 0 &&
	    cfg->kafka_heartbeat_ms * 3 > cfg->kafka_session_timeout_ms)
		errs_add(&es,
			 "GWSYNC_KAFKA_HEARTBEAT_MS: %d is more than a third of "
			 "GWSYNC_KAFKA_SESSION_TIMEOUT_MS (%d)",
			 cfg->kafka_heartbeat_ms, cfg->kafka_session_timeout_ms);
	return es.count;
}

void config_cleanup(struct config *cfg)
{
	for (size_t i = 0; i < sizeof(config_table) / sizeof(config_table[0]); i++) {
		const struct config_entry *ce = &config_table[i];
		if (ce->type == T_STR || ce->type == T_LISTEN) {
			char **s = (char **)((char *)cfg + ce->offset);
			if (*s && (ce->flags & F_SECRET))
				explicit_bzero(*s, strlen(*s));
			free(*s);
		}
	}
	for (size_t i = 0; i < cfg->n_kafka_props; i++) {
		free(cfg->kafka_props[i].key);
		/* Any property may carry a secret (sasl.password, ssl.key.password…). */
		secret_free(cfg->kafka_props[i].value, strlen(cfg->kafka_props[i].value));
	}
	free(cfg->kafka_props);
	memset(cfg, 0, sizeof(*cfg));
}

static bool kafka_prop_secret(const char *key)
{
	return strstr(key, "password") || strstr(key, "secret") || strstr(key, "key") ||
	       strstr(key, "token") || strstr(key, "jaas");
}

void config_print(const struct config *cfg, FILE *out)
{
	static const char *const level_names[] = {"debug", "info", "warn", "error"};
	const char *base = (const char *)cfg;
	for (size_t i = 0; i < sizeof(config_table) / sizeof(config_table[0]); i++) {
		const struct config_entry *ce = &config_table[i];
		const void *field = base + ce->offset;
		switch (ce->type) {
		case T_STR:
		case T_LISTEN: {
			const char *s = *(char *const *)field;
			if (!s)
				fprintf(out, "%s=(unset)\n", ce->name);
			else if (ce->flags & F_SECRET)
				fprintf(out, "%s=<redacted>\n", ce->name);
			else
				fprintf(out, "%s=%s\n", ce->name, s);
			break;
		}
		case T_INT:
			fprintf(out, "%s=%d\n", ce->name, *(const int *)field);
			break;
		case T_BOOL:
			fprintf(out, "%s=%s\n", ce->name, *(const int *)field ? "true" : "false");
			break;
		case T_LOGLEVEL:
			fprintf(out, "%s=%s\n", ce->name,
				level_names[*(const enum log_level *)field]);
			break;
		}
	}
	for (size_t i = 0; i < cfg->n_kafka_props; i++) {
		const struct config_kv *kv = &cfg->kafka_props[i];
		fprintf(out, "kafka %s=%s\n", kv->key,
			kafka_prop_secret(kv->key) ? "<redacted>" : kv->value);
	}
}

static void roles_text(unsigned roles, char *buf, size_t cap)
{
	static const char *const names[] = {"api", "worker", "migrate", "keys"};
	buf[0] = '\0';
	size_t len = 0;
	for (unsigned i = 0; i < 4; i++) {
		if (!(roles & (1u << i)))
			continue;
		int n = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", names[i]);
		if (n < 0 || (size_t)n >= cap - len)
			return;
		len += (size_t)n;
	}
}

void config_doc_markdown(FILE *out)
{
	fprintf(out, "| variable | default | used by | meaning |\n|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(config_table) / sizeof(config_table[0]); i++) {
		const struct config_entry *ce = &config_table[i];
		char roles[64];
		roles_text(ce->used_by, roles, sizeof(roles));
		char def[64];
		if (ce->def)
			snprintf(def, sizeof(def), "`%s`", ce->def);
		else if (ce->required_by)
			snprintf(def, sizeof(def), "required");
		else
			snprintf(def, sizeof(def), "unset");
		char range[64] = "";
		if (ce->type == T_INT)
			snprintf(range, sizeof(range), " Range %ld–%ld.", ce->min, ce->max);
		fprintf(out, "| `%s` | %s | %s | %s%s |\n", ce->name, def, roles, ce->doc, range);
	}
	fprintf(out, "| `GWSYNC_KAFKA_X_<PROPERTY>` | | api, worker | Any librdkafka property, "
		     "e.g. `GWSYNC_KAFKA_X_SECURITY_PROTOCOL` sets `security.protocol`. |\n");
}
