#include "attributes.h"

#include <string.h>

#define BOTH (ATTR_IMPORT | ATTR_EXPORT)

const struct attribute_def attribute_catalogue[] = {
	{"email", "primaryEmail", BOTH, true, false},
	{"first_name", "name.givenName", BOTH, true, false},
	{"last_name", "name.familyName", BOTH, true, false},
	{"password", "password", ATTR_EXPORT, false, true},
	{"state", "suspended", ATTR_EXPORT, false, true},
	{"manager", "relations[type=manager]", ATTR_EXPORT, false, false},
	{"alternate_email", "emails[]", BOTH, false, false},
	{"cost_center", "organizations[primary].costCenter", BOTH, false, false},
	{"department", "organizations[primary].department", BOTH, false, false},
	{"employee_type", "organizations[primary].description", BOTH, false, false},
	{"job_title", "organizations[primary].title", BOTH, false, false},
	{"employee_id", "externalIds[type=organization]", BOTH, false, false},
	{"home_addresses", "addresses[type=home]", BOTH, false, false},
	{"work_addresses", "addresses[type=work]", BOTH, false, false},
	{"other_addresses", "addresses[type=other]", BOTH, false, false},
	{"home_phones", "phones[type=home]", BOTH, false, false},
	{"mobile_phones", "phones[type=mobile]", BOTH, false, false},
	{"other_phones", "phones[type=other]", BOTH, false, false},
	{"work_phones", "phones[type=work]", BOTH, false, false},
	{"work_fax_phones", "phones[type=work_fax]", BOTH, false, false},
	{"work_mobile_phones", "phones[type=work_mobile]", BOTH, false, false},
};

const size_t attribute_catalogue_count = sizeof(attribute_catalogue) / sizeof(attribute_catalogue[0]);

const struct attribute_def *attribute_find(const char *name)
{
	for (size_t i = 0; i < attribute_catalogue_count; i++) {
		if (strcmp(attribute_catalogue[i].name, name) == 0)
			return &attribute_catalogue[i];
	}
	return NULL;
}
