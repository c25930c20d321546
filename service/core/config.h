/*
 * config — every setting of gwsync, from GWSYNC_* environment variables, through one table.
 *
 * config_load() reads the environment once (in main, before threads), checks every entry the
 * chosen roles need and reports every problem in one go. The filled struct config owns its
 * strings; config_cleanup() frees them. Secrets may come from NAME_FILE (a mounted file) and are
 * never printed: config_print() redacts them. GWSYNC_KAFKA_X_<PROPERTY> passes a librdkafka
 * property through (GWSYNC_KAFKA_X_SOCKET_TIMEOUT_MS → socket.timeout.ms).
 */
#ifndef GWSYNC_CORE_CONFIG_H
#define GWSYNC_CORE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "log.h"

/* Which roles need an entry; a missing REQUIRED entry is an error only for a role that needs it. */
enum config_role {
	CONFIG_ROLE_API = 1,
	CONFIG_ROLE_WORKER = 2,
	CONFIG_ROLE_MIGRATE = 4,
	CONFIG_ROLE_KEYS = 8,
	CONFIG_ROLE_ALL = 15,
};

struct config_kv {
	char *key;
	char *value;
};

struct config {
	char *database_url;
	int db_pool_size;
	int db_connect_timeout_s;
	int db_acquire_timeout_ms;
	int db_statement_timeout_ms;

	char *kafka_brokers;
	char *kafka_group;
	int kafka_session_timeout_ms; /* worker: consumer group session.timeout.ms */
	int kafka_heartbeat_ms;	      /* worker: heartbeat.interval.ms; 0: a third of the session */
	char *topic_jobs;
	char *topic_directory_events;
	char *topic_directory_events_dlq;
	char *topic_events;
	struct config_kv *kafka_props; /* GWSYNC_KAFKA_X_* pass-through, n_kafka_props entries */
	size_t n_kafka_props;

	char *http_listen; /* host:port */
	int http_threads;
	int http_max_body_bytes;
	int http_request_timeout_ms;
	int json_max_depth;
	int readyz_timeout_ms;
	char *health_listen; /* host:port of the health listener; NULL: none */
	int google_request_deadline_ms; /* api: Google calls of one request, retries included */
	int auth_cache_ttl_ms;
	int read_cache_mb;
	int read_cache_max_age_ms;

	int worker_concurrency;
	int job_lease_ms;
	int job_max_attempts;
	int job_reannounce_s;
	int export_reconcile_h;
	int domains_max_age_ms; /* worker: a run reuses domain flags checked this recently */
	int job_test_runners;
	int import_minute_ms; /* test knob: length of a minute of the import schedule */
	int scheduler_interval_ms;
	int reauthorize_after_days;
	int outbox_poll_ms;
	int outbox_batch;
	int outbox_retention_h;
	int processed_events_retention_h;

	int shutdown_timeout_s;
	enum log_level log_level;

	/* Secrets at rest and Google (issue 5). */
	char *secret_key;	    /* "kid:base64(32 bytes)"; SECRET */
	char *secret_keys_previous; /* comma-separated "kid:base64", may be NULL; SECRET */
	char *google_api_url;
	char *google_token_url;
	char *google_auth_url;
	int google_allow_http;
	int google_connect_timeout_ms;
	int google_timeout_ms;
	int google_qpm;
	int google_retry_max_attempts;
	int google_retry_base_ms;
	int google_retry_cap_ms;
	int google_retry_max_total_ms;
	char *google_oauth_client_id;	  /* may be NULL: consent flow off */
	char *google_oauth_client_secret; /* SECRET, may be NULL */
	char *oauth_redirect_url;	  /* public URL of GET /v1/oauth/callback; may be NULL */
	char *oauth_return_url;		  /* where the callback sends the browser; may be NULL */
};

/*
 * Fills cfg from envp (a NULL-terminated "NAME=value" array, e.g. environ) for the given roles.
 * Every problem is written to errs as one line "NAME: what is wrong" (cut to errs_cap). Returns
 * the number of problems; cfg must be cleaned up in every case.
 */
int config_load(struct config *cfg, unsigned roles, char *const *envp, char *errs, size_t errs_cap);

/* Frees what cfg owns; leaves it zeroed. */
void config_cleanup(struct config *cfg);

/* Writes "NAME=value" lines of the effective configuration, secrets shown as "<redacted>". */
void config_print(const struct config *cfg, FILE *out);

/* Writes the Markdown table of every variable (the README's table is checked against it). */
void config_doc_markdown(FILE *out);

#endif
