/* reach.h: keeping a user bound to some sites to them (reach.c). */
#ifndef WATTLE_API_REACH_H
#define WATTLE_API_REACH_H

#include "api/req.h"

/* After the role check and the body's parse: 1 when rq->who may go on (always, when it is
 * bound to no site), else 0 with the reply set (404 for another site's thing, as if there
 * were none; 400 for a list that needs site_id; 403 for a route that spans sites). May set
 * rq->site_implied. */
int api_site_reach(struct req *rq);

#endif
