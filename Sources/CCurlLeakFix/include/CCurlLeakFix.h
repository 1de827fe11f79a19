#ifndef CCURLLEAKFIX_H
#define CCURLLEAKFIX_H

/// Number of libcurl URL handles (`CURLU`) created through this process's `curl_url`/`curl_url_dup` and not
/// yet released; exposed so tests can see that handles released with `curl_free` are cleaned up.
long billing_curlu_live_handles(void);

/// Number of URL handles created through `curl_url`/`curl_url_dup` since the process started.
long billing_curlu_created_handles(void);

/// Number of URL handles released with `curl_free` (URLSession's leak) that were cleaned up instead.
long billing_curlu_rescued_handles(void);

/// True when this process's `curl_url`/`curl_free` are the ones defined here (the fix is linked in).
int billing_curlu_fix_active(void);

#endif
