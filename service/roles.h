/*
 * roles — the run functions behind gwsync's subcommands. Each takes the loaded configuration
 * (borrowed) and returns the process exit status. SIGTERM and SIGINT must be blocked in every
 * thread before a role starts (main does it); the roles wait for them with sigwait.
 */
#ifndef GWSYNC_ROLES_H
#define GWSYNC_ROLES_H

#include "config.h"

int role_api_run(const struct config *cfg);
int role_worker_run(const struct config *cfg);
int cmd_migrate(const struct config *cfg);
int cmd_keys_create(const struct config *cfg, const char *tenant, const char *role);
int cmd_keys_rotate_secret(const struct config *cfg);

/*
 * Starts a detached thread that ends the process with exit status 1 after seconds, so a stop that
 * hangs (a stuck request, an unreachable broker) is still bounded.
 */
void shutdown_watchdog_start(int seconds);

#endif
