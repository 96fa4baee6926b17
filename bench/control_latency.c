/* control_latency.c: grace expiry -> cut at the gateway, and top-up commit -> restore at the
 * gateway, measured with a fake gateway that records arrival times.
 * usage: control_latency URL FINANCE_KEY GATEWAY_PORT CONNINFO N */
#include "peer/peer.h"

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXN 2000
static double cut_at[MAXN + 1], restore_at[MAXN + 1];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_req(void *ud, const struct peer_request *rq, struct peer_reply *out)
{
	(void)ud;
	(void)out;
	double t = now_s();
	json_t *j = json_loads(rq->body, 0, NULL);
	const char *serial = json_string_value(json_object_get(j, "meter_serial"));
	const char *action = json_string_value(json_object_get(j, "action"));
	int i = serial ? atoi(serial + 2) : 0; /* "L-<i>" */
	pthread_mutex_lock(&mu);
	if (i > 0 && i <= MAXN && action) {
		double *slot = !strcmp(action, "cut_off") ? &cut_at[i] : &restore_at[i];
		if (*slot == 0)
			*slot = t;
	}
	pthread_mutex_unlock(&mu);
	json_decref(j);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void report(const char *what, double *lat, int n)
{
	qsort(lat, (size_t)n, sizeof *lat, cmp);
	printf("%-40s n=%d p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", what, n, lat[n / 2] * 1000,
	       lat[(int)(n * 0.99)] * 1000, lat[n - 1] * 1000);
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
	(void)p; (void)ud;
	return s * n;
}

int main(int argc, char **argv)
{
	if (argc != 6)
		return 2;
	const char *url = argv[1], *key = argv[2];
	int port = atoi(argv[3]), n = atoi(argv[5]);
	if (n > MAXN)
		n = MAXN;
	struct peer *d = peer_start(port, on_req, NULL);
	if (!d)
		return 1;
	PGconn *pg = PQconnectdb(argv[4]);
	/* n tenants in grace, due 1 s from now and 40 ms apart; one meter each on this gateway */
	double t0 = now_s() + 1.0;
	char sql[1200];
	snprintf(sql, sizeof sql,
		 "UPDATE accounts SET balance_minor = 0, state = 'grace', grace_until ="
		 " to_timestamp(%.6f) + (tenant_id - 1) * interval '40 milliseconds' WHERE tenant_id <= %d", t0, n);
	PGresult *r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s\n", PQresultErrorMessage(r));
		return 1;
	}
	PQclear(r);
	for (int i = 0; i < 200 && !cut_at[n]; i++) /* the last is due after n x 40 ms */
		usleep(100000);
	usleep(500000);
	static double lat[MAXN];
	int k = 0;
	for (int i = 1; i <= n; i++)
		if (cut_at[i] > 0)
			lat[k++] = cut_at[i] - (t0 + (i - 1) * 0.040);
	if (k)
		report("grace expiry -> cut at the gateway", lat, k);
	printf("cuts arrived: %d of %d\n", k, n);
	/* top-ups, 30 ms apart; the reply comes after the commit */
	CURL *h = curl_easy_init();
	static double committed[MAXN + 1];
	for (int i = 1; i <= n; i++) {
		char u[256], auth[128];
		snprintf(u, sizeof u, "%s/v1/tenants/ten_%d/topups", url, i);
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
		struct curl_slist *hd = curl_slist_append(NULL, auth);
		hd = curl_slist_append(hd, "Content-Type: application/json");
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, u);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{\"amount_minor\":100000,\"channel\":\"bank\"}");
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_perform(h);
		committed[i] = now_s();
		curl_slist_free_all(hd);
		usleep(30000);
	}
	for (int i = 0; i < 50 && !restore_at[n]; i++)
		usleep(100000);
	k = 0;
	for (int i = 1; i <= n; i++)
		if (restore_at[i] > 0)
			lat[k++] = restore_at[i] - committed[i];
	if (k)
		report("top-up committed -> restore at the gateway", lat, k);
	printf("restores arrived: %d of %d\n", k, n);
	curl_easy_cleanup(h);
	PQfinish(pg);
	peer_stop(d);
	return 0;
}
