/*
 * google_batch — many Directory calls in one HTTP request (API-NOTES §5).
 *
 * A batch is multipart/mixed: one application/http part per call (≤ GOOGLE_BATCH_MAX), each with
 * a Content-ID "<item<i>:<tag>@gwsync>". Google answers 200 with a multipart body whose parts
 * carry "<response-item<i>:<tag>@gwsync>", in any order: results are matched by Content-ID, never
 * by position. Each part has its own status and body and is classified like a single call; parts
 * with a transient error are sent again in a smaller batch after a backoff, within the client's
 * retry policy. A failure of the whole request (401 after refresh, 5xx, a transport error) is an
 * ordinary error of google_batch(); a request that timed out is sent again (within the policy)
 * only when no part is a POST (a create may have happened: the caller reconciles it instead).
 *
 * Ownership: items are caller storage; the in-fields are borrowed for the call, the out-fields
 * own their body until google_batch_items_cleanup(). Threads: as google_call().
 */
#ifndef GWSYNC_GOOGLE_BATCH_H
#define GWSYNC_GOOGLE_BATCH_H

#include <stddef.h>

#include "err.h"
#include "google_client.h"

#define GOOGLE_BATCH_MAX 1000
#define GOOGLE_BATCH_PATH "/batch/admin/directory_v1"
#define GOOGLE_BATCH_TAG_MAX 32

struct google_batch_item {
	/* in */
	const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *path;   /* "/admin/directory/v1/...", percent-encoded */
	const char *body;   /* JSON, or NULL */
	/* out */
	int status;	 /* the part's HTTP status; 0 when the response had no such part */
	char *resp_body; /* owned; NUL-terminated; NULL when the part had no body */
	size_t resp_len;
	int retryable; /* the part's error is transient (its retries are used up) */
	struct err e;  /* E_OK for a 2xx part (with a JSON object where one is due), else classified
			  (reason, msg, status; invalid_response for an empty or non-JSON 2xx) */
};

/*
 * Sends items[0..n) (1 ≤ n ≤ GOOGLE_BATCH_MAX) as one batch and fills each item's out-fields.
 * Returns E_OK when the batch itself went through, whatever the parts' outcomes (look at each
 * item's e.code; a retry round that failed as a whole leaves its calls with that error); else the
 * error of the whole first request (items' out-fields then say status 0).
 * Errors: E_INVAL (n, method or path), E_NOMEM, google_call's errors, E_UPSTREAM for a response
 * that is not a multipart batch answer.
 */
int google_batch(struct google_client *gc, struct google_batch_item *items, size_t n,
		 struct err *e);

/* Frees the out-fields of items[0..n) and zeroes them. */
void google_batch_items_cleanup(struct google_batch_item *items, size_t n);

/*
 * The request body for items[idx[0..n)] with the given boundary and tag (pure; for tests and the
 * batch itself). *out (len bytes, NUL-terminated) owned by the caller. Errors: E_INVAL, E_NOMEM.
 */
int google_batch_build(const struct google_batch_item *items, const size_t *idx, size_t n,
		       const char *boundary, const char *tag, char **out, size_t *len,
		       struct err *e);

/*
 * Parses a batch answer (content_type carries the boundary) into items[0..n_items): a part whose
 * Content-ID is "response-item<i>:<tag>@gwsync" with i < n_items fills items[i] (earlier results
 * of that item are freed first); parts with other ids are ignored. Returns the number of parts
 * matched (≥ 0), or -1 with e set (E_UPSTREAM) when the body is not multipart.
 */
int google_batch_parse(const char *content_type, const char *body, size_t len, const char *tag,
		       struct google_batch_item *items, size_t n_items, struct err *e);

#endif
