/*
 * plan_shared — what the user planners (plan_users.c, plan_import.c) share, so that both
 * directions read Google's resources and the replica's typed arrays the same way: JSON accessors,
 * the primary organization, the phone and address types a rule can manage and the replica ↔
 * Google address keys. Pure; part of the gwsync_plan library only (defined in plan_users.c).
 */
#ifndef GWSYNC_SYNC_PLAN_SHARED_H
#define GWSYNC_SYNC_PLAN_SHARED_H

#include <json-c/json.h>
#include <stdbool.h>

#include "plan_users.h"

/* A string / true boolean / array member of o, or NULL / false / NULL (o may be NULL). */
const char *plan_jstr(struct json_object *o, const char *key);
bool plan_jbool(struct json_object *o, const char *key);
struct json_object *plan_jarr(struct json_object *o, const char *key);

/* The primary organization of a Google user (primary: true, else the first), or NULL. */
struct json_object *plan_primary_org(struct json_object *g);

struct plan_type_bit {
	const char *type;
	unsigned bit;
};

#define PLAN_PHONE_TYPES 6
#define PLAN_ADDRESS_TYPES 3
#define PLAN_ADDRESS_KEYS 6
extern const struct plan_type_bit plan_phone_types[PLAN_PHONE_TYPES];
extern const struct plan_type_bit plan_address_types[PLAN_ADDRESS_TYPES];
/* {replica key, Google key} of an address, in the order the canonical form uses. */
extern const char *const plan_address_keys[PLAN_ADDRESS_KEYS][2];

#define PLAN_PHONE_BITS                                                                        \
	(PLAN_ATTR_HOME_PHONES | PLAN_ATTR_MOBILE_PHONES | PLAN_ATTR_OTHER_PHONES |            \
	 PLAN_ATTR_WORK_PHONES | PLAN_ATTR_WORK_FAX_PHONES | PLAN_ATTR_WORK_MOBILE_PHONES)
#define PLAN_ADDRESS_BITS                                                                      \
	(PLAN_ATTR_HOME_ADDRESSES | PLAN_ATTR_WORK_ADDRESSES | PLAN_ATTR_OTHER_ADDRESSES)

/* Whether entries of this phone (or address) type are managed under mask. */
bool plan_type_managed(const char *type, unsigned mask, bool phones);

/*
 * The entries of arr (phones or addresses) whose type mask manages, in one canonical form (Google
 * keys, sorted) as JSON text (malloc'd; NULL when out of memory): equal texts mean equal managed
 * parts. dir_keys: arr uses the replica's keys (snake case).
 */
char *plan_managed_text(struct json_object *arr, unsigned mask, bool phones, bool dir_keys);

#endif
