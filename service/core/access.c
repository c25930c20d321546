#include "access.h"

#include <string.h>

static const char *const role_names[] = {"none", "reader", "editor", "operator"};

enum access_role access_role_parse(const char *s)
{
	for (int i = ACCESS_READER; i <= ACCESS_OPERATOR; i++) {
		if (s && strcmp(s, role_names[i]) == 0)
			return (enum access_role)i;
	}
	return ACCESS_NONE;
}

const char *access_role_name(enum access_role role)
{
	if (role < ACCESS_NONE || role > ACCESS_OPERATOR)
		return "none";
	return role_names[role];
}
