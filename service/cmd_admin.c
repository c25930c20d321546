#include <stdio.h>
#include <string.h>

#include "connect.h"
#include "crypto.h"
#include "log.h"
#include "roles.h"
#include "store.h"

static int open_store(const struct config *cfg, const char *app, struct store **st,
		      struct err *e)
{
	struct store_options so = {
		.url = cfg->database_url,
		.pool_size = 1,
		.connect_timeout_s = cfg->db_connect_timeout_s,
		.acquire_timeout_ms = cfg->db_acquire_timeout_ms,
		/* Migrations may rewrite big tables: no statement timeout for them. */
		.statement_timeout_ms = 0,
		.application_name = app,
	};
	return store_open(&so, st, e);
}

int cmd_migrate(const struct config *cfg)
{
	struct err e = {0};
	struct store *st = NULL;
	int applied = 0, version = 0;
	int rc = open_store(cfg, "gwsync-migrate", &st, &e);
	if (!rc)
		rc = store_migrate(st, &applied, &e);
	if (!rc)
		rc = store_migrations_latest_applied(st, &version, &e);
	store_close(st);
	if (rc) {
		log_write(LOG_ERROR, "migrate", "migrate_failed", e.msg, NULL, 0);
		fprintf(stderr, "gwsync migrate: %s\n", e.msg);
		return 1;
	}
	log_write(LOG_INFO, "migrate", "migrate_done", NULL,
		  (struct log_field[]){LOG_NUM("applied", applied), LOG_NUM("version", version)},
		  2);
	return 0;
}

int cmd_keys_create(const struct config *cfg, const char *tenant, const char *role_name)
{
	enum access_role role = access_role_parse(role_name);
	if (role == ACCESS_NONE) {
		fprintf(stderr, "gwsync keys create: --role must be reader, editor or operator\n");
		return 64;
	}
	struct err e = {0};
	struct store *st = NULL;
	struct store_tenant t;
	struct store_api_key k;
	char key[API_KEY_LEN + 1], hash[65], prefix[API_KEY_PREFIX_LEN + 1];
	int rc = open_store(cfg, "gwsync-keys", &st, &e);
	if (!rc) {
		rc = store_tenant_get_by_name(st, tenant, &t, &e);
		if (rc == E_NOTFOUND) {
			/* The first key of a platform needs a tenant to belong to. */
			rc = store_tenant_create(st, NULL, tenant, &t, &e);
			if (rc == E_CONFLICT)
				rc = store_tenant_get_by_name(st, tenant, &t, &e);
		}
	}
	if (!rc && (api_key_generate(key) || api_key_hash(key, hash)))
		rc = err_set(&e, E_INTERNAL, "key generation failed");
	if (!rc) {
		memcpy(prefix, key, API_KEY_PREFIX_LEN);
		prefix[API_KEY_PREFIX_LEN] = '\0';
		rc = store_api_key_create(st, NULL, t.id, role, hash, prefix, &k, &e);
	}
	store_close(st);
	if (rc) {
		fprintf(stderr, "gwsync keys create: %s\n", e.msg);
		return 1;
	}
	fprintf(stderr, "created %s key %s (id %s) for tenant %s (id %s); it is shown only once\n",
		access_role_name(role), prefix, k.id, t.name, t.id);
	printf("%s\n", key);
	fflush(stdout);
	crypto_wipe(key, sizeof(key));
	return 0;
}

int cmd_keys_rotate_secret(const struct config *cfg)
{
	if (!cfg->secret_key) {
		fprintf(stderr, "gwsync keys rotate-secret: GWSYNC_SECRET_KEY is required (the new "
				"key), with GWSYNC_SECRET_KEYS_PREVIOUS holding the old ones\n");
		return 78;
	}
	struct err e = {0};
	struct store *st = NULL;
	struct connect *conn = NULL;
	int resealed = 0, failed = 0;
	int rc = open_store(cfg, "gwsync-keys", &st, &e);
	if (!rc)
		rc = connect_new(cfg, st, &conn, &e);
	if (!rc)
		rc = connect_rotate_secrets(conn, &resealed, &failed, &e);
	connect_free(conn);
	store_close(st);
	if (rc) {
		fprintf(stderr, "gwsync keys rotate-secret: %s\n", e.msg);
		return 1;
	}
	log_write(failed ? LOG_ERROR : LOG_INFO, "keys", "secrets_resealed", NULL,
		  (struct log_field[]){LOG_NUM("resealed", resealed), LOG_NUM("failed", failed)},
		  2);
	fprintf(stderr,
		"re-sealed %d stored secret%s under the current key; %d could not be opened%s\n",
		resealed, resealed == 1 ? "" : "s", failed,
		failed ? " (add the key that sealed them to GWSYNC_SECRET_KEYS_PREVIOUS)" : "");
	return failed ? 1 : 0;
}
