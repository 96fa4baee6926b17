/* promcheck.h: what the metrics and gateway suites check of a /metrics text: promtool's
 * verdict, a sample's value, and that every metric the dashboard (deploy/grafana/wattle.json)
 * and the alerts (deploy/prometheus/alerts.yml) name is a family some real /metrics serves.
 * Static helpers for a suite's own file (include once). */
#ifndef WATTLE_PROMCHECK_H
#define WATTLE_PROMCHECK_H

#include "harness.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* `promtool check metrics` on text: its output (new: caller frees; "" when clean) and its
 * exit status in *status. */
static char *pc_promtool(const char *text, int *status)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/wattle-metrics-%d.txt", (int)getpid());
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
	char cmd[160];
	snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
	FILE *p = popen(cmd, "r");
	ck_assert(p != NULL);
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	ck_assert(out != NULL);
	size_t got;
	while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
		len += got;
		if (cap - len < 2 && !(out = realloc(out, cap *= 2)))
			abort();
	}
	out[len] = 0;
	int st = pclose(p);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	unlink(path);
	return out;
}

/* Fail the test unless promtool finds text clean, and unless it does refuse a family with
 * no HELP (promtool is there and judging). */
static void pc_assert_promtool_clean(const char *text)
{
	int st;
	char *bad = pc_promtool("# TYPE wattle_x_total counter\nwattle_x_total 1\n", &st);
	ck_assert_msg(st != 0 || bad[0], "promtool let a family without HELP pass (is it installed?)");
	ck_assert_msg(strstr(bad, "no help text"), "promtool: %s", bad);
	free(bad);
	char *out = pc_promtool(text, &st);
	ck_assert_msg(st == 0 && !out[0], "promtool check metrics (status %d):\n%s", st, out);
	free(out);
}

/* The value of the sample "name" or "name{labels}" exactly, or -1 when there is none. */
static double pc_value(const char *body, const char *sample)
{
	size_t n = strlen(sample);
	for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, sample, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

/* Whether body serves the family of metric name (a histogram's _bucket, _sum and _count
 * are its family's). */
static bool pc_serves(const char *body, const char *name)
{
	char want[200];
	snprintf(want, sizeof want, "\n# TYPE %s ", name);
	if (strstr(body, want))
		return true;
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};
	size_t n = strlen(name);
	for (int i = 0; i < 3; i++) {
		size_t k = strlen(sfx[i]);
		if (n > k && !strcmp(name + n - k, sfx[i])) {
			snprintf(want, sizeof want, "\n# TYPE %.*s histogram\n", (int)(n - k), name);
			if (strstr(body, want))
				return true;
		}
	}
	return false;
}

/* Call fn(name, arg) for every wattle_* metric name in text (PromQL, YAML, prose). */
static void pc_names(const char *text, void (*fn)(const char *name, void *arg), void *arg)
{
	for (const char *p = text; (p = strstr(p, "wattle_"));) {
		if (p > text && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= '0' && p[-1] <= '9'))) {
			p++;
			continue;
		}
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
		char name[200];
		snprintf(name, sizeof name, "%.*s", (int)n, p);
		fn(name, arg);
		p += n;
	}
}

/* The dashboard's queries, one per line (new: caller frees); fails unless the file is
 * JSON with panels whose every target has an expr. */
static char *pc_dashboard_exprs(int *panels)
{
	json_error_t e;
	json_t *d = json_load_file(WATTLE_SRC "/deploy/grafana/wattle.json", JSON_REJECT_DUPLICATES, &e);
	ck_assert_msg(d != NULL, "deploy/grafana/wattle.json: line %d: %s", e.line, e.text);
	json_t *ps = json_object_get(d, "panels");
	ck_assert(json_array_size(ps) > 0);
	size_t cap = 1 << 16, len = 0;
	char *out = calloc(1, cap);
	ck_assert(out != NULL);
	size_t i;
	json_t *p;
	*panels = 0;
	json_array_foreach(ps, i, p) {
		if (!strcmp(json_string_value(json_object_get(p, "type")), "row"))
			continue;
		(*panels)++;
		json_t *ts = json_object_get(p, "targets");
		ck_assert_msg(json_array_size(ts) > 0, "panel %s has no query", json_string_value(json_object_get(p, "title")));
		size_t k;
		json_t *t;
		json_array_foreach(ts, k, t) {
			const char *x = json_string_value(json_object_get(t, "expr"));
			ck_assert_msg(x && *x, "panel %s: a target without expr", json_string_value(json_object_get(p, "title")));
			ck_assert(len + strlen(x) + 2 < cap);
			len += (size_t)sprintf(out + len, "%s\n", x);
		}
	}
	json_decref(d);
	return out;
}

/* The text of a file of the source tree (new: caller frees). */
static char *pc_source(const char *rel)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", WATTLE_SRC, rel);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot read %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	ck_assert(s != NULL);
	ck_assert_int_eq((long)fread(s, 1, (size_t)n, f), n);
	s[n] = 0;
	fclose(f);
	return s;
}

#endif
