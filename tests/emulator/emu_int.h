/* SPDX-License-Identifier: MIT */
/* gws-emulator: helpers shared by the handler files. */
#ifndef EMU_INT_H
#define EMU_INT_H

#include "emu.h"

/* Checks a new address: syntax (400 invalid_msg), domain (403), namespace (409). self may own it. */
int emu_check_new_address(struct emu *em, const char *email, const char *invalid_msg,
			  const void *self, struct emu_resp *rs);
/* maxResults: 400 out of range unless clamp (then capped at max). */
int emu_parse_max(struct emu_req *rq, struct emu_resp *rs, int def, int max, bool clamp,
		  int *out);
/* customer= / domain= checks; *domain_out is the lower-cased domain (owned) or NULL. */
int emu_check_customer_domain(struct emu *em, struct emu_req *rq, struct emu_resp *rs,
			      bool required, char **domain_out);
void emu_list_etag(struct emu *em, const char *what, char out[64]);
void emu_alias_render(struct emu *em, struct jw *w, const char *id, const char *primary,
		      const char *alias, unsigned long long gen);
void emu_aliases_render(struct emu *em, struct emu_req *rq, struct emu_resp *rs, const char *id,
			const char *primary, const struct strv *aliases, unsigned long long gen);
char *emu_alias_body(struct emu *em, struct emu_req *rq, struct emu_resp *rs);
/* Creates a user from a User body (validated); NULL with rs set on error. */
struct emu_user *emu_user_create_json(struct emu *em, struct json_object *jo, bool need_pw,
				      struct emu_resp *rs);
/* Creates a group from a Group body; NULL with rs set on error. */
struct emu_group *emu_group_create_json(struct emu *em, struct json_object *jo,
					struct emu_resp *rs);
/* Adds a member from a Member body; NULL with rs set on error. */
struct emu_member *emu_member_insert_json(struct emu *em, struct emu_group *g,
					  struct json_object *jo, struct emu_resp *rs);
/* JSON types a control-API value may have (null always counts as absent). */
enum emu_jt {
	EMU_JT_STR = 1,
	EMU_JT_INT,
	EMU_JT_NUM, /* int or double */
	EMU_JT_BOOL,
	EMU_JT_OBJ, /* fields checked with sub when given */
	EMU_JT_ARR_STR,
	EMU_JT_ARR_OBJ, /* each element checked with sub when given */
	EMU_JT_STR_OR_ARR_STR,
};

/* One known key of a control-API object; a table ends with key NULL. */
struct emu_jspec {
	const char *key;
	enum emu_jt type;
	const struct emu_jspec *sub;
};

/*
 * Checks the types of the keys of jo named in spec (others are not looked at); jo itself must be
 * an object. Returns 0, or -1 with err naming the value ("users[2].aliases[0] must be a string").
 */
int emu_json_check(struct json_object *jo, const struct emu_jspec *spec, char *err, size_t errlen);
/* Service-account document keys (also POST /_emulator/service-accounts, --service-account). */
extern const struct emu_jspec emu_sa_spec[];
/* Applies a control/config object (see README); returns -1 with err on a bad value. */
int emu_config_apply(struct emu *em, struct json_object *jo, char *err, size_t errlen);
/* Writes the state as JSON (same format --state loads). */
void emu_state_write(struct emu *em, struct buf *out);

/*
 * A realistic account as a state document (see README), the same for the same arguments;
 * domain is the primary domain. The caller owns the result (json_object_put).
 */
struct json_object *emu_fixture_generate(const char *domain, uint64_t seed, long n_users,
					 long n_groups);

/* One clause of a `query`: field (empty for a bare word), '=' or ':', value, trailing '*'. */
struct qclause {
	char field[48];
	char op;
	char *value;
	bool prefix;
};

struct emu_query {
	struct qclause *c;
	size_t n;
};

/*
 * Parses a users/groups `query` into q (free with emu_query_free). Values may be quoted with '
 * or " and use \ escapes. Returns 0; or -1 for a syntax error or a field not in fields (400
 * invalid "Invalid query"), -2 for an empty query or an unescaped apostrophe (400 invalid
 * "Invalid Input: query", as Google answers both).
 */
int emu_query_parse(const char *s, const char *const *fields, size_t n_fields,
		    struct emu_query *q);
void emu_query_free(struct emu_query *q);
/* emu_query_parse that writes Google's error into rs; returns 0 or -1. */
int emu_query_check(const char *s, const char *const *fields, size_t n_fields,
		    struct emu_query *q, struct emu_resp *rs);

/* A query parameter outside values (a NULL-terminated list, any case): writes 400
 * invalidParameter "Invalid value 'x'. Values must be one of: …" into rs and returns true. */
bool emu_enum_param_bad(struct emu_req *rq, struct emu_resp *rs, const char *name,
			const char *const *values);

#endif /* EMU_INT_H */
