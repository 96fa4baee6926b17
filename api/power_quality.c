/* power_quality.c: GET /v1/meters/{id}/power-quality: a meter's THD series over [from, to),
 * paged by time like its readings, the spectra of harmonics kept in the same stretch, the
 * latest spectrum in range and the per-order limits in force; JSON, or with Accept:
 * text/html (or ?format=html) the same as a page with the spectrum as SVG bar charts. */
#include "api/api.h"
#include "api/render.h"
#include "core/alarm.h"
#include "core/clock.h"
#include "core/report_doc.h"
#include "store/harmonics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* html or json: ?format= first, then Accept, as the reports. 1 html, 0 json; -1 with 400 set. */
static int wants_html(struct req *rq)
{
	const char *f = api_query(rq, "format");
	if (f && strcmp(f, "json") && strcmp(f, "html")) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "format"), "format must be json or html");
		return -1;
	}
	if (f)
		return !strcmp(f, "html");
	const char *a = api_header(rq, "Accept");
	return a && strstr(a, "text/html") != NULL;
}

static double real_text(const char *s) { return *s ? strtod(s, NULL) : NAN; }

/* Cut the page where either series had more than limit (their extra row tells where the next
 * begins): both keep what comes before, and the page goes on after the latest it kept. */
static void page(struct pq_report *p, const struct thd_row *thd, int nthd, struct pq_spectrum *sp, int nsp,
		 int64_t limit, struct pq_thd *out)
{
	int64_t end = INT64_MAX;
	if (nthd > limit)
		end = thd[limit].ts_us;
	if (nsp > limit && sp[limit].ts_us < end)
		end = sp[limit].ts_us;
	p->nthd = p->nspectra = 0;
	for (int k = 0; k < nthd && thd[k].ts_us < end; k++) {
		out[k] = (struct pq_thd){thd[k].ts_us, real_text(thd[k].thd_v), real_text(thd[k].thd_i)};
		p->nthd++;
	}
	while (p->nspectra < nsp && sp[p->nspectra].ts_us < end)
		p->nspectra++;
	p->thd = out;
	p->spectra = sp;
	p->has_next = end != INT64_MAX;
	p->next_after_us = 0;
	if (p->nthd)
		p->next_after_us = out[p->nthd - 1].ts_us;
	if (p->nspectra && sp[p->nspectra - 1].ts_us > p->next_after_us)
		p->next_after_us = sp[p->nspectra - 1].ts_us;
}

/* The limits in force for the meter, from its alarm settings text (NULL: none). */
static void limits(struct pq_report *p, const char *settings)
{
	json_t *o = settings ? json_loads(settings, 0, NULL) : NULL;
	struct alarm_cfg cfg;
	alarm_cfg_load(&cfg, o, 0, NULL);
	json_decref(o);
	memcpy(p->lim_v, cfg.harm_lim_v, sizeof p->lim_v);
	memcpy(p->lim_i, cfg.harm_lim_i, sizeof p->lim_i);
}

void api_meter_power_quality(struct req *rq)
{
	int64_t from, to, after, limit;
	int html = wants_html(rq);
	if (html < 0 || api_query_time(rq, "from", 0, &from) ||
	    api_query_time(rq, "to", INT64_C(253402300799000000), &to) || api_query_time(rq, "after", -1, &after) ||
	    api_query_limit(rq, &limit))
		return;
	struct pq_report p = {.meter_id = api_meter_find(rq, NULL), .from_us = from, .to_us = to};
	if (!p.meter_id)
		return;
	p.generated_us = srv_clock_now_us();
	PGconn *c = api_read_conn(rq);
	char *settings = NULL;
	struct thd_row *thd = NULL;
	struct pq_spectrum *sp = NULL, latest;
	int nthd = 0, nsp = 0;
	bool has_latest = false;
	if (!c || api_read_failed(rq, store_meter_alarm_settings(c, p.meter_id, &settings, p.serial)) ||
	    api_read_failed(rq, store_thd_list(c, p.meter_id, from, to, after, limit + 1, &thd, &nthd)) ||
	    api_read_failed(rq, store_harmonics_list(c, p.meter_id, from, to, after, limit + 1, &sp, &nsp)) ||
	    api_read_failed(rq, store_harmonics_latest(c, p.meter_id, from, to, &latest, &has_latest)))
		goto out;
	struct pq_thd *points = calloc((size_t)nthd + 1, sizeof *points);
	if (!points)
		abort();
	page(&p, thd, nthd, sp, nsp, limit, points);
	p.latest = has_latest ? &latest : NULL;
	limits(&p, settings);
	json_t *doc = report_doc_power_quality(&p);
	free(points);
	if (html) {
		size_t n;
		char *body = api_render_power_quality_html(doc, &n);
		api_reply_raw(rq, 200, "text/html; charset=utf-8", body, n);
		free(body);
		json_decref(doc);
	} else {
		api_reply(rq, 200, doc);
	}
out:
	free(settings);
	free(thd);
	free(sp);
}
