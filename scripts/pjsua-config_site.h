/* callgen: compile-time settings of the pjsua it builds (pjlib/include/pj/config_site.h).
 * scripts/setup.sh rebuilds pjsua whenever this file changes. */
/* IPv6 on (pjsua's --ipv6 and [::1] URIs).  With IPv6, pjsua asks for every outgoing call
 * whether IPv6 media is usable (pj_gethostip(AF_INET6)), which began with an AAAA lookup of the
 * host name that now and then waited out a 5 s DNS timeout: a random stall in any run.
 * PJ_GETHOSTIP_DISABLE_LOCAL_RESOLUTION drops that lookup (pjlib sock_common.c); the default
 * route and the interface list still give pj_gethostip() its answer. */
#define PJ_HAS_IPV6              1
#define PJ_GETHOSTIP_DISABLE_LOCAL_RESOLUTION 1
/* Load runs: up to 500 calls held at once by one pjsua process per side. */
#define PJSUA_MAX_CALLS          512
#define PJSUA_MAX_ACC            32
#define PJSUA_MAX_PLAYERS        32
#define PJSUA_MAX_RECORDERS      32
/* two sockets (RTP, RTCP) per call, plus SIP */
#define PJ_IOQUEUE_MAX_HANDLES   4096
/* DTLS-SRTP keying (srtp.keying: dtls); off in pjproject's defaults */
#define PJMEDIA_SRTP_HAS_DTLS    1
/* every held call has a conference bridge port */
#define PJSUA_MAX_CONF_PORTS     (PJSUA_MAX_CALLS + 2 * PJSUA_MAX_PLAYERS)
