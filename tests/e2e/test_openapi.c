/* test_openapi.c: api/openapi.yaml and the server's route table name the same routes, and
 * every operation is complete as the file's opening comment asks: a unique camelCase
 * operationId, declared tags, a summary, security as the route's roles say (x-roles), a
 * requestBody where the route takes one, a success reply with a schema (or a 204 without
 * content), and the error replies every such route can give. */
#include "harness.h"
#include "server/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>
#include <ctype.h>

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

/* A route's pattern as the spec writes it: a rest-of-path {name*} is {name} there. */
static const char *spec_pattern(const char *pattern)
{
	static _Thread_local char out[120];
	size_t k = 0;
	for (const char *p = pattern; *p && k + 1 < sizeof out; p++)
		if (!(*p == '*' && p[1] == '}'))
			out[k++] = *p;
	out[k] = 0;
	return out;
}

START_TEST(spec_matches_route_table)
{
	static char spec[MAX][300];
	int n = load_spec(spec);
	ck_assert_int_gt(n, 10);
	int nroutes = api_route_count();
	for (int i = 0; i < nroutes; i++) {
		char want[160];
		snprintf(want, sizeof want, "%s %s", api_routes[i].method, spec_pattern(api_routes[i].pattern));
		int found = 0;
		for (int k = 0; k < n && !found; k++)
			found = !strcmp(spec[k], want);
		ck_assert_msg(found, "route %s is not in api/openapi.yaml", want);
	}
	for (int k = 0; k < n; k++) {
		int found = 0;
		for (int i = 0; i < nroutes && !found; i++) {
			char have[160];
			snprintf(have, sizeof have, "%s %s", api_routes[i].method, spec_pattern(api_routes[i].pattern));
			found = !strcmp(spec[k], have);
		}
		ck_assert_msg(found, "api/openapi.yaml has %s, which the server does not route", spec[k]);
	}
	ck_assert_int_eq(n, nroutes);
}
END_TEST

static yaml_node_t *get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n) { return n && n->type == YAML_SCALAR_NODE ? (char *)n->data.scalar.value : NULL; }
static int seq_len(yaml_node_t *n)
{
	return n && n->type == YAML_SEQUENCE_NODE ? (int)(n->data.sequence.items.top - n->data.sequence.items.start) : -1;
}
static yaml_node_t *seq_at(yaml_document_t *d, yaml_node_t *n, int i)
{
	return yaml_document_get_node(d, n->data.sequence.items.start[i]);
}

/* A response, following one $ref into components/responses. */
static yaml_node_t *deref_response(yaml_document_t *d, yaml_node_t *root, yaml_node_t *r)
{
	const char *ref = scalar(get(d, r, "$ref"));
	const char *prefix = "#/components/responses/";
	if (ref && !strncmp(ref, prefix, strlen(prefix)))
		return get(d, get(d, get(d, root, "components"), "responses"), ref + strlen(prefix));
	return r;
}

static const struct route *route_of(const char *method, const char *path)
{
	for (int i = 0; api_routes[i].method; i++)
		if (!strcasecmp(api_routes[i].method, method) && !strcmp(spec_pattern(api_routes[i].pattern), path))
			return &api_routes[i];
	return NULL;
}

START_TEST(every_operation_is_complete)
{
	FILE *f = fopen(WATTLE_SRC "/api/openapi.yaml", "r");
	ck_assert_ptr_nonnull(f);
	yaml_parser_t parser;
	yaml_document_t doc;
	ck_assert(yaml_parser_initialize(&parser));
	yaml_parser_set_input_file(&parser, f);
	ck_assert(yaml_parser_load(&parser, &doc));
	yaml_node_t *root = yaml_document_get_root_node(&doc), *paths = get(&doc, root, "paths");
	yaml_node_t *tags = get(&doc, root, "tags");
	ck_assert_msg(seq_len(tags) > 0, "api/openapi.yaml declares no tags");
	static const char *roles[] = {"admin", "finance", "operator", "gateway", "tenant"};
	static char ids[MAX][80];
	int nids = 0;
	char problems[16384] = "";
#define PROBLEM(...)                                                                                                   \
	snprintf(problems + strlen(problems), sizeof problems - strlen(problems), "\n  " __VA_ARGS__)
	for (yaml_node_pair_t *p = paths->data.mapping.pairs.start; p < paths->data.mapping.pairs.top; p++) {
		const char *path = scalar(yaml_document_get_node(&doc, p->key));
		yaml_node_t *ops = yaml_document_get_node(&doc, p->value);
		for (yaml_node_pair_t *o = ops->data.mapping.pairs.start; o < ops->data.mapping.pairs.top; o++) {
			const char *method = scalar(yaml_document_get_node(&doc, o->key));
			yaml_node_t *op = yaml_document_get_node(&doc, o->value);
			const struct route *rt = route_of(method, path);
			if (!rt || op->type != YAML_MAPPING_NODE)
				continue; /* spec_matches_route_table names it */
			/* operationId: camelCase, unique */
			const char *id = scalar(get(&doc, op, "operationId"));
			bool camel = id && islower((unsigned char)id[0]);
			for (const char *c = id; camel && *c; c++)
				camel = isalnum((unsigned char)*c);
			if (!camel)
				PROBLEM("%s %s: operationId %s is missing or not camelCase", method, path, id ? id : "(none)");
			for (int k = 0; id && k < nids; k++)
				if (!strcmp(ids[k], id))
					PROBLEM("%s %s: operationId %s is not unique", method, path, id);
			if (id && nids < MAX)
				snprintf(ids[nids++], sizeof ids[0], "%s", id);
			/* tags, each declared at the top */
			yaml_node_t *t = get(&doc, op, "tags");
			if (seq_len(t) < 1)
				PROBLEM("%s %s: no tags", method, path);
			for (int i = 0; i < seq_len(t); i++) {
				const char *name = scalar(seq_at(&doc, t, i));
				bool declared = false;
				for (int k = 0; name && k < seq_len(tags); k++)
					declared |= scalar(get(&doc, seq_at(&doc, tags, k), "name")) &&
						    !strcmp(scalar(get(&doc, seq_at(&doc, tags, k), "name")), name);
				if (!declared)
					PROBLEM("%s %s: tag %s is not among the top-level tags", method, path, name ? name : "?");
			}
			if (!scalar(get(&doc, op, "summary")))
				PROBLEM("%s %s: no summary", method, path);
			/* security: [] for a public route; else its roles, as routes.c says */
			yaml_node_t *sec = get(&doc, op, "security");
			if (!sec)
				PROBLEM("%s %s: no security of its own", method, path);
			else if (!rt->roles && seq_len(sec) != 0)
				PROBLEM("%s %s: a public route whose security is not []", method, path);
			else if (rt->roles && seq_len(sec) < 1)
				PROBLEM("%s %s: takes a key but its security is []", method, path);
			if (rt->roles) {
				yaml_node_t *xr = get(&doc, op, "x-roles");
				unsigned have = 0;
				for (int i = 0; i < seq_len(xr); i++)
					for (int b = 0; b < 5; b++)
						if (scalar(seq_at(&doc, xr, i)) && !strcmp(scalar(seq_at(&doc, xr, i)), roles[b]))
							have |= 1u << b;
				if (have != rt->roles)
					PROBLEM("%s %s: x-roles are not the roles of api/routes.c", method, path);
			}
			if ((rt->flags & (ROUTE_BODY | ROUTE_RAW)) && !get(&doc, get(&doc, op, "requestBody"), "content"))
				PROBLEM("%s %s: takes a body but has no requestBody", method, path);
			/* a 2xx with a schema for each media type, or a 204 without content */
			yaml_node_t *resp = get(&doc, op, "responses");
			bool success = false;
			for (yaml_node_pair_t *r = resp ? resp->data.mapping.pairs.start : NULL; r && r < resp->data.mapping.pairs.top; r++) {
				const char *code = scalar(yaml_document_get_node(&doc, r->key));
				if (code && !strcmp(code, "308") && get(&doc, yaml_document_get_node(&doc, r->value), "headers"))
					success = true; /* a permanent redirect by design (/console, /t), with its Location */
				if (!code || code[0] != '2')
					continue;
				yaml_node_t *content = get(&doc, deref_response(&doc, root, yaml_document_get_node(&doc, r->value)), "content");
				if (!content) {
					if (!strcmp(code, "204"))
						success = true;
					else
						PROBLEM("%s %s: %s has no content (only a 204 may have none)", method, path, code);
					continue;
				}
				bool all = content->type == YAML_MAPPING_NODE;
				for (yaml_node_pair_t *m = all ? content->data.mapping.pairs.start : NULL; m && m < content->data.mapping.pairs.top; m++)
					if (!get(&doc, yaml_document_get_node(&doc, m->value), "schema")) {
						PROBLEM("%s %s: %s %s has no schema", method, path, code,
							scalar(yaml_document_get_node(&doc, m->key)));
						all = false;
					}
				success |= all;
			}
			if (!success)
				PROBLEM("%s %s: no success reply with a schema", method, path);
			/* the errors every such route can give */
			const char *need[8];
			int nneed = 0;
			need[nneed++] = "400";
			need[nneed++] = "429";
			need[nneed++] = "503";
			if (rt->roles) {
				need[nneed++] = "401";
				need[nneed++] = "403";
			}
			if (strchr(path, '{'))
				need[nneed++] = "404";
			if (rt->flags & ROUTE_BODY)
				need[nneed++] = "415";
			for (int i = 0; i < nneed; i++) {
				yaml_node_t *e = deref_response(&doc, root, get(&doc, resp, need[i]));
				if (!get(&doc, e, "content"))
					PROBLEM("%s %s: error %s is not documented with a body", method, path, need[i]);
			}
		}
	}
#undef PROBLEM
	ck_assert_msg(!problems[0], "incomplete operations in api/openapi.yaml:%s", problems);
	ck_assert_int_eq(nids, api_route_count());
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("openapi");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, spec_matches_route_table);
	tcase_add_test(tc, every_operation_is_complete);
	suite_add_tcase(s, tc);
	return th_run(s);
}
