/* core is pure: no libmicrohttpd. This must not compile. */
#include <microhttpd.h>
