// CGI cold-start baseline for scripts/bench: a Swift program that only starts and exits.
// Compiled twice: plain (the baseline of target 4) and with -DWITH_FOUNDATION, which also loads
// Foundation and FoundationNetworking as billing-checkout does (shown for context).
#if WITH_FOUNDATION
import Foundation
import FoundationNetworking
let configuration = URLSessionConfiguration.ephemeral
_ = configuration.timeoutIntervalForRequest
#endif
