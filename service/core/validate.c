#include "validate.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

/*
 * One UTF-8 sequence of a NUL-terminated string: utf8_decode stops at the first byte that is not
 * a continuation byte, so it never reads past the terminator.
 */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
	return utf8_decode(s, 4, cp);
}

static int is_space(uint32_t cp)
{
	return cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || cp == 0x85 || cp == 0xa0 ||
	       cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0x202f || cp == 0x205f || cp == 0x3000 || cp == 0xfeff;
}

const char *validate_name(const char *s, size_t max_chars)
{
	if (!s || !*s)
		return "must not be empty";
	size_t chars = 0;
	int visible = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t cp;
		size_t len = utf8_next(p, &cp);
		if (!len)
			return "must be valid UTF-8";
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
			return "must not contain control characters";
		if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe)
			return "must not contain invalid characters";
		if (!is_space(cp))
			visible = 1;
		chars++;
		p += len;
	}
	if (chars > max_chars)
		return max_chars == 255 ? "must be at most 255 characters" : "is too long";
	if (!visible)
		return "must not be only white space";
	return NULL;
}

/* ---- the directory replica (users and groups) ---- */

int validate_directory_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > VALIDATE_DIRECTORY_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

static int is_alnum_ascii(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

const char *validate_email(const char *s)
{
	if (!s || !*s)
		return "must not be empty";
	size_t n = strlen(s);
	if (n > VALIDATE_EMAIL_MAX)
		return "must be at most 254 characters";
	const char *at = strchr(s, '@');
	if (!at || strchr(at + 1, '@'))
		return "must be an email address with one @";
	size_t local = (size_t)(at - s);
	if (local == 0)
		return "must have a local part before the @";
	if (local > 64)
		return "must have a local part of at most 64 characters";
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (i == 0 || i + 1 == local || s[i + 1] == '.')
				return "must not have a period at the start or end of the "
				       "local part, or two in a row";
		} else if (!is_alnum_ascii(c) && !strchr("!#$%&'*+/=?^_`{|}~-", c)) {
			return "must have a local part of letters, digits and !#$%&'*+/=?^_`{|}~.-";
		}
	}
	const char *d = at + 1;
	if (!*d)
		return "must have a domain after the @";
	int labels = 0;
	while (*d) {
		size_t len = strcspn(d, ".");
		if (len == 0 || len > 63)
			return "must have a domain of labels of 1 to 63 characters separated "
			       "by periods";
		int digits_only = 1;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)d[i];
			if (!is_alnum_ascii(c) && c != '-')
				return "must have a domain of letters, digits, hyphens and periods";
			if (!(c >= '0' && c <= '9'))
				digits_only = 0;
		}
		if (d[0] == '-' || d[len - 1] == '-')
			return "must not have a domain label that starts or ends with a hyphen";
		labels++;
		d += len;
		if (*d == '.') {
			d++;
			if (!*d)
				return "must not end with a period";
		} else if (digits_only) {
			return "must have a domain whose last label is not all digits";
		}
	}
	if (labels < 2)
		return "must have a domain with at least two labels (example.com)";
	return NULL;
}

/* Valid UTF-8, no control characters; counts characters and visible ones. */
static const char *text_scan(const char *s, int multiline, size_t *chars, int *visible)
{
	const unsigned char *p = (const unsigned char *)s;
	*chars = 0;
	*visible = 0;
	while (*p) {
		uint32_t cp;
		size_t len = utf8_next(p, &cp);
		if (!len)
			return "must be valid UTF-8";
		int allowed_ctl = multiline && (cp == '\n' || cp == '\r' || cp == '\t');
		if (!allowed_ctl && (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)))
			return "must not contain control characters";
		if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe)
			return "must not contain invalid characters";
		if (!is_space(cp))
			*visible = 1;
		(*chars)++;
		p += len;
	}
	return NULL;
}

const char *validate_text(const char *s, size_t max_chars, int multiline)
{
	if (!s || !*s)
		return "must not be empty";
	size_t chars;
	int visible;
	const char *why = text_scan(s, multiline, &chars, &visible);
	if (why)
		return why;
	if (chars > max_chars)
		return max_chars == 255 ? "must be at most 255 characters"
		       : max_chars == 32 ? "must be at most 32 characters"
		       : max_chars == 1024 ? "must be at most 1024 characters"
		       : max_chars == 4096 ? "must be at most 4096 characters"
					   : "is too long";
	if (!visible)
		return "must not be only white space";
	return NULL;
}

const char *validate_phone(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 3 || n > 64)
		return "must be 3 to 64 characters";
	int digits = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= '0' && c <= '9')
			digits++;
		else if (!strchr(" +-().", c))
			return "must contain only digits, spaces and + - ( ) .";
	}
	if (!digits)
		return "must contain a digit";
	return NULL;
}

/* ---- one rule per field of the directory replica ---- */

enum field_kind { FIELD_EMAIL, FIELD_ID, FIELD_TEXT, FIELD_LINES };

struct field_rule {
	const char *field;
	enum field_kind kind;
	size_t max_chars;
};

static const struct field_rule user_rules[] = {
	{"email", FIELD_EMAIL, VALIDATE_EMAIL_MAX},
	{"first_name", FIELD_TEXT, VALIDATE_DIRECTORY_NAME_MAX},
	{"last_name", FIELD_TEXT, VALIDATE_DIRECTORY_NAME_MAX},
	{"alternate_email", FIELD_EMAIL, VALIDATE_EMAIL_MAX},
	{"manager_id", FIELD_ID, VALIDATE_DIRECTORY_ID_MAX},
	{"cost_center", FIELD_TEXT, VALIDATE_DIRECTORY_ATTR_MAX},
	{"department", FIELD_TEXT, VALIDATE_DIRECTORY_ATTR_MAX},
	{"employee_type", FIELD_TEXT, VALIDATE_DIRECTORY_ATTR_MAX},
	{"job_title", FIELD_TEXT, VALIDATE_DIRECTORY_ATTR_MAX},
	{"employee_id", FIELD_TEXT, VALIDATE_DIRECTORY_ATTR_MAX},
	{"company", FIELD_TEXT, VALIDATE_DIRECTORY_ATTR_MAX},
	{"location", FIELD_TEXT, VALIDATE_DIRECTORY_ATTR_MAX},
	{NULL, FIELD_TEXT, 0},
};

static const struct field_rule group_rules[] = {
	{"name", FIELD_TEXT, VALIDATE_DIRECTORY_NAME_MAX},
	{"description", FIELD_LINES, VALIDATE_GROUP_DESCRIPTION_MAX},
	{"email", FIELD_EMAIL, VALIDATE_EMAIL_MAX},
	{NULL, FIELD_TEXT, 0},
};

static const char *field_check(const struct field_rule *rules, const char *field,
			       const char *value)
{
	const struct field_rule *r = rules;
	while (r->field && strcmp(r->field, field) != 0)
		r++;
	if (!r->field)
		return NULL;
	switch (r->kind) {
	case FIELD_EMAIL:
		return validate_email(value);
	case FIELD_ID:
		return validate_directory_id(value) ? NULL
						    : "must be an id of 1 to 128 characters of "
						      "A-Z a-z 0-9 . _ : -";
	case FIELD_TEXT:
	case FIELD_LINES:
		break;
	}
	return validate_text(value, r->max_chars, r->kind == FIELD_LINES);
}

const char *validate_user_field(const char *field, const char *value)
{
	return field_check(user_rules, field, value);
}

const char *validate_group_field(const char *field, const char *value)
{
	return field_check(group_rules, field, value);
}

const char *const validate_address_types[] = {"home", "work", "other", NULL};
const char *const validate_phone_types[] = {"home", "mobile",	   "other",
					    "work", "work_fax", "work_mobile", NULL};

static const struct field_rule address_rules[] = {
	{"street_address", FIELD_LINES, 255}, {"locality", FIELD_TEXT, 255},
	{"region", FIELD_TEXT, 255},	      {"postal_code", FIELD_TEXT, 32},
	{"country", FIELD_TEXT, 255},	      {"formatted", FIELD_LINES, 1024},
	{NULL, FIELD_TEXT, 0},
};

static int listed(const char *const *list, const char *s)
{
	for (; *list; list++) {
		if (strcmp(*list, s) == 0)
			return 1;
	}
	return 0;
}

const char *validate_address_member(const char *member, const char *value)
{
	if (strcmp(member, "type") == 0)
		return listed(validate_address_types, value) ? NULL
							     : "must be one of home, work, other";
	const struct field_rule *r = address_rules;
	while (r->field && strcmp(r->field, member) != 0)
		r++;
	if (!r->field)
		return "unknown field";
	return field_check(address_rules, member, value);
}

const char *validate_phone_member(const char *member, const char *value)
{
	if (strcmp(member, "type") == 0)
		return listed(validate_phone_types, value)
			       ? NULL
			       : "must be one of home, mobile, other, work, work_fax, work_mobile";
	if (strcmp(member, "value") == 0)
		return validate_phone(value);
	return "unknown field";
}
