/* demo.h: `wattle demo`, a month of a simulated mall with its reports (see demo.c). */
#ifndef WATTLE_DEMO_H
#define WATTLE_DEMO_H

/* Run the demo with the arguments after "demo". Returns the exit status. */
int srv_demo(int argc, char **argv);

#endif
