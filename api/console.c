/* console.c: serves the staff console at /console/ and the tenant page at /t/ from the files
 * compiled into the binary (api/console.h): public (the pages sign in themselves), with a
 * strict Content-Security-Policy, an ETag per file and 304 for a client that has it. */
#include "api/api.h"
#include "api/console.h"

#include <stdio.h>
#include <string.h>

/* Only this origin's scripts, styles, images (a top-up's QR code is inline SVG in the page;
 * data: for the few icons CSS draws) and API; no framing, no plugins, no inline script. */
static const char CSP[] = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
			  "frame-ancestors 'none'; form-action 'self'";

const struct console_asset *api_console_find(const char *path)
{
	for (const struct console_asset *a = api_console_assets; a->path; a++)
		if (!strcmp(a->path, path))
			return a;
	return NULL;
}

/* Does If-None-Match name this file (in either encoding: a gzip reply's ETag ends -gz")? */
static bool client_has(struct req *rq, const char *etag)
{
	const char *inm = api_header(rq, "If-None-Match");
	if (!inm)
		return false;
	if (!strcmp(inm, "*"))
		return true;
	size_t n = strlen(etag) - 1; /* without its closing quote */
	for (const char *p = strstr(inm, "\""); p; p = strstr(p + 1, "\"")) {
		if (!strncmp(p, etag, n) && (p[n] == '"' || !strncmp(p + n, "-gz\"", 4)))
			return true;
	}
	return false;
}

/* The page's own files first (dir "staff/" or "tenant/"), then the shared ones (common/,
 * vendor/); a path with no file extension in its last segment is a page of the app, which
 * its index.html draws (index fallback); anything else is 404. */
static void serve(struct req *rq, const char *dir)
{
	const char *rest = rq->nargs ? rq->args[0] : "";
	char path[300];
	const struct console_asset *a = NULL;
	if (!*rest)
		rest = "index.html";
	if (strlen(rest) < 200) {
		snprintf(path, sizeof path, "%s%s", dir, rest);
		a = api_console_find(path);
		if (!a && (!strncmp(rest, "common/", 7) || !strncmp(rest, "vendor/", 7)))
			a = api_console_find(rest);
		const char *last = strrchr(rest, '/');
		if (!a && !strchr(last ? last : rest, '.')) {
			snprintf(path, sizeof path, "%sindex.html", dir);
			a = api_console_find(path);
		}
	}
	if (!a) {
		api_error(rq, E_NOT_FOUND, NULL, "no such file in the console");
		return;
	}
	rq->asset = true;
	rq->csp = CSP;
	snprintf(rq->etag, sizeof rq->etag, "%s", a->etag);
	if (client_has(rq, a->etag)) {
		api_reply_raw(rq, 304, a->content_type, "", 0);
		return;
	}
	api_reply_raw(rq, 200, a->content_type, (const char *)a->data, a->len);
}

void api_console_staff(struct req *rq)
{
	serve(rq, "staff/");
}

void api_console_tenant(struct req *rq)
{
	serve(rq, "tenant/");
}

/* /console and /t: the page is one level down (its relative links need the slash). */
void api_console_redirect(struct req *rq)
{
	snprintf(rq->location, sizeof rq->location, "%s/", rq->path);
	api_reply_raw(rq, 308, "text/plain; charset=utf-8", "", 0);
}
