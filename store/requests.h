/* requests.h: what the API keeps about requests in the database: the audit log and the
 * Idempotency-Key store (the first answer of a key, kept in the transaction of its change). */
#ifndef WATTLE_STORE_REQUESTS_H
#define WATTLE_STORE_REQUESTS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* One audit row: who (key 0: none; user 0: none; a session's change has a user, or, a
 * tenant's phone session, neither), as what role, from where (the client's address, NULL or
 * "" when none: a worker), the request, what it did and to what (target: JSON text). Rows
 * are chained by hash in the order they are written (0014_audit_chain.sql). */
struct audit_row {
	int64_t key_id;
	const char *role, *method, *path, *request_id, *action, *target_json;
	const char *client_addr;
	int64_t user_id;
};
enum db_status store_audit_insert(PGconn *c, const struct audit_row *a, int64_t now_us);

/* The audit log as an admin reads it. */
struct audit_entry {
	int64_t id, at_us, key_id, user_id, chain_seq; /* key, user 0: none */
	char role[16], method[16], request_id[80], action[64], client_addr[48];
	char hash[65];
	char *path, *target_json; /* new */
};
void store_audit_entries_free(struct audit_entry *v, int n);
/* A page of it: by key (0: any), naming resource anywhere in its target (NULL: any), at or
 * after since_us (when has_since), of action (NULL: any). *out new. */
struct audit_filter {
	int64_t key_id;
	const char *resource, *action;
	int64_t since_us;
	bool has_since;
};
enum db_status store_audit_list(PGconn *c, int64_t after, int64_t limit, const struct audit_filter *f,
				struct audit_entry **out, int *n);

/* A key's first request, when it was used before. */
struct idem_row {
	char method[8], body_sha256[65];
	int64_t status;       /* 0 until the first answer is stored */
	char *path, *response; /* new: caller frees */
};
/* Whose Idempotency-Key it is: exactly one of an API key, a user (a password session) and a
 * session (a tenant's phone session) is not 0. */
struct idem_owner {
	int64_t key_id, user_id, session_id;
};
/* Claim key for this request: *claimed true when it is new. A concurrent request with the
 * same key waits on the unique index until the first commits (then sees it) or rolls back
 * (then claims it). When not claimed, *seen is the first request (found false: it went
 * away in between; retry the transaction). */
enum db_status store_idem_claim(PGconn *c, const struct idem_owner *o, const char *key, const char *method, const char *path,
				const char *body_sha256, int64_t now_us, bool *claimed, struct idem_row *seen,
				bool *found);
/* Store the answer under the key. */
enum db_status store_idem_store(PGconn *c, const struct idem_owner *o, const char *key, int64_t status,
				const char *response);

void store_requests_register(void);

#endif
