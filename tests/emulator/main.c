/* SPDX-License-Identifier: MIT */
/*
 * gws-emulator: a stateful emulator of Google Workspace's Directory API, Groups Settings API
 * and OAuth token endpoint, for gwsync's tests. The only file that includes civetweb.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <civetweb.h>
#include <json-c/json.h>

#include "emu.h"
#include "emu_int.h"

#define BODY_MAX (1u << 20)
#define BATCH_BODY_MAX (64u << 20)

const char *emu_status_text(int status);

static void usage(FILE *f)
{
	fputs("usage: gws-emulator [options]\n"
	      "       gws-emulator keygen [--out FILE] [--email EMAIL] [--project ID]\n"
	      "                           [--register URL] [--scopes \"SCOPE ...\"]\n"
	      "\n"
	      "Emulates Google's Admin SDK Directory API, Groups Settings API, OAuth token\n"
	      "endpoint and consent page on one local HTTP port. Prints its base URL as the\n"
	      "first line on stdout. Control API under /_emulator/ (see README.md).\n"
	      "\n"
	      "options:\n"
	      "  --listen ADDR      address to listen on (default 127.0.0.1:0 = a free port;\n"
	      "                     0.0.0.0:PORT for every interface)\n"
	      "  --base-url URL     the URL clients see (a proxy or Service in front): the\n"
	      "                     token URI and JWT audience <URL>/token, and the baseUrl\n"
	      "                     that /_emulator/info reports\n"
	      "  --state FILE       load a JSON state fixture at start (format: README.md)\n"
	      "  --domain DOMAIN    primary domain of the default customer (default example.com)\n"
	      "  --sa-key FILE      register a service account key file (repeatable)\n"
	      "  --threads N        worker threads (default 32)\n"
	      "  --quiet            no request lines on stderr (default)\n"
	      "  --verbose          one line per request on stderr\n"
	      "  --help             this text\n"
	      "\n"
	      "keygen: writes a new service account key in Google's JSON format (default\n"
	      "  ./sa-key.json); --register URL also registers it with a running emulator.\n",
	      f);
}

static int handler(struct mg_connection *conn, void *cbdata)
{
	struct emu *em = cbdata;
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct emu_req rq;
	struct emu_resp rs;
	char *body = NULL;
	size_t len = 0;

	memset(&rq, 0, sizeof(rq));
	emu_resp_init(&rs);
	rq.method = ri->request_method;
	rq.path = xstrdup(ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri);
	rq.query = ri->query_string ? xstrdup(ri->query_string) : NULL;
	const char *h = mg_get_header(conn, "Authorization");

	rq.authz = h ? xstrdup(h) : NULL;
	h = mg_get_header(conn, "Content-Type");
	rq.ctype = h ? xstrdup(h) : NULL;
	size_t max = str_has_prefix(rq.path, "/batch") || str_has_prefix(rq.path, "/_emulator")
			     ? BATCH_BODY_MAX
			     : BODY_MAX;

	if (ri->content_length > (long long)max) {
		emu_err(&rs, 413, "uploadTooLarge", "Request Entity Too Large");
		goto write;
	}
	size_t cap = ri->content_length > 0 ? (size_t)ri->content_length + 1 : 4096;

	body = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > max) {
				emu_err(&rs, 413, "uploadTooLarge", "Request Entity Too Large");
				goto write;
			}
			cap *= 2;
			body = xrealloc(body, cap);
		}
		int n = mg_read(conn, body + len, cap - len - 1);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	body[len] = '\0';
	rq.body = body;
	rq.body_len = len;
	emu_dispatch(em, &rq, &rs);
write:
	mg_printf(conn, "HTTP/1.1 %d %s\r\n", rs.status, emu_status_text(rs.status));
	if (rs.ctype[0] && rs.status != 204)
		mg_printf(conn, "Content-Type: %s\r\n", rs.ctype);
	if (rs.hdrs.len)
		mg_write(conn, rs.hdrs.p, rs.hdrs.len);
	mg_printf(conn, "Content-Length: %zu\r\nCache-Control: no-cache, no-store, max-age=0, "
			"must-revalidate\r\nServer: ESF\r\n\r\n",
		  rs.status == 204 ? (size_t)0 : rs.body.len);
	if (rs.body.len && rs.status != 204 && strcmp(ri->request_method, "HEAD"))
		mg_write(conn, rs.body.p, rs.body.len);
	if (!em->quiet)
		fprintf(stderr, "%s %s %d\n", rq.method, rq.path, rs.status);
	int status = rs.status;

	free(body);
	emu_req_cleanup(&rq);
	emu_resp_cleanup(&rs);
	return status;
}

static int log_message(const struct mg_connection *conn, const char *msg)
{
	(void)conn;
	fprintf(stderr, "gws-emulator: civetweb: %s\n", msg);
	return 1;
}

static struct json_object *load_json_file(const char *path)
{
	struct json_object *jo = json_object_from_file(path);

	if (!jo)
		fprintf(stderr, "gws-emulator: cannot read JSON from %s: %s\n", path,
			json_util_get_last_err() ? json_util_get_last_err() : "");
	return jo;
}

static int keygen_main(int argc, char **argv)
{
	const char *out = "sa-key.json", *email = NULL, *project = NULL, *reg = NULL;
	const char *scopes = NULL;
	char err[256];

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (i + 1 < argc && !strcmp(a, "--out"))
			out = argv[++i];
		else if (i + 1 < argc && !strcmp(a, "--email"))
			email = argv[++i];
		else if (i + 1 < argc && !strcmp(a, "--project"))
			project = argv[++i];
		else if (i + 1 < argc && !strcmp(a, "--register"))
			reg = argv[++i];
		else if (i + 1 < argc && !strcmp(a, "--scopes"))
			scopes = argv[++i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (emu_keygen(out, email, project, err, sizeof(err))) {
		fprintf(stderr, "gws-emulator keygen: %s\n", err);
		return 1;
	}
	if (!reg) {
		printf("%s\n", out);
		return 0;
	}
	/* register: POST the key file to the control API of a running emulator */
	struct json_object *jo = load_json_file(out);
	char host[128];
	int port = 0;

	if (!jo || sscanf(reg, "http://%127[^:/]:%d", host, &port) != 2) {
		fprintf(stderr, "gws-emulator keygen: --register wants http://HOST:PORT\n");
		json_object_put(jo);
		return 1;
	}
	if (scopes)
		json_object_object_add(jo, "scopes", json_object_new_string(scopes));
	const char *body = json_object_to_json_string_ext(jo, JSON_C_TO_STRING_PLAIN);
	char ebuf[256] = "";

	mg_init_library(0);
	struct mg_connection *c =
		mg_download(host, port, 0, ebuf, sizeof(ebuf),
			    "POST /_emulator/service-accounts HTTP/1.1\r\nHost: %s:%d\r\n"
			    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
			    "Connection: close\r\n\r\n%s",
			    host, port, strlen(body), body);
	int rc = 1;

	if (c) {
		const struct mg_response_info *ri = mg_get_response_info(c);

		rc = ri && ri->status_code == 200 ? 0 : 1;
		if (rc)
			fprintf(stderr, "gws-emulator keygen: registration failed (%d)\n",
				ri ? ri->status_code : 0);
		mg_close_connection(c);
	} else {
		fprintf(stderr, "gws-emulator keygen: %s\n", ebuf);
	}
	mg_exit_library();
	json_object_put(jo);
	if (rc == 0)
		printf("%s\n", out);
	return rc;
}

/* http://HOST:PORT for the listen address; a wildcard host is reached on 127.0.0.1. */
static void local_url(const char *listen, int port, char *out, size_t n)
{
	const char *colon = strrchr(listen, ':');
	size_t hl = colon ? (size_t)(colon - listen) : 0;

	if (hl == 0 || hl > 200 || (hl == 7 && !strncmp(listen, "0.0.0.0", 7)))
		snprintf(out, n, "http://127.0.0.1:%d", port);
	else
		snprintf(out, n, "http://%.*s:%d", (int)hl, listen, port);
}

int main(int argc, char **argv)
{
	const char *listen = "127.0.0.1:0", *state = NULL, *domain = "example.com";
	const char *threads = "32", *base_url = NULL;
	const char **keys = NULL;
	size_t n_keys = 0;
	bool quiet = true;
	static struct emu em;
	int rc = 0;

	if (argc > 1 && !strcmp(argv[1], "keygen"))
		return keygen_main(argc, argv);
	/* block the signals before anything else (CivetWeb's threads inherit the mask) */
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (i + 1 < argc && !strcmp(a, "--listen")) {
			listen = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--base-url")) {
			base_url = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--state")) {
			state = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--domain")) {
			domain = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--threads")) {
			threads = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--sa-key")) {
			keys = xrealloc(keys, (n_keys + 1) * sizeof(*keys));
			keys[n_keys++] = argv[++i];
		} else if (!strcmp(a, "--quiet")) {
			quiet = true;
		} else if (!strcmp(a, "--verbose")) {
			quiet = false;
		} else if (!strcmp(a, "--listen") || !strcmp(a, "--base-url") ||
			   !strcmp(a, "--state") || !strcmp(a, "--domain") ||
			   !strcmp(a, "--threads") || !strcmp(a, "--sa-key")) {
			fprintf(stderr, "gws-emulator: %s needs a value\n", a);
			usage(stderr);
			free(keys);
			return 2;
		} else {
			fprintf(stderr, "gws-emulator: unknown argument %s\n", a);
			usage(stderr);
			free(keys);
			return 2;
		}
	}
	if (base_url && ((strncmp(base_url, "http://", 7) && strncmp(base_url, "https://", 8)) ||
			 strlen(base_url) >= sizeof(em.base_url) - 1)) {
		fprintf(stderr, "gws-emulator: --base-url wants an http(s) URL\n");
		free(keys);
		return 2;
	}
	if (!valid_domain_name(domain)) {
		fprintf(stderr, "gws-emulator: --domain wants a domain name (labels of 1-63 letters, "
				"digits and inner hyphens, 253 characters in all), not %s\n",
			domain);
		free(keys);
		return 2;
	}
	char *end;
	long nthreads = strtol(threads, &end, 10);

	if (*end || end == threads || nthreads < 1 || nthreads > 1024) {
		fprintf(stderr, "gws-emulator: --threads wants 1..1024\n");
		free(keys);
		return 2;
	}
	emu_init(&em, domain);
	em.quiet = quiet;
	/* latency sleepers leave EMU_THREADS_RESERVE threads (half of a smaller pool) free */
	em.max_sleepers = (int)nthreads -
			  (nthreads >= 2 * EMU_THREADS_RESERVE ? EMU_THREADS_RESERVE : (int)(nthreads + 1) / 2);
	char err[512];

	if (state) {
		struct json_object *jo = load_json_file(state);

		rc = !jo || emu_state_load(&em, jo, err, sizeof(err));
		if (jo && rc)
			fprintf(stderr, "gws-emulator: %s: %s\n", state, err);
		json_object_put(jo);
		if (rc)
			goto out;
	}
	for (size_t i = 0; i < n_keys; i++) {
		struct json_object *jo = load_json_file(keys[i]);

		rc = !jo || emu_sa_register(&em, jo, err, sizeof(err));
		if (jo && rc)
			fprintf(stderr, "gws-emulator: %s: %s\n", keys[i], err);
		json_object_put(jo);
		if (rc)
			goto out;
	}


	const char *opts[] = { "listening_ports", listen, "num_threads", threads,
			       "enable_keep_alive", "yes", "request_timeout_ms", "60000",
			       "keep_alive_timeout_ms", "60000",
			       /* the path as sent: the router decodes each segment once, as Google
				* does (CivetWeb's decoding made "a%2540b" read as a@b and cut the path
				* at a %00) */
			       "decode_url", "no",
			       /* header and body go out in separate writes: no Nagle delay */
			       "tcp_nodelay", "1", NULL };
	struct mg_callbacks cb;

	memset(&cb, 0, sizeof(cb));
	cb.log_message = log_message;
	mg_init_library(0);
	struct mg_context *ctx = mg_start(&cb, &em, opts);

	if (!ctx) {
		fprintf(stderr, "gws-emulator: cannot listen on %s\n", listen);
		rc = 1;
		mg_exit_library();
		goto out;
	}
	mg_set_request_handler(ctx, "/", handler, &em);
	struct mg_server_port ports[4];
	int np = mg_get_server_ports(ctx, 4, ports);

	if (np < 1) {
		fprintf(stderr, "gws-emulator: no listening port\n");
		rc = 1;
	} else {
		char local[230];

		local_url(listen, ports[0].port, local, sizeof(local));
		pthread_mutex_lock(&em.mu);
		snprintf(em.base_url, sizeof(em.base_url), "%s", base_url ? base_url : local);
		while (em.base_url[0] && em.base_url[strlen(em.base_url) - 1] == '/')
			em.base_url[strlen(em.base_url) - 1] = '\0';
		pthread_mutex_unlock(&em.mu);
		/* the first line is where this process can be reached, for whoever started it */
		printf("%s\n", local);
		fflush(stdout);
		int sig = 0;

		while (sigwait(&set, &sig) != 0)
			;
		if (!quiet)
			fprintf(stderr, "gws-emulator: signal %d, stopping\n", sig);
	}
	/* end every latency sleep now: mg_stop waits for the worker threads */
	pthread_mutex_lock(&em.mu);
	em.stopping = true;
	pthread_cond_broadcast(&em.wake);
	pthread_mutex_unlock(&em.mu);
	mg_stop(ctx);
	mg_exit_library();
out:
	free(keys);
	emu_cleanup(&em);
	return rc;
}
