/*
 * gwsync — one binary, several roles. main parses the subcommand, loads the configuration for
 * the roles it needs (all problems at once, exit 78), sets up logging, blocks SIGTERM/SIGINT in
 * every thread and hands over to the role.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "httpc.h"
#include "log.h"
#include "roles.h"

#define EXIT_USAGE 64
#define EXIT_CONFIG 78

extern char **environ;

static const char usage_main[] =
	"usage: gwsync <command> [options]\n"
	"\n"
	"Keeps Google Workspace accounts in step with the platform's directory.\n"
	"\n"
	"commands:\n"
	"  api                              serve the REST API (and relay, schedule)\n"
	"  worker                           consume jobs and directory events from Kafka\n"
	"  migrate                          bring the database schema up to date\n"
	"  keys create --tenant NAME --role reader|editor|operator\n"
	"                                   create an API key (printed once on stdout)\n"
	"  keys rotate-secret               re-seal stored Google credentials under GWSYNC_SECRET_KEY\n"
	"  config check [--role ROLE]       validate the environment and print it, secrets redacted\n"
	"  config doc                       print the table of environment variables (Markdown)\n"
	"  routes                           print the API's routes\n"
	"  version                          print the version\n"
	"\n"
	"Configuration comes only from GWSYNC_* environment variables; see README.md.\n"
	"Run 'gwsync <command> --help' for one command.\n";

struct command_help {
	const char *name;
	const char *text;
};

static const struct command_help helps[] = {
	{"api", "usage: gwsync api\n\nServes the REST API on GWSYNC_HTTP_LISTEN until SIGTERM or "
		"SIGINT, then stops accepting,\nfinishes the requests in flight and exits (bounded by "
		"GWSYNC_SHUTDOWN_TIMEOUT_S).\nNeeds GWSYNC_DATABASE_URL and GWSYNC_KAFKA_BROKERS.\n"},
	{"worker", "usage: gwsync worker\n\nJoins the Kafka consumer group GWSYNC_KAFKA_GROUP and "
		   "consumes the jobs and directory-event\ntopics until SIGTERM or SIGINT, then "
		   "commits, leaves the group and exits.\nNeeds GWSYNC_DATABASE_URL and "
		   "GWSYNC_KAFKA_BROKERS.\n"},
	{"migrate", "usage: gwsync migrate\n\nApplies the database migrations this build carries, "
		    "in order, under an advisory lock\n(concurrent migrators wait for each other). "
		    "A no-op when the schema is current.\nNeeds GWSYNC_DATABASE_URL.\n"},
	{"keys", "usage: gwsync keys create --tenant NAME --role reader|editor|operator\n"
		 "       gwsync keys rotate-secret\n\n"
		 "create makes an API key for the tenant NAME (creating the tenant when it does not "
		 "exist).\nThe key is printed once on stdout; only its SHA-256 is stored.\n"
		 "rotate-secret re-seals every stored Google credential and pending OAuth state that "
		 "is not\nsealed under the kid of GWSYNC_SECRET_KEY; GWSYNC_SECRET_KEYS_PREVIOUS must "
		 "hold the keys\nthat sealed them. Prints the counts; exits 1 when any could not be "
		 "opened.\nNeeds GWSYNC_DATABASE_URL (and the secret keys for rotate-secret).\n"},
	{"config", "usage: gwsync config check [--role api|worker|migrate|keys]\n"
		   "       gwsync config doc\n\n"
		   "check validates every GWSYNC_* variable the roles need (all roles by default), "
		   "prints\nevery problem and exits 78, or prints the effective configuration with "
		   "secrets redacted.\ndoc prints the Markdown table of all variables.\n"},
	{"routes", "usage: gwsync routes\n\nPrints METHOD and path pattern of every API route.\n"},
	{"version", "usage: gwsync version\n\nPrints the version.\n"},
};

static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

static int print_help(const char *cmd)
{
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
		if (strcmp(helps[i].name, cmd) == 0) {
			fputs(helps[i].text, stdout);
			return 0;
		}
	}
	fputs(usage_main, stdout);
	return 0;
}

static unsigned role_mask(const char *name)
{
	if (!name)
		return CONFIG_ROLE_ALL;
	if (strcmp(name, "api") == 0)
		return CONFIG_ROLE_API;
	if (strcmp(name, "worker") == 0)
		return CONFIG_ROLE_WORKER;
	if (strcmp(name, "migrate") == 0)
		return CONFIG_ROLE_MIGRATE;
	if (strcmp(name, "keys") == 0)
		return CONFIG_ROLE_KEYS;
	return 0;
}

/* Loads the configuration; on problems prints them all and returns -1. */
static int load_config(struct config *cfg, unsigned roles, const char *who)
{
	char errs[8192];
	int n = config_load(cfg, roles, environ, errs, sizeof(errs));
	if (n == 0)
		return 0;
	fprintf(stderr, "gwsync %s: %d configuration problem%s:\n", who, n, n == 1 ? "" : "s");
	for (char *line = strtok(errs, "\n"); line; line = strtok(NULL, "\n"))
		fprintf(stderr, "  %s\n", line);
	return -1;
}

static void *watchdog(void *arg)
{
	int seconds = (int)(long)arg;
	struct timespec ts = {seconds, 0};
	while (nanosleep(&ts, &ts) != 0) {
	}
	log_write(LOG_ERROR, "main", "shutdown_timeout",
		  "graceful stop took too long; exiting now", NULL, 0);
	_exit(1);
	return NULL;
}

void shutdown_watchdog_start(int seconds)
{
	pthread_t t;
	if (pthread_create(&t, NULL, watchdog, (void *)(long)seconds) == 0)
		pthread_detach(t);
}

static int run_role(const char *cmd, int argc, char **argv)
{
	struct config cfg;
	unsigned roles;
	const char *log_role = cmd;
	const char *tenant = NULL, *key_role = NULL, *check_role = NULL;
	int rotate = 0;

	if (strcmp(cmd, "api") == 0) {
		roles = CONFIG_ROLE_API;
	} else if (strcmp(cmd, "worker") == 0) {
		roles = CONFIG_ROLE_WORKER;
	} else if (strcmp(cmd, "migrate") == 0) {
		roles = CONFIG_ROLE_MIGRATE;
	} else if (strcmp(cmd, "keys") == 0) {
		if (argc == 3 && strcmp(argv[2], "rotate-secret") == 0) {
			rotate = 1;
		} else if (argc < 3 || strcmp(argv[2], "create") != 0) {
			fprintf(stderr, "gwsync keys: expected 'create' or 'rotate-secret'\n%s",
				helps[3].text);
			return EXIT_USAGE;
		}
		for (int i = 3; !rotate && i < argc; i++) {
			if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc)
				tenant = argv[++i];
			else if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
				key_role = argv[++i];
			else {
				fprintf(stderr, "gwsync keys create: unexpected '%s'\n%s", argv[i],
					helps[3].text);
				return EXIT_USAGE;
			}
		}
		if (!rotate && (!tenant || !key_role)) {
			fprintf(stderr, "gwsync keys create: --tenant and --role are required\n");
			return EXIT_USAGE;
		}
		roles = CONFIG_ROLE_KEYS;
	} else if (strcmp(cmd, "config") == 0) {
		if (argc >= 3 && strcmp(argv[2], "doc") == 0) {
			config_doc_markdown(stdout);
			return 0;
		}
		if (argc < 3 || strcmp(argv[2], "check") != 0) {
			fprintf(stderr, "gwsync config: expected 'check' or 'doc'\n");
			return EXIT_USAGE;
		}
		if (argc == 5 && strcmp(argv[3], "--role") == 0)
			check_role = argv[4];
		else if (argc != 3) {
			fprintf(stderr, "gwsync config check: unexpected arguments\n");
			return EXIT_USAGE;
		}
		roles = role_mask(check_role);
		if (!roles) {
			fprintf(stderr, "gwsync config check: unknown role '%s'\n", check_role);
			return EXIT_USAGE;
		}
	} else {
		fprintf(stderr, "gwsync: unknown command '%s'\n\n%s", cmd, usage_main);
		return EXIT_USAGE;
	}

	if (load_config(&cfg, roles, cmd)) {
		config_cleanup(&cfg);
		return EXIT_CONFIG;
	}
	if (strcmp(cmd, "config") == 0) {
		config_print(&cfg, stdout);
		config_cleanup(&cfg);
		return 0;
	}
	/* keys prints the key on stdout: keep log lines off it. */
	log_setup(log_role, strcmp(cmd, "keys") == 0 ? LOG_ERROR : cfg.log_level);

	int status;
	if (strcmp(cmd, "api") == 0)
		status = role_api_run(&cfg);
	else if (strcmp(cmd, "worker") == 0)
		status = role_worker_run(&cfg);
	else if (strcmp(cmd, "migrate") == 0)
		status = cmd_migrate(&cfg);
	else if (rotate)
		status = cmd_keys_rotate_secret(&cfg);
	else
		status = cmd_keys_create(&cfg, tenant, key_role);
	config_cleanup(&cfg);
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)
		return print_help(argc > 2 ? argv[2] : "");
	if (wants_help(argc, argv))
		return print_help(cmd);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("gwsync %s\n", GWSYNC_VERSION);
		return 0;
	}
	if (strcmp(cmd, "routes") == 0) {
		api_routes_print();
		return 0;
	}

	/* Block the stop signals before any thread exists, so every thread inherits the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* libcurl's global state, once, before any thread exists. */
	if (httpc_global_init()) {
		fprintf(stderr, "gwsync: the HTTP client library failed to initialise\n");
		return 1;
	}
	int status = run_role(cmd, argc, argv);
	httpc_global_cleanup();
	return status;
}
