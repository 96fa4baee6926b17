/* store is SQL only: no HTTP. This must not compile. */
#include <microhttpd.h>
