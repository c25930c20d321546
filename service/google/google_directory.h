/*
 * google_directory — the Directory API reads that tell what a token can do (API-NOTES §2, §6):
 * the customer (id, primary domain), the domains with their verified flags, and a probe of the
 * privileges gwsync needs (users, groups, domains), each read with the smallest page.
 *
 * Threads and ownership as google_client.h; a struct google_probe is caller storage whose domain
 * list is freed by google_probe_cleanup().
 */
#ifndef GWSYNC_GOOGLE_DIRECTORY_H
#define GWSYNC_GOOGLE_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "google_client.h"

enum google_priv {
	GOOGLE_PRIV_USERS = 1,
	GOOGLE_PRIV_GROUPS = 2,
	GOOGLE_PRIV_DOMAINS = 4,
};

struct google_probe {
	char customer_id[64];	  /* "" when no read revealed it */
	char primary_domain[256]; /* "" when unknown */
	char **domains;		  /* n_domains lower-case names (owned) */
	bool *verified;
	size_t n_domains;
	unsigned missing;	/* GOOGLE_PRIV_* the token may not use */
	struct err denied[3];	/* Google's answer per missing privilege (index = bit number) */
};

/*
 * Reads customers.get(my_customer), users.list, groups.list (maxResults=1 each) and domains.list.
 * A 403 forbidden / insufficientPermissions on one of them marks that privilege missing (the
 * customer read is optional: its id then comes from a user, the primary domain from the domain
 * list); any other failure ends the probe with that error (e.g. E_FORBIDDEN with reason
 * domainCannotUseApis or accessNotConfigured, a token error, E_UNAVAIL). Calls succeed → E_OK,
 * even when privileges are missing.
 */
int google_probe_run(struct google_client *gc, struct google_probe *out, struct err *e);

/*
 * domains.list alone: fills out's domains, verified flags and primary domain (the other fields
 * stay empty); free with google_probe_cleanup(). Errors as google_call().
 */
int google_domains_read(struct google_client *gc, struct google_probe *out, struct err *e);

/* Frees the domain list; zeroes p. */
void google_probe_cleanup(struct google_probe *p);

#endif
