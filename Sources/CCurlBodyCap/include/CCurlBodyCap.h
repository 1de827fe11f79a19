#ifndef CCURLBODYCAP_H
#define CCURLBODYCAP_H

#include <stddef.h>

/// Sets the most body bytes any one libcurl transfer in this process may deliver (0: no limit, the default).
/// Past it the transfer is aborted inside libcurl, before the bytes reach URLSession.
void billing_curl_body_cap_set(size_t bytes);

/// True when this process's `curl_easy_setopt` is the one defined here and found libcurl's (the cap is linked in).
int billing_curl_body_cap_active(void);

/// Number of transfers aborted because their body went past the cap.
long billing_curl_body_cap_aborted(void);

#endif
