/* devices.h: wattle-metersim --protocol, the fleet as real-protocol devices (devices.c). */
#ifndef WATTLE_METERSIM_DEVICES_H
#define WATTLE_METERSIM_DEVICES_H

/* Run the devices the options name until SIGTERM (or --seconds); the exit status. */
int metersim_devices(int argc, char **argv);

#endif
