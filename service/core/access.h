/*
 * access — the roles an API key can hold. Each role includes the ones below it:
 * reader (read the tenant's resources) < editor (change them) < operator (manage tenants and keys).
 */
#ifndef GWSYNC_CORE_ACCESS_H
#define GWSYNC_CORE_ACCESS_H

enum access_role {
	ACCESS_NONE = 0,
	ACCESS_READER = 1,
	ACCESS_EDITOR = 2,
	ACCESS_OPERATOR = 3,
};

/* "reader" | "editor" | "operator" → role; ACCESS_NONE for anything else (including NULL). */
enum access_role access_role_parse(const char *s);

/* Stable name of a role ("reader"); "none" for ACCESS_NONE. */
const char *access_role_name(enum access_role role);

#endif
