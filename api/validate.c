#include "validate.h"

#include <stdint.h>
#include <string.h>

/* Decodes one UTF-8 sequence; returns its length or 0 when it is not valid UTF-8. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t len;
	uint32_t min;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		min = 0x80;
		*cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		min = 0x800;
		*cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		min = 0x10000;
		*cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
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
