/* SPDX-License-Identifier: MIT */
/*
 * gws-emulator request pipeline: routing, Google error bodies, authentication, scopes,
 * privileges, faults, quota, request log and counters.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "emu.h"
#include "emu_fieldnames.h"

#define DIR_ "admin/directory/v1/"
#define U_RW (SC_USER)
#define U_RO (SC_USER | SC_USER_RO)
#define A_RW (SC_USER | SC_ALIAS)
#define A_RO (SC_USER | SC_ALIAS | SC_ALIAS_RO | SC_USER_RO)
#define G_RW (SC_GROUP)
#define G_RO (SC_GROUP | SC_GROUP_RO)
#define M_RW (SC_GROUP | SC_MEMBER)
#define M_RO (SC_GROUP | SC_MEMBER | SC_MEMBER_RO | SC_GROUP_RO)
#define D_RO (SC_DOMAIN | SC_DOMAIN_RO)
#define C_RO (SC_CUSTOMER | SC_CUSTOMER_RO)

static const struct emu_route routes[] = {
	{ "POST", DIR_ "users", "directory.users.insert", h_users_insert, API_DIRECTORY, U_RW,
	  PRIV_USERS },
	{ "GET", DIR_ "users", "directory.users.list", h_users_list, API_DIRECTORY,
	  U_RO | SC_CLOUD, PRIV_USERS },
	{ "GET", DIR_ "users/{userKey}", "directory.users.get", h_users_get, API_DIRECTORY, U_RO,
	  PRIV_USERS },
	{ "PUT", DIR_ "users/{userKey}", "directory.users.update", h_users_update, API_DIRECTORY,
	  U_RW, PRIV_USERS },
	{ "PATCH", DIR_ "users/{userKey}", "directory.users.patch", h_users_patch, API_DIRECTORY,
	  U_RW, PRIV_USERS },
	{ "DELETE", DIR_ "users/{userKey}", "directory.users.delete", h_users_delete,
	  API_DIRECTORY, U_RW, PRIV_USERS },
	{ "POST", DIR_ "users/{userKey}/undelete", "directory.users.undelete", h_users_undelete,
	  API_DIRECTORY, U_RW, PRIV_USERS },
	{ "POST", DIR_ "users/{userKey}/makeAdmin", "directory.users.makeAdmin",
	  h_users_make_admin, API_DIRECTORY, U_RW, PRIV_USERS },
	{ "POST", DIR_ "users/{userKey}/aliases", "directory.users.aliases.insert",
	  h_aliases_insert, API_DIRECTORY, A_RW, PRIV_USERS },
	{ "GET", DIR_ "users/{userKey}/aliases", "directory.users.aliases.list", h_aliases_list,
	  API_DIRECTORY, A_RO, PRIV_USERS },
	{ "DELETE", DIR_ "users/{userKey}/aliases/{alias}", "directory.users.aliases.delete",
	  h_aliases_delete, API_DIRECTORY, A_RW, PRIV_USERS },
	{ "POST", DIR_ "groups", "directory.groups.insert", h_groups_insert, API_DIRECTORY, G_RW,
	  PRIV_GROUPS },
	{ "GET", DIR_ "groups", "directory.groups.list", h_groups_list, API_DIRECTORY, G_RO,
	  PRIV_GROUPS },
	{ "GET", DIR_ "groups/{groupKey}", "directory.groups.get", h_groups_get, API_DIRECTORY,
	  G_RO, PRIV_GROUPS },
	{ "PUT", DIR_ "groups/{groupKey}", "directory.groups.update", h_groups_update,
	  API_DIRECTORY, G_RW, PRIV_GROUPS },
	{ "PATCH", DIR_ "groups/{groupKey}", "directory.groups.patch", h_groups_patch,
	  API_DIRECTORY, G_RW, PRIV_GROUPS },
	{ "DELETE", DIR_ "groups/{groupKey}", "directory.groups.delete", h_groups_delete,
	  API_DIRECTORY, G_RW, PRIV_GROUPS },
	{ "POST", DIR_ "groups/{groupKey}/aliases", "directory.groups.aliases.insert",
	  h_galiases_insert, API_DIRECTORY, G_RW, PRIV_GROUPS },
	{ "GET", DIR_ "groups/{groupKey}/aliases", "directory.groups.aliases.list",
	  h_galiases_list, API_DIRECTORY, G_RO, PRIV_GROUPS },
	{ "DELETE", DIR_ "groups/{groupKey}/aliases/{alias}", "directory.groups.aliases.delete",
	  h_galiases_delete, API_DIRECTORY, G_RW, PRIV_GROUPS },
	{ "POST", DIR_ "groups/{groupKey}/members", "directory.members.insert", h_members_insert,
	  API_DIRECTORY, M_RW, PRIV_GROUPS },
	{ "GET", DIR_ "groups/{groupKey}/members", "directory.members.list", h_members_list,
	  API_DIRECTORY, M_RO, PRIV_GROUPS },
	{ "GET", DIR_ "groups/{groupKey}/members/{memberKey}", "directory.members.get",
	  h_members_get, API_DIRECTORY, M_RO, PRIV_GROUPS },
	{ "PUT", DIR_ "groups/{groupKey}/members/{memberKey}", "directory.members.update",
	  h_members_update, API_DIRECTORY, M_RW, PRIV_GROUPS },
	{ "PATCH", DIR_ "groups/{groupKey}/members/{memberKey}", "directory.members.patch",
	  h_members_patch, API_DIRECTORY, M_RW, PRIV_GROUPS },
	{ "DELETE", DIR_ "groups/{groupKey}/members/{memberKey}", "directory.members.delete",
	  h_members_delete, API_DIRECTORY, M_RW, PRIV_GROUPS },
	{ "GET", DIR_ "groups/{groupKey}/hasMember/{memberKey}", "directory.members.hasMember",
	  h_members_has, API_DIRECTORY, M_RO, PRIV_GROUPS },
	{ "GET", DIR_ "customer/{customer}/domains", "directory.domains.list", h_domains_list,
	  API_DIRECTORY, D_RO, PRIV_DOMAINS },
	{ "GET", DIR_ "customer/{customer}/domains/{domainName}", "directory.domains.get",
	  h_domains_get, API_DIRECTORY, D_RO, PRIV_DOMAINS },
	{ "GET", DIR_ "customers/{customerKey}", "directory.customers.get", h_customers_get,
	  API_DIRECTORY, C_RO, PRIV_CUSTOMER },
	{ "GET", "groups/v1/groups/{groupUniqueId}", "groupsSettings.groups.get", h_gsettings_get,
	  API_GSETTINGS, SC_GSETTINGS, PRIV_GROUPS },
	{ "PUT", "groups/v1/groups/{groupUniqueId}", "groupsSettings.groups.update",
	  h_gsettings_update, API_GSETTINGS, SC_GSETTINGS, PRIV_GROUPS },
	{ "PATCH", "groups/v1/groups/{groupUniqueId}", "groupsSettings.groups.patch",
	  h_gsettings_patch, API_GSETTINGS, SC_GSETTINGS, PRIV_GROUPS },
};

const struct emu_route *emu_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

/* ---------------------------------------------------------------- request / response */

void emu_resp_init(struct emu_resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->status = 200;
	buf_init(&rs->body);
	buf_init(&rs->hdrs);
	snprintf(rs->ctype, sizeof(rs->ctype), "application/json; charset=UTF-8");
}

void emu_resp_cleanup(struct emu_resp *rs)
{
	buf_cleanup(&rs->body);
	buf_cleanup(&rs->hdrs);
}

void emu_req_cleanup(struct emu_req *rq)
{
	free(rq->path);
	free(rq->query);
	free(rq->authz);
	free(rq->ctype);
	for (size_t i = 0; i < rq->n_seg; i++)
		free(rq->seg[i]);
	fmask_free(rq->fields);
	memset(rq, 0, sizeof(*rq));
}

void emu_json_begin(struct emu_resp *rs, int status)
{
	rs->status = status;
	buf_reset(&rs->body);
	snprintf(rs->ctype, sizeof(rs->ctype), "application/json; charset=UTF-8");
}

void emu_no_content(struct emu *em, struct emu_resp *rs)
{
	rs->status = em->delete_status;
	buf_reset(&rs->body);
	rs->ctype[0] = '\0';
}

static void err_body(struct emu_resp *rs, int status, const char *reason, const char *msg,
		     const char *errmsg, const char *rpc, const char *loc, const char *loctype,
		     const char *detail)
{
	struct buf *b = &rs->body;

	emu_json_begin(rs, status);
	buf_addf(b, "{\n  \"error\": {\n    \"code\": %d,\n    \"message\": ", status);
	buf_add_jstr(b, msg);
	buf_adds(b, ",\n    \"errors\": [\n      {\n        \"message\": ");
	buf_add_jstr(b, errmsg ? errmsg : msg);
	buf_adds(b, ",\n        \"domain\": \"global\",\n        \"reason\": ");
	buf_add_jstr(b, reason);
	if (loc) {
		buf_adds(b, ",\n        \"location\": ");
		buf_add_jstr(b, loc);
		buf_adds(b, ",\n        \"locationType\": ");
		buf_add_jstr(b, loctype ? loctype : "parameter");
	}
	buf_adds(b, "\n      }\n    ]");
	if (rpc) {
		buf_adds(b, ",\n    \"status\": ");
		buf_add_jstr(b, rpc);
	}
	if (detail) {
		buf_adds(b, ",\n    \"details\": [\n      {\n        \"@type\": "
			    "\"type.googleapis.com/google.rpc.ErrorInfo\",\n        \"reason\": ");
		buf_add_jstr(b, detail);
		buf_adds(b, ",\n        \"domain\": \"googleapis.com\",\n        \"metadata\": "
			    "{\n          \"service\": \"admin.googleapis.com\"\n        }\n      }\n"
			    "    ]");
	}
	buf_adds(b, "\n  }\n}\n");
}

void emu_err(struct emu_resp *rs, int status, const char *reason, const char *msg)
{
	err_body(rs, status, reason, msg, NULL, NULL, NULL, NULL, NULL);
}

void emu_err_esf(struct emu_resp *rs, int status, const char *reason, const char *msg,
		 const char *errmsg, const char *rpc_status, const char *location,
		 const char *location_type)
{
	err_body(rs, status, reason, msg, errmsg, rpc_status, location, location_type, NULL);
}

static void html_error(struct emu_resp *rs, int status, const char *title)
{
	rs->status = status;
	buf_reset(&rs->body);
	snprintf(rs->ctype, sizeof(rs->ctype), "text/html; charset=UTF-8");
	buf_addf(&rs->body,
		 "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error %d (%s)!!1"
		 "</title>\n  <p><b>%d.</b> <ins>That's an error.</ins>\n  <p>%s  <ins>That's all "
		 "we know.</ins>\n",
		 status, title, status,
		 status == 404 ? "The requested URL was not found on this server."
			       : "The server encountered a temporary error and could not complete "
				 "your request.<p>Please try again in 30 seconds.");
}

char *emu_qp(const struct emu_req *rq, const char *name)
{
	return form_get(rq->query, name);
}

struct json_object *emu_body_json(struct emu_req *rq, struct emu_resp *rs)
{
	if (!rq->body || rq->body_len == 0)
		return json_object_new_object();
	struct json_tokener *tk = json_tokener_new_ex(64);

	/* Google rejects a body that is not UTF-8 as it rejects any other bad JSON */
	json_tokener_set_flags(tk, JSON_TOKENER_VALIDATE_UTF8);
	struct json_object *jo = json_tokener_parse_ex(tk, rq->body, (int)rq->body_len);
	enum json_tokener_error jerr = json_tokener_get_error(tk);
	size_t off = json_tokener_get_parse_end(tk);

	json_tokener_free(tk);
	if (jerr != json_tokener_success || !json_object_is_type(jo, json_type_object)) {
		bool trailing = false;

		for (size_t i = off; i < rq->body_len && jerr == json_tokener_success; i++)
			if (rq->body[i] != ' ' && rq->body[i] != '\n' && rq->body[i] != '\r' &&
			    rq->body[i] != '\t')
				trailing = true;
		(void)trailing;
		json_object_put(jo);
		emu_err_esf(rs, 400, "parseError",
			    "Invalid JSON payload received. Unexpected token.",
			    "Invalid JSON payload received. Unexpected token.", "INVALID_ARGUMENT",
			    NULL, NULL);
		return NULL;
	}
	return jo;
}

/* ---------------------------------------------------------------- page tokens */

/* Page tokens: base64url of "nonce|scopehash|key|mac", mac the first 8 bytes (hex) of an
 * HMAC-SHA256 under the per-boot page_key over what precedes it, so a truncated or edited token
 * is refused instead of read as another position. */
#define PAGE_MAC_HEX 16

static void page_mac(const struct emu *em, const char *p, size_t n, char out[PAGE_MAC_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdl = 0;

	HMAC(EVP_sha256(), em->page_key, (int)strlen(em->page_key), (const unsigned char *)p, n,
	     md, &mdl);
	for (int i = 0; i < PAGE_MAC_HEX / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

char *emu_page_token(const struct emu *em, const char *scope, const char *key)
{
	struct buf b;
	uint64_t h = hash64(scope, strlen(scope), 7);
	char mac[PAGE_MAC_HEX + 1];

	buf_init(&b);
	buf_addf(&b, "%s|%016llx|%s", em->nonce, (unsigned long long)h, key);
	page_mac(em, b.p, b.len, mac);
	buf_addf(&b, "|%s", mac);
	char *out = xmalloc(b.len * 4 / 3 + 8);

	b64url_encode((const unsigned char *)b.p, b.len, out);
	buf_cleanup(&b);
	return out;
}

char *emu_page_token_parse(const struct emu *em, const char *scope, const char *tok)
{
	size_t n;
	unsigned char *raw = b64url_decode(tok, strlen(tok), &n);
	char want[64], mac[PAGE_MAC_HEX + 1];

	if (!raw)
		return NULL;
	snprintf(want, sizeof(want), "%s|%016llx|", em->nonce,
		 (unsigned long long)hash64(scope, strlen(scope), 7));
	if (n < strlen(want) + PAGE_MAC_HEX + 1 || memchr(raw, '\0', n) ||
	    raw[n - PAGE_MAC_HEX - 1] != '|') {
		free(raw);
		return NULL;
	}
	n -= PAGE_MAC_HEX + 1;
	page_mac(em, (const char *)raw, n, mac);
	if (CRYPTO_memcmp(mac, raw + n + 1, PAGE_MAC_HEX) || memcmp(raw, want, strlen(want))) {
		free(raw);
		return NULL;
	}
	char *key = xstrndup((char *)raw + strlen(want), n - strlen(want));

	free(raw);
	return key;
}

/* ---------------------------------------------------------------- log, counters */

static void logent_free(struct emu_logent *e)
{
	free(e->method);
	free(e->path);
	free(e->query);
	free(e->body);
	free(e->route);
	memset(e, 0, sizeof(*e));
}

void emu_log_free(struct emu *em)
{
	if (!em->log)
		return;
	for (size_t i = 0; i < EMU_LOG_MAX; i++)
		logent_free(&em->log[i]);
	em->log_head = 0;
	em->log_n = 0;
}

static void log_add(struct emu *em, const struct emu_req *rq, const char *route, int status,
		    long long t0)
{
	struct emu_logent *e = &em->log[em->log_head];

	logent_free(e);
	e->seq = ++em->log_seq;
	e->ts_ms = t0;
	e->method = xstrdup(rq->method);
	/* one form for direct calls and batch parts alike: percent-decoded ('+' kept) */
	e->path = xstrdup(rq->path);
	pct_decode(e->path, false);
	e->query = rq->query ? xstrdup(rq->query) : NULL;
	if (rq->body && rq->body_len)
		e->body = xstrndup(rq->body, rq->body_len > 8192 ? 8192 : rq->body_len);
	e->route = xstrdup(route);
	e->status = status;
	e->dur_ms = (int)(now_ms() - t0);
	e->batch_part = rq->batch_part;
	em->log_head = (em->log_head + 1) % EMU_LOG_MAX;
	if (em->log_n < EMU_LOG_MAX)
		em->log_n++;
}

static void count(struct emu *em, const char *name, int status)
{
	char key[160];

	for (int pass = 0; pass < 2; pass++) {
		if (pass == 0)
			snprintf(key, sizeof(key), "%s", name);
		else
			snprintf(key, sizeof(key), "%s:%d", name, status);
		long long *c = map_get(&em->counters, key);

		if (!c) {
			c = xcalloc(1, sizeof(*c));
			map_put(&em->counters, key, c);
		}
		(*c)++;
	}
}

/* ---------------------------------------------------------------- faults */

void emu_fault_free(struct emu_fault *f)
{
	if (!f)
		return;
	free(f->method);
	free(f->path);
	free(f->route);
	free(f->reason);
	free(f->message);
	free(f);
}

static const char *quota_text(struct emu *em, struct buf *b)
{
	buf_reset(b);
	buf_addf(b,
		 "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per "
		 "user' of service 'admin.googleapis.com' for consumer 'project_number:%s'.",
		 em->project_number);
	return b->p;
}

/* True when rq is a users/groups update or patch whose body changes the address. */
static bool is_rename(struct emu *em, const struct emu_req *rq, const char *route)
{
	bool user = !strcmp(route, "directory.users.update") ||
		    !strcmp(route, "directory.users.patch");
	bool group = !strcmp(route, "directory.groups.update") ||
		     !strcmp(route, "directory.groups.patch");

	if ((!user && !group) || !rq->n_seg || !rq->body || !rq->body_len)
		return false;
	struct json_tokener *tk = json_tokener_new_ex(64);
	struct json_object *jo = json_tokener_parse_ex(tk, rq->body, (int)rq->body_len);
	struct json_object *v;
	const char *cur = NULL;
	bool rename = false;

	json_tokener_free(tk);
	if (user) {
		struct emu_user *u = emu_user_find(em, rq->seg[0]);

		cur = u ? u->email : NULL;
	} else {
		struct emu_group *g = emu_group_find(em, rq->seg[0]);

		cur = g ? g->email : NULL;
	}
	if (cur && json_object_object_get_ex(jo, user ? "primaryEmail" : "email", &v) &&
	    json_object_is_type(v, json_type_string))
		rename = strcasecmp(json_object_get_string(v), cur) != 0;
	json_object_put(jo);
	return rename;
}

/* Returns the fault that fires for this request (counting it), or NULL. */
static struct emu_fault *fault_pick(struct emu *em, const struct emu_req *rq, const char *route)
{
	for (size_t i = 0; i < em->n_faults; i++) {
		struct emu_fault *f = em->faults[i];

		if (f->times == 0)
			continue;
		if (f->method && strcasecmp(f->method, rq->method))
			continue;
		if (f->route && strcmp(f->route, route))
			continue;
		if (f->path && fnmatch(f->path, rq->path, 0))
			continue;
		if (f->rename_only && !is_rename(em, rq, route))
			continue;
		f->seen++;
		if (f->every > 1 && f->seen % f->every)
			continue;
		if (f->probability > 0 && f->probability < 1 &&
		    (double)(rand_u64() % 1000000) / 1e6 >= f->probability)
			continue;
		/* an apply fault is used up only when it is applied (the request succeeded) */
		if (f->times > 0 && !(f->apply && f->status))
			f->times--;
		return f;
	}
	return NULL;
}

/* Whether f is still registered (it may be cleared while the lock was released). */
/* The fault with this id, or NULL once cleared (by id: a freed fault's address may be reused). */
static struct emu_fault *fault_by_id(const struct emu *em, int id)
{
	for (size_t i = 0; i < em->n_faults; i++)
		if (em->faults[i]->id == id)
			return em->faults[i];
	return NULL;
}

/*
 * Sleeps a fault's latency with em->mu released: until the time is up, the fault is cleared
 * (every control call broadcasts em->wake) or the process stops. A request beyond
 * max_sleepers does not sleep, so sleepers never take the threads the control API needs.
 * Returns the fault if it is still registered.
 */
static struct emu_fault *latency_sleep(struct emu *em, struct emu_fault *f)
{
	int id = f->id;
	struct timespec dl;

	if (em->stopping || em->sleepers >= em->max_sleepers)
		return f;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += f->latency_ms / 1000;
	dl.tv_nsec += (long)(f->latency_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	em->sleepers++;
	while (!em->stopping && fault_by_id(em, id) &&
	       pthread_cond_timedwait(&em->wake, &em->mu, &dl) != ETIMEDOUT)
		;
	em->sleepers--;
	return fault_by_id(em, id);
}

static void fault_apply(struct emu *em, const struct emu_fault *f, struct emu_resp *rs)
{
	struct buf qt;
	const char *msg = f->message;
	const char *reason = f->reason;

	if (f->html) {
		html_error(rs, f->status ? f->status : 502, f->status == 504 ? "Gateway Timeout"
							 : "Bad Gateway");
		return;
	}
	buf_init(&qt);
	switch (f->status) {
	case 429:
		reason = reason ? reason : "rateLimitExceeded";
		msg = msg ? msg : quota_text(em, &qt);
		break;
	case 403:
		reason = reason ? reason : "userRateLimitExceeded";
		msg = msg ? msg : quota_text(em, &qt);
		break;
	case 409:
		reason = reason ? reason : "duplicate";
		msg = msg ? msg : "Entity already exists.";
		break;
	case 404:
		reason = reason ? reason : "notFound";
		msg = msg ? msg : "Resource Not Found: userKey";
		break;
	case 412:
		reason = reason ? reason : "conditionNotMet";
		msg = msg ? msg : "User creation is not complete.";
		break;
	case 500:
		reason = reason ? reason : "backendError";
		msg = msg ? msg : "Backend Error";
		break;
	case 503:
		reason = reason ? reason : "backendError";
		msg = msg ? msg : "Service unavailable. Please try again";
		break;
	default:
		reason = reason ? reason : "backendError";
		msg = msg ? msg : "Injected fault";
		break;
	}
	emu_err(rs, f->status, reason, msg);
	buf_cleanup(&qt);
}

/* ---------------------------------------------------------------- fields= names */

static int name_cmp(const void *k, const void *e)
{
	return strcmp(k, *(const char *const *)e);
}

/* First name in m that no Directory or Groups Settings resource has, or NULL. */
static const char *fmask_unknown(const struct fmask *m)
{
	for (size_t i = 0; m && i < m->n; i++) {
		const struct fmask *k = &m->kids[i];

		if (!k->name || !strcmp(k->name, "*"))
			continue;
		if (!bsearch(k->name, emu_field_names, sizeof(emu_field_names) / sizeof(emu_field_names[0]),
			     sizeof(emu_field_names[0]), name_cmp))
			return k->name;
		/* names inside customSchemas are the customer's own */
		if (strcmp(k->name, "customSchemas")) {
			const char *bad = fmask_unknown(k);

			if (bad)
				return bad;
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------- routing and auth */

static const struct emu_route *route_match(struct emu_req *rq, bool *path_known)
{
	const char *p = rq->path;

	*path_known = false;
	while (*p == '/')
		p++;
	for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++) {
		const char *pat = routes[r].pattern;
		const char *s = p;
		char *segs[EMU_MAX_SEGS];
		size_t ns = 0;
		bool ok = true;

		while (*pat && ok) {
			const char *pe = strchr(pat, '/');
			size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
			const char *se = strchr(s, '/');
			size_t sl = se ? (size_t)(se - s) : strlen(s);

			if (!*s) {
				ok = false;
				break;
			}
			if (pat[0] == '{') {
				if (sl == 0 || ns == EMU_MAX_SEGS) {
					ok = false;
					break;
				}
				segs[ns] = xstrndup(s, sl);
				pct_decode(segs[ns], false);
				ns++;
			} else if (pl != sl || strncmp(pat, s, pl)) {
				ok = false;
				break;
			}
			pat += pl;
			s += sl;
			if (*pat == '/')
				pat++;
			if (*s == '/' && *pat)
				s++;
		}
		if (ok && (*s == '\0' || (s[0] == '/' && s[1] == '\0'))) {
			*path_known = true;
			if (!strcmp(routes[r].method, rq->method)) {
				for (size_t i = 0; i < ns; i++)
					rq->seg[i] = segs[i];
				rq->n_seg = ns;
				return &routes[r];
			}
		}
		for (size_t i = 0; i < ns; i++)
			free(segs[i]);
	}
	return NULL;
}

static char *bearer(const struct emu_req *rq)
{
	if (rq->authz) {
		const char *a = rq->authz;

		while (*a == ' ')
			a++;
		if (!strncasecmp(a, "Bearer ", 7)) {
			a += 7;
			while (*a == ' ')
				a++;
			return xstrdup(a);
		}
		if (!strncasecmp(a, "OAuth ", 6))
			return xstrdup(a + 6);
		return xstrdup("");
	}
	char *t = emu_qp(rq, "access_token");

	return t ? t : emu_qp(rq, "oauth_token");
}

#define MSG_401_MISSING                                                                           \
	"Request is missing required authentication credential. Expected OAuth 2 access token, "  \
	"login cookie or other valid authentication credential. See "                              \
	"https://developers.google.com/identity/sign-in/web/devconsole-project."
#define MSG_401_INVALID                                                                           \
	"Request had invalid authentication credentials. Expected OAuth 2 access token, login "   \
	"cookie or other valid authentication credential. See "                                    \
	"https://developers.google.com/identity/sign-in/web/devconsole-project."
#define MSG_NOT_AUTHORIZED "Not Authorized to access this resource/api"

/*
 * Per-minute quota as a rolling window: a request is admitted when fewer than quotaPerMinute
 * requests of the same client and subject were admitted in the last quotaWindowMs (60 s). The ring holds the
 * times of the last quotaPerMinute admissions, so the check is O(1); a burst across a
 * calendar-minute edge is limited like any other.
 */
static bool quota_admit(struct emu *em, const struct emu_token *tok)
{
	char key[256];
	long long now = now_ms();
	int cap = em->quota_per_minute;

	snprintf(key, sizeof(key), "%s|%s", tok->client ? tok->client : "",
		 tok->subject_id ? tok->subject_id : "");
	struct emu_quota_win *qw = map_get(&em->quota, key);

	if (!qw) {
		qw = xcalloc(1, sizeof(*qw));
		map_put(&em->quota, key, qw);
	}
	if (qw->cap != cap) {
		free(qw->ts);
		qw->ts = xcalloc((size_t)cap, sizeof(*qw->ts));
		qw->cap = cap;
		qw->head = 0;
		qw->n = 0;
	}
	/* head is the oldest of the n admissions when the ring is full */
	if (qw->n == cap && now - qw->ts[qw->head] < em->quota_window_ms)
		return false;
	qw->ts[qw->head] = now;
	qw->head = (qw->head + 1) % cap;
	if (qw->n < cap)
		qw->n++;
	return true;
}

/* Returns 0 if the request may proceed; otherwise rs holds the error. */
static int authorize(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	char *t = bearer(rq);

	if (!t) {
		emu_err_esf(rs, 401, "required", MSG_401_MISSING, "Login Required.",
			    "UNAUTHENTICATED", "Authorization", "header");
		return -1;
	}
	struct emu_token *tok = map_get(&em->tokens, t);

	free(t);
	if (!tok || tok->is_refresh || tok->revoked || tok->exp_ms <= now_ms()) {
		emu_err_esf(rs, 401, "authError", MSG_401_INVALID, "Invalid Credentials",
			    "UNAUTHENTICATED", "Authorization", "header");
		return -1;
	}
	rq->tok = tok;
	if (em->sdk_disabled) {
		struct buf m;

		buf_init(&m);
		buf_addf(&m,
			 "Admin SDK API has not been used in project %s before or it is disabled. "
			 "Enable it by visiting https://console.developers.google.com/apis/api/"
			 "admin.googleapis.com/overview?project=%s then retry. If you enabled this "
			 "API recently, wait a few minutes for the action to propagate to our "
			 "systems and retry.",
			 em->project_number, em->project_number);
		err_body(rs, 403, "accessNotConfigured", m.p, NULL, "PERMISSION_DENIED", NULL, NULL,
			 "SERVICE_DISABLED");
		buf_cleanup(&m);
		return -1;
	}
	if (!(tok->scopes & rq->rt->scopes)) {
		err_body(rs, 403, "insufficientPermissions",
			 "Request had insufficient authentication scopes.", "Insufficient Permission",
			 "PERMISSION_DENIED", NULL, NULL, "ACCESS_TOKEN_SCOPE_INSUFFICIENT");
		return -1;
	}
	if (em->quota_per_minute > 0 && !quota_admit(em, tok)) {
		struct buf qt;

		buf_init(&qt);
		err_body(rs, 403, "userRateLimitExceeded", quota_text(em, &qt), NULL,
			 "PERMISSION_DENIED", NULL, NULL, "RATE_LIMIT_EXCEEDED");
		buf_cleanup(&qt);
		return -1;
	}
	if (!em->api_access) {
		emu_err(rs, 403, "domainCannotUseApis", "Domain cannot use apis.");
		return -1;
	}
	struct emu_user *u = tok->subject_id ? emu_user_by_id(em, tok->subject_id) : NULL;

	if (!u && tok->admin_role && !tok->subject_id)
		return 0;
	if (!u || u->deleted || u->suspended ||
	    (!u->is_admin && (u->privs & rq->rt->priv) != rq->rt->priv)) {
		emu_err(rs, 403, "forbidden", MSG_NOT_AUTHORIZED);
		return -1;
	}
	rq->subject = u;
	return 0;
}

static bool path_is(const char *path, const char *p)
{
	return !strcmp(path, p);
}

void emu_dispatch(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	long long t0 = now_ms();
	const char *route_name = "unknown";
	const char *path = rq->path;
	bool counted_inflight = false;

	/* a batch part reaches API routes only: the control API, OAuth and batch are a 404 */
	if (!rq->batch_part &&
	    (str_has_prefix(path, "/_emulator/") || path_is(path, "/_emulator"))) {
		pthread_mutex_lock(&em->mu);
		emu_control(em, rq, rs);
		/* a cleared fault or a reset ends latency sleeps (they re-check and go on waiting) */
		pthread_cond_broadcast(&em->wake);
		pthread_mutex_unlock(&em->mu);
		return;
	}
	pthread_mutex_lock(&em->mu);
	if (!rq->batch_part) {
		em->inflight++;
		counted_inflight = true;
		if (em->concurrency > 0 && em->inflight > em->concurrency) {
			struct buf qt;

			buf_init(&qt);
			buf_addf(&qt,
				 "Quota exceeded for quota metric 'Concurrent requests' and limit "
				 "'Concurrent requests per customer' of service 'admin.googleapis.com' "
				 "for consumer 'project_number:%s'.",
				 em->project_number);
			err_body(rs, 429, "rateLimitExceeded", qt.p, NULL, "RESOURCE_EXHAUSTED",
				 NULL, NULL, "RATE_LIMIT_EXCEEDED");
			buf_cleanup(&qt);
			route_name = "concurrency";
			goto done;
		}
	}

	enum { K_API, K_TOKEN, K_CONSENT, K_BATCH, K_NONE } kind = K_NONE;
	bool known = false;

	if (rq->batch_part) {
		if (!str_has_prefix(path, "/_emulator/") && !path_is(path, "/_emulator")) {
			rq->rt = route_match(rq, &known);
			if (rq->rt) {
				kind = K_API;
				route_name = rq->rt->name;
			}
		}
	} else if (path_is(path, "/token") || path_is(path, "/oauth2/v4/token") ||
		   path_is(path, "/o/oauth2/token") || path_is(path, "/revoke")) {
		kind = K_TOKEN;
		route_name = "oauth2.token";
	} else if (path_is(path, "/o/oauth2/v2/auth") || path_is(path, "/o/oauth2/auth")) {
		kind = K_CONSENT;
		route_name = "oauth2.auth";
	} else if (path_is(path, "/batch") || path_is(path, "/batch/admin/directory_v1") ||
		   path_is(path, "/batch/admin/directory/v1") ||
		   path_is(path, "/batch/groupssettings/v1")) {
		kind = K_BATCH;
		route_name = "batch";
	} else {
		rq->rt = route_match(rq, &known);
		if (rq->rt) {
			kind = K_API;
			route_name = rq->rt->name;
		}
	}

	struct emu_fault *f = kind != K_NONE ? fault_pick(em, rq, route_name) : NULL;

	if (f && f->latency_ms > 0)
		f = latency_sleep(em, f);
	if (f && f->status && !f->apply) {
		fault_apply(em, f, rs);
		goto done;
	}

	switch (kind) {
	case K_NONE:
		html_error(rs, 404, "Not Found");
		break;
	case K_TOKEN:
		emu_token_endpoint(em, rq, rs);
		break;
	case K_CONSENT:
		emu_consent_page(em, rq, rs);
		break;
	case K_BATCH: {
		int fid = f ? f->id : 0;

		pthread_mutex_unlock(&em->mu);
		emu_batch(em, rq, rs);
		pthread_mutex_lock(&em->mu);
		f = f ? fault_by_id(em, fid) : NULL;
		break;
	}
	case K_API: {
		if (authorize(em, rq, rs))
			break;
		char *fields = emu_qp(rq, "fields");

		if (fields && *fields) {
			bool bad;

			rq->fields = fmask_parse(fields, &bad);
			if (bad || fmask_unknown(rq->fields)) {
				struct buf m;

				buf_init(&m);
				buf_addf(&m, "Invalid field selection %s", fields);
				emu_err_esf(rs, 400, "invalidParameter", m.p, NULL, NULL, "fields",
					    "parameter");
				buf_cleanup(&m);
				free(fields);
				break;
			}
		}
		free(fields);
		rq->rt->fn(em, rq, rs);
		break;
	}
	}
	/* an "apply" fault: the write happened, yet the caller is told it failed */
	if (f && f->status && f->apply && f->times != 0 && rs->status >= 200 && rs->status < 300) {
		if (f->times > 0)
			f->times--;
		buf_reset(&rs->body);
		buf_reset(&rs->hdrs);
		fault_apply(em, f, rs);
	}
done:
	if (counted_inflight)
		em->inflight--;
	log_add(em, rq, route_name, rs->status, t0);
	count(em, route_name, rs->status);
	pthread_mutex_unlock(&em->mu);
}
