/*
 * export_users and full_sync: read the scope and what Google holds, plan (plan_users), guard,
 * store the plan, then apply it (apply_users). See runner_export.h.
 */
#include "runner_export.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <strings.h>
#include <time.h>

#include "apply_users.h"
#include "crypto.h"
#include "google_batch.h"
#include "google_groups.h"
#include "google_users.h"
#include "log.h"
#include "plan_shared.h"
#include "plan_users.h"
#include "store_authorization.h"
#include "store_export.h"
#include "store_integrations.h"

#define GUARD_WINDOW_S 3600
#define GUARD_MIN_LINKED 50
#define READ_BATCH 500

/* ------------------------------------------------------------------ the scope, copied */

static void user_free(struct export_user *x)
{
	struct plan_user *u = &x->pu;
	free(x->strings); /* every string of the row but the hash (scope_add) */
	if (x->hash) {
		crypto_wipe(x->hash, strlen(x->hash));
		free(x->hash);
	}
	free(x->hash_function);
	if (u->field_hashes)
		json_object_put(u->field_hashes);
	if (u->g)
		json_object_put(u->g);
	for (int i = 0; i < 2; i++)
		if (u->m[i])
			json_object_put(u->m[i]);
	memset(x, 0, sizeof(*x));
}

void export_scope_free(struct export_scope *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		user_free(&sc->users[i]);
	free(sc->users);
	memset(sc, 0, sizeof(*sc));
}

/* A free slot at the end of sc (zeroed), or NULL when out of memory. */
static struct export_user *scope_push(struct export_scope *sc)
{
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 256;
		struct export_user *nu = realloc(sc->users, cap * sizeof(*nu));
		if (!nu)
			return NULL;
		sc->users = nu;
		sc->cap = cap;
	}
	struct export_user *x = &sc->users[sc->n++];
	memset(x, 0, sizeof(*x));
	return x;
}

/* Copies one row of the scope walk into sc; parse_hashes: the planner compares with them. */
static int scope_add(struct export_scope *sc, const struct store_export_row *r, bool parse_hashes,
		     struct err *e)
{
	struct export_user *x = scope_push(sc);
	if (!x)
		return err_set(e, E_NOMEM, "scope");
	struct plan_user *u = &x->pu;
	/* One allocation for the row's strings (a chunk is copied and dropped per 500 users). */
	const char *src[] = {r->user_id,
			     r->email,
			     r->first_name,
			     r->last_name,
			     r->state,
			     r->alternate_email,
			     r->cost_center,
			     r->department,
			     r->employee_type,
			     r->job_title,
			     r->employee_id,
			     r->addresses_json[0] ? r->addresses_json : "[]",
			     r->phones_json[0] ? r->phones_json : "[]",
			     r->google_id,
			     r->link_status,
			     r->link_primary_email,
			     r->password_digest,
			     r->link_origin,
			     r->field_hashes_json[0] ? r->field_hashes_json : "{}",
			     r->manager_primary_email,
			     ""}; /* the password digest, written below */
	const char **dst[] = {&u->user_id,
			      &u->email,
			      &u->first_name,
			      &u->last_name,
			      &u->state,
			      &u->alternate_email,
			      &u->cost_center,
			      &u->department,
			      &u->employee_type,
			      &u->job_title,
			      &u->employee_id,
			      &u->addresses_json,
			      &u->phones_json,
			      &u->google_id,
			      &u->link_status,
			      &u->link_primary_email,
			      &u->link_password_digest,
			      (const char **)&x->link_origin,
			      (const char **)&x->field_hashes_text,
			      &u->manager_email,
			      &u->password_digest};
	enum { NS = sizeof(src) / sizeof(src[0]), DIGEST_LEN = 64 };
	size_t len[NS], total = DIGEST_LEN;
	for (size_t i = 0; i < NS; i++)
		total += (len[i] = strlen(src[i] ? src[i] : "")) + 1;
	char *p = x->strings = malloc(total);
	if (!p)
		return err_set(e, E_NOMEM, "scope");
	for (size_t i = 0; i < NS; i++) {
		memcpy(p, src[i] ? src[i] : "", len[i] + 1);
		*dst[i] = p;
		p += len[i] + 1;
	}
	/* The manager's linked primaryEmail (the store resolves it: the whole scope is never held). */
	if (!r->manager_primary_email[0])
		u->manager_email = NULL;
	bool ok = true;
	char digest[65] = "";
	if (ok && r->password_hash[0]) {
		x->hash = strdup(r->password_hash);
		x->hash_function = strdup(r->password_hash_function);
		ok = x->hash && x->hash_function;
		/* The digest names the hash without being it: function and hash, hashed. */
		size_t l = strlen(r->password_hash) + strlen(r->password_hash_function) + 2;
		char *buf = ok ? malloc(l) : NULL;
		if (buf) {
			snprintf(buf, l, "%s:%s", r->password_hash_function, r->password_hash);
			ok = crypto_sha256_hex(buf, l - 1, digest) == 0;
			crypto_wipe(buf, l);
			free(buf);
		} else {
			ok = false;
		}
	}
	memcpy((char *)(uintptr_t)u->password_digest, digest, strlen(digest) + 1); /* room: 64 */
	u->exists = r->exists;
	u->in_scope = r->in_scope;
	u->version = r->version;
	u->locked = r->locked;
	u->password_expired = r->password_expired;
	u->has_manager = r->manager_id[0] != 0;
	if (ok && parse_hashes && r->field_hashes_json[0])
		u->field_hashes = json_tokener_parse(r->field_hashes_json);
	return ok ? E_OK : err_set(e, E_NOMEM, "scope"); /* counted even when incomplete: freed */
}

static long long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void lower_ascii(char *s)
{
	for (; *s; s++)
		*s = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
}

/* ------------------------------------------------------------------ what Google holds */

/*
 * A Google user of the listing, kept as its JSON text (a json-c tree costs ten times as much):
 * parsed again only while its directory user is planned. id points into the same allocation.
 */
struct grec {
	const char *id;
	char text[];
};

struct gentry {
	const char *key; /* lower-case address or id (in the record or the index's arena) */
	const struct grec *rec;
};

/*
 * Records and lower-cased keys live until the scope is planned: carved from large blocks, so
 * 100,000 users are a few dozen allocations (not 300,000 small ones between the listing's
 * short-lived trees) and free at once.
 */
struct gblock {
	struct gblock *next;
	size_t used, cap;
	max_align_t data[];
};

#define GBLOCK_BYTES ((size_t)1 << 20)

struct gindex {
	struct gentry *v;
	size_t n, cap;
	uint32_t *slot; /* open addressing over v by key (index + 1; 0 empty), built once listed */
	size_t mask;
	struct gblock *blocks; /* newest first */
	struct plan_keyset wanted; /* keys (ids, lower-case addresses) the scope may match */
};

static void *gindex_alloc(struct gindex *gi, size_t n)
{
	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	struct gblock *b = gi->blocks;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > GBLOCK_BYTES ? n : GBLOCK_BYTES;
		if (!(b = malloc(sizeof(*b) + cap)))
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = gi->blocks;
		gi->blocks = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

static int gindex_add(struct gindex *gi, const char *key, bool copy_lower, const struct grec *rec)
{
	if (!key || !key[0])
		return 0;
	if (gi->n == gi->cap) {
		size_t cap = gi->cap ? gi->cap * 2 : 1024;
		void *nv = realloc(gi->v, cap * sizeof(*gi->v));
		if (!nv)
			return -1;
		gi->v = nv;
		gi->cap = cap;
	}
	if (copy_lower) {
		size_t l = strlen(key) + 1;
		char *k = gindex_alloc(gi, l);
		if (!k)
			return -1;
		memcpy(k, key, l);
		lower_ascii(k);
		key = k;
	}
	gi->v[gi->n].key = key;
	gi->v[gi->n].rec = rec;
	gi->n++;
	return 0;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool wanted_key(const struct gindex *gi, const char *key)
{
	if (!key || !key[0])
		return false;
	char lk[320];
	size_t n = strlen(key);
	if (n >= sizeof(lk)) /* longer than any address: no key */
		return false;
	memcpy(lk, key, n + 1);
	lower_ascii(lk);
	return plan_keyset_has(&gi->wanted, lk);
}

/* Whether the scope can match this Google user (by id, primary address or alias). */
static bool gindex_wants(const struct gindex *gi, struct json_object *user)
{
	if (wanted_key(gi, jstr(user, "id")) || wanted_key(gi, jstr(user, "primaryEmail")))
		return true;
	const char *keys[] = {"aliases", "nonEditableAliases"};
	for (int k = 0; k < 2; k++) {
		struct json_object *arr;
		if (!json_object_object_get_ex(user, keys[k], &arr) ||
		    !json_object_is_type(arr, json_type_array))
			continue;
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			if (wanted_key(gi, json_object_get_string(json_object_array_get_idx(arr, i))))
				return true;
	}
	return false;
}

static struct grec *grec_new(struct gindex *gi, struct json_object *user)
{
	size_t lt;
	const char *text = json_object_to_json_string_length(user, JSON_C_TO_STRING_PLAIN, &lt);
	const char *id = jstr(user, "id");
	size_t li = strlen(id ? id : "") + 1;
	lt++;
	struct grec *r = text ? gindex_alloc(gi, sizeof(*r) + lt + li) : NULL;
	if (!r)
		return NULL;
	memcpy(r->text, text, lt);
	memcpy(r->text + lt, id ? id : "", li);
	r->id = r->text + lt;
	return r;
}

/* Keeps a Google user: its record and an entry per key (id, primary address, aliases). */
static int gindex_keep(struct gindex *gi, struct json_object *user, struct err *e)
{
	struct grec *rec = grec_new(gi, user);
	if (!rec)
		return err_set(e, E_NOMEM, "google index");
	int rc = gindex_add(gi, rec->id, false, rec) ||
		 gindex_add(gi, jstr(user, "primaryEmail"), true, rec);
	const char *keys[] = {"aliases", "nonEditableAliases"};
	for (int k = 0; k < 2 && !rc; k++) {
		struct json_object *arr;
		if (!json_object_object_get_ex(user, keys[k], &arr) ||
		    !json_object_is_type(arr, json_type_array))
			continue;
		for (size_t i = 0; i < json_object_array_length(arr) && !rc; i++)
			rc = gindex_add(gi, json_object_get_string(json_object_array_get_idx(arr, i)),
					true, rec);
	}
	return rc ? err_set(e, E_NOMEM, "google index") : E_OK;
}

/* Google users the scope cannot match are not kept: memory follows the scope. */
static int gindex_user(struct gindex *gi, struct json_object *user, struct err *e)
{
	return gindex_wants(gi, user) ? gindex_keep(gi, user, e) : E_OK;
}

/*
 * Drops the entries of records kept before the scope's keys were known that have no key the
 * scope may match (their records stay in the blocks, a bounded waste). A record's entries are
 * adjacent (gindex_keep).
 */
static void gindex_prune(struct gindex *gi)
{
	size_t o = 0;
	for (size_t i = 0, k; i < gi->n; i = k) {
		bool want = false;
		for (k = i; k < gi->n && gi->v[k].rec == gi->v[i].rec; k++)
			want = want || wanted_key(gi, gi->v[k].key);
		if (want) {
			memmove(&gi->v[o], &gi->v[i], (k - i) * sizeof(*gi->v));
			o += k - i;
		}
	}
	gi->n = o;
}

static uint64_t key_hash(const char *k)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ull;
	return h;
}

/* The lookup table over every key listed (a key listed twice finds its first record). */
static int gindex_seal(struct gindex *gi)
{
	size_t size = 1024;
	while (size < 2 * gi->n)
		size *= 2;
	if (gi->n >= UINT32_MAX || !(gi->slot = calloc(size, sizeof(*gi->slot))))
		return -1;
	gi->mask = size - 1;
	for (size_t i = 0; i < gi->n; i++) {
		size_t h = (size_t)key_hash(gi->v[i].key) & gi->mask;
		bool dup = false;
		for (; gi->slot[h] && !dup; h = (h + 1) & gi->mask)
			dup = !strcmp(gi->v[gi->slot[h] - 1].key, gi->v[i].key);
		if (!dup)
			gi->slot[h] = (uint32_t)i + 1;
	}
	return 0;
}

static const struct grec *gindex_find(const struct gindex *gi, const char *key)
{
	if (!gi->slot || !key[0])
		return NULL;
	char lk[320];
	snprintf(lk, sizeof(lk), "%s", key);
	lower_ascii(lk);
	for (size_t h = (size_t)key_hash(lk) & gi->mask; gi->slot[h]; h = (h + 1) & gi->mask)
		if (!strcmp(gi->v[gi->slot[h] - 1].key, lk))
			return gi->v[gi->slot[h] - 1].rec;
	return NULL;
}

static void gindex_free(struct gindex *gi)
{
	while (gi->blocks) {
		struct gblock *b = gi->blocks;
		gi->blocks = b->next;
		free(b);
	}
	plan_keyset_free(&gi->wanted);
	free(gi->v);
	free(gi->slot);
	memset(gi, 0, sizeof(*gi));
}

/* Classifies a users.get answer: found (resource), 404, 412 "User is deleted.", or an error. */
static enum plan_gstate get_state(int code, int status, const struct err *pe)
{
	if (code == E_OK)
		return PLAN_G_FOUND;
	if (status == 404)
		return PLAN_G_NOT_FOUND;
	if (status == 412 && strstr(pe->msg, "deleted"))
		return PLAN_G_DELETED;
	return PLAN_G_UNKNOWN;
}

struct read_req {
	struct export_user *x;
	int slot; /* -1: the link's id, 0/1: the original / rewritten address */
	char path[1024];
};

/*
 * Reads by key through the batch endpoint: linked ids, or addresses of unlinked users. A part
 * that fails for another reason leaves the state unknown (the user then waits for a later run).
 */
static int read_users(struct google_client *gc, struct read_req *rq, size_t n, struct err *e)
{
	for (size_t off = 0; off < n; off += READ_BATCH) {
		size_t m = n - off < READ_BATCH ? n - off : READ_BATCH;
		struct google_batch_item *items = calloc(m, sizeof(*items));
		if (!items)
			return err_set(e, E_NOMEM, "batch");
		for (size_t i = 0; i < m; i++) {
			items[i].method = "GET";
			items[i].path = rq[off + i].path;
		}
		int rc = google_batch(gc, items, m, e);
		for (size_t i = 0; !rc && i < m; i++) {
			struct read_req *r = &rq[off + i];
			struct google_batch_item *it = &items[i];
			enum plan_gstate st = get_state(it->e.code, it->status, &it->e);
			struct json_object *jo = NULL;
			if (st == PLAN_G_FOUND) {
				jo = it->resp_body ? json_tokener_parse(it->resp_body) : NULL;
				if (!jo)
					st = PLAN_G_UNKNOWN;
			}
			if (r->slot < 0) {
				r->x->pu.g_state = st;
				r->x->pu.g = jo;
			} else {
				r->x->pu.m_state[r->slot] = st;
				r->x->pu.m[r->slot] = jo;
			}
		}
		google_batch_items_cleanup(items, m);
		free(items);
		if (rc)
			return rc;
	}
	return E_OK;
}

/*
 * Addresses held by Google groups: a users.get never sees a group, so each entry that would take
 * an address (a create, a rename: plan_entry_claims_address) looks it up by groups.get (Google
 * answers for a group's email or alias; 404: free), batched like the user reads, before the plan
 * is counted and stored (a dry run shows it too). A hit makes the entry a conflict,
 * address_in_use; any other answer leaves it as planned (a 409 on the write records the same).
 * Unchanged and updated users get no lookup, nor do a targeted run's context users (users[]:
 * the plan's inputs; they are never applied).
 */
static bool claims_address(const struct plan_user *users, const struct plan_entry *en)
{
	return !users[en->user].context && plan_entry_claims_address(en);
}

static int groups_hold(struct google_client *gc, const struct plan_user *users, struct plan *p,
		       struct err *e)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		n += claims_address(users, &p->entries[i]);
	if (!n)
		return E_OK;
	struct plan_entry **en = calloc(n, sizeof(*en));
	char(*path)[1024] = calloc(n, sizeof(*path));
	struct google_batch_item *items = calloc(n < READ_BATCH ? n : READ_BATCH, sizeof(*items));
	int rc = en && path && items ? E_OK : err_set(e, E_NOMEM, "group lookups");
	size_t k = 0;
	for (size_t i = 0; !rc && i < p->n; i++)
		if (claims_address(users, &p->entries[i]) &&
		    !google_group_path(p->entries[i].primary_email, "?fields=id", path[k],
				       sizeof(path[k])))
			en[k++] = &p->entries[i];
	for (size_t off = 0; !rc && off < k; off += READ_BATCH) {
		size_t m = k - off < READ_BATCH ? k - off : READ_BATCH;
		for (size_t i = 0; i < m; i++)
			items[i] = (struct google_batch_item){.method = "GET", .path = path[off + i]};
		rc = google_batch(gc, items, m, e);
		for (size_t i = 0; !rc && i < m; i++)
			if (items[i].e.code == E_OK && plan_entry_group_holds(en[off + i]))
				rc = err_set(e, E_NOMEM, "plan");
		google_batch_items_cleanup(items, m);
	}
	free(items);
	free(path);
	free(en);
	return rc;
}

static int add_read(struct read_req **rq, size_t *n, size_t *cap, struct export_user *x, int slot,
		    const char *key, const char *extra, struct err *e)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct read_req *nr = realloc(*rq, c * sizeof(*nr));
		if (!nr)
			return err_set(e, E_NOMEM, "reads");
		*rq = nr;
		*cap = c;
	}
	struct read_req *r = &(*rq)[*n];
	r->x = x;
	r->slot = slot;
	char q[512];
	snprintf(q, sizeof(q), "?fields=%s%s", GOOGLE_USER_FIELDS, extra);
	if (google_user_path(key, q, r->path, sizeof(r->path)))
		return E_OK; /* a key too long for a path cannot exist in Google */
	(*n)++;
	return E_OK;
}

/*
 * The keys a user of a full reconcile may match in Google: a linked user its Google id (and its
 * wanted address, to see whether a rename would land on someone else's); an unlinked one its
 * email and the rewritten address.
 */
static int wanted_row(void *ctx, const struct store_export_row *r, struct err *e)
{
	struct gindex *gi = ((void **)ctx)[0];
	const struct plan_settings *ps = ((void **)ctx)[1];
	const struct store_job_done *done = ((void **)ctx)[2];
	char rewritten[320], key[320], mk[2][320];
	const char *why, *k1 = NULL, *k2 = NULL;
	if (store_job_done_has(done, r->user_id))
		return E_OK;
	if (r->google_id[0] && strcmp(r->link_status, "released")) {
		k1 = r->google_id;
		if (r->exists && r->in_scope &&
		    plan_primary_email(ps, r->email, rewritten, sizeof(rewritten), &why) &&
		    strcasecmp(rewritten, r->link_primary_email))
			k2 = rewritten;
	} else if (r->exists && r->in_scope) {
		int nk = plan_match_keys(ps, r->email, mk);
		k1 = nk > 0 ? mk[0] : NULL;
		k2 = nk > 1 ? mk[1] : NULL;
	}
	const char *ks[] = {k1, k2};
	for (int k = 0; k < 2; k++) {
		if (!ks[k] || !ks[k][0])
			continue;
		snprintf(key, sizeof(key), "%s", ks[k]);
		lower_ascii(key);
		if (plan_keyset_add(&gi->wanted, key))
			return err_set(e, E_NOMEM, "google index");
	}
	return E_OK;
}

/* Full reconcile, before the scope is planned: the keys the scope may match (a light walk). */
static int gindex_keys(struct sync_job *j, const struct plan_settings *ps,
		       const struct store_job_done *done, struct gindex *gi, struct err *e)
{
	void *ctx[] = {gi, (void *)(uintptr_t)ps, (void *)(uintptr_t)done};
	int rc = store_export_scope_keys(j->st, j->job->tenant_id, j->job->integration_id,
					 wanted_row, ctx, e);
	if (!rc && ps->admin_email && plan_keyset_add(&gi->wanted, ps->admin_email))
		rc = err_set(e, E_NOMEM, "google index");
	if (!rc && plan_keyset_seal(&gi->wanted))
		rc = err_set(e, E_NOMEM, "google index");
	return rc;
}

/*
 * The listing of a full reconcile, on a thread of its own from the run's start: it pages Google
 * while the job thread reads the scope's keys (gindex_keys) and PostgreSQL prepares the scope's
 * rows, and is joined before the first row is planned (walk_first). Until the keys are sealed it
 * keeps every Google user, at most LIST_PENDING_MAX of them, then waits; once they are, it drops
 * the ones the scope cannot match and filters the rest as they come. The thread owns gc, gi's
 * records and entries until joined; the job thread owns gi->wanted until it sets keys (under mu).
 */
#define LIST_PENDING_MAX 20000 /* ~6 MB of records the scope may not match */

struct lister {
	struct google_client *gc;
	struct gindex *gi;
	unsigned export_mask;
	const char *admin_email;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int keys;	    /* 0: being read, 1: sealed, -1: the run stops (under mu) */
	atomic_bool cancel; /* the run stops: the listing ends at the next user */
	size_t pending;	    /* users kept unfiltered (keys 0) */
	bool filtered;	    /* the keys were seen: pending users pruned */
	pthread_t thread;
	bool started, joined;
	/* results, read after the join */
	int rc;
	struct err e;
	bool delegated_admin;
	long long list_ms;
};

/* Waits until the keys are known or no more users may be kept unfiltered; the keys' state. */
static int lister_keys(struct lister *ls, bool may_keep)
{
	pthread_mutex_lock(&ls->mu);
	while (ls->keys == 0 && !(may_keep && ls->pending < LIST_PENDING_MAX))
		pthread_cond_wait(&ls->cv, &ls->mu);
	int k = ls->keys;
	pthread_mutex_unlock(&ls->mu);
	return k;
}

static int lister_user(void *ctx, struct json_object *user, struct err *e)
{
	struct lister *ls = ctx;
	if (atomic_load(&ls->cancel))
		return err_set(e, E_CONFLICT, "stopped");
	if (!ls->filtered) {
		int k = lister_keys(ls, true);
		if (k < 0)
			return err_set(e, E_CONFLICT, "stopped");
		if (k == 0) {
			ls->pending++;
			return gindex_keep(ls->gi, user, e);
		}
		gindex_prune(ls->gi);
		ls->filtered = true;
	}
	return gindex_user(ls->gi, user, e);
}

static void *lister_main(void *arg)
{
	struct lister *ls = arg;
	struct gindex *gi = ls->gi;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char extra[128], fields[512];
	snprintf(fields, sizeof(fields), "%s%s", GOOGLE_USER_FIELDS,
		 plan_google_fields(ls->export_mask, extra, sizeof(extra)));
	int rc = google_users_list_all(ls->gc, fields, lister_user, ls, &ls->e);
	if (!rc && !ls->filtered) { /* listed before the keys were read */
		if (lister_keys(ls, false) < 0) {
			rc = err_set(&ls->e, E_CONFLICT, "stopped");
		} else {
			gindex_prune(gi);
			ls->filtered = true;
		}
	}
	if (!rc && gindex_seal(gi))
		rc = err_set(&ls->e, E_NOMEM, "google index");
	if (!rc && ls->admin_email) {
		const struct grec *ar = gindex_find(gi, ls->admin_email);
		struct json_object *admin = ar ? json_tokener_parse(ar->text) : NULL, *v;
		ls->delegated_admin =
			admin && !(json_object_object_get_ex(admin, "isAdmin", &v) &&
				   json_object_get_boolean(v));
		if (admin)
			json_object_put(admin);
	}
	ls->rc = rc;
	ls->list_ms = ms_since(&t0);
	return NULL;
}

/* Starts the listing (on the calling thread later, in lister_join, if no thread can be made). */
static void lister_start(struct lister *ls, struct google_client *gc, struct gindex *gi,
			 const struct plan_settings *ps)
{
	*ls = (struct lister){.gc = gc, .gi = gi, .export_mask = ps->export_mask,
			      .admin_email = ps->admin_email};
	pthread_mutex_init(&ls->mu, NULL);
	pthread_cond_init(&ls->cv, NULL);
	atomic_init(&ls->cancel, false);
	ls->started = pthread_create(&ls->thread, NULL, lister_main, ls) == 0;
}

/* The job thread's keys: 1 sealed, -1 the run stops. */
static void lister_keys_set(struct lister *ls, int keys)
{
	pthread_mutex_lock(&ls->mu);
	ls->keys = keys;
	pthread_cond_broadcast(&ls->cv);
	pthread_mutex_unlock(&ls->mu);
}

/* Waits for the listing (or runs it here); its result. */
static int lister_join(struct lister *ls, struct plan_settings *ps, struct err *e)
{
	if (ls->joined)
		return ls->rc;
	if (ls->started)
		pthread_join(ls->thread, NULL);
	else
		lister_main(ls);
	ls->joined = true;
	ps->delegated_admin = ls->delegated_admin;
	if (ls->rc && e)
		*e = ls->e;
	return ls->rc;
}

/* Ends a listing the run no longer needs. */
static void lister_end(struct lister *ls)
{
	if (!ls->gi)
		return;
	if (ls->started && !ls->joined) {
		atomic_store(&ls->cancel, true);
		lister_keys_set(ls, -1);
		pthread_join(ls->thread, NULL);
	}
	pthread_cond_destroy(&ls->cv);
	pthread_mutex_destroy(&ls->mu);
	ls->gi = NULL;
}

/* A record's JSON text as a tree (NULL when it is not JSON or out of memory); tok is reused. */
static struct json_object *grec_parse(struct json_tokener *tok, const struct grec *g)
{
	json_tokener_reset(tok);
	struct json_object *jo = json_tokener_parse_ex(tok, g->text, -1);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(jo);
		return NULL;
	}
	return jo;
}

/* Google reads the listing could not answer, queued for the job thread. */
struct reads {
	struct read_req *rq;
	size_t n, cap;
};

/*
 * What Google holds for users[off, off + n) of a chunk of a full reconcile: from the listing,
 * and queued reads by id for linked users it lacks (to tell a deleted user from a moved one). A
 * key the first walk did not see (the scope moved in between) is queued to be read by itself
 * rather than taken for absent. No I/O: runs on a chunk-half thread (gi is only read).
 */
static int gather_listed(const struct plan_settings *ps, const struct gindex *gi,
			 struct export_scope *sc, size_t off, size_t n, struct reads *rd,
			 struct err *e)
{
	char extra[128];
	plan_google_fields(ps->export_mask, extra, sizeof(extra));
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		return err_set(e, E_NOMEM, "google index");
	int rc = E_OK;
	for (size_t i = off; !rc && i < off + n; i++) {
		struct export_user *x = &sc->users[i];
		struct plan_user *u = &x->pu;
		bool linked = u->google_id[0] && strcmp(u->link_status, "released");
		if (x->done)
			continue;
		if (linked) {
			const struct grec *g = gindex_find(gi, u->google_id);
			char want[320];
			const char *why2;
			if (g && u->exists && u->in_scope &&
			    plan_primary_email(ps, u->email, want, sizeof(want), &why2)) {
				const struct grec *holder = gindex_find(gi, want);
				u->primary_taken = holder && strcmp(holder->id, u->google_id) != 0;
			}
			if (g && (u->g = grec_parse(tok, g))) {
				u->g_state = PLAN_G_FOUND;
			} else {
				/* A complete listing lacks it: confirm by id before calling it gone. */
				rc = add_read(&rd->rq, &rd->n, &rd->cap, x, -1, u->google_id, extra, e);
			}
			continue;
		}
		if (!u->exists || !u->in_scope)
			continue;
		char mk[2][320];
		int nk = plan_match_keys(ps, u->email, mk);
		for (int k = 0; !rc && k < nk; k++) {
			if (!wanted_key(gi, mk[k])) {
				u->m_state[k] = PLAN_G_NOT_FOUND; /* unless the read finds it */
				rc = add_read(&rd->rq, &rd->n, &rd->cap, x, k, mk[k], extra, e);
				continue;
			}
			const struct grec *g = gindex_find(gi, mk[k]);
			u->m[k] = g ? grec_parse(tok, g) : NULL;
			u->m_state[k] = u->m[k] ? PLAN_G_FOUND : g ? PLAN_G_UNKNOWN : PLAN_G_NOT_FOUND;
		}
	}
	json_tokener_free(tok);
	return rc;
}

/*
 * Whether the integration acts as a delegated (non-super) admin: Google refuses its writes to
 * admin users, so the planner must not send them. One users.get of the admin.
 */
static int admin_is_delegated(struct google_client *gc, const char *admin_email, bool *delegated,
			      struct err *e)
{
	char path[1024];
	*delegated = false;
	if (!admin_email || google_user_path(admin_email, "?fields=id,isAdmin", path, sizeof(path)))
		return E_OK;
	char *body = NULL;
	int status = 0;
	struct err ge = {0};
	int rc = google_call(gc, "GET", path, NULL, &status, &body, NULL, &ge);
	if (rc) {
		/* An admin Google cannot find is no reason to stop; only auth and outages are. */
		if (status >= 400 && status < 500 && status != 401 && status != 429)
			return E_OK;
		*e = ge;
		return rc;
	}
	struct json_object *jo = json_tokener_parse(body), *v;
	*delegated = jo && !(json_object_object_get_ex(jo, "isAdmin", &v) && json_object_get_boolean(v));
	if (jo)
		json_object_put(jo);
	free(body);
	return E_OK;
}

/*
 * Targeted run: reads only the users the planner needs to see (plan_user_needs_read). The admin's
 * own rights are read only in a run that reads anyway (an event that changes a name reads nothing):
 * under a delegated admin every write to a user needs a fresh look at its admin flags.
 */
static int gather_targeted(struct google_client *gc, struct plan_settings *ps,
			   struct export_scope *sc, struct err *e)
{
	struct read_req *rq = NULL;
	size_t nr = 0, cap = 0;
	int rc = E_OK;
	bool any = false;
	char extra[128];
	plan_google_fields(ps->export_mask, extra, sizeof(extra));
	ps->delegated_admin = false;
	for (size_t i = 0; i < sc->n && !any; i++)
		any = !sc->users[i].done && plan_user_needs_read(ps, &sc->users[i].pu);
	if (any && (rc = admin_is_delegated(gc, ps->admin_email, &ps->delegated_admin, e)))
		return rc;
	for (size_t i = 0; any && !rc && i < sc->n; i++) {
		struct export_user *x = &sc->users[i];
		struct plan_user *u = &x->pu;
		if (x->done || !plan_user_needs_read(ps, u))
			continue;
		if (u->google_id[0] && strcmp(u->link_status, "released")) {
			rc = add_read(&rq, &nr, &cap, x, -1, u->google_id, extra, e);
			continue;
		}
		char rewritten[320];
		const char *why;
		u->m_state[0] = u->m_state[1] = PLAN_G_NOT_FOUND;
		rc = add_read(&rq, &nr, &cap, x, 0, u->email, extra, e);
		if (!rc && plan_primary_email(ps, u->email, rewritten, sizeof(rewritten), &why) &&
		    strcasecmp(rewritten, u->email))
			rc = add_read(&rq, &nr, &cap, x, 1, rewritten, extra, e);
	}
	if (!rc && nr)
		rc = read_users(gc, rq, nr, e);
	free(rq);
	return rc;
}

/*
 * Targeted run: the other users of the scope its users may meet, as context entries (struct
 * plan_user), so the planner's cross-user checks decide as a full plan of the whole scope would:
 * a user whose matching keys (plan_match_keys) hit an address (primaryEmail or alias) of a Google
 * user the run read, or one of the run's users' own keys, and a user linked to such a Google
 * user. Without them a targeted run took over a Google user another directory user of the scope
 * also maps to (an alias of one, the primaryEmail of the other), and which one won depended on
 * which job ran first. One store round trip for the batch (store_export_context); their Google
 * state comes from what the run read, never from another call.
 */
struct gaddr {
	char *addr; /* lower-case */
	struct json_object *g;
};

struct context {
	const struct plan_settings *ps;
	struct export_scope *sc;
	struct gaddr *ga; /* the read Google users by address, sorted */
	size_t nga;
	struct plan_keyset addrs, gids;
};

static int cmp_gaddr(const void *a, const void *b)
{
	return strcmp(((const struct gaddr *)a)->addr, ((const struct gaddr *)b)->addr);
}

static struct json_object *context_google(const struct context *c, const char *key)
{
	struct gaddr k = {.addr = (char *)(uintptr_t)key};
	struct gaddr *f = c->nga ? bsearch(&k, c->ga, c->nga, sizeof(k), cmp_gaddr) : NULL;
	return f ? f->g : NULL;
}

static int context_addr(struct context *c, const char *addr, struct json_object *g, size_t *cap)
{
	char key[320];
	size_t l = addr ? strlen(addr) : 0;
	if (!l || l >= sizeof(key)) /* no address of Google's is that long */
		return 0;
	memcpy(key, addr, l + 1);
	lower_ascii(key);
	if (plan_keyset_add(&c->addrs, key))
		return -1;
	if (!g)
		return 0;
	if (c->nga == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct gaddr *n = realloc(c->ga, nc * sizeof(*n));
		if (!n)
			return -1;
		c->ga = n;
		*cap = nc;
	}
	if (!(c->ga[c->nga].addr = strdup(key)))
		return -1;
	c->ga[c->nga++].g = g;
	return 0;
}

/* A Google user the run read: its id and every address it answers to. */
static int context_read(struct context *c, struct json_object *g, size_t *cap)
{
	if (!g)
		return 0;
	const char *id = plan_jstr(g, "id");
	if (id && id[0] && plan_keyset_add(&c->gids, id))
		return -1;
	if (context_addr(c, plan_jstr(g, "primaryEmail"), g, cap))
		return -1;
	const char *lists[] = {"aliases", "nonEditableAliases"};
	for (int l = 0; l < 2; l++) {
		struct json_object *a = plan_jarr(g, lists[l]);
		for (size_t i = 0; a && i < json_object_array_length(a); i++) {
			struct json_object *v = json_object_array_get_idx(a, i);
			if (json_object_is_type(v, json_type_string) &&
			    context_addr(c, json_object_get_string(v), g, cap))
				return -1;
		}
	}
	return 0;
}

static int context_row(void *ctx, const struct store_export_row *r, struct err *e)
{
	struct context *c = ctx;
	char mk[2][320];
	int nk = r->exists && r->in_scope ? plan_match_keys(c->ps, r->email, mk) : 0;
	bool linked = r->google_id[0] && strcmp(r->link_status, "released");
	bool meets = linked && plan_keyset_has(&c->gids, r->google_id);
	for (int i = 0; !meets && i < nk; i++)
		meets = plan_keyset_has(&c->addrs, mk[i]);
	if (!meets) /* the store's candidates are wider (any local part at the default domain) */
		return E_OK;
	int rc = scope_add(c->sc, r, true, e);
	if (rc)
		return rc;
	struct plan_user *u = &c->sc->users[c->sc->n - 1].pu;
	u->context = true;
	for (int i = 0; !linked && i < nk; i++) {
		struct json_object *g = context_google(c, mk[i]);
		u->m_state[i] = g ? PLAN_G_FOUND : PLAN_G_UNKNOWN; /* not read: only what we know */
		u->m[i] = g ? json_object_get(g) : NULL;
	}
	return E_OK;
}

/*
 * Whether the cross-user checks could change u's entry (plan_entry_settled's reasoning): a user
 * of the scope not linked yet (a takeover or a create), or linked but wanting another address.
 * A linked user keeping its address (most events: a name, a phone, a password) needs no context.
 */
static bool context_needed(const struct plan_settings *ps, const struct plan_user *u)
{
	if (!u->exists || !u->in_scope)
		return false;
	if (!u->google_id[0] || !strcmp(u->link_status, "released"))
		return true;
	char want[320];
	const char *why;
	return !ps->identity_google && plan_primary_email(ps, u->email, want, sizeof(want), &why) &&
	       strcasecmp(want, u->link_primary_email) != 0;
}

static int gather_context(struct sync_job *j, const struct plan_settings *ps,
			  struct export_scope *sc, struct err *e)
{
	struct context c = {.ps = ps, .sc = sc};
	size_t cap = 0, n = sc->n, nl = 0;
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	int rc = ids ? E_OK : err_set(e, E_NOMEM, "context");
	for (size_t i = 0; !rc && i < n; i++) {
		struct plan_user *u = &sc->users[i].pu;
		ids[i] = u->user_id;
		if (sc->users[i].done || !context_needed(ps, u))
			continue;
		char mk[2][320];
		int nk = plan_match_keys(ps, u->email, mk);
		bool bad = false;
		for (int k = 0; k < nk && !bad; k++)
			bad = context_addr(&c, mk[k], NULL, &cap) != 0;
		bad = bad || context_read(&c, u->g_state == PLAN_G_FOUND ? u->g : NULL, &cap);
		for (int k = 0; k < 2 && !bad; k++)
			bad = context_read(&c, u->m_state[k] == PLAN_G_FOUND ? u->m[k] : NULL, &cap);
		if (bad)
			rc = err_set(e, E_NOMEM, "context");
	}
	if (!rc && c.nga > 1)
		qsort(c.ga, c.nga, sizeof(*c.ga), cmp_gaddr);
	/* the local parts of the addresses at the default domain: a rewrite may land there */
	const char **locals = rc ? NULL : calloc(c.addrs.n ? c.addrs.n : 1, sizeof(*locals));
	char *lbuf = rc ? NULL : malloc(c.addrs.len ? c.addrs.len : 1);
	const char **addrs = rc ? NULL : calloc(c.addrs.n ? c.addrs.n : 1, sizeof(*addrs));
	if (!rc && (!locals || !lbuf || !addrs))
		rc = err_set(e, E_NOMEM, "context");
	const char *dd = ps->default_domain && ps->default_domain[0] ? ps->default_domain : NULL;
	size_t lo = 0;
	for (size_t i = 0; !rc && i < c.addrs.n; i++) {
		const char *a = c.addrs.arena + c.addrs.off[i];
		addrs[i] = a;
		const char *at = strrchr(a, '@');
		if (dd && at && !strcasecmp(at + 1, dd)) {
			memcpy(lbuf + lo, a, (size_t)(at - a));
			lbuf[lo + (size_t)(at - a)] = '\0';
			locals[nl++] = lbuf + lo;
			lo += (size_t)(at - a) + 1;
		}
	}
	if (!rc && (plan_keyset_seal(&c.addrs) || plan_keyset_seal(&c.gids)))
		rc = err_set(e, E_NOMEM, "context");
	if (!rc && (c.addrs.n || c.gids.n)) {
		const char **gids = calloc(c.gids.n ? c.gids.n : 1, sizeof(*gids));
		for (size_t i = 0; gids && i < c.gids.n; i++)
			gids[i] = c.gids.arena + c.gids.off[i];
		struct store_export_context_keys k = {ids, n, addrs, c.addrs.n, locals, nl,
						      gids, c.gids.n};
		rc = gids ? store_export_context(j->st, j->job->tenant_id, j->job->integration_id,
						 &k, context_row, &c, e)
			  : err_set(e, E_NOMEM, "context");
		free(gids);
	}
	free(ids);
	free(locals);
	free(lbuf);
	free(addrs);
	for (size_t i = 0; i < c.nga; i++)
		free(c.ga[i].addr);
	free(c.ga);
	plan_keyset_free(&c.addrs);
	plan_keyset_free(&c.gids);
	return rc;
}

/* ------------------------------------------------------------------ settings */

static int load_settings(struct sync_job *j, struct plan_settings *ps, char ***domains,
			 char ***refused, char admin_email[320], struct store_integration *it,
			 struct err *e)
{
	const char *tid = j->job->tenant_id, *iid = j->job->integration_id;
	int rc = store_integration_get(j->st, tid, iid, it, e);
	if (rc)
		return rc;
	size_t k = 0, nr = 0;
	if ((rc = sync_domains_load(j->st, tid, iid, domains, &k, e)) ||
	    (rc = sync_domains_refused_load(j->st, tid, iid, refused, &nr, e)))
		return rc;
	struct store_attribute_rule *rules = NULL;
	size_t nrules = 0;
	if ((rc = store_attribute_rules_get(j->st, tid, iid, &rules, &nrules, NULL, e)))
		return rc;
	unsigned mask = 0;
	for (size_t i = 0; i < nrules; i++)
		if (!strcmp(rules[i].direction, "export"))
			mask |= plan_attr_bit(rules[i].attribute);
	free(rules);
	struct store_credential cred;
	memset(&cred, 0, sizeof(cred));
	admin_email[0] = 0;
	struct err ce = {0};
	if (!store_credential_get(j->st, tid, iid, &cred, &ce)) {
		snprintf(admin_email, 320, "%s", cred.admin_email);
		for (char *c = admin_email; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	}
	store_credential_cleanup(&cred);
	*ps = (struct plan_settings){
		.domains = (const char *const *)*domains,
		.n_domains = k,
		.unverified = (const char *const *)*refused,
		.n_unverified = nr,
		.default_domain = it->default_domain,
		.export_mask = mask,
		.provision_without_password = it->provision_without_password,
		.lockout_suspend = !strcmp(it->lockout_action, "suspend"),
		.password_expiry_suspend = !strcmp(it->password_expiry_action, "suspend"),
		.recreate_deleted = !strcmp(it->deleted_in_google_action, "recreate"),
		.integration_active = !strcmp(it->status, "active"),
		.admin_email = admin_email[0] ? admin_email : NULL,
		.identity_google = !strcmp(it->identity_source, "google"),
	};
	return E_OK;
}

static void free_domains(char **d)
{
	for (size_t i = 0; d && d[i]; i++)
		free(d[i]);
	free(d);
}

static bool param_true(struct sync_job *j, const char *key)
{
	char v[16] = "";
	return !store_job_param(j->st, j->job, key, v, sizeof(v), NULL) && !strcmp(v, "true");
}

/* ------------------------------------------------------------------ plan storage */

static char *summary_json(const struct plan *p, const struct export_user *users)
{
	(void)users;
	struct json_object *o = json_object_new_object(), *ops = json_object_new_object(),
			   *reasons = json_object_new_object();
	for (int op = 0; op < PLAN_OP_N; op++)
		if (p->counts[op])
			json_object_object_add(ops, plan_op_name((enum plan_op)op),
					       json_object_new_int(p->counts[op]));
	json_object_object_add(o, "ops", ops);
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_entry *en = &p->entries[i];
		if (!en->reason)
			continue;
		struct json_object *c;
		int v = json_object_object_get_ex(reasons, en->reason, &c) ? json_object_get_int(c) : 0;
		json_object_object_add(reasons, en->reason, json_object_new_int(v + 1));
	}
	json_object_object_add(o, "reasons", reasons);
	char *t = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return t;
}

static int store_plan(struct sync_job *j, const struct plan *p, const struct export_user *users,
		      struct err *e)
{
	enum { CHUNK = 500 };
	struct store_plan_entry buf[CHUNK];
	char *changes[CHUNK];
	size_t k = 0;
	int rc = E_OK;
	int64_t seq = 0; /* dense: a run resumed after a crash writes the same entries again */
	for (size_t i = 0; !rc && i <= p->n; i++) {
		/* unchanged users only when a difference was left alone (identity_source google) */
		if (i < p->n && (p->entries[i].op != PLAN_NONE || p->entries[i].n_kept)) {
			const struct plan_entry *en = &p->entries[i];
			const struct plan_user *u = &users[en->user].pu;
			changes[k] = plan_changes_json(en);
			if (!changes[k]) {
				rc = err_set(e, E_NOMEM, "plan");
				break;
			}
			buf[k] = (struct store_plan_entry){
				.seq = ++seq,
				.op = plan_op_name(en->op),
				.user_id = u->user_id,
				.google_id = en->google_id ? en->google_id : "",
				.primary_email = en->primary_email ? en->primary_email : "",
				.reason = en->reason ? en->reason : "",
				.changes_json = changes[k],
				.user_version = u->version,
			};
			k++;
		}
		if (k && (k == CHUNK || i == p->n)) {
			rc = store_plan_append(j->st, j->job->id, j->owner, buf, k, e);
			for (size_t m = 0; m < k; m++)
				free(changes[m]);
			k = 0;
		}
	}
	for (size_t m = 0; m < k; m++)
		free(changes[m]);
	if (rc)
		return rc;
	char *sum = summary_json(p, users);
	if (!sum)
		return err_set(e, E_NOMEM, "plan summary");
	rc = store_plan_summary_set(j->st, j->job->id, j->owner, sum, e);
	free(sum);
	return rc;
}

/* ------------------------------------------------------------------ an approved dry run */

struct approved {
	char **user_ids; /* sorted */
	char **ops;	 /* the op planned for user_ids[i] */
	size_t n;
};

static void approved_free(struct approved *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->user_ids[i]);
		free(a->ops[i]);
	}
	free(a->user_ids);
	free(a->ops);
	memset(a, 0, sizeof(*a));
}

struct approved_pair {
	char *user_id, *op;
};

static int cmp_approved_pair(const void *x, const void *y)
{
	return strcmp(((const struct approved_pair *)x)->user_id,
		      ((const struct approved_pair *)y)->user_id);
}

/* The ops the approved dry run planned, per user (read through the plan pages). */
static int approved_load(struct sync_job *j, const char *plan_job, struct approved *a,
			 struct err *e)
{
	memset(a, 0, sizeof(*a));
	size_t cap = 0;
	int64_t after = 0;
	for (;;) {
		char *page = NULL;
		size_t n = 0;
		int rc = store_plan_page(j->st, j->job->tenant_id, plan_job, after, 1000, &page, &n, e);
		if (rc)
			return rc;
		struct json_object *arr = json_tokener_parse(page ? page : "[]");
		free(page);
		size_t m = arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr)
									      : 0;
		for (size_t i = 0; i < m; i++) {
			struct json_object *en = json_object_array_get_idx(arr, i), *v;
			if (json_object_object_get_ex(en, "seq", &v))
				after = json_object_get_int64(v);
			const char *uid = jstr(en, "user_id"), *op = jstr(en, "op");
			if (!uid || !op || after >= SYNC_GROUPS_PLAN_SEQ_BASE)
				continue; /* (a full_sync's group entries come last) */
			if (a->n == cap) {
				cap = cap ? cap * 2 : 256;
				char **nu = realloc(a->user_ids, cap * sizeof(char *));
				if (nu)
					a->user_ids = nu;
				char **no = realloc(a->ops, cap * sizeof(char *));
				if (no)
					a->ops = no;
				if (!nu || !no) {
					json_object_put(arr);
					return err_set(e, E_NOMEM, "approved plan");
				}
			}
			a->user_ids[a->n] = strdup(uid);
			a->ops[a->n] = strdup(op);
			a->n++;
		}
		if (arr)
			json_object_put(arr);
		if (m == 0 || n == 0)
			break;
	}
	/* sort both arrays by user id (insertion order is by seq); qsort: 20,000 users and more */
	struct approved_pair *pairs = malloc((a->n ? a->n : 1) * sizeof(*pairs));
	if (!pairs)
		return err_set(e, E_NOMEM, "approved plan");
	for (size_t i = 0; i < a->n; i++)
		pairs[i] = (struct approved_pair){a->user_ids[i], a->ops[i]};
	if (a->n > 1)
		qsort(pairs, a->n, sizeof(*pairs), cmp_approved_pair);
	for (size_t i = 0; i < a->n; i++) {
		a->user_ids[i] = pairs[i].user_id;
		a->ops[i] = pairs[i].op;
	}
	free(pairs);
	return E_OK;
}

/*
 * Applying an approved dry run: only what it planned is done. A user whose operation is no longer
 * the one approved (the directory or Google moved on) waits for the next run, never applied
 * blindly; so does anyone the dry run did not plan.
 */
static void approved_restrict(struct plan *p, const struct export_user *users,
			      const struct approved *a)
{
	for (size_t i = 0; i < p->n; i++) {
		struct plan_entry *en = &p->entries[i];
		if (en->op == PLAN_NONE || en->op == PLAN_SKIP || en->op == PLAN_CONFLICT ||
		    en->op == PLAN_FAIL)
			continue;
		const char *uid = users[en->user].pu.user_id;
		size_t lo = 0, hi = a->n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(a->user_ids[mid], uid) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		bool same = lo < a->n && !strcmp(a->user_ids[lo], uid) &&
			    !strcmp(a->ops[lo], plan_op_name(en->op));
		if (same)
			continue;
		p->counts[en->op]--;
		plan_entry_skip(en, lo < a->n && !strcmp(a->user_ids[lo], uid) ? "plan_changed"
										 : "not_in_approved_plan",
				"the approved dry run planned something else for this user; the next run "
				"plans it again");
		p->counts[en->op]++;
	}
}

/* ------------------------------------------------------------------ the runner */

/*
 * Deletion guard: would this job's suspensions, with the integration's recent ones, pass
 * max_count or max_percent of the linked users (when more than GUARD_MIN_LINKED are linked)?
 */
static int guard_trips(struct sync_job *j, const struct store_integration *it, int planned,
		       bool *trips, struct err *e)
{
	int recent = 0, linked = 0;
	*trips = false;
	if (planned == 0)
		return E_OK;
	int rc = store_guard_counts(j->st, j->job->integration_id, GUARD_WINDOW_S, &recent, &linked,
				    e);
	if (rc)
		return rc;
	int total = recent + planned;
	*trips = total > it->deletion_guard_max_count ||
		 (linked > GUARD_MIN_LINKED &&
		  (long)total * 100 > (long)it->deletion_guard_max_percent * linked);
	return E_OK;
}

/*
 * The scope is walked once and planned in chunks (CHUNK users; a targeted run is one chunk), so
 * memory follows a chunk, not the scope: an entry no cross-user check can change (an unchanged
 * user, plan_entry_settled()) is recorded and dropped with its user right away, keeping only its
 * keys; every other entry and its user is kept for the checks, the plan and the applier.
 */
#define CHUNK 500

struct walk {
	struct sync_job *j;
	struct plan_settings *ps;
	struct google_client *gc;
	struct connect_handle *h;
	struct gindex *gi; /* full reconcile; NULL: targeted */
	struct lister *ls; /* its listing */
	long long list_ms;
	struct timespec walk0; /* the listing joined */
	const struct store_job_done *done;
	size_t chunk_max;
	bool listed; /* unchanged users get an item each (a resumed job); else they are counted */
	struct export_scope chunk, kept;
	struct plan plan; /* the kept entries; they index kept */
	size_t cap_entries;
	struct plan_settled settled;
	int unlisted; /* unchanged users recorded without an item */
	struct timespec last_checkpoint;
};

static int plan_push(struct walk *w, struct plan_entry *en)
{
	if (w->plan.n == w->cap_entries) {
		size_t c = w->cap_entries ? w->cap_entries * 2 : 256;
		struct plan_entry *ne = realloc(w->plan.entries, c * sizeof(*ne));
		if (!ne)
			return -1;
		w->plan.entries = ne;
		w->cap_entries = c;
	}
	w->plan.entries[w->plan.n++] = *en;
	memset(en, 0, sizeof(*en));
	return 0;
}

/* The planner's view of sc: a copy of each user, done users as nobody (nothing to do). */
/* The planner's view of sc's users [off, off + n): a copy of each, done users as nobody. */
static struct plan_user *plan_inputs_range(const struct export_scope *sc, size_t off, size_t n)
{
	struct plan_user *pu = calloc(n ? n : 1, sizeof(*pu));
	for (size_t i = 0; pu && i < n; i++) {
		pu[i] = sc->users[off + i].pu;
		if (sc->users[off + i].done)
			pu[i] = (struct plan_user){
				.user_id = pu[i].user_id, .email = "", .first_name = "", .last_name = "",
				.state = "", .alternate_email = "", .cost_center = "", .department = "",
				.employee_type = "", .job_title = "", .employee_id = "",
				.addresses_json = "[]", .phones_json = "[]", .password_digest = "",
				.google_id = "", .link_status = "", .link_primary_email = "",
				.link_password_digest = ""};
	}
	return pu;
}

static struct plan_user *plan_inputs(const struct export_scope *sc)
{
	return plan_inputs_range(sc, 0, sc->n);
}

/*
 * Half of a chunk: its users' Google state (full reconcile: from the listing) and their plan.
 * Parsing and planning are most of a reconcile's CPU and touch only the half's users, so the
 * two halves run at once (the second on a thread of its own); what needs I/O (Google reads,
 * the store) stays on the job thread.
 */
struct half {
	const struct plan_settings *ps;
	const struct gindex *gi;
	struct export_scope *sc;
	size_t off, n;
	struct reads rd;     /* what the listing could not answer: read by the job thread */
	struct plan_user *pu; /* planner inputs, [0, n) */
	struct plan cp;	     /* entries[i] is users[off + i] */
	int rc;
	struct err e;
};

#define HALF_MIN 64 /* a smaller chunk is planned on the job thread alone */

static int half_plan(struct half *h)
{
	h->pu = plan_inputs_range(h->sc, h->off, h->n);
	if (!h->pu || plan_users_chunk(h->ps, h->pu, h->n, &h->cp))
		return err_set(&h->e, E_NOMEM, "plan");
	for (size_t i = 0; i < h->cp.n; i++)
		h->cp.entries[i].user += h->off; /* entries index the chunk (the applier's scope) */
	/* What Google holds was needed for planning only: the entries own what they send. */
	for (size_t i = h->off; i < h->off + h->n; i++) {
		struct plan_user *u = &h->sc->users[i].pu;
		if (u->g)
			json_object_put(u->g);
		for (int k = 0; k < 2; k++)
			if (u->m[k])
				json_object_put(u->m[k]);
		u->g = u->m[0] = u->m[1] = NULL;
	}
	return E_OK;
}

static void *half_run(void *arg)
{
	struct half *h = arg;
	h->rc = gather_listed(h->ps, h->gi, h->sc, h->off, h->n, &h->rd, &h->e);
	if (!h->rc && !h->rd.n)
		h->rc = half_plan(h);
	return NULL;
}

static void half_cleanup(struct half *h)
{
	free(h->rd.rq);
	free(h->pu);
	plan_free(&h->cp);
}

/* Google state and plan of the chunk, in two halves (full reconcile) or one (targeted). */
static int chunk_plan(struct walk *w, struct plan_settings *ps, struct half hv[2],
		      struct err *e)
{
	struct export_scope *sc = &w->chunk;
	if (!w->gi) {
		int rc = gather_targeted(w->gc, ps, sc, e);
		if (!rc)
			rc = gather_context(w->j, ps, sc, e);
		hv[0].n = sc->n; /* the context entries too: the checks need them */
		hv[1].off = sc->n;
		if (!rc && half_plan(&hv[0]))
			rc = err_set(e, E_NOMEM, "plan");
		return rc;
	}
	pthread_t t;
	bool threaded = false;
	if (sc->n >= 2 * HALF_MIN) {
		hv[0].n = sc->n / 2;
		hv[1].off = hv[0].n;
		hv[1].n = sc->n - hv[0].n;
		threaded = pthread_create(&t, NULL, half_run, &hv[1]) == 0;
	}
	half_run(&hv[0]);
	if (threaded)
		pthread_join(t, NULL);
	else if (hv[1].n)
		half_run(&hv[1]);
	int rc = E_OK;
	for (int k = 0; k < 2 && !rc; k++) {
		struct half *h = &hv[k];
		if (h->rc) {
			rc = h->rc;
			if (e)
				*e = h->e;
		} else if (h->rd.n) {
			rc = read_users(w->gc, h->rd.rq, h->rd.n, e);
			if (!rc && half_plan(h))
				rc = err_set(e, E_NOMEM, "plan");
		}
	}
	return rc;
}

/* Plans the chunk, records and drops what is settled, keeps the rest. */
static int walk_flush(struct walk *w, struct err *e)
{
	struct export_scope *sc = &w->chunk;
	if (!sc->n)
		return E_OK;
	for (size_t i = 0; i < sc->n; i++)
		sc->users[i].done = store_job_done_has(w->done, sc->users[i].pu.user_id);
	struct plan_settings ps = *w->ps;
	struct half hv[2] = {{.ps = &ps, .gi = w->gi, .sc = sc, .n = sc->n},
			     {.ps = &ps, .gi = w->gi, .sc = sc, .off = sc->n}};
	const struct plan_entry **settled = calloc(sc->n, sizeof(*settled));
	int rc = settled ? chunk_plan(w, &ps, hv, e) : err_set(e, E_NOMEM, "plan");
	if (!rc)
		connect_handle_used(w->h);
	size_t ns = 0;
	for (int k = 0; k < 2 && !rc; k++) {
		struct half *h = &hv[k];
		for (size_t li = 0; !rc && li < h->cp.n; li++) {
			size_t i = h->off + li;
			struct plan_entry *en = &h->cp.entries[li];
			if (plan_entry_settled(&h->pu[li], en)) {
				if (plan_settled_add(&w->settled, &h->pu[li], en))
					rc = err_set(e, E_NOMEM, "plan");
				else if (!sc->users[i].done)
					settled[ns++] = en;
				continue;
			}
			struct export_user *x = scope_push(&w->kept);
			if (!x) {
				rc = err_set(e, E_NOMEM, "plan");
				break;
			}
			*x = sc->users[i];
			memset(&sc->users[i], 0, sizeof(sc->users[i]));
			en->user = w->kept.n - 1;
			if (plan_push(w, en))
				rc = err_set(e, E_NOMEM, "plan");
		}
	}
	if (!rc && ns && !w->j->job->dry_run) {
		struct apply_ctx ac = {.j = w->j, .scope = sc};
		rc = apply_settled(&ac, settled, ns, w->listed, e);
		if (!w->listed)
			w->unlisted += (int)ns;
	}
	free(settled);
	half_cleanup(&hv[0]);
	half_cleanup(&hv[1]);
	if (rc)
		return rc; /* the chunk's users are freed with the walk */
	for (size_t i = 0; i < sc->n; i++)
		user_free(&sc->users[i]);
	sc->n = 0;
	/* progress and the lease about once a second (a chunk takes milliseconds) */
	if (!w->j->stop && w->gi && ms_since(&w->last_checkpoint) >= 1000) {
		sync_job_checkpoint(w->j, (int)(w->settled.n + w->plan.n), -1);
		clock_gettime(CLOCK_MONOTONIC, &w->last_checkpoint);
	}
	return rc;
}

/* Once PostgreSQL prepared the scope's rows: the Google listing, complete. */
static int walk_first(void *ctx, struct err *e)
{
	struct walk *w = ctx;
	int rc = lister_join(w->ls, w->ps, e);
	w->list_ms = w->ls->list_ms;
	clock_gettime(CLOCK_MONOTONIC, &w->walk0);
	return rc;
}

static int walk_row(void *ctx, const struct store_export_row *r, struct err *e)
{
	struct walk *w = ctx;
	int rc = scope_add(&w->chunk, r, w->gi == NULL, e);
	if (!rc && w->chunk.n >= w->chunk_max)
		rc = walk_flush(w, e);
	if (!rc && w->j->stop)
		rc = err_set(e, E_CONFLICT, "stopped"); /* ends the walk; the runner reports stop */
	return rc;
}

int export_users_run(struct sync_job *j, struct err *e)
{
	struct plan_settings ps;
	char **domains = NULL, **refused = NULL, **ids = NULL, admin_email[320];
	size_t n_ids = 0;
	struct store_integration it;
	struct walk w = {.j = j};
	struct gindex gi = {0};
	struct lister ls = {0};
	struct connect_handle *h = NULL;
	struct store_job_done done = {0};
	/* parameters.user_ids: the users an event's targeted run is for; none named: a full run. */
	int rc = sync_job_param_ids(j, "user_ids", &ids, &n_ids, e);
	/* Every run, full or targeted, refreshes the domains' flags only when the last check is
	   older than GWSYNC_DOMAINS_MAX_AGE_MS: one domains.list per event would spend a fifth of
	   the default quota, and a full reconcile right after another run reuses them. */
	if (!rc)
		sync_domains_refresh(j);
	if (!rc)
		rc = load_settings(j, &ps, &domains, &refused, admin_email, &it, e);
	if (!rc && strcmp(it.status, "active"))
		rc = sync_set_not_active(e, it.status);
	if (rc)
		goto out;
	bool targeted = ids != NULL;
	ps.full = !targeted;
	if (targeted && n_ids == 0)
		goto out; /* nothing asked for */
	if (sync_job_checkpoint(j, 0, -1))
		goto out;
	/* A run taken over after a crash skips the users an earlier run of this job recorded. */
	if ((rc = sync_job_done_load(j, "user", &done, e)))
		goto out;
	rc = connect_client_acquire(j->conn, j->job->tenant_id, j->job->integration_id, &h, e);
	if (rc)
		goto out;
	struct google_client *gc = connect_handle_client(h);
	struct timespec t0, cpu0, cpu1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
	long long keys_ms = 0, walk_ms;
	if (!targeted) {
		lister_start(&ls, gc, &gi, &ps);
		rc = gindex_keys(j, &ps, &done, &gi, e);
		lister_keys_set(&ls, rc ? -1 : 1);
		if (rc)
			goto out;
	}
	keys_ms = ms_since(&t0);
	int recorded = 0;
	for (int c = 0; c < JOB_NCOUNT; c++)
		recorded += j->job->counts[c];
	w = (struct walk){.j = j, .ps = &ps, .gc = gc, .h = h, .gi = targeted ? NULL : &gi, .ls = &ls,
			  .done = &done, .chunk_max = targeted ? SIZE_MAX : CHUNK,
			  /* an earlier run's items are replaced one by one, so they stay listed */
			  .listed = recorded > 0};
	clock_gettime(CLOCK_MONOTONIC, &w.last_checkpoint);
	rc = targeted ? store_export_scope(j->st, j->job->tenant_id, j->job->integration_id,
					   (const char *const *)ids, n_ids, walk_row, &w, e)
		      : store_export_scope_first(j->st, j->job->tenant_id, j->job->integration_id,
						 walk_first, walk_row, &w, e);
	if (!rc)
		rc = walk_flush(&w, e);
	lister_end(&ls); /* a walk that ended before its first row */
	walk_ms = targeted || !ls.joined ? ms_since(&t0) : ms_since(&w.walk0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
	if (j->stop) {
		rc = E_OK;
		goto out;
	}
	if (rc)
		goto out;
	gindex_free(&gi); /* planned: what Google holds is in the entries now */
	struct plan_user *pu = plan_inputs(&w.kept);
	if (pu && (rc = groups_hold(gc, pu, &w.plan, e))) {
		free(pu);
		goto out;
	}
	if (!pu || plan_keyset_seal(&w.settled.primary) || plan_keyset_seal(&w.settled.linked) ||
	    plan_users_finish(&ps, pu, &w.plan, &w.settled)) {
		free(pu);
		rc = err_set(e, E_NOMEM, "plan");
		goto out;
	}
	free(pu);
	struct plan *plan = &w.plan;
	plan->counts[PLAN_NONE] += (int)w.settled.n;
	size_t users = w.settled.n + plan->n;
	log_write(LOG_INFO, "sync", "export_planned", NULL,
		  (struct log_field[]){LOG_NUM("users", (long long)users),
				       LOG_NUM("creates", plan->counts[PLAN_CREATE]),
				       LOG_NUM("links", plan->counts[PLAN_LINK]),
				       LOG_NUM("updates", plan->counts[PLAN_UPDATE] +
							  plan->counts[PLAN_RENAME] +
							  plan->counts[PLAN_SET_PASSWORD] +
							  plan->counts[PLAN_UNSUSPEND]),
				       LOG_NUM("suspensions", plan->counts[PLAN_SUSPEND]),
				       LOG_NUM("dry_run", j->job->dry_run),
				       /* where a run's time goes: the scope's keys, the listing (its
					  own thread from the start, beside the keys and PostgreSQL
					  preparing the scope), the walk once it is joined (plan and
					  unchanged users recorded) */
				       LOG_NUM("keys_ms", keys_ms), LOG_NUM("list_ms", w.list_ms),
				       LOG_NUM("walk_ms", walk_ms),
				       /* the worker's CPU meanwhile (all its threads): what the run
					  costs on a loaded machine */
				       LOG_NUM("cpu_ms", (long long)(cpu1.tv_sec - cpu0.tv_sec) * 1000 +
								 (cpu1.tv_nsec - cpu0.tv_nsec) / 1000000)},
		  10);
	if ((rc = store_plan(j, plan, w.kept.users, e)))
		goto out;
	if (j->job->dry_run) {
		sync_job_checkpoint(j, (int)users, (int)users);
		goto out;
	}
	char plan_job[64] = "";
	store_job_param(j->st, j->job, "approved_plan", plan_job, sizeof(plan_job), NULL);
	if (plan_job[0]) {
		struct approved a;
		if ((rc = approved_load(j, plan_job, &a, e)))
			goto out;
		approved_restrict(plan, w.kept.users, &a);
		approved_free(&a);
	}
	bool trips = false;
	if (!param_true(j, "approved") && !plan_job[0] &&
	    (rc = guard_trips(j, &it, plan->counts[PLAN_SUSPEND], &trips, e)))
		goto out;
	if (trips) {
		if (!(rc = store_job_await_approval(j->st, j->job->id, j->owner, e)))
			j->stop = SYNC_AWAITING; /* the job waits: the worker must not finish it */
		log_write(LOG_WARN, "sync", "deletion_guard", "job awaits approval",
			  (struct log_field[]){LOG_NUM("suspensions", plan->counts[PLAN_SUSPEND])},
			  1);
		goto out;
	}
	struct apply_ctx ac = {.j = j, .h = h, .scope = &w.kept, .settled = w.settled.n};
	rc = apply_users(&ac, plan, e);
	if (!rc && !j->stop && (w.unlisted || !w.listed)) {
		rc = store_job_unchanged_set(j->st, j->job->id, j->owner, w.unlisted, e);
		if (rc == E_NOTFOUND) {
			j->stop = SYNC_LOST;
			rc = E_OK;
		}
	}
out:
	plan_free(&w.plan);
	plan_settled_free(&w.settled);
	if (h)
		connect_client_release(j->conn, h);
	export_scope_free(&w.chunk);
	export_scope_free(&w.kept);
	lister_end(&ls);
	gindex_free(&gi);
	store_job_done_cleanup(&done);
	free_domains(domains);
	free_domains(refused);
	for (size_t i = 0; ids && i < n_ids; i++)
		free(ids[i]);
	free(ids);
	return rc;
}

int full_sync_run(struct sync_job *j, struct err *e)
{
	int rc = export_users_run(j, e);
	if (rc || j->stop)
		return rc;
	struct store_integration it;
	struct err ie = {0};
	/* Groups after users, so the members the export just linked are in Google already; with
	 * group management off nothing of groups is read or written. */
	if (!store_integration_get(j->st, j->job->tenant_id, j->job->integration_id, &it, &ie) &&
	    it.group_management)
		return sync_groups_run(j, e);
	return E_OK;
}
