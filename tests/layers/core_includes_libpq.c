/* core is pure: no libpq. This must not compile. */
#include <libpq-fe.h>
