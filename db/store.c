#include "store_internal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-events.h>

#include "log.h"

struct pool_waiter {
	pthread_cond_t cv;
	PGconn *handed; /* a connection given to this waiter */
	bool may_open;	/* a slot given to this waiter: it opens a new connection */
	bool done;
	struct pool_waiter *next;
};

struct store {
	char *url;
	char application_name[64];
	char connect_timeout[16];
	char pg_options[64];
	int acquire_timeout_ms;

	pthread_mutex_t mu;
	int size;
	int open;
	int in_use;
	PGconn **idle; /* stack of idle connections, capacity size */
	int n_idle;
	/* Requests waiting for a connection, served first come first served. */
	struct pool_waiter *wait_head, *wait_tail;
	uint64_t waits, timeouts, conn_errors;
};

int store_open(const struct store_options *opt, struct store **out, struct err *e)
{
	*out = NULL;
	struct store *st = calloc(1, sizeof(*st));
	if (!st)
		return err_set(e, E_NOMEM, "store");
	st->url = strdup(opt->url);
	st->idle = calloc((size_t)opt->pool_size, sizeof(*st->idle));
	if (!st->url || !st->idle) {
		free(st->url);
		free(st->idle);
		free(st);
		return err_set(e, E_NOMEM, "store");
	}
	snprintf(st->application_name, sizeof(st->application_name), "%s",
		 opt->application_name ? opt->application_name : "gwsync");
	snprintf(st->connect_timeout, sizeof(st->connect_timeout), "%d", opt->connect_timeout_s);
	snprintf(st->pg_options, sizeof(st->pg_options), "-c statement_timeout=%d",
		 opt->statement_timeout_ms);
	st->acquire_timeout_ms = opt->acquire_timeout_ms;
	st->size = opt->pool_size;
	pthread_mutex_init(&st->mu, NULL);
	*out = st;
	return E_OK;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (int i = 0; i < st->n_idle; i++)
		PQfinish(st->idle[i]);
	pthread_mutex_destroy(&st->mu);
	/* The URL may carry the database password. */
	explicit_bzero(st->url, strlen(st->url));
	free(st->url);
	free(st->idle);
	free(st);
}

void store_pool_stats_get(struct store *st, struct store_pool_stats *out)
{
	pthread_mutex_lock(&st->mu);
	out->size = st->size;
	out->open = st->open;
	out->in_use = st->in_use;
	out->waits = st->waits;
	out->timeouts = st->timeouts;
	out->conn_errors = st->conn_errors;
	pthread_mutex_unlock(&st->mu);
}

/* libpq's notices (e.g. "relation already exists, skipping") go to our log at debug level. */
static void store_notice(void *arg, const char *message)
{
	(void)arg;
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", message);
	size_t n = strlen(msg);
	if (n && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	log_write(LOG_DEBUG, "db", "pg_notice", msg, NULL, 0);
}

/*
 * Statements prepared on one connection: every SQL text the store runs is prepared once per
 * connection and then executed by name, which saves PostgreSQL the parse and plan of each call.
 * Kept as libpq instance data, so it lives and dies with its PGconn.
 */
struct prepared_set {
	size_t n, cap;
	struct prepared {
		uint64_t hash;
		char *sql;
	} *items;
};

static int prepared_event(PGEventId id, void *info, void *pass)
{
	(void)pass;
	if (id == PGEVT_CONNDESTROY) {
		PGEventConnDestroy *ev = info;
		struct prepared_set *ps = PQinstanceData(ev->conn, prepared_event);
		if (ps) {
			for (size_t i = 0; i < ps->n; i++)
				free(ps->items[i].sql);
			free(ps->items);
			free(ps);
		}
	}
	return 1;
}

static uint64_t sql_hash(const char *sql)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

/*
 * Runs sql as a prepared statement (preparing it on first use). Returns the result, or NULL when
 * it could not be prepared for lack of memory (the caller then runs it unprepared). *sent is set
 * once the statement itself goes to the server (a failed prepare has not run it).
 */
static PGresult *exec_prepared(PGconn *conn, const char *sql, int nparams,
			       const char *const *params, bool *sent)
{
	struct prepared_set *ps = PQinstanceData(conn, prepared_event);
	if (!ps)
		return NULL;
	uint64_t h = sql_hash(sql);
	size_t i = 0;
	while (i < ps->n && !(ps->items[i].hash == h && strcmp(ps->items[i].sql, sql) == 0))
		i++;
	char name[24];
	snprintf(name, sizeof(name), "g%zu", i);
	if (i == ps->n) {
		if (ps->n == ps->cap) {
			size_t cap = ps->cap ? ps->cap * 2 : 32;
			struct prepared *grown = realloc(ps->items, cap * sizeof(*grown));
			if (!grown)
				return NULL;
			ps->items = grown;
			ps->cap = cap;
		}
		char *copy = strdup(sql);
		if (!copy)
			return NULL;
		PGresult *pr = PQprepare(conn, name, sql, nparams, NULL);
		if (!pr || PQresultStatus(pr) != PGRES_COMMAND_OK) {
			/* The statement's own error (unknown table…): report it as its result. */
			free(copy);
			return pr;
		}
		PQclear(pr);
		ps->items[ps->n].hash = h;
		ps->items[ps->n].sql = copy;
		ps->n++;
	}
	*sent = true;
	return PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
}

PGconn *store_conn_open(struct store *st, struct err *e)
{
	const char *keys[] = {"dbname", "connect_timeout", "application_name", "options",
			      "keepalives", "keepalives_idle", "keepalives_interval",
			      "keepalives_count", NULL};
	const char *vals[] = {st->url, st->connect_timeout, st->application_name, st->pg_options,
			      "1", "10", "5", "3", NULL};
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	if (!conn) {
		err_set(e, E_NOMEM, "database connection");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		char *nl = strchr(msg, '\n');
		if (nl)
			*nl = '\0';
		/* libpq's message names host and port, never the password. */
		err_set(e, E_UNAVAIL, "database unreachable: %s", msg);
		if (e)
			snprintf(e->reason, sizeof(e->reason), "%s", STORE_REASON_UNAVAILABLE);
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, store_notice, NULL);
	struct prepared_set *ps = calloc(1, sizeof(*ps));
	if (ps && PQregisterEventProc(conn, prepared_event, "gwsync-prepared", NULL) &&
	    PQsetInstanceData(conn, prepared_event, ps))
		ps = NULL; /* now owned by conn */
	free(ps);
	return conn;
}

/*
 * Whether an idle connection is still usable, found out without sending anything. A backend that
 * ended while its connection sat in the pool (server restart, pg_terminate_backend) has sent its
 * last error and closed the socket: the socket is readable, and reading it shows the end.
 */
static bool conn_alive(PGconn *conn)
{
	for (int i = 0; i < 8; i++) {
		if (PQstatus(conn) != CONNECTION_OK)
			return false;
		struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
		if (pfd.fd < 0)
			return false;
		if (poll(&pfd, 1, 0) <= 0)
			return true; /* nothing waiting: alive as far as can be known */
		if (!PQconsumeInput(conn))
			return false;
		/* Notifications nobody listens for on a pooled connection: drop them. */
		PGnotify *n;
		while ((n = PQnotifies(conn)) != NULL)
			PQfreemem(n);
	}
	return PQstatus(conn) == CONNECTION_OK;
}

/* Takes the first waiter off the queue; NULL when none. Called with st->mu held. */
static struct pool_waiter *waiter_pop(struct store *st)
{
	struct pool_waiter *w = st->wait_head;
	if (w) {
		st->wait_head = w->next;
		if (!st->wait_head)
			st->wait_tail = NULL;
	}
	return w;
}

static void waiter_remove(struct store *st, struct pool_waiter *w)
{
	struct pool_waiter **pp = &st->wait_head, *prev = NULL;
	while (*pp && *pp != w) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp) {
		*pp = w->next;
		if (st->wait_tail == w)
			st->wait_tail = prev;
	}
}

/* Hands a connection, or a slot to open one (conn NULL), to the first waiter. st->mu held. */
static bool hand_over(struct store *st, PGconn *conn)
{
	struct pool_waiter *w = waiter_pop(st);
	if (!w)
		return false;
	w->handed = conn;
	w->may_open = conn == NULL;
	w->done = true;
	st->in_use++;
	if (!conn)
		st->open++;
	pthread_cond_signal(&w->cv);
	return true;
}

PGconn *store_conn_acquire(struct store *st, struct err *e)
{
	PGconn *conn = NULL;
	bool may_open = false;
	pthread_mutex_lock(&st->mu);
	if (!st->wait_head && st->n_idle > 0) {
		conn = st->idle[--st->n_idle];
		st->in_use++;
	} else if (!st->wait_head && st->open < st->size) {
		/* Reserve a slot, then connect without holding the lock. */
		st->open++;
		st->in_use++;
		may_open = true;
	} else {
		struct timespec deadline;
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += st->acquire_timeout_ms / 1000;
		deadline.tv_nsec += (long)(st->acquire_timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		struct pool_waiter w = {0};
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&w.cv, &ca);
		pthread_condattr_destroy(&ca);
		if (st->wait_tail)
			st->wait_tail->next = &w;
		else
			st->wait_head = &w;
		st->wait_tail = &w;
		st->waits++;
		while (!w.done) {
			if (pthread_cond_timedwait(&w.cv, &st->mu, &deadline) == ETIMEDOUT && !w.done)
				break;
		}
		if (!w.done) {
			waiter_remove(st, &w);
			st->timeouts++;
		}
		pthread_cond_destroy(&w.cv);
		conn = w.handed;
		may_open = w.may_open;
		if (!w.done) {
			pthread_mutex_unlock(&st->mu);
			err_set(e, E_UNAVAIL, "all %d database connections are busy", st->size);
			if (e)
				snprintf(e->reason, sizeof(e->reason), "%s", STORE_REASON_UNAVAILABLE);
			return NULL;
		}
	}
	pthread_mutex_unlock(&st->mu);
	if (conn && !conn_alive(conn)) {
		/* Its backend ended while it sat idle; nothing was sent on it. Reuse its slot. */
		log_write(LOG_INFO, "db", "db_conn_replaced", "a pooled connection had been closed",
			  NULL, 0);
		PQfinish(conn);
		conn = NULL;
		may_open = true;
	}
	if (!may_open)
		return conn;

	conn = store_conn_open(st, e);
	if (!conn) {
		pthread_mutex_lock(&st->mu);
		st->open--;
		st->in_use--;
		st->conn_errors++;
		/* Let the next waiter try its own connection (the database may be back). */
		hand_over(st, NULL);
		pthread_mutex_unlock(&st->mu);
	}
	return conn;
}

void store_conn_release(struct store *st, PGconn *conn)
{
	if (!conn)
		return;
	int healthy = PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;
	if (!healthy)
		PQfinish(conn);
	pthread_mutex_lock(&st->mu);
	st->in_use--;
	if (!healthy)
		st->open--;
	if (!hand_over(st, healthy ? conn : NULL) && healthy)
		st->idle[st->n_idle++] = conn;
	pthread_mutex_unlock(&st->mu);
}

static enum err_code sqlstate_code(const char *state)
{
	if (!state)
		return E_UNAVAIL;
	if (strcmp(state, "23505") == 0 || strcmp(state, "40001") == 0 ||
	    strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
		return E_CONFLICT;
	if (strcmp(state, "23503") == 0)
		return E_NOTFOUND;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
		return E_INVAL;
	if (strcmp(state, "57014") == 0)
		return E_TIMEOUT;
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
	    strncmp(state, "53", 2) == 0)
		return E_UNAVAIL;
	return E_INTERNAL;
}

/* store_conn_exec; *sent tells whether the statement itself went to the server. */
static int conn_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
		     PGresult **res, bool *sent, struct err *e)
{
	*res = NULL;
	*sent = false;
	PGresult *r = exec_prepared(conn, sql, nparams, params, sent);
	if (!r && PQstatus(conn) == CONNECTION_OK) {
		*sent = true;
		r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	}
	ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
		*res = r;
		return E_OK;
	}
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	enum err_code code = PQstatus(conn) != CONNECTION_OK ? E_UNAVAIL : sqlstate_code(state);
	char msg[200];
	snprintf(msg, sizeof(msg), "%s",
		 r && PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
			 ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
			 : PQerrorMessage(conn));
	char *nl = strchr(msg, '\n');
	if (nl)
		*nl = '\0';
	if (*sent && PQstatus(conn) != CONNECTION_OK)
		err_set(e, code,
			"database: connection lost while the statement ran (it may have taken "
			"effect): %s",
			msg);
	else
		err_set(e, code, "database: %s", msg);
	if (e)
		snprintf(e->reason, sizeof(e->reason), "%s",
			 code == E_UNAVAIL ? STORE_REASON_UNAVAILABLE : state ? state : "connection");
	PQclear(r);
	return code;
}

int store_conn_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
		    PGresult **res, struct err *e)
{
	bool sent;
	return conn_exec(conn, sql, nparams, params, res, &sent, e);
}

/*
 * Runs sql on a pooled connection (store_conn_acquire already replaced one found dead while
 * idle). When the connection is lost during the call, the statement is sent once more on a new
 * connection only if it cannot have run (it never went out) or running it twice is harmless
 * (idempotent): a write whose connection broke after it went out may have committed, and sending
 * it again could do it twice (a job created twice), so its caller gets E_UNAVAIL instead.
 */
static int exec_pooled(struct store *st, bool idempotent, const char *sql, int nparams,
		       const char *const *params, PGresult **res, struct err *e)
{
	*res = NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		PGconn *conn = store_conn_acquire(st, e);
		if (!conn)
			return e ? e->code : E_UNAVAIL;
		bool sent = false;
		int rc = conn_exec(conn, sql, nparams, params, res, &sent, e);
		bool lost = rc == E_UNAVAIL && PQstatus(conn) != CONNECTION_OK;
		store_conn_release(st, conn);
		if (!lost || (sent && !idempotent))
			return rc;
		log_write(LOG_INFO, "db", "db_statement_resent",
			  sent ? "connection lost; the statement is idempotent: sent again"
			       : "connection lost before the statement went out: sent again",
			  NULL, 0);
	}
	return e ? e->code : E_UNAVAIL;
}

int store_exec(struct store *st, const char *sql, int nparams, const char *const *params,
	       PGresult **res, struct err *e)
{
	return exec_pooled(st, false, sql, nparams, params, res, e);
}

int store_exec_idempotent(struct store *st, const char *sql, int nparams,
			  const char *const *params, PGresult **res, struct err *e)
{
	return exec_pooled(st, true, sql, nparams, params, res, e);
}

void store_copy(char *dst, size_t cap, const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		dst[0] = '\0';
	else
		snprintf(dst, cap, "%s", PQgetvalue(res, row, col));
}

int store_rows(int rc, PGresult *res, const struct store_rows *how, void **out, size_t *n,
	       struct err *e)
{
	*out = NULL;
	*n = 0;
	int rows = rc ? 0 : PQntuples(res);
	if (!rc && how->parent_missing && rows == 0)
		rc = err_set(e, E_NOTFOUND, "%s", how->parent_missing);
	if (!rc && how->parent_missing && PQgetisnull(res, 0, how->null_col))
		rows = 0;
	char *v = rows ? calloc((size_t)rows, how->size) : NULL;
	if (!rc && rows && !v)
		rc = err_set(e, E_NOMEM, "list of %d rows", rows);
	size_t copied = 0; /* the element that fails is left with nothing to free */
	for (int i = 0; !rc && i < rows; i++) {
		rc = how->copy(res, i, v + (size_t)i * how->size, e);
		copied += rc ? 0 : 1;
	}
	PQclear(res);
	if (rc) {
		if (v && how->free)
			how->free(v, copied);
		else
			free(v);
		return rc;
	}
	*out = v;
	*n = (size_t)rows;
	return E_OK;
}

int store_integration_check(struct store *st, PGconn *conn, const char *tenant_id,
			    const char *integration_id, struct err *e)
{
	static const char sql[] =
		"SELECT 1 FROM integrations WHERE tenant_id = $1::uuid AND id = $2::uuid";
	const char *p[] = {tenant_id, integration_id};
	PGresult *res = NULL;
	int rc = conn ? store_conn_exec(conn, sql, 2, p, &res, e)
		      : store_exec_idempotent(st, sql, 2, p, &res, e);
	if (!rc && PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such integration");
	PQclear(res);
	return rc;
}

int store_integration_share(PGconn *conn, const char *tenant_id, const char *integration_id,
			    enum store_share *state, struct err *e)
{
	const char *p[] = {tenant_id, integration_id};
	PGresult *res = NULL;
	*state = STORE_SHARE_ACTIVE;
	int rc = store_conn_exec(conn,
				 "SELECT status FROM integrations WHERE tenant_id = $1::uuid AND id = "
				 "$2::uuid FOR KEY SHARE",
				 2, p, &res, e);
	if (!rc && PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such integration");
	else if (!rc && !strcmp(PQgetvalue(res, 0, 0), "deactivated"))
		*state = STORE_SHARE_DEACTIVATED;
	else if (!rc && strcmp(PQgetvalue(res, 0, 0), "active"))
		*state = STORE_SHARE_INACTIVE;
	PQclear(res);
	return rc;
}

int store_not_active(struct err *e)
{
	return err_set_reason(e, E_CONFLICT, STORE_REASON_NOT_ACTIVE,
			      "the integration is no longer active: the run stops");
}

int store_list(struct store *st, const char *sql, int nparams, const char *const *params,
	       const struct store_rows *how, void **out, size_t *n, struct err *e)
{
	PGresult *res = NULL;
	int rc = store_exec_idempotent(st, sql, nparams, params, &res, e);
	return store_rows(rc, res, how, out, n, e);
}

int store_ping(struct store *st, struct err *e)
{
	PGresult *res;
	int rc = store_exec_idempotent(st, "SELECT 1", 0, NULL, &res, e);
	PQclear(res);
	return rc;
}

PGconn *store_tx_begin(struct store *st, const struct store_actor *actor, struct err *e)
{
	PGconn *conn = store_conn_acquire(st, e);
	if (!conn)
		return NULL;
	PGresult *res;
	int rc = store_conn_exec(conn, "BEGIN", 0, NULL, &res, e);
	PQclear(res);
	if (!rc && actor && actor->key_id) {
		const char *params[] = {actor->key_id, actor->request_id ? actor->request_id : "",
					actor->action ? actor->action : ""};
		rc = store_conn_exec(conn,
				     "SELECT set_config('gwsync.actor_key_id', $1, true), "
				     "set_config('gwsync.request_id', $2, true), "
				     "set_config('gwsync.action', $3, true)",
				     3, params, &res, e);
		PQclear(res);
	}
	if (rc) {
		store_tx_end(st, conn, rc, NULL);
		return NULL;
	}
	return conn;
}

int store_tx_end(struct store *st, PGconn *conn, int rc, struct err *e)
{
	PGresult *res = NULL;
	if (rc == E_OK) {
		rc = store_conn_exec(conn, "COMMIT", 0, NULL, &res, e);
	} else if (PQstatus(conn) == CONNECTION_OK) {
		struct err ignored;
		store_conn_exec(conn, "ROLLBACK", 0, NULL, &res, &ignored);
	}
	PQclear(res);
	store_conn_release(st, conn);
	return rc;
}

int store_exec_as(struct store *st, const struct store_actor *actor, const char *sql,
		  int nparams, const char *const *params, PGresult **res, struct err *e)
{
	*res = NULL;
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	int rc = store_conn_exec(conn, sql, nparams, params, res, e);
	rc = store_tx_end(st, conn, rc, e);
	if (rc) {
		PQclear(*res);
		*res = NULL;
	}
	return rc;
}

char *store_text_array(const char *const *ids, size_t n)
{
	size_t cap = 3;
	for (size_t i = 0; i < n; i++)
		cap += 2 * strlen(ids[i] ? ids[i] : "") + 3;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t k = 0;
	out[k++] = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			out[k++] = ',';
		out[k++] = '"';
		for (const char *c = ids[i] ? ids[i] : ""; *c; c++) {
			if (*c == '"' || *c == '\\')
				out[k++] = '\\';
			out[k++] = *c;
		}
		out[k++] = '"';
	}
	out[k++] = '}';
	out[k] = '\0';
	return out;
}
