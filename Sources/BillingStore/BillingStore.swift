/// The billing state of every user: their Stripe customer, subscriptions, open checkout session, and the
/// webhook events already applied. One protocol, an engine per database (SQLite on one host, PostgreSQL for
/// several); every method is one transaction, so a failure half-way leaves nothing half written.
public protocol BillingStore: Sendable {
    /// The Stripe customer linked to `userID`, if any.
    func customer(forUser userID: String) async throws(StoreError) -> String?

    /// The user a Stripe customer is linked to, if any.
    func user(forCustomer customerID: String) async throws(StoreError) -> String?

    /// Every subscription of `userID`, newest (Stripe's `created`) first.
    func subscriptions(forUser userID: String) async throws(StoreError) -> [SubscriptionRecord]

    /// What a checkout reads before it decides, in one read: the user's customer, subscriptions and open session.
    func checkoutState(forUser userID: String) async throws(StoreError) -> CheckoutState

    /// `checkoutState`, and in the same step, for a user with nothing yet (no slot row, and no subscription
    /// other than in `endedStatuses`), a claim on the slot for `request`, as `beginCheckout` would make it, with
    /// no session to replace. An engine may always answer without a claim (the SQLite store does: its read never
    /// takes the write lock); the caller then decides on the state and asks `beginCheckout` as before.
    func checkoutState(
        forUser userID: String, claimingIfNew request: SessionRequest, now: Double, leaseUntil: Double,
        endedStatuses: Set<String>
    ) async throws(StoreError) -> (state: CheckoutState, claim: String?)

    /// Starts a checkout for `request`, decided under the user's lock: the open session to answer again, a claim
    /// to create a new one, or `busy` while another request for the same user holds a live claim (wait, then ask
    /// again). A caller answers a reuse it can see in `checkoutState` without calling this.
    ///
    /// A claim lasts until `leaseUntil` (seconds since the epoch); past it another request may take over.
    func beginCheckout(userID: String, request: SessionRequest, now: Double, leaseUntil: Double)
        async throws(StoreError) -> CheckoutClaim

    /// Records the session created under `claim` as the user's open session; false when the claim was lost
    /// (its lease ran out and another request took over), and nothing changes.
    func finishCheckout(userID: String, claim: String, session: OpenSession) async throws(StoreError) -> Bool

    /// Gives up `claim` without a session (Stripe failed); the user's slot is empty afterwards.
    func abandonCheckout(userID: String, claim: String) async throws(StoreError)

    /// Whether the event has been applied already.
    func isProcessed(eventID: String) async throws(StoreError) -> Bool

    /// Applies one webhook event's change and records its id, in one transaction; false (and nothing
    /// changes) when the id was recorded before.
    func apply(_ change: StateChange, eventID: String, eventType: String, now: Double)
        async throws(StoreError) -> Bool

    /// Everything the store holds, for copying it to another engine.
    func export() async throws(StoreError) -> StoreSnapshot

    /// Writes a snapshot into an empty store; refuses a store that holds anything.
    func importSnapshot(_ snapshot: StoreSnapshot) async throws(StoreError)
}

extension BillingStore {
    public func checkoutState(
        forUser userID: String, claimingIfNew request: SessionRequest, now: Double, leaseUntil: Double,
        endedStatuses: Set<String>
    ) async throws(StoreError) -> (state: CheckoutState, claim: String?) {
        (try await checkoutState(forUser: userID), nil)
    }
}

/// Why the store could not answer.
public enum StoreError: Error, Sendable, Equatable {
    /// The store cannot be used at all (a path that cannot be opened, a failed migration).
    case cannotOpen(String)
    /// The store failed during a request (locked past its timeout, disk full, connection lost); retry later.
    case unavailable(String)
    /// The operation was refused as asked (an import into a store that is not empty).
    case refused(String)

    /// The reason, for the log.
    public var reason: String {
        switch self {
        case .cannotOpen(let reason), .unavailable(let reason), .refused(let reason): reason
        }
    }
}
