/* SPDX-License-Identifier: MIT */
/*
 * gws-emulator internals: a stateful emulator of Google's Admin SDK Directory API, Groups
 * Settings API and OAuth token endpoint. One process, one in-memory store guarded by one
 * mutex (struct emu.mu); every request handler runs with that mutex held, except batch
 * (whose parts lock one by one) and injected latency (slept unlocked).
 */
#ifndef EMU_H
#define EMU_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct evp_pkey_st;

/* ---------------------------------------------------------------- util (emu_util.c) */

/* Growable byte buffer; always NUL-terminated when len > 0. Allocation failure aborts. */
struct buf {
	char *p;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_cleanup(struct buf *b);
void buf_reset(struct buf *b);
void buf_add(struct buf *b, const char *s, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes and escapes). */
void buf_add_jstr(struct buf *b, const char *s);
/* Returns the contents (owned by caller, never NULL) and resets b. */
char *buf_steal(struct buf *b);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Frees *p and sets it to a copy of s (or NULL). */
void str_set(char **p, const char *s);
/* Lower-cases s in place and returns it. */
char *str_lower(char *s);
bool str_ieq(const char *a, const char *b);
bool str_has_prefix(const char *s, const char *prefix);

/* Field mask for the `fields=` parameter: a tree; a node with no kids selects its whole value. */
struct fmask {
	char *name;
	struct fmask *kids;
	size_t n;
	bool all;
};

/* Parses a fields expression; returns NULL and sets *bad on a syntax error. Free with fmask_free. */
struct fmask *fmask_parse(const char *s, bool *bad);
void fmask_free(struct fmask *m);

/* JSON writer with an optional field mask; masked-out keys are skipped by jw_k(). */
#define JW_MAXDEPTH 48
struct jw {
	struct buf *b;
	int depth;
	bool has[JW_MAXDEPTH];
	char typ[JW_MAXDEPTH];
	bool after_key;
	bool skip_all;
	const struct fmask *m[JW_MAXDEPTH];
	bool mall[JW_MAXDEPTH];
	const struct fmask *pending;
	bool pending_all;
};

void jw_init(struct jw *w, struct buf *b, const struct fmask *root);
void jw_obj(struct jw *w);
void jw_arr(struct jw *w);
void jw_end(struct jw *w);
/* Writes a key if the mask wants it; returns false (and writes nothing) otherwise. */
bool jw_k(struct jw *w, const char *key);
void jw_str(struct jw *w, const char *s);
void jw_bool(struct jw *w, bool v);
void jw_int(struct jw *w, long long v);
void jw_null(struct jw *w);
/* int64 encoded as a JSON string, as Google does. */
void jw_i64s(struct jw *w, long long v);
/* RFC 3339 time with milliseconds and Z from epoch milliseconds. */
void jw_time(struct jw *w, long long ms);
/* Raw JSON text (must be valid); filtered through the pending mask when there is one. */
void jw_raw(struct jw *w, const char *json);
/* A json-c value, filtered through the mask. */
void jw_json(struct jw *w, struct json_object *jo);

/* String-keyed open-addressing hash map; keys are copied, values are borrowed. */
struct map_ent {
	char *key;
	void *val;
	uint32_t hash;
};

struct map {
	struct map_ent *e;
	size_t cap;
	size_t n;
	size_t used; /* n + tombstones */
};

void map_init(struct map *m);
void map_cleanup(struct map *m);
void *map_get(const struct map *m, const char *key);
void map_put(struct map *m, const char *key, void *val);
void *map_del(struct map *m, const char *key);
/* Iteration: for (i = 0; i < m->cap; i++) if (map_live(m, i)) ... */
bool map_live(const struct map *m, size_t i);

/* Vector of owned strings. */
struct strv {
	char **v;
	size_t n;
};

void strv_add(struct strv *s, const char *str);
bool strv_del(struct strv *s, const char *str); /* case-insensitive */
bool strv_has(const struct strv *s, const char *str);
void strv_clear(struct strv *s);

long long now_ms(void);
void fmt_time(char out[32], long long ms);
/* Parses RFC 3339 (UTC) into epoch ms; returns -1 on failure. */
long long parse_time(const char *s);
void rand_bytes(void *p, size_t n);
uint64_t rand_u64(void);
/* Random token of [A-Za-z0-9-_] of length n into out (n + 1 bytes). */
void rand_token(char *out, size_t n);
uint64_t hash64(const void *p, size_t n, uint64_t seed);

size_t b64url_encode(const unsigned char *in, size_t n, char *out);
/* Decodes base64url (padding optional); returns an owned buffer or NULL. */
unsigned char *b64url_decode(const char *in, size_t n, size_t *outlen);

/* Percent-decodes in place ('+' becomes space when plus is true); %00 is left as is. */
void pct_decode(char *s, bool plus);
void buf_add_pct(struct buf *b, const char *s);
/* Returns the decoded value of name in an x-www-form-urlencoded string (owned), or NULL. */
char *form_get(const char *qs, const char *name);

/* ---------------------------------------------------------------- validation (emu_valid.c) */

enum { PW_OK = 0, PW_BAD = 1 };
/* hash_fn: NULL/"" (clear text), "MD5", "SHA-1", "crypt" (case-insensitive). */
int valid_password(const char *pw, const char *hash_fn);
/*
 * True (1) when clear is the password stored as `stored` with hash_fn (NULL/"" clear text,
 * MD5 or SHA-1 hex, crypt $1$ $5$ $6$ with or without rounds=, DES); 0 otherwise.
 */
int emu_password_check(const char *stored, const char *hash_fn, const char *clear);
/* Number of UTF-8 code points in s. */
size_t utf8_len(const char *s);
/* Given or family name: 1..60 characters, no < > =. */
bool valid_name(const char *s);
/* Local part of an address: a-z 0-9 - _ ' . ; no leading/trailing/double periods; <= 64. */
bool valid_local_part(const char *local);
/* Splits "local@domain" syntax check (lower-case expected); domain has a dot. */
bool valid_email(const char *email);
/* A DNS name: at least two labels of 1..63 letters, digits and inner hyphens; <= 253 in all. */
bool valid_domain_name(const char *d);
bool valid_ou_path(const char *path);

/* ---------------------------------------------------------------- store (emu_store.c) */

enum obj_kind { OBJ_USER = 1, OBJ_GROUP = 2 };

enum {
	PRIV_USERS = 1u << 0,
	PRIV_GROUPS = 1u << 1,
	PRIV_DOMAINS = 1u << 2,
	PRIV_CUSTOMER = 1u << 3,
	PRIV_ALL = 0xffu,
};

struct prop {
	char *key;
	char *json;
};

struct emu_user {
	int kind; /* OBJ_USER; must be first */
	char id[24];
	char *email;
	char *given;
	char *family;
	char *display;
	char *password;
	char *hash_fn;
	char *ou;
	char *recovery_email;
	char *recovery_phone;
	char *susp_reason; /* suspensionReason while suspended: ADMIN, ABUSE, ...; NULL = ADMIN */
	bool suspended, archived, change_pw, ip_whitelisted, gal, is_admin, deleted;
	bool agreed_terms;
	unsigned privs; /* delegated admin privileges (PRIV_*); 0 = none */
	long long created_ms, deleted_ms, last_login_ms;
	unsigned long long gen;
	struct strv aliases;
	struct strv nonedit;
	struct prop *extras;
	size_t n_extras;
};

enum { MT_USER = 0, MT_GROUP, MT_CUSTOMER, MT_EXTERNAL };
enum { ROLE_MEMBER = 0, ROLE_MANAGER, ROLE_OWNER };

struct emu_member {
	char *id;    /* user id, group id, customer id, or generated id for external */
	char *email; /* external members: their address; users and groups: the address they
		      * were added under when it was an alias (Google lists them so), else NULL */
	int type;
	int role;
	char *delivery;
	unsigned long long gen;
};

struct emu_group {
	int kind; /* OBJ_GROUP; must be first */
	char id[24];
	char *email;
	char *name;
	char *description;
	bool admin_created;
	long long created_ms;
	unsigned long long gen;
	struct strv aliases;
	struct strv nonedit;
	struct emu_member **mem;
	size_t n_mem, cap_mem;
	struct map mem_idx; /* member id -> struct emu_member */
	struct json_object *settings; /* Groups Settings overrides, or NULL */
};

struct emu_domain {
	char *name;
	bool verified;
	bool primary;
	long long created_ms;
};

struct emu_sa {
	char *email;
	char *client_id;
	char *key_id;
	char *project_id;
	struct evp_pkey_st *pub;
	struct strv scopes; /* delegated scopes; empty = any */
	bool admin_role;    /* may call without sub */
};

struct emu_client {
	char *id;
	char *secret;
	struct strv redirect_uris;
};

struct emu_token {
	char *token;
	char *subject_id; /* user id or NULL */
	char *client;     /* service account email or oauth client id */
	char *scope;      /* space separated */
	unsigned scopes;  /* SC_* bits */
	long long exp_ms;
	bool is_refresh;
	bool revoked;
	bool admin_role;
};

struct emu_code {
	char *code;
	char *client_id;
	char *redirect_uri;
	char *challenge;
	char *method;
	char *subject_id;
	char *scope;
	long long exp_ms;
	bool used;
};

struct emu_fault {
	int id;
	char *method; /* HTTP method, or NULL = any */
	char *path;   /* fnmatch pattern on the path, or NULL */
	char *route;  /* route name (e.g. directory.users.insert), or NULL */
	int status;
	char *reason;
	char *message;
	bool html;
	double probability;
	int every;
	int times; /* remaining, -1 = unlimited */
	int latency_ms;
	bool apply;       /* run the request, then answer with the fault when it succeeded */
	bool rename_only; /* fires only for a users/groups write that changes the address */
	long long seen;
};

struct emu_logent {
	unsigned long long seq;
	long long ts_ms;
	char *method;
	char *path;
	char *query;
	char *body;
	char *route;
	int status;
	int dur_ms;
	bool batch_part;
};

/* Rolling one-minute window: the times of the last `cap` admitted requests (a ring). */
struct emu_quota_win {
	long long *ts;
	int cap;
	int head;
	int n;
};

struct emu_sorted {
	struct emu_user **v;
	size_t n;
	unsigned long long gen;
};

enum { ORD_EMAIL = 0, ORD_GIVEN, ORD_FAMILY, ORD_N };

#define EMU_LOG_MAX 20000

/* Bounds of a fault's latencyMs (POST _emulator/faults answers 400 outside). */
#define EMU_LATENCY_MAX_MS 120000
/* Worker threads kept free of latency sleepers, so the control API and health answer. */
#define EMU_THREADS_RESERVE 4

struct emu {
	pthread_mutex_t mu;
	/* Latency sleepers wait here (monotonic clock): every control call and shutdown broadcast,
	 * so a cleared fault or SIGTERM ends the sleep at once. */
	pthread_cond_t wake;
	bool stopping;    /* SIGTERM: no request sleeps any more */
	int sleepers;     /* requests sleeping a fault's latency now */
	int max_sleepers; /* worker threads minus the reserve; beyond it latency is skipped */
	char nonce[17]; /* per boot: page tokens and etags differ across restarts */
	char page_key[33]; /* per boot, secret: the HMAC key of page tokens */
	char base_url[256]; /* the URL clients see (--base-url), else the local one */
	char customer_id[16];
	long long customer_created_ms;
	char *customer_language;
	struct emu_domain *domains;
	size_t n_domains;
	struct strv ous;
	struct map users;    /* id -> user (live and deleted) */
	struct map groups;   /* id -> group */
	struct map emails;   /* lower-case address -> user or group (primaries and aliases) */
	unsigned long long gen;      /* global write generation */
	unsigned long long users_gen; /* bumps when the sorted user view changes */
	unsigned long long groups_gen;
	struct emu_sorted usort[ORD_N];
	struct emu_group **gsort;
	size_t n_gsort;
	unsigned long long gsort_gen;
	struct emu_user **deleted;
	size_t n_deleted;
	/* auth */
	struct emu_sa **sas;
	size_t n_sas;
	struct emu_client **clients;
	size_t n_clients;
	struct map tokens; /* access and refresh tokens */
	struct map codes;
	/* config */
	char *project_number;
	bool sdk_disabled;
	bool api_access; /* edition with API access */
	int create_412_ms;
	int delete_status; /* 204 (default) or 200 */
	char *consent;     /* allow | access_denied | admin_policy_enforced */
	char *consent_user;
	char default_domain[256]; /* --domain: what a reset without a domain goes back to */
	char admin_id[24]; /* the super admin made by a reset (GET _emulator/info adminEmail) */
	int token_ttl_s;
	int refresh_ttl_s;
	int code_ttl_s;
	int jwt_skew_s;
	int deleted_retention_s; /* how long a deleted user stays restorable */
	int new_user_404_ms;     /* users.get answers 404 this long after users.insert */
	int new_group_404_ms;    /* calls on a group answer 404 this long after groups.insert */
	bool member_status;      /* members carry status (not CUSTOMER entries) */
	bool member_alias_email; /* members are listed under the address they were added with */
	bool roles_filter;       /* members.list honours roles= (false: every role comes back) */
	/* faults and quota */
	struct emu_fault **faults;
	size_t n_faults;
	int next_fault_id;
	int quota_per_minute; /* 0 = off */
	int quota_window_ms;  /* the rolling window (60000; shorter in tests) */
	int concurrency;      /* 0 = off */
	int inflight;
	struct map quota;     /* key -> struct emu_quota_win */
	/* request log and counters */
	struct emu_logent *log;
	size_t log_head, log_n;
	unsigned long long log_seq;
	struct map counters; /* route name -> (long long *) */
	bool quiet;
};

/* Scopes (bits in emu_token.scopes). */
enum {
	SC_USER = 1u << 0,
	SC_USER_RO = 1u << 1,
	SC_ALIAS = 1u << 2,
	SC_ALIAS_RO = 1u << 3,
	SC_GROUP = 1u << 4,
	SC_GROUP_RO = 1u << 5,
	SC_MEMBER = 1u << 6,
	SC_MEMBER_RO = 1u << 7,
	SC_DOMAIN = 1u << 8,
	SC_DOMAIN_RO = 1u << 9,
	SC_CUSTOMER = 1u << 10,
	SC_CUSTOMER_RO = 1u << 11,
	SC_GSETTINGS = 1u << 12,
	SC_CLOUD = 1u << 13,
	SC_ORGUNIT = 1u << 14,
	SC_ORGUNIT_RO = 1u << 15,
	SC_USER_SECURITY = 1u << 16,
};

/* Returns the SC_* bit of a full scope URL, or 0 when unknown. */
unsigned scope_bit(const char *scope);
/* Parses a space separated list; *unknown is set if a scope is not a Google scope we know. */
unsigned scopes_parse(const char *list, bool *unknown);

void emu_init(struct emu *em, const char *domain);
void emu_cleanup(struct emu *em);
/* Back to the default state (one customer, primary domain, super admin). */
void emu_reset(struct emu *em, const char *domain);
const char *emu_primary_domain(const struct emu *em);
struct emu_domain *emu_domain_find(struct emu *em, const char *name);
struct emu_domain *emu_domain_add(struct emu *em, const char *name, bool verified);
bool emu_ou_exists(const struct emu *em, const char *path);

/* Resolves a user/group key (email, alias or id); live objects only. */
struct emu_user *emu_user_find(struct emu *em, const char *key);
struct emu_group *emu_group_find(struct emu *em, const char *key);
struct emu_user *emu_user_by_id(struct emu *em, const char *id);

/* Allocates and indexes a user (email must be free); the store owns it. */
struct emu_user *emu_user_new(struct emu *em, const char *email, const char *given,
			      const char *family);
void emu_user_touch(struct emu *em, struct emu_user *u);
/* Soft delete: frees its addresses and memberships; keeps it for undelete. */
void emu_user_delete(struct emu *em, struct emu_user *u);
/* Drops deleted users older than deleted_retention_s for good. */
void emu_deleted_purge(struct emu *em);
void emu_user_undelete(struct emu *em, struct emu_user *u);
void emu_user_rename(struct emu *em, struct emu_user *u, const char *email);
void emu_user_alias_add(struct emu *em, struct emu_user *u, const char *alias);
void emu_user_alias_del(struct emu *em, struct emu_user *u, const char *alias);
const char *emu_user_extra(const struct emu_user *u, const char *key);
void emu_user_extra_set(struct emu_user *u, const char *key, const char *json); /* NULL clears */

struct emu_group *emu_group_new(struct emu *em, const char *email);
void emu_group_touch(struct emu *em, struct emu_group *g);
void emu_group_delete(struct emu *em, struct emu_group *g);
void emu_group_alias_add(struct emu *em, struct emu_group *g, const char *alias);
void emu_group_alias_del(struct emu *em, struct emu_group *g, const char *alias);
struct emu_member *emu_member_find(struct emu_group *g, const char *id);
struct emu_member *emu_member_add(struct emu *em, struct emu_group *g, const char *id,
				  const char *email, int type, int role);
void emu_member_del(struct emu *em, struct emu_group *g, struct emu_member *m);
/* Email shown for a member (resolved through the store); borrowed. */
const char *emu_member_email(struct emu *em, const struct emu_member *m);
/* True if group `inner` is (transitively) a member of group `outer`, or equal. */
bool emu_group_contains_group(struct emu *em, struct emu_group *outer, struct emu_group *inner);
bool emu_group_has_member(struct emu *em, struct emu_group *g, const char *id, int depth);

/* Sorted view of live users (cached until the next change); borrowed. */
struct emu_sorted *emu_users_sorted(struct emu *em, int ord);
int emu_user_cmp(const struct emu_user *a, const struct emu_user *b, int ord);
struct emu_group **emu_groups_sorted(struct emu *em, size_t *n);

/* Etag text (with the literal quotes) for an object generation. */
void emu_etag(const struct emu *em, const char *id, unsigned long long gen, char out[64]);

/* Renders resources. projection: 0 basic, 1 custom, 2 full. */
void emu_user_render(struct emu *em, struct jw *w, const struct emu_user *u, int projection,
		     const char *custom_mask);
void emu_group_render(struct emu *em, struct jw *w, const struct emu_group *g);
void emu_member_render(struct emu *em, struct jw *w, const struct emu_group *g,
		       const struct emu_member *m);
const char *emu_role_name(int role);
const char *emu_mtype_name(int type);

/* Seeds n users (+ groups with members); returns the number of users created. */
long emu_seed(struct emu *em, long n_users, long n_groups, long members_per_group,
	      int aliases_every, const char *domain);

/* State file: load (merging into the current state). Errors into err. */
int emu_state_load(struct emu *em, struct json_object *jo, char *err, size_t errlen);

/* ---------------------------------------------------------------- auth (emu_oauth.c) */

/* Registers a service account from Google's JSON key format (private or public key). */
int emu_sa_register(struct emu *em, struct json_object *jo, char *err, size_t errlen);
void emu_sa_free(struct emu_sa *sa);
void emu_token_free(struct emu_token *t);
void emu_code_free(struct emu_code *c);
void emu_client_free(struct emu_client *c);
/* Mints an access token (registered in em->tokens); returns it (borrowed). */
struct emu_token *emu_token_mint(struct emu *em, const char *subject_id, const char *client,
				 const char *scope, bool refresh, int ttl_s);
/* Writes a new service account key file (Google's format). Returns 0 on success. */
int emu_keygen(const char *path, const char *email, const char *project, char *err,
	       size_t errlen);

/* ---------------------------------------------------------------- HTTP layer (emu_api.c) */

#define EMU_MAX_SEGS 8

struct emu_route;

struct emu_req {
	const char *method;
	char *path;  /* owned: path without query, not decoded */
	char *query; /* owned: raw query string or NULL */
	const char *body;
	size_t body_len;
	char *authz; /* owned or NULL */
	char *ctype; /* owned or NULL */
	bool batch_part;
	/* set by the router */
	const struct emu_route *rt;
	char *seg[EMU_MAX_SEGS]; /* decoded path parameters (owned) */
	size_t n_seg;
	struct emu_token *tok;
	struct emu_user *subject;
	struct fmask *fields;
};

struct emu_resp {
	int status;
	struct buf body;
	char ctype[96];
	struct buf hdrs; /* extra header lines, each ending in \r\n */
};

typedef void (*emu_handler_fn)(struct emu *em, struct emu_req *rq, struct emu_resp *rs);

enum { API_NONE = 0, API_DIRECTORY, API_GSETTINGS };

struct emu_route {
	const char *method;
	const char *pattern; /* segments; "{x}" is a parameter */
	const char *name;    /* discovery method id */
	emu_handler_fn fn;
	int api;
	unsigned scopes; /* any of these */
	unsigned priv;   /* PRIV_* needed by a delegated admin */
};

void emu_resp_init(struct emu_resp *rs);
void emu_resp_cleanup(struct emu_resp *rs);
void emu_req_cleanup(struct emu_req *rq);

/* Google's classic error body {"error":{"code","message","errors":[{...}]}}. */
void emu_err(struct emu_resp *rs, int status, const char *reason, const char *msg);
/* The ESF form, with "status" (and location, when given). */
void emu_err_esf(struct emu_resp *rs, int status, const char *reason, const char *msg,
		 const char *errmsg, const char *rpc_status, const char *location,
		 const char *location_type);
void emu_json_begin(struct emu_resp *rs, int status);
void emu_no_content(struct emu *em, struct emu_resp *rs);

/* Query parameter (decoded, owned) or NULL. */
char *emu_qp(const struct emu_req *rq, const char *name);
/* Parses the body as a JSON object; on failure writes Google's parse error and returns NULL. */
struct json_object *emu_body_json(struct emu_req *rq, struct emu_resp *rs);

/* Routes one request (locks em->mu as needed). Used by HTTP and batch. */
void emu_dispatch(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
const struct emu_route *emu_routes(size_t *n);
void emu_log_free(struct emu *em);
void emu_fault_free(struct emu_fault *f);

/* Handlers. */
void h_users_insert(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_users_get(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_users_list(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_users_update(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_users_patch(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_users_delete(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_users_undelete(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_users_make_admin(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_aliases_insert(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_aliases_list(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_aliases_delete(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_groups_insert(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_groups_get(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_groups_list(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_groups_update(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_groups_patch(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_groups_delete(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_galiases_insert(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_galiases_list(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_galiases_delete(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_members_insert(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_members_get(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_members_list(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_members_update(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_members_patch(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_members_delete(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_members_has(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_domains_list(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_domains_get(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_customers_get(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_gsettings_get(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_gsettings_update(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void h_gsettings_patch(struct emu *em, struct emu_req *rq, struct emu_resp *rs);

/* Non-API endpoints. */
void emu_token_endpoint(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void emu_consent_page(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void emu_batch(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
void emu_control(struct emu *em, struct emu_req *rq, struct emu_resp *rs);

/* Paging helpers (emu_api.c): tokens are opaque, bound to the boot nonce and the query. */
char *emu_page_token(const struct emu *em, const char *scope, const char *key);
/* Returns the key (owned) or NULL if the token is invalid. */
char *emu_page_token_parse(const struct emu *em, const char *scope, const char *tok);

#endif /* EMU_H */
