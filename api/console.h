/* console.h: the staff console (/console/) and the tenant page (/t/), compiled into the
 * binary from console/ by cmake/embed_console.cmake, and the handlers that serve them. */
#ifndef WATTLE_CONSOLE_H
#define WATTLE_CONSOLE_H

#include <stddef.h>

/* One file: its path under console/ ("staff/index.html", "vendor/uplot.min.js"), its
 * Content-Type, a strong ETag (quoted, from the SHA-256 of its bytes) and its bytes. */
struct console_asset {
	const char *path, *content_type, *etag;
	const unsigned char *data;
	size_t len;
};

/* Every file, ending with {0} (generated: build/console_gen.c). */
extern const struct console_asset api_console_assets[];

/* The asset at path, or NULL. Borrowed (static). */
const struct console_asset *api_console_find(const char *path);

#endif
