/*
 * validate — checks of values, shared by the API's handlers and the directory events the worker
 * applies (one set of rules for both paths). Pure functions; each returns NULL when the value is
 * acceptable or a static text saying what is wrong.
 */
#ifndef GWSYNC_API_VALIDATE_H
#define GWSYNC_API_VALIDATE_H

#include <stddef.h>

/*
 * A display name: valid UTF-8, 1..max characters (code points), not only white space, no control
 * characters (C0, DEL, C1) and no Unicode non-characters.
 */
const char *validate_name(const char *s, size_t max_chars);

/* ---- the directory replica (users and groups) ---- */

#define VALIDATE_DIRECTORY_ID_MAX 128
#define VALIDATE_EMAIL_MAX 254
#define VALIDATE_DIRECTORY_NAME_MAX 255 /* first and last names, group names in the replica */
#define VALIDATE_DIRECTORY_ATTR_MAX 255 /* each optional text attribute of a user */
#define VALIDATE_GROUP_DESCRIPTION_MAX 4096

/*
 * The replica's rule for one field of a directory user: email, first_name, last_name,
 * alternate_email, manager_id, cost_center, department, employee_type, job_title, employee_id,
 * company, location. The REST API and directory events check every field they take with it, so
 * the replica accepts the same users on both paths: what the platform may really hold (bounded
 * sizes, valid UTF-8 without control characters, RFC 5321 mailboxes without quoted strings).
 * Google's stricter rules (names, usernames) are the sync planner's (service/sync/plan_users.c),
 * which reports them per user. NULL when value is acceptable, or for a field with no rule.
 */
const char *validate_user_field(const char *field, const char *value);

/* The same for a directory group: name, description (may span lines), email. */
const char *validate_group_field(const char *field, const char *value);

/* A user's addresses and phones (arrays of objects), by member, on both paths alike. */
#define VALIDATE_ADDRESSES_MAX 10
#define VALIDATE_PHONES_MAX 20
extern const char *const validate_address_types[]; /* NULL-terminated */
extern const char *const validate_phone_types[];   /* NULL-terminated */

/*
 * One member of an address: type (one of validate_address_types), street_address, locality,
 * region, postal_code, country, formatted (text; street_address and formatted may span lines).
 * "unknown field" for any other name.
 */
const char *validate_address_member(const char *member, const char *value);

/* One member of a phone: type (one of validate_phone_types) or value (validate_phone). */
const char *validate_phone_member(const char *member, const char *value);

/* An id the platform chose for a user or group: 1..128 of [A-Za-z0-9._:-]. 1 when valid. */
int validate_directory_id(const char *s);

/*
 * An email address (RFC 5321 without quoted local parts): at most 254 characters, one '@', a
 * dot-atom local part of at most 64 characters, a domain of at least two LDH labels (each 1..63,
 * no leading or trailing '-') whose last label is not all digits. ASCII only.
 */
const char *validate_email(const char *s);

/*
 * Free text of an optional attribute: valid UTF-8, 1..max_chars characters, no control
 * characters (line feed, carriage return and tab allowed when multiline is not 0).
 */
const char *validate_text(const char *s, size_t max_chars, int multiline);

/* A phone number: 3..64 characters of digits, ' ', '+', '-', '(', ')', '.', with a digit. */
const char *validate_phone(const char *s);

#endif
