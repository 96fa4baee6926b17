/* test_openapi.c: api/openapi.yaml and the server's route table name the same routes. */
#include "harness.h"
#include "server/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX 256

static int load_spec(char routes[][300])
{
	FILE *f = fopen(WATTLE_SRC "/api/openapi.yaml", "r");
	ck_assert_msg(f, "cannot open api/openapi.yaml");
	char line[512], path[128] = "";
	int n = 0, in_paths = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!strncmp(line, "paths:", 6)) {
			in_paths = 1;
			continue;
		}
		if (in_paths && line[0] && line[0] != ' ' && line[0] != '#')
			in_paths = 0; /* the next top-level key */
		if (!in_paths)
			continue;
		char word[128];
		if (line[0] == ' ' && line[1] == ' ' && line[2] == '/' && sscanf(line + 2, "%127[^:]:", word) == 1) {
			snprintf(path, sizeof path, "%s", word);
		} else if (!strncmp(line, "    ", 4) && line[4] != ' ' &&
			   sscanf(line + 4, "%127[a-z]:", word) == 1) {
			static const char *methods[] = {"get", "post", "patch", "put", "delete"};
			for (int i = 0; i < 5; i++)
				if (!strcmp(word, methods[i])) {
					ck_assert(n < MAX);
					for (char *p = word; *p; p++)
						*p = (char)(*p - 'a' + 'A');
					snprintf(routes[n++], 300, "%s %s", word, path);
				}
		}
	}
	fclose(f);
	return n;
}

START_TEST(spec_matches_route_table)
{
	static char spec[MAX][300];
	int n = load_spec(spec);
	ck_assert_int_gt(n, 10);
	int nroutes = api_route_count();
	for (int i = 0; i < nroutes; i++) {
		char want[160];
		snprintf(want, sizeof want, "%s %s", api_routes[i].method, api_routes[i].pattern);
		int found = 0;
		for (int k = 0; k < n && !found; k++)
			found = !strcmp(spec[k], want);
		ck_assert_msg(found, "route %s is not in api/openapi.yaml", want);
	}
	for (int k = 0; k < n; k++) {
		int found = 0;
		for (int i = 0; i < nroutes && !found; i++) {
			char have[160];
			snprintf(have, sizeof have, "%s %s", api_routes[i].method, api_routes[i].pattern);
			found = !strcmp(spec[k], have);
		}
		ck_assert_msg(found, "api/openapi.yaml has %s, which the server does not route", spec[k]);
	}
	ck_assert_int_eq(n, nroutes);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("openapi");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, spec_matches_route_table);
	suite_add_tcase(s, tc);
	return th_run(s);
}
