#include "problem.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_put.h"

void problem_set(struct problem *p, int status, const char *slug, const char *title,
		 const char *fmt, ...)
{
	p->status = status;
	p->slug = slug;
	p->title = title;
	p->n_errors = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->detail, sizeof(p->detail), fmt, ap);
	va_end(ap);
}

void problem_add_error(struct problem *p, const char *pointer, const char *fmt, ...)
{
	if (p->n_errors >= PROBLEM_MAX_ERRORS)
		return;
	struct problem_error *pe = &p->errors[p->n_errors++];
	snprintf(pe->pointer, sizeof(pe->pointer), "%s", pointer);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pe->detail, sizeof(pe->detail), fmt, ap);
	va_end(ap);
}

char *problem_render(const struct problem *p, const char *extra_json, size_t *len)
{
	json_object *jo = json_object_new_object();
	if (!jo)
		return NULL;
	char type[128];
	snprintf(type, sizeof(type), PROBLEM_TYPE_PREFIX "%s", p->slug);
	int bad = json_put(jo, "type", json_object_new_string(type)) ||
		  json_put(jo, "title", json_object_new_string(p->title)) ||
		  json_put(jo, "status", json_object_new_int(p->status)) ||
		  json_put(jo, "detail", json_object_new_string(p->detail));
	if (!bad && p->n_errors) {
		json_object *arr = json_object_new_array();
		bad = json_put(jo, "errors", arr);
		for (size_t i = 0; !bad && i < p->n_errors; i++) {
			json_object *item = json_object_new_object();
			if (!item || json_object_array_add(arr, item)) {
				json_object_put(item);
				bad = 1;
				break;
			}
			bad = json_put(item, "pointer",
				       json_object_new_string(p->errors[i].pointer)) ||
			      json_put(item, "detail", json_object_new_string(p->errors[i].detail));
		}
	}
	if (!bad && extra_json) {
		json_object *extra = json_tokener_parse(extra_json);
		if (extra && json_object_is_type(extra, json_type_object)) {
			json_object_object_foreach(extra, key, val)
			{
				if (!json_object_object_get_ex(jo, key, NULL))
					bad |= json_put(jo, key, json_object_get(val));
			}
		}
		json_object_put(extra);
	}
	char *out = NULL;
	if (!bad) {
		size_t n = 0;
		const char *s = json_object_to_json_string_length(jo, JSON_C_TO_STRING_PLAIN, &n);
		out = s ? strndup(s, n) : NULL;
		if (out && len)
			*len = n;
	}
	json_object_put(jo);
	return out;
}
