/* api may not see server/: this must not compile. */
#include "server/http.h"
