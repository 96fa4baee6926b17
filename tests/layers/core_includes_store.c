/* core may not see store/: this must not compile (tests/CMakeLists.txt, layers). */
#include "store/db.h"
