/* test_openapi.c: api/openapi.yaml and the server's route table name the same routes. */
#include "harness.h"
#include "server/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define MAX 256

/* Load api/openapi.yaml as a YAML document (libyaml, as any tool that reads the spec would:
 * a file that does not parse fails here), and list "METHOD /path" for each operation under
 * the top-level paths mapping. */
static int load_spec(char routes[][300])
{
	FILE *f = fopen(WATTLE_SRC "/api/openapi.yaml", "r");
	ck_assert_msg(f, "cannot open api/openapi.yaml");
	yaml_parser_t parser;
	yaml_document_t doc;
	ck_assert(yaml_parser_initialize(&parser));
	yaml_parser_set_input_file(&parser, f);
	int loaded = yaml_parser_load(&parser, &doc);
	ck_assert_msg(loaded, "api/openapi.yaml does not parse: %s at line %zu, column %zu",
		      parser.problem ? parser.problem : "?", parser.problem_mark.line + 1,
		      parser.problem_mark.column + 1);
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	ck_assert(root && root->type == YAML_MAPPING_NODE);
	yaml_node_t *paths = NULL;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&doc, p->key);
		if (k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, "paths"))
			paths = yaml_document_get_node(&doc, p->value);
	}
	ck_assert_msg(paths && paths->type == YAML_MAPPING_NODE, "api/openapi.yaml has no paths mapping");
	static const char *methods[] = {"get", "post", "patch", "put", "delete"};
	int n = 0;
	for (yaml_node_pair_t *p = paths->data.mapping.pairs.start; p < paths->data.mapping.pairs.top; p++) {
		yaml_node_t *path = yaml_document_get_node(&doc, p->key), *ops = yaml_document_get_node(&doc, p->value);
		ck_assert(path->type == YAML_SCALAR_NODE && ops->type == YAML_MAPPING_NODE);
		for (yaml_node_pair_t *o = ops->data.mapping.pairs.start; o < ops->data.mapping.pairs.top; o++) {
			yaml_node_t *m = yaml_document_get_node(&doc, o->key);
			for (int i = 0; i < 5; i++)
				if (m->type == YAML_SCALAR_NODE && !strcmp((char *)m->data.scalar.value, methods[i])) {
					ck_assert(n < MAX);
					char word[8] = "";
					for (int k = 0; methods[i][k]; k++)
						word[k] = (char)(methods[i][k] - 'a' + 'A');
					snprintf(routes[n++], 300, "%s %s", word, (char *)path->data.scalar.value);
				}
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
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
