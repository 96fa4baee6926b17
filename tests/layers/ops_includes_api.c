/* ops may not see api/: this must not compile. */
#include "api/api.h"
