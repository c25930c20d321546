#include "store_listen.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_internal.h"

struct store_listen {
	struct store *st;
	PGconn *conn;
	char channel[64];
	unsigned long session;
};

static void connect_listen(struct store_listen *l)
{
	struct err e = {0};
	l->conn = store_conn_open(l->st, &e);
	if (!l->conn)
		return;
	char *ident = PQescapeIdentifier(l->conn, l->channel, strlen(l->channel));
	char sql[128];
	snprintf(sql, sizeof(sql), "LISTEN %s", ident ? ident : "\"\"");
	PQfreemem(ident);
	PGresult *res;
	if (!ident || store_conn_exec(l->conn, sql, 0, NULL, &res, &e)) {
		PQfinish(l->conn);
		l->conn = NULL;
		return;
	}
	PQclear(res);
	l->session++;
}

int store_listen_open(struct store *st, const char *channel, struct store_listen **out,
		      struct err *e)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return err_set(e, E_NOMEM, "listener");
	(*out)->st = st;
	snprintf((*out)->channel, sizeof((*out)->channel), "%s", channel);
	connect_listen(*out);
	return E_OK;
}

static int drain(PGconn *conn, store_notify_fn fn, void *arg)
{
	int got = 0;
	PGnotify *n;
	while ((n = PQnotifies(conn)) != NULL) {
		got++;
		if (fn)
			fn(arg, n->extra);
		PQfreemem(n);
	}
	return got;
}

static int lost(struct store_listen *l)
{
	PQfinish(l->conn);
	l->conn = NULL;
	return 0;
}

int store_listen_wait(struct store_listen *l, int timeout_ms, store_notify_fn fn, void *arg)
{
	if (!l->conn) {
		struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		connect_listen(l);
		return l->conn != NULL;
	}
	if (!PQconsumeInput(l->conn) || PQstatus(l->conn) != CONNECTION_OK)
		return lost(l);
	int got = drain(l->conn, fn, arg);
	if (got)
		return got;
	struct pollfd pfd = {.fd = PQsocket(l->conn), .events = POLLIN};
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	if (!PQconsumeInput(l->conn) || PQstatus(l->conn) != CONNECTION_OK)
		return lost(l);
	return drain(l->conn, fn, arg);
}

bool store_listen_up(const struct store_listen *l)
{
	return l->conn != NULL;
}

unsigned long store_listen_session(const struct store_listen *l)
{
	return l->session;
}

void store_listen_free(struct store_listen *l)
{
	if (!l)
		return;
	if (l->conn)
		PQfinish(l->conn);
	free(l);
}
