/*
 * Unit tests of service/core/config.h: config_load over hand-made environments, config_print's
 * redaction and config_doc_markdown's coverage of the printed variables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define DB_URL "postgres://gwsync:hunter2-db@db.example:5432/gwsync"
#define SK_ENV "GWSYNC_SECRET_KEY=k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define ERRS_CAP 4096

/*
 * A seam (-Wl,--wrap=explicit_bzero): records what each wipe erased, so a test can see that a
 * secret was wiped with a call the compiler cannot drop (a memset before free may be dropped).
 */
void __real_explicit_bzero(void *s, size_t n);
void __wrap_explicit_bzero(void *s, size_t n);
static char wiped[16][160];
static int n_wiped;

void __wrap_explicit_bzero(void *s, size_t n)
{
	if (n_wiped < 16) {
		size_t k = n < sizeof(wiped[0]) - 1 ? n : sizeof(wiped[0]) - 1;
		memcpy(wiped[n_wiped], s, k);
		wiped[n_wiped][k] = '\0';
		n_wiped++;
	}
	__real_explicit_bzero(s, n);
}

/* How many wipes erased a buffer that held exactly the string secret. */
static int wipes_of(const char *secret)
{
	int n = 0;
	for (int i = 0; i < n_wiped && i < 16; i++)
		n += strcmp(wiped[i], secret) == 0;
	return n;
}

/* Number of '\n'-terminated lines in s. */
static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++) {
		if (*s == '\n')
			n++;
	}
	return n;
}

/* 1 when errs holds a line that starts with "name:" and contains word (NULL: anything). */
static int errs_has(const char *errs, const char *name, const char *word)
{
	size_t nlen = strlen(name);
	const char *line = errs;
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (len > nlen && strncmp(line, name, nlen) == 0 && line[nlen] == ':') {
			if (!word)
				return 1;
			char buf[1024];
			snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
			if (strstr(buf, word))
				return 1;
		}
		if (!end)
			break;
		line = end + 1;
	}
	return 0;
}

/* Loads with one extra "NAME=value" on top of a complete API environment. */
static int load_api_with(struct config *cfg, const char *extra, char *errs, size_t cap)
{
	char *envp[] = {"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV, "GWSYNC_KAFKA_BROKERS=kafka:9092",
			(char *)extra, NULL};
	return config_load(cfg, CONFIG_ROLE_API, envp, errs, cap);
}

/* Writes content to a new file in the working directory; path gets its name. */
static void temp_file_write(char *path, size_t cap, const char *content)
{
	snprintf(path, cap, "gwsync-unit-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(content);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Runs config_print into a malloc'd string. */
static char *print_to_string(const struct config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	assert_non_null(out);
	config_print(cfg, out);
	assert_int_equal(fclose(out), 0);
	assert_non_null(text);
	return text;
}

static void test_defaults_applied(void **state)
{
	(void)state;
	struct config cfg;
	char errs[ERRS_CAP];
	char *envp[] = {"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV, "GWSYNC_KAFKA_BROKERS=kafka:9092", NULL};

	assert_int_equal(config_load(&cfg, CONFIG_ROLE_ALL, envp, errs, sizeof(errs)), 0);
	assert_string_equal(errs, "");
	assert_string_equal(cfg.database_url, DB_URL);
	assert_string_equal(cfg.kafka_brokers, "kafka:9092");
	assert_int_equal(cfg.db_pool_size, 16);
	assert_int_equal(cfg.db_connect_timeout_s, 3);
	assert_int_equal(cfg.db_acquire_timeout_ms, 2000);
	assert_int_equal(cfg.db_statement_timeout_ms, 10000);
	assert_string_equal(cfg.kafka_group, "gwsync-workers");
	assert_string_equal(cfg.topic_jobs, "gwsync.jobs");
	assert_string_equal(cfg.topic_directory_events, "gwsync.directory-events");
	assert_string_equal(cfg.topic_directory_events_dlq, "gwsync.directory-events.dlq");
	assert_string_equal(cfg.topic_events, "gwsync.events");
	assert_null(cfg.kafka_props);
	assert_int_equal(cfg.n_kafka_props, 0);
	assert_string_equal(cfg.http_listen, "127.0.0.1:8080");
	assert_int_equal(cfg.http_threads, 64);
	assert_int_equal(cfg.http_max_body_bytes, 1048576);
	assert_int_equal(cfg.http_request_timeout_ms, 10000);
	assert_null(cfg.health_listen);
	assert_int_equal(cfg.google_request_deadline_ms, 5000);
	assert_int_equal(cfg.json_max_depth, 32);
	assert_int_equal(cfg.readyz_timeout_ms, 1500);
	assert_int_equal(cfg.shutdown_timeout_s, 20);
	assert_int_equal(cfg.log_level, LOG_INFO);
	config_cleanup(&cfg);
}

static void test_values_override_defaults(void **state)
{
	(void)state;
	struct config cfg;
	char errs[ERRS_CAP];
	char *envp[] = {
		"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV,
		"GWSYNC_KAFKA_BROKERS=a:1,b:2",
		"GWSYNC_DB_POOL_SIZE=4",
		"GWSYNC_DB_CONNECT_TIMEOUT_S=60",
		"GWSYNC_DB_ACQUIRE_TIMEOUT_MS=10",
		"GWSYNC_DB_STATEMENT_TIMEOUT_MS=600000",
		"GWSYNC_KAFKA_GROUP=g1",
		"GWSYNC_KAFKA_TOPIC_JOBS=t.jobs",
		"GWSYNC_KAFKA_TOPIC_DIRECTORY_EVENTS=t.dir",
		"GWSYNC_KAFKA_TOPIC_DIRECTORY_EVENTS_DLQ=t.dir.dlq",
		"GWSYNC_KAFKA_TOPIC_EVENTS=t.events",
		"GWSYNC_HTTP_LISTEN=0.0.0.0:0",
		"GWSYNC_HTTP_THREADS=2",
		"GWSYNC_HTTP_MAX_BODY_BYTES=16777216",
		"GWSYNC_HTTP_REQUEST_TIMEOUT_MS=100",
		"GWSYNC_JSON_MAX_DEPTH=1000",
		"GWSYNC_READYZ_TIMEOUT_MS=30000",
		"GWSYNC_SHUTDOWN_TIMEOUT_S=1",
		"GWSYNC_LOG_LEVEL=debug",
		"UNRELATED=1",
		"GWSYNC_DB_POOL_SIZEX=999",
		NULL,
	};

	assert_int_equal(config_load(&cfg, CONFIG_ROLE_ALL, envp, errs, sizeof(errs)), 0);
	assert_string_equal(errs, "");
	assert_string_equal(cfg.kafka_brokers, "a:1,b:2");
	assert_int_equal(cfg.db_pool_size, 4);
	assert_int_equal(cfg.db_connect_timeout_s, 60);
	assert_int_equal(cfg.db_acquire_timeout_ms, 10);
	assert_int_equal(cfg.db_statement_timeout_ms, 600000);
	assert_string_equal(cfg.kafka_group, "g1");
	assert_string_equal(cfg.topic_jobs, "t.jobs");
	assert_string_equal(cfg.topic_directory_events, "t.dir");
	assert_string_equal(cfg.topic_directory_events_dlq, "t.dir.dlq");
	assert_string_equal(cfg.topic_events, "t.events");
	assert_string_equal(cfg.http_listen, "0.0.0.0:0");
	assert_int_equal(cfg.http_threads, 2);
	assert_int_equal(cfg.http_max_body_bytes, 16777216);
	assert_int_equal(cfg.http_request_timeout_ms, 100);
	assert_int_equal(cfg.json_max_depth, 1000);
	assert_int_equal(cfg.readyz_timeout_ms, 30000);
	assert_int_equal(cfg.shutdown_timeout_s, 1);
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	/* Only GWSYNC_KAFKA_X_* is passed through; other names are ignored. */
	assert_int_equal(cfg.n_kafka_props, 0);
	config_cleanup(&cfg);
}

static void test_required_by_role(void **state)
{
	(void)state;
	struct config cfg;
	char errs[ERRS_CAP];
	char *empty[] = {NULL};
	char *db_only[] = {"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV, NULL};

	/* API needs the database, the brokers and the sealing key. */
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_API, empty, errs, sizeof(errs)), 3);
	assert_int_equal(count_lines(errs), 3);
	assert_true(errs_has(errs, "GWSYNC_SECRET_KEY", "required"));
	assert_true(errs_has(errs, "GWSYNC_DATABASE_URL", "required"));
	assert_true(errs_has(errs, "GWSYNC_KAFKA_BROKERS", "required"));
	config_cleanup(&cfg);

	assert_int_equal(config_load(&cfg, CONFIG_ROLE_API, db_only, errs, sizeof(errs)), 1);
	assert_true(errs_has(errs, "GWSYNC_KAFKA_BROKERS", "required"));
	assert_false(errs_has(errs, "GWSYNC_DATABASE_URL", NULL));
	config_cleanup(&cfg);

	assert_int_equal(config_load(&cfg, CONFIG_ROLE_WORKER, db_only, errs, sizeof(errs)), 1);
	assert_true(errs_has(errs, "GWSYNC_KAFKA_BROKERS", "required"));
	config_cleanup(&cfg);

	/* MIGRATE and KEYS need the database only. */
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_MIGRATE, db_only, errs, sizeof(errs)), 0);
	assert_string_equal(errs, "");
	assert_string_equal(cfg.database_url, DB_URL);
	assert_null(cfg.kafka_brokers);
	config_cleanup(&cfg);

	assert_int_equal(config_load(&cfg, CONFIG_ROLE_KEYS, db_only, errs, sizeof(errs)), 0);
	config_cleanup(&cfg);

	assert_int_equal(config_load(&cfg, CONFIG_ROLE_MIGRATE, empty, errs, sizeof(errs)), 1);
	assert_true(errs_has(errs, "GWSYNC_DATABASE_URL", "required"));
	assert_false(errs_has(errs, "GWSYNC_KAFKA_BROKERS", NULL));
	config_cleanup(&cfg);

	/* No role: nothing is required. */
	assert_int_equal(config_load(&cfg, 0, empty, errs, sizeof(errs)), 0);
	config_cleanup(&cfg);

	/* A NULL envp is an empty environment. */
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_MIGRATE, NULL, errs, sizeof(errs)), 1);
	config_cleanup(&cfg);
}

static void test_empty_value_is_error(void **state)
{
	(void)state;
	struct config cfg;
	char errs[ERRS_CAP];
	char *envp[] = {"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV, "GWSYNC_KAFKA_BROKERS=", NULL};

	assert_int_equal(config_load(&cfg, CONFIG_ROLE_API, envp, errs, sizeof(errs)), 1);
	assert_true(errs_has(errs, "GWSYNC_KAFKA_BROKERS", NULL));
	config_cleanup(&cfg);
}

static void test_every_problem_reported(void **state)
{
	(void)state;
	struct config cfg;
	char errs[ERRS_CAP];
	char *envp[] = {
		"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV,
		"GWSYNC_DB_POOL_SIZE=0",
		"GWSYNC_HTTP_THREADS=many",
		"GWSYNC_LOG_LEVEL=loud",
		"GWSYNC_HTTP_LISTEN=localhost:8080",
		"GWSYNC_JSON_MAX_DEPTH=1001",
		NULL,
	};

	/* Five bad values and the missing brokers, all in one go. */
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_API, envp, errs, sizeof(errs)), 6);
	assert_int_equal(count_lines(errs), 6);
	assert_true(errs_has(errs, "GWSYNC_DB_POOL_SIZE", "0"));
	assert_true(errs_has(errs, "GWSYNC_HTTP_THREADS", "many"));
	assert_true(errs_has(errs, "GWSYNC_LOG_LEVEL", "loud"));
	assert_true(errs_has(errs, "GWSYNC_HTTP_LISTEN", "localhost:8080"));
	assert_true(errs_has(errs, "GWSYNC_JSON_MAX_DEPTH", "1001"));
	assert_true(errs_has(errs, "GWSYNC_KAFKA_BROKERS", "required"));
	/* The secret is never echoed in the problems. */
	assert_null(strstr(errs, "hunter2"));
	config_cleanup(&cfg);
}

/* The API and its health listener on one socket: config check says so, naming both settings. */
static void test_health_listener_needs_its_own_port(void **state)
{
	(void)state;
	static const struct {
		const char *http, *health;
		int clash;
	} cases[] = {
		{"GWSYNC_HTTP_LISTEN=127.0.0.1:8080", "GWSYNC_HEALTH_LISTEN=127.0.0.1:8080", 1},
		{"GWSYNC_HTTP_LISTEN=0.0.0.0:8080", "GWSYNC_HEALTH_LISTEN=127.0.0.1:8080", 1},
		{"GWSYNC_HTTP_LISTEN=10.0.0.1:8080", "GWSYNC_HEALTH_LISTEN=0.0.0.0:8080", 1},
		{"GWSYNC_HTTP_LISTEN=127.0.0.1:8080", "GWSYNC_HEALTH_LISTEN=127.0.0.1:8081", 0},
		{"GWSYNC_HTTP_LISTEN=127.0.0.1:8080", "GWSYNC_HEALTH_LISTEN=10.0.0.1:8080", 0},
		{"GWSYNC_HTTP_LISTEN=127.0.0.1:0", "GWSYNC_HEALTH_LISTEN=127.0.0.1:0", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		char errs[ERRS_CAP];
		char *envp[] = {"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV,
				"GWSYNC_KAFKA_BROKERS=kafka:9092", (char *)cases[i].http,
				(char *)cases[i].health, NULL};
		assert_int_equal(config_load(&cfg, CONFIG_ROLE_API, envp, errs, sizeof(errs)),
				 cases[i].clash);
		if (cases[i].clash) {
			assert_true(errs_has(errs, "GWSYNC_HEALTH_LISTEN", "GWSYNC_HTTP_LISTEN"));
			assert_non_null(strstr(errs, strchr(cases[i].http, '=') + 1));
		}
		config_cleanup(&cfg);
		/* The worker has no API listener: its health listener may take that address. */
		assert_int_equal(config_load(&cfg, CONFIG_ROLE_WORKER, envp, errs, sizeof(errs)), 0);
		config_cleanup(&cfg);
	}
}

static void test_secret_key_and_google_settings(void **state)
{
	(void)state;
	struct config cfg;
	char errs[ERRS_CAP];
	char *keys_only[] = {"GWSYNC_DATABASE_URL=" DB_URL, NULL};
	char *envp[] = {"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV, "GWSYNC_KAFKA_BROKERS=k:1",
			"GWSYNC_SECRET_KEYS_PREVIOUS=k0:c2VjcmV0LXByZXZpb3VzLWtleS0zMi1ieXRlcyEhIQ",
			"GWSYNC_GOOGLE_ALLOW_HTTP=true", "GWSYNC_GOOGLE_QPM=120",
			"GWSYNC_GOOGLE_OAUTH_CLIENT_SECRET=oauth-sec-Hq3", NULL};
	char *bad_bool[] = {"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV, "GWSYNC_KAFKA_BROKERS=k:1",
			    "GWSYNC_GOOGLE_ALLOW_HTTP=maybe", NULL};

	/* keys create does not need the sealing key; rotate-secret checks it itself. */
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_KEYS, keys_only, errs, sizeof(errs)), 0);
	assert_null(cfg.secret_key);
	config_cleanup(&cfg);

	assert_int_equal(config_load(&cfg, CONFIG_ROLE_API, envp, errs, sizeof(errs)), 0);
	assert_int_equal(cfg.google_allow_http, 1);
	assert_int_equal(cfg.google_qpm, 120);
	assert_int_equal(cfg.google_retry_max_attempts, 7);
	assert_string_equal(cfg.google_api_url, "https://admin.googleapis.com");
	assert_null(cfg.google_oauth_client_id);
	char *text = print_to_string(&cfg);
	assert_non_null(strstr(text, "GWSYNC_SECRET_KEY=<redacted>\n"));
	assert_non_null(strstr(text, "GWSYNC_SECRET_KEYS_PREVIOUS=<redacted>\n"));
	assert_non_null(strstr(text, "GWSYNC_GOOGLE_OAUTH_CLIENT_SECRET=<redacted>\n"));
	assert_non_null(strstr(text, "GWSYNC_GOOGLE_ALLOW_HTTP=true\n"));
	assert_null(strstr(text, "AAECAwQF"));
	assert_null(strstr(text, "c2VjcmV0"));
	assert_null(strstr(text, "oauth-sec-Hq3"));
	free(text);
	config_cleanup(&cfg);

	assert_int_equal(config_load(&cfg, CONFIG_ROLE_API, bad_bool, errs, sizeof(errs)), 1);
	assert_true(errs_has(errs, "GWSYNC_GOOGLE_ALLOW_HTTP", "maybe"));
	config_cleanup(&cfg);
}

static void test_errs_cut_to_cap(void **state)
{
	(void)state;
	struct config cfg;
	char errs[24];
	char *envp[] = {
		"GWSYNC_DB_POOL_SIZE=x",
		"GWSYNC_HTTP_THREADS=y",
		"GWSYNC_LOG_LEVEL=z",
		NULL,
	};

	memset(errs, 'Q', sizeof(errs));
	/* The count stays right even when the text does not fit. */
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_API, envp, errs, sizeof(errs)), 6);
	assert_non_null(memchr(errs, '\0', sizeof(errs)));
	assert_true(strncmp(errs, "GWSYNC_", 7) == 0);
	config_cleanup(&cfg);

	/* No buffer at all: only the count. */
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_API, envp, NULL, 0), 6);
	config_cleanup(&cfg);
}

struct int_case {
	const char *env;
	int ok;
	int want;
};

static void test_int_bounds_and_malformed(void **state)
{
	(void)state;
	static const struct int_case cases[] = {
		{"GWSYNC_DB_POOL_SIZE=1", 1, 1},
		{"GWSYNC_DB_POOL_SIZE=512", 1, 512},
		{"GWSYNC_DB_POOL_SIZE=0", 0, 0},
		{"GWSYNC_DB_POOL_SIZE=513", 0, 0},
		{"GWSYNC_DB_POOL_SIZE=-1", 0, 0},
		{"GWSYNC_DB_POOL_SIZE=", 0, 0},
		{"GWSYNC_DB_POOL_SIZE= 5", 0, 0},
		{"GWSYNC_DB_POOL_SIZE=5 ", 0, 0},
		{"GWSYNC_DB_POOL_SIZE=5x", 0, 0},
		{"GWSYNC_DB_POOL_SIZE=0x10", 0, 0},
		{"GWSYNC_DB_POOL_SIZE=1e2", 0, 0},
		{"GWSYNC_DB_POOL_SIZE=3.5", 0, 0},
		{"GWSYNC_DB_POOL_SIZE=ten", 0, 0},
		{"GWSYNC_DB_POOL_SIZE=99999999999999999999999", 0, 0},
		{"GWSYNC_DB_POOL_SIZE=4294967312", 0, 0}, /* 2^32 + 16: must not wrap to 16 */
		{"GWSYNC_DB_POOL_SIZE=-9223372036854775808", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		char errs[ERRS_CAP];
		int n = load_api_with(&cfg, cases[i].env, errs, sizeof(errs));
		if (cases[i].ok) {
			if (n != 0)
				fail_msg("%s: unexpected problems: %s", cases[i].env, errs);
			assert_int_equal(cfg.db_pool_size, cases[i].want);
		} else {
			if (n != 1 || count_lines(errs) != 1 ||
			    !errs_has(errs, "GWSYNC_DB_POOL_SIZE", NULL))
				fail_msg("%s: want one GWSYNC_DB_POOL_SIZE problem, got %d: %s",
					 cases[i].env, n, errs);
		}
		config_cleanup(&cfg);
	}
}

static void test_int_bounds_other_entries(void **state)
{
	(void)state;
	static const struct int_case cases[] = {
		{"GWSYNC_HTTP_MAX_BODY_BYTES=1024", 1, 1024},
		{"GWSYNC_HTTP_MAX_BODY_BYTES=1023", 0, 0},
		{"GWSYNC_HTTP_MAX_BODY_BYTES=16777217", 0, 0},
		{"GWSYNC_HTTP_THREADS=1", 0, 0},
		{"GWSYNC_DB_ACQUIRE_TIMEOUT_MS=9", 0, 0},
		{"GWSYNC_DB_STATEMENT_TIMEOUT_MS=600001", 0, 0},
		{"GWSYNC_READYZ_TIMEOUT_MS=99", 0, 0},
		{"GWSYNC_SHUTDOWN_TIMEOUT_S=0", 0, 0},
		{"GWSYNC_SHUTDOWN_TIMEOUT_S=601", 0, 0},
		{"GWSYNC_DB_CONNECT_TIMEOUT_S=61", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		char errs[ERRS_CAP];
		int n = load_api_with(&cfg, cases[i].env, errs, sizeof(errs));
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(cases[i].env, "="), cases[i].env);
		if (cases[i].ok) {
			if (n != 0)
				fail_msg("%s: unexpected problems: %s", cases[i].env, errs);
			assert_int_equal(cfg.http_max_body_bytes, cases[i].want);
		} else if (n != 1 || !errs_has(errs, name, NULL)) {
			fail_msg("%s: want one %s problem, got %d: %s", cases[i].env, name, n,
				 errs);
		}
		config_cleanup(&cfg);
	}
}

/* The consumer's group session: defaults that move a dead worker's jobs on within ~10 s. */
static void test_kafka_session(void **state)
{
	(void)state;
	struct config cfg;
	char errs[ERRS_CAP];
	assert_int_equal(load_api_with(&cfg, NULL, errs, sizeof(errs)), 0);
	assert_true(cfg.kafka_session_timeout_ms >= 6000 && cfg.kafka_session_timeout_ms <= 10000);
	assert_int_equal(cfg.kafka_heartbeat_ms, 0); /* a third of the session */
	config_cleanup(&cfg);
	/* The broker's smallest session alone: the heartbeat follows it. */
	assert_int_equal(load_api_with(&cfg, "GWSYNC_KAFKA_SESSION_TIMEOUT_MS=6000", errs,
				       sizeof(errs)),
			 0);
	assert_int_equal(cfg.kafka_session_timeout_ms, 6000);
	config_cleanup(&cfg);
	/* A heartbeat of more than a third of the session would let one lost beat end it. */
	assert_int_equal(load_api_with(&cfg, "GWSYNC_KAFKA_HEARTBEAT_MS=3000", errs, sizeof(errs)),
			 1);
	assert_true(errs_has(errs, "GWSYNC_KAFKA_HEARTBEAT_MS", "third"));
	config_cleanup(&cfg);
	assert_int_equal(load_api_with(&cfg, "GWSYNC_KAFKA_SESSION_TIMEOUT_MS=999", errs,
				       sizeof(errs)),
			 1);
	config_cleanup(&cfg);
}

static void test_listen_address(void **state)
{
	(void)state;
	static const char *const good[] = {
		"GWSYNC_HTTP_LISTEN=127.0.0.1:8080",
		"GWSYNC_HTTP_LISTEN=0.0.0.0:0",
		"GWSYNC_HTTP_LISTEN=10.1.2.3:65535",
	};
	static const char *const bad[] = {
		"GWSYNC_HTTP_LISTEN=",
		"GWSYNC_HTTP_LISTEN=127.0.0.1",
		"GWSYNC_HTTP_LISTEN=127.0.0.1:",
		"GWSYNC_HTTP_LISTEN=:8080",
		"GWSYNC_HTTP_LISTEN=127.0.0.1:65536",
		"GWSYNC_HTTP_LISTEN=127.0.0.1:-1",
		"GWSYNC_HTTP_LISTEN=127.0.0.1:80x",
		"GWSYNC_HTTP_LISTEN=127.0.0.1:http",
		"GWSYNC_HTTP_LISTEN=127.0.0.1: 80",
		"GWSYNC_HTTP_LISTEN=localhost:8080",
		"GWSYNC_HTTP_LISTEN=[::1]:8080",
		"GWSYNC_HTTP_LISTEN=::1:8080",
		"GWSYNC_HTTP_LISTEN=8080",
		/* Not IPv4 addresses but accepted: see test_listen_address_not_ipv4. */
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct config cfg;
		char errs[ERRS_CAP];
		if (load_api_with(&cfg, good[i], errs, sizeof(errs)) != 0)
			fail_msg("%s: unexpected problems: %s", good[i], errs);
		assert_string_equal(cfg.http_listen, strchr(good[i], '=') + 1);
		config_cleanup(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config cfg;
		char errs[ERRS_CAP];
		int n = load_api_with(&cfg, bad[i], errs, sizeof(errs));
		if (n != 1 || !errs_has(errs, "GWSYNC_HTTP_LISTEN", NULL))
			fail_msg("%s: want one GWSYNC_HTTP_LISTEN problem, got %d: %s", bad[i], n,
				 errs);
		config_cleanup(&cfg);
	}
}

/*
 * Known bug (left out of the default run): the host part is only checked for digits and dots,
 * so these pass config_load and fail later, at bind time, instead of with the other problems.
 */
static void test_listen_address_not_ipv4(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"GWSYNC_HTTP_LISTEN=256.0.0.1:80",
		"GWSYNC_HTTP_LISTEN=1..2:80",
		"GWSYNC_HTTP_LISTEN=....:80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config cfg;
		char errs[ERRS_CAP];
		int n = load_api_with(&cfg, bad[i], errs, sizeof(errs));
		if (n != 1 || !errs_has(errs, "GWSYNC_HTTP_LISTEN", NULL))
			fail_msg("%s: want one GWSYNC_HTTP_LISTEN problem, got %d: %s", bad[i], n,
				 errs);
		config_cleanup(&cfg);
	}
}

static void test_log_level(void **state)
{
	(void)state;
	static const struct {
		const char *env;
		enum log_level want;
	} good[] = {
		{"GWSYNC_LOG_LEVEL=debug", LOG_DEBUG},
		{"GWSYNC_LOG_LEVEL=info", LOG_INFO},
		{"GWSYNC_LOG_LEVEL=warn", LOG_WARN},
		{"GWSYNC_LOG_LEVEL=error", LOG_ERROR},
	};
	static const char *const bad[] = {
		"GWSYNC_LOG_LEVEL=",	  "GWSYNC_LOG_LEVEL=INFO",  "GWSYNC_LOG_LEVEL=warning",
		"GWSYNC_LOG_LEVEL=trace", "GWSYNC_LOG_LEVEL=info ", "GWSYNC_LOG_LEVEL=1",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct config cfg;
		char errs[ERRS_CAP];
		if (load_api_with(&cfg, good[i].env, errs, sizeof(errs)) != 0)
			fail_msg("%s: unexpected problems: %s", good[i].env, errs);
		assert_int_equal(cfg.log_level, good[i].want);
		config_cleanup(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config cfg;
		char errs[ERRS_CAP];
		int n = load_api_with(&cfg, bad[i], errs, sizeof(errs));
		if (n != 1 || !errs_has(errs, "GWSYNC_LOG_LEVEL", NULL))
			fail_msg("%s: want one GWSYNC_LOG_LEVEL problem, got %d: %s", bad[i], n,
				 errs);
		config_cleanup(&cfg);
	}
}

/* Secrets are wiped with explicit_bzero when dropped: the *_FILE copy, cfg's copy, Kafka props. */
static void test_secrets_wiped(void **state)
{
	(void)state;
	char path[64], env[128];
	struct config cfg;
	char errs[ERRS_CAP];
	temp_file_write(path, sizeof(path), DB_URL "\n");
	snprintf(env, sizeof(env), "GWSYNC_DATABASE_URL_FILE=%s", path);
	char *envp[] = {env, SK_ENV, "GWSYNC_KAFKA_X_SASL_PASSWORD=hunter2-kafka", NULL};
	n_wiped = 0;
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_MIGRATE, envp, errs, sizeof(errs)), 0);
	assert_int_equal(wipes_of(DB_URL), 1); /* the file's content, once copied into cfg */
	config_cleanup(&cfg);
	assert_int_equal(wipes_of(DB_URL), 2); /* cfg's copy */
	assert_int_equal(wipes_of("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), 1);
	assert_int_equal(wipes_of("hunter2-kafka"), 1);
	assert_int_equal(unlink(path), 0);
}

static void test_database_url_file(void **state)
{
	(void)state;
	char path[64], env[128];
	struct config cfg;
	char errs[ERRS_CAP];

	/* One trailing newline (as from `echo` or a Kubernetes secret) is dropped. */
	temp_file_write(path, sizeof(path), DB_URL "\n");
	snprintf(env, sizeof(env), "GWSYNC_DATABASE_URL_FILE=%s", path);
	char *envp[] = {env, NULL};
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_MIGRATE, envp, errs, sizeof(errs)), 0);
	assert_string_equal(errs, "");
	assert_string_equal(cfg.database_url, DB_URL);
	config_cleanup(&cfg);
	assert_int_equal(unlink(path), 0);

	/* Without a newline the content is taken as is. */
	temp_file_write(path, sizeof(path), DB_URL);
	snprintf(env, sizeof(env), "GWSYNC_DATABASE_URL_FILE=%s", path);
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_MIGRATE, envp, errs, sizeof(errs)), 0);
	assert_string_equal(cfg.database_url, DB_URL);
	config_cleanup(&cfg);

	/* Both the variable and the file: an error, even though either alone would do. */
	char *both[] = {"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV, env, NULL};
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_MIGRATE, both, errs, sizeof(errs)), 1);
	assert_int_equal(count_lines(errs), 1);
	assert_true(errs_has(errs, "GWSYNC_DATABASE_URL", "GWSYNC_DATABASE_URL_FILE"));
	assert_null(strstr(errs, "hunter2"));
	config_cleanup(&cfg);
	assert_int_equal(unlink(path), 0);

	/* An empty file is no database URL. */
	temp_file_write(path, sizeof(path), "\n");
	snprintf(env, sizeof(env), "GWSYNC_DATABASE_URL_FILE=%s", path);
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_MIGRATE, envp, errs, sizeof(errs)), 1);
	config_cleanup(&cfg);
	assert_int_equal(unlink(path), 0);

	/* A missing file (the one just removed) is an error naming the _FILE variable. */
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_MIGRATE, envp, errs, sizeof(errs)), 1);
	assert_int_equal(count_lines(errs), 1);
	assert_non_null(strstr(errs, "GWSYNC_DATABASE_URL_FILE"));
	assert_null(cfg.database_url);
	config_cleanup(&cfg);
}

static const char *kafka_prop(const struct config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n_kafka_props; i++) {
		if (strcmp(cfg->kafka_props[i].key, key) == 0)
			return cfg->kafka_props[i].value;
	}
	return NULL;
}

static void test_kafka_passthrough(void **state)
{
	(void)state;
	struct config cfg;
	char errs[ERRS_CAP];
	char *envp[] = {
		"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV,	   "GWSYNC_KAFKA_X_SOCKET_TIMEOUT_MS=5000",
		"GWSYNC_KAFKA_BROKERS=kafka:9092", "GWSYNC_KAFKA_X_SECURITY_PROTOCOL=SASL_SSL",
		"GWSYNC_KAFKA_X_CLIENT_ID=a=b",	   NULL,
	};

	assert_int_equal(config_load(&cfg, CONFIG_ROLE_API, envp, errs, sizeof(errs)), 0);
	assert_int_equal(cfg.n_kafka_props, 3);
	assert_string_equal(kafka_prop(&cfg, "socket.timeout.ms"), "5000");
	/* Values are passed as they are; only the name is rewritten. */
	assert_string_equal(kafka_prop(&cfg, "security.protocol"), "SASL_SSL");
	assert_string_equal(kafka_prop(&cfg, "client.id"), "a=b");
	assert_null(kafka_prop(&cfg, "SOCKET_TIMEOUT_MS"));
	config_cleanup(&cfg);

	/* A pass-through variable without a property name is a problem. */
	char *noname[] = {"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV, "GWSYNC_KAFKA_BROKERS=kafka:9092",
			  "GWSYNC_KAFKA_X_=1", NULL};
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_API, noname, errs, sizeof(errs)), 1);
	assert_int_equal(cfg.n_kafka_props, 0);
	config_cleanup(&cfg);
}

static void test_cleanup_zeroes(void **state)
{
	(void)state;
	struct config cfg, zero;
	char errs[ERRS_CAP];
	char *envp[] = {"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV, "GWSYNC_KAFKA_BROKERS=kafka:9092",
			"GWSYNC_KAFKA_X_LINGER_MS=5", NULL};

	memset(&zero, 0, sizeof(zero));
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_ALL, envp, errs, sizeof(errs)), 0);
	config_cleanup(&cfg);
	assert_memory_equal(&cfg, &zero, sizeof(cfg));
	/* Cleaning up twice is harmless. */
	config_cleanup(&cfg);
	assert_memory_equal(&cfg, &zero, sizeof(cfg));
}

static void test_print_redacts_secrets(void **state)
{
	(void)state;
	struct config cfg;
	char errs[ERRS_CAP];
	char *envp[] = {
		"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV,
		"GWSYNC_KAFKA_BROKERS=kafka:9092",
		"GWSYNC_KAFKA_X_SASL_PASSWORD=pw-Zq81",
		"GWSYNC_KAFKA_X_SSL_KEY_PASSWORD=pw-Kt52",
		"GWSYNC_KAFKA_X_SASL_OAUTHBEARER_CLIENT_SECRET=sec-Jy77",
		"GWSYNC_KAFKA_X_SOCKET_TIMEOUT_MS=5000",
		"GWSYNC_LOG_LEVEL=warn",
		NULL,
	};

	assert_int_equal(config_load(&cfg, CONFIG_ROLE_API, envp, errs, sizeof(errs)), 0);
	char *text = print_to_string(&cfg);

	assert_null(strstr(text, "hunter2"));
	assert_null(strstr(text, "db.example"));
	assert_null(strstr(text, "pw-Zq81"));
	assert_null(strstr(text, "pw-Kt52"));
	assert_null(strstr(text, "sec-Jy77"));
	assert_non_null(strstr(text, "GWSYNC_DATABASE_URL=<redacted>\n"));
	assert_non_null(strstr(text, "sasl.password"));
	assert_non_null(strstr(text, "ssl.key.password"));
	assert_non_null(strstr(text, "sasl.oauthbearer.client.secret"));
	/* Everything else is shown as it is. */
	assert_non_null(strstr(text, "socket.timeout.ms=5000\n"));
	assert_non_null(strstr(text, "GWSYNC_KAFKA_BROKERS=kafka:9092\n"));
	assert_non_null(strstr(text, "GWSYNC_HTTP_LISTEN=127.0.0.1:8080\n"));
	assert_non_null(strstr(text, "GWSYNC_DB_POOL_SIZE=16\n"));
	assert_non_null(strstr(text, "GWSYNC_LOG_LEVEL=warn\n"));
	free(text);
	config_cleanup(&cfg);
}

static void test_print_redacts_url_from_file(void **state)
{
	(void)state;
	char path[64], env[128];
	struct config cfg;
	char errs[ERRS_CAP];

	temp_file_write(path, sizeof(path), DB_URL "\n");
	snprintf(env, sizeof(env), "GWSYNC_DATABASE_URL_FILE=%s", path);
	char *envp[] = {env, NULL};
	assert_int_equal(config_load(&cfg, CONFIG_ROLE_MIGRATE, envp, errs, sizeof(errs)), 0);
	assert_int_equal(unlink(path), 0);
	char *text = print_to_string(&cfg);
	assert_null(strstr(text, "hunter2"));
	assert_non_null(strstr(text, "GWSYNC_DATABASE_URL=<redacted>\n"));
	free(text);
	config_cleanup(&cfg);
}

static void test_doc_lists_every_printed_name(void **state)
{
	(void)state;
	struct config cfg;
	char errs[ERRS_CAP];
	char *envp[] = {"GWSYNC_DATABASE_URL=" DB_URL, SK_ENV, "GWSYNC_KAFKA_BROKERS=kafka:9092", NULL};

	assert_int_equal(config_load(&cfg, CONFIG_ROLE_ALL, envp, errs, sizeof(errs)), 0);
	char *text = print_to_string(&cfg);
	config_cleanup(&cfg);

	char *doc = NULL;
	size_t doc_len = 0;
	FILE *out = open_memstream(&doc, &doc_len);
	assert_non_null(out);
	config_doc_markdown(out);
	assert_int_equal(fclose(out), 0);
	assert_non_null(doc);
	assert_true(strncmp(doc, "| ", 2) == 0);

	int names = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "GWSYNC_", 7) != 0)
			continue;
		char cell[128];
		snprintf(cell, sizeof(cell), "| `%.*s` |", (int)strcspn(line, "="), line);
		if (!strstr(doc, cell))
			fail_msg("config_doc_markdown has no row %s", cell);
		names++;
	}
	/* And the other way round: each documented variable (but the pass-through) is printed. */
	int rows = 0;
	for (const char *r = strstr(doc, "| `GWSYNC_"); r; r = strstr(r + 1, "| `GWSYNC_"))
		rows++;
	assert_true(names >= 19);
	assert_int_equal(rows, names + 1);
	assert_non_null(strstr(doc, "GWSYNC_KAFKA_X_"));
	assert_non_null(strstr(doc, "GWSYNC_DATABASE_URL_FILE"));
	free(doc);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_applied),
		cmocka_unit_test(test_values_override_defaults),
		cmocka_unit_test(test_required_by_role),
		cmocka_unit_test(test_empty_value_is_error),
		cmocka_unit_test(test_every_problem_reported),
		cmocka_unit_test(test_errs_cut_to_cap),
		cmocka_unit_test(test_int_bounds_and_malformed),
		cmocka_unit_test(test_int_bounds_other_entries),
		cmocka_unit_test(test_kafka_session),
		cmocka_unit_test(test_secrets_wiped),
		cmocka_unit_test(test_listen_address),
		cmocka_unit_test(test_listen_address_not_ipv4),
		cmocka_unit_test(test_log_level),
		cmocka_unit_test(test_database_url_file),
		cmocka_unit_test(test_kafka_passthrough),
		cmocka_unit_test(test_cleanup_zeroes),
		cmocka_unit_test(test_print_redacts_secrets),
		cmocka_unit_test(test_health_listener_needs_its_own_port),
		cmocka_unit_test(test_secret_key_and_google_settings),
		cmocka_unit_test(test_print_redacts_url_from_file),
		cmocka_unit_test(test_doc_lists_every_printed_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
