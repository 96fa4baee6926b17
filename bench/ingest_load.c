/* ingest_load.c: a fleet of gateways posting readings as fast as the server takes them.
 * usage: ingest_load URL KEY METERS CLIENTS BATCH SECONDS START_UNIX
 * Client c owns meters mtr_(1 + c*METERS/CLIENTS) ..; each meter's readings are a minute
 * apart from START_UNIX (BENCH_STEP_S seconds when set); a register follows absolute time
 * (100 Wh a minute since the epoch, 6 kW), so a later run with a later START_UNIX continues
 * where one left off. BENCH_COUNT=N: stop once every meter has sent N readings (SECONDS is
 * then only the limit). Prints one line of figures. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *url, *key;
static int meters, clients, batch, seconds;
static long long start_unix, step_s = 60, count;
static double t_end;

struct client {
	int id;
	long long accepted, requests, failures;
	double *lat;
	size_t nlat, caplat;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct sink {
	char buf[4096];
	size_t n;
};

static size_t on_body(char *p, size_t s, size_t n, void *ud)
{
	struct sink *k = ud;
	size_t add = s * n, room = sizeof k->buf - 1 - k->n;
	memcpy(k->buf + k->n, p, add < room ? add : room);
	k->n += add < room ? add : room;
	k->buf[k->n] = 0;
	return s * n;
}

static void *run(void *arg)
{
	struct client *c = arg;
	int first = 1 + c->id * meters / clients, last = (c->id + 1) * meters / clients;
	int mine = last - first + 1;
	long long *step = calloc((size_t)mine, sizeof *step);
	CURL *h = curl_easy_init();
	struct curl_slist *hd = NULL;
	char auth[128];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
	hd = curl_slist_append(hd, auth);
	hd = curl_slist_append(hd, "Content-Type: application/json");
	hd = curl_slist_append(hd, "Expect:");
	char full[256];
	snprintf(full, sizeof full, "%s/v1/readings", url);
	curl_easy_setopt(h, CURLOPT_URL, full);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* BENCH_VALUES=1: each reading also carries the instantaneous values alarms read */
	const char *values = getenv("BENCH_VALUES") && *getenv("BENCH_VALUES") == '1'
				     ? ",\"power_w\":1800,\"voltage_v\":221.4,\"current_a\":8.1,\"pf\":0.93,"
				       "\"thd_v_pct\":2.2,\"thd_i_pct\":9.5"
				     : "";
	size_t cap = (size_t)batch * (96 + strlen(values)) + 64;
	char *body = malloc(cap);
	int next = 0;
	long long left = count ? count * mine : -1; /* readings still to send, -1: by time */
	while (now_s() < t_end && left != 0) {
		size_t n = (size_t)sprintf(body, "{\"readings\":[");
		int nb = left > 0 && left < batch ? (int)left : batch;
		if (left > 0)
			left -= nb;
		for (int i = 0; i < nb; i++) {
			int m = next;
			next = (next + 1) % mine;
			step[m]++;
			time_t ts = (time_t)(start_unix + step[m] * step_s);
			long long energy = (long long)ts / 60 * 100;
			struct tm tm;
			gmtime_r(&ts, &tm);
			n += (size_t)sprintf(body + n, "%s{\"meter\":\"mtr_%d\",\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02dZ\",\"energy_wh\":%lld%s}",
					     i ? "," : "", first + m, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
					     tm.tm_hour, tm.tm_min, tm.tm_sec, energy, values);
		}
		strcpy(body + n, "]}");
		struct sink k = {{0}, 0};
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
		double t0 = now_s();
		CURLcode rc = curl_easy_perform(h);
		double dt = now_s() - t0;
		long status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		c->requests++;
		const char *a = strstr(k.buf, "\"accepted\":");
		if (rc != CURLE_OK || status != 200 || !a) {
			c->failures++;
			continue;
		}
		c->accepted += atoll(a + 11);
		if (c->nlat == c->caplat) {
			c->caplat = c->caplat ? c->caplat * 2 : 1024;
			c->lat = realloc(c->lat, c->caplat * sizeof *c->lat);
		}
		c->lat[c->nlat++] = dt;
	}
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	free(body);
	free(step);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: ingest_load URL KEY METERS CLIENTS BATCH SECONDS START_UNIX\n");
		return 2;
	}
	url = argv[1];
	key = argv[2];
	meters = atoi(argv[3]);
	clients = atoi(argv[4]);
	batch = atoi(argv[5]);
	seconds = atoi(argv[6]);
	start_unix = atoll(argv[7]);
	if (getenv("BENCH_STEP_S"))
		step_s = atoll(getenv("BENCH_STEP_S"));
	if (getenv("BENCH_COUNT"))
		count = atoll(getenv("BENCH_COUNT"));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct client *cs = calloc((size_t)clients, sizeof *cs);
	pthread_t *th = calloc((size_t)clients, sizeof *th);
	double t0 = now_s();
	t_end = t0 + seconds;
	for (int i = 0; i < clients; i++) {
		cs[i].id = i;
		pthread_create(&th[i], NULL, run, &cs[i]);
	}
	long long acc = 0, req = 0, fail = 0;
	size_t nl = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		acc += cs[i].accepted;
		req += cs[i].requests;
		fail += cs[i].failures;
		nl += cs[i].nlat;
	}
	double el = now_s() - t0;
	double *all = malloc((nl + 1) * sizeof *all);
	size_t k = 0;
	for (int i = 0; i < clients; i++) {
		memcpy(all + k, cs[i].lat, cs[i].nlat * sizeof *all);
		k += cs[i].nlat;
	}
	qsort(all, nl, sizeof *all, cmp);
	printf("readings_per_s %.0f requests_per_s %.0f p50_ms %.2f p99_ms %.2f failures %lld accepted %lld\n",
	       (double)acc / el, (double)req / el, nl ? all[nl / 2] * 1000 : 0,
	       nl ? all[(size_t)((double)nl * 0.99)] * 1000 : 0, fail, acc);
	return 0;
}
