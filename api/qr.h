/* qr.h: QR codes for pay URLs. */
#ifndef WATTLE_QR_H
#define WATTLE_QR_H

/* text as a QR code (error correction M) in one SVG element with a quiet zone. New:
 * caller frees; NULL when text is too long for a QR code. */
char *api_qr_svg(const char *text);

#endif
