/*
 * utf8 — decoding UTF-8, and the check of JSON text before a parser sees it.
 *
 * json-c replaces what it cannot decode (an unpaired surrogate escape becomes U+FFFD), passes
 * bytes that are not UTF-8 through, and keeps the last of two members with the same name, so a
 * body or event that is checked only after parsing is silently changed or guessed at.
 * json_text_check() finds such a string or name in the raw text and names it by its JSON
 * pointer, so the API (400) and the directory events (dead letter) refuse it the same way.
 * Thread-safe; the check allocates (the names of the open objects) and frees before it returns.
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

/* The rules json_text_check() enforces, for messages. */
#define JSON_TEXT_UNICODE_RULE "must be valid Unicode: UTF-8, and no unpaired surrogate (\\ud800-\\udfff)"
#define JSON_TEXT_DUPLICATE_RULE "must appear only once in its object"

enum json_text_fault {
	JSON_TEXT_OK = 0,
	JSON_TEXT_BAD_UNICODE,	  /* a string (value or member name) that is not valid Unicode */
	JSON_TEXT_DUPLICATE_NAME, /* a member name its object already has (RFC 8259 §4) */
	JSON_TEXT_NOMEM,
};

/*
 * Checks the JSON text of len bytes, to its first fault:
 * - every string (member names included): its raw bytes must be UTF-8 and each \uD800-\uDBFF
 *   escape must be followed by a \uDC00-\uDFFF one (and no low one stand alone);
 * - the member names of each object must differ once decoded ("a" and "\u0061" are the same).
 * Returns JSON_TEXT_OK when they hold (or when the text is not JSON: the parser reports that).
 * Otherwise writes the JSON pointer of the fault to pointer (cap bytes, cut to fit): "/a/0/b" for
 * a bad value, the object's pointer for a bad member name, the member's pointer ("/o/name") for a
 * repeated name; and its byte offset to *offset (the repeated name's opening quote). Names are
 * compared when their object closes, so a repetition is reported even when a Unicode fault
 * follows it in the text, and never in an object the text does not close (malformed anyway).
 */
enum json_text_fault json_text_check(const char *text, size_t len, char *pointer, size_t cap,
				     size_t *offset);

#endif
