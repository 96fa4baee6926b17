/* qr.c: a QR code as a self-contained SVG, on libqrencode. */
#include "api/qr.h"
#include "core/buf.h"

#include <qrencode.h>
#include <stdlib.h>

#define QUIET 4 /* modules of white border the standard asks for */

char *api_qr_svg(const char *text)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (!q)
		return NULL;
	int w = q->width, size = w + 2 * QUIET;
	struct srv_buf b = {0};
	srv_buf_printf(&b,
		       "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\""
		       " shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path d=\"",
		       size, size, size * 4, size * 4, size, size);
	/* One path: each run of dark modules in a row is one rectangle. */
	for (int y = 0; y < w; y++) {
		for (int x = 0; x < w;) {
			if (!(q->data[y * w + x] & 1)) {
				x++;
				continue;
			}
			int run = 1;
			while (x + run < w && (q->data[y * w + x + run] & 1))
				run++;
			srv_buf_printf(&b, "M%d %dh%dv1h-%dz", x + QUIET, y + QUIET, run, run);
			x += run;
		}
	}
	srv_buf_puts(&b, "\" fill=\"#000\"/></svg>");
	QRcode_free(q);
	return b.p;
}
