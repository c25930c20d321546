/*
 * attributes — the catalogue of user attributes gwsync can sync (the attribute rules of
 * openapi.yaml): which directory field maps to which Google field and in which directions it may
 * flow. Constant data; thread-safe.
 */
#ifndef GWSYNC_CORE_ATTRIBUTES_H
#define GWSYNC_CORE_ATTRIBUTES_H

#include <stdbool.h>
#include <stddef.h>

enum attribute_dir {
	ATTR_IMPORT = 1,
	ATTR_EXPORT = 2,
};

struct attribute_def {
	const char *name;	  /* rule name, e.g. "job_title" */
	const char *google_field; /* e.g. "organizations[primary].title" */
	unsigned allowed;	  /* enum attribute_dir bits */
	bool always;		  /* always synced both ways; no rule can change it */
	bool default_export;	  /* exported on a new integration */
};

extern const struct attribute_def attribute_catalogue[];
extern const size_t attribute_catalogue_count;

/* The definition named name, or NULL. */
const struct attribute_def *attribute_find(const char *name);

#endif
