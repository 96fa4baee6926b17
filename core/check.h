/* check.h: invariants that must never break, checked in every build. assert() is for what
 * costs too much to check in production (NDEBUG turns it off in RelWithDebInfo); WATTLE_CHECK
 * stays on: it logs the broken invariant and aborts, because going on would move money on
 * a wrong premise. Use it only where the check is a comparison or a short loop. */
#ifndef WATTLE_CHECK_H
#define WATTLE_CHECK_H

/* Report the broken invariant on stderr and abort. Never returns. */
void core_check_failed(const char *what, const char *file, int line) __attribute__((noreturn));

#define WATTLE_CHECK(cond) ((cond) ? (void)0 : core_check_failed(#cond, __FILE__, __LINE__))

#endif
