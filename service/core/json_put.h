/*
 * Adding a member to a json-c object without leaking it: json_object_object_add() keeps the value
 * only when it succeeds, and json_object_new_*() may return NULL. json_put() takes the value in
 * every case (drops it on failure), so a builder can chain calls and check once.
 * The one such helper for the whole service (api/, service/auth, service/sync use it).
 */
#ifndef GWSYNC_JSON_PUT_H
#define GWSYNC_JSON_PUT_H

#include <json-c/json.h>

/* Adds val under key, taking val. 0 on success; -1 when val is NULL or the add failed. */
int json_put(json_object *obj, const char *key, json_object *val);

#endif
