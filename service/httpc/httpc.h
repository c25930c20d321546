/*
 * httpc — gwsync's HTTP client; the only user of libcurl.
 *
 * Owns: one libcurl easy handle per struct httpc (reused, so connections to the same host are
 * kept alive), timeouts, TLS verification (always on; plain http only when the options allow it,
 * for the emulator), gzip, a bound on response bodies and the capture of response headers.
 *
 * Threads: httpc_global_init()/httpc_global_cleanup() are called once by main, before any thread
 * starts / after they all stopped. A struct httpc is used by one thread at a time (keep one per
 * thread, or hand it over under a lock); everything else is thread-safe.
 *
 * Ownership: requests are caller storage and only borrowed for the call. A response is caller
 * storage filled by httpc_send(); it owns its body and headers until httpc_response_cleanup(),
 * which also wipes the body (a token answer is a secret). httpc never logs; error detail names the
 * method and the URL without its query, never a header or a body.
 *
 * Errors: a transport failure is an error (E_TIMEOUT for timeouts, E_UNAVAIL when the peer cannot
 * be reached or the connection broke, E_UPSTREAM for a body over the bound or a TLS verification
 * failure, E_INVAL for a URL or scheme that is not allowed). Any HTTP status, 4xx and 5xx
 * included, is a success of httpc_send(): the caller reads resp->status.
 */
#ifndef GWSYNC_HTTPC_H
#define GWSYNC_HTTPC_H

#include <stddef.h>

#include "err.h"

#define HTTPC_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define HTTPC_DEFAULT_TIMEOUT_MS 60000
#define HTTPC_DEFAULT_MAX_BODY_BYTES (32u * 1024 * 1024)
#define HTTPC_MAX_HEADERS 64	     /* response headers kept; later ones are dropped */
#define HTTPC_MAX_HEADER_BYTES 16384 /* total bytes of kept response headers */

struct httpc_options {
	long connect_timeout_ms; /* 0 → HTTPC_DEFAULT_CONNECT_TIMEOUT_MS */
	long timeout_ms;	 /* whole request; 0 → HTTPC_DEFAULT_TIMEOUT_MS */
	size_t max_body_bytes;	 /* decoded response body; 0 → HTTPC_DEFAULT_MAX_BODY_BYTES */
	int allow_http;		 /* 1: http:// URLs allowed (emulator, tests); else https only */
	const char *user_agent;	 /* copied; NULL → "gwsync/<version> (gzip)" */
	const char *ca_file;	 /* copied; NULL → the system's trust store */
};

struct httpc_request {
	const char *method;	    /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *url;	    /* absolute http(s) URL, already percent-encoded */
	const char *const *headers; /* n_headers "Name: value" lines; may hold secrets */
	size_t n_headers;
	const char *body; /* body_len bytes, or NULL */
	size_t body_len;
	long timeout_ms; /* > 0: this exchange (connect included) within it, if shorter than the
			    client's timeouts; 0: the client's */
};

struct httpc_header {
	char *name;
	char *value;
};

struct httpc_response {
	long status; /* HTTP status of the final response */
	char *body;  /* body_len bytes and a NUL; never NULL after a successful send */
	size_t body_len;
	struct httpc_header *headers; /* n_headers of the final response, in order */
	size_t n_headers;
	long elapsed_ms; /* total time of the exchange */
};

struct httpc;

/* curl_global_init: once in main before threads. Returns E_OK or E_INTERNAL. */
int httpc_global_init(void);

/* curl_global_cleanup: once in main after every thread stopped and every httpc was freed. */
void httpc_global_cleanup(void);

/* New client with its own connection cache. o may be NULL (defaults). *out NULL on failure.
 * Errors: E_NOMEM, E_INTERNAL. */
int httpc_new(const struct httpc_options *o, struct httpc **out, struct err *e);

/* Closes the connections and frees the client. NULL is a no-op. */
void httpc_free(struct httpc *h);

/*
 * Sends rq and fills resp (which must be zeroed or cleaned up before). On error resp holds
 * nothing to free. Redirects are not followed. The body is sent with Content-Type only when the
 * caller gives one in headers.
 */
int httpc_send(struct httpc *h, const struct httpc_request *rq, struct httpc_response *resp,
	       struct err *e);

/* Wipes the body, frees what resp owns and zeroes it. NULL is a no-op. */
void httpc_response_cleanup(struct httpc_response *resp);

/* Value of the first response header called name (case-insensitive), borrowed from resp; NULL
 * when absent. */
const char *httpc_response_header(const struct httpc_response *resp, const char *name);

/*
 * Percent-encodes s (every byte except ALPHA / DIGIT / "-._~", RFC 3986 unreserved) for a path
 * segment, a query value or an application/x-www-form-urlencoded value. *out is owned by the
 * caller (free(); wipe it first when s was a secret). Errors: E_NOMEM.
 */
int httpc_urlencode(const char *s, char **out, struct err *e);

#endif
