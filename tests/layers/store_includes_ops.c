/* store may not see ops/: this must not compile. */
#include "ops/ledger.h"
