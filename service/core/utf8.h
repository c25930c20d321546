/*
 * utf8 — decoding UTF-8, and the Unicode check of JSON text before a parser sees it.
 *
 * json-c replaces what it cannot decode (an unpaired surrogate escape becomes U+FFFD) and passes
 * bytes that are not UTF-8 through, so a body or event that is checked only after parsing is
 * silently changed. json_text_unicode_check() finds such a string in the raw text and names it by
 * its JSON pointer, so the API (400) and the directory events (dead letter) refuse it the same way.
 * Pure functions over caller storage; thread-safe.
 */
#ifndef GWSYNC_CORE_UTF8_H
#define GWSYNC_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decodes the UTF-8 sequence at s (at most left bytes). Returns its length (1..4) and the code
 * point in *cp, or 0 when the bytes are not valid UTF-8 (overlong forms, surrogates and values
 * above U+10FFFF included).
 */
size_t utf8_decode(const unsigned char *s, size_t left, uint32_t *cp);

/* The rule json_text_unicode_check() enforces, for messages. */
#define JSON_TEXT_UNICODE_RULE "must be valid Unicode: UTF-8, and no unpaired surrogate (\\ud800-\\udfff)"

/*
 * Checks every string (member names included) of the JSON text of len bytes: its raw bytes must be
 * UTF-8 and each \uD800-\uDBFF escape must be followed by a \uDC00-\uDFFF one (and no low one
 * stand alone). Returns 0 when they are (or when the text is not JSON: the parser reports that).
 * Returns 1 at the first offending string and writes its JSON pointer to pointer (cap bytes, cut
 * to fit; "/a/0/b" for a value, the object's pointer for a member name) and the byte offset of
 * the fault to *offset.
 */
int json_text_unicode_check(const char *text, size_t len, char *pointer, size_t cap,
			    size_t *offset);

#endif
