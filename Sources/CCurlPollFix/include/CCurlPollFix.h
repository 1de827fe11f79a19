#ifndef CCURLPOLLFIX_H
#define CCURLPOLLFIX_H

/// True when this process's `curl_multi_setopt` is the one defined here and found libcurl's (the fix is linked in).
int billing_curl_poll_fix_active(void);

/// Number of socket callbacks from libcurl, on sockets connected to the peer port `port`, that dropped a
/// readiness direction FoundationNetworking was still watching, and were therefore turned into an unregister
/// followed by the new registration.
long billing_curl_poll_narrowed_to_port(int port);

#endif
