/* callgen: compile-time settings of the pjsua it builds (pjlib/include/pj/config_site.h).
 * scripts/setup.sh rebuilds pjsua whenever this file changes. */
#define PJ_HAS_IPV6              1
#define PJSUA_MAX_CALLS          128
#define PJSUA_MAX_ACC            32
#define PJSUA_MAX_PLAYERS        32
#define PJSUA_MAX_RECORDERS      32
#define PJ_IOQUEUE_MAX_HANDLES   1024
/* DTLS-SRTP keying (srtp.keying: dtls); off in pjproject's defaults */
#define PJMEDIA_SRTP_HAS_DTLS    1
