/// The store of a CGI process whose engine could not be reached at start (PostgreSQL down): every operation
/// fails as `unavailable`, so every request that needs the state gets a 503 with `Retry-After`, and the next
/// process tries again.
public struct UnavailableStore: BillingStore {
    /// Why the engine could not be reached.
    public let reason: String

    public init(reason: String) { self.reason = reason }

    private func fail<T>() throws(StoreError) -> T { throw .unavailable(reason) }

    public func customer(forUser userID: String) async throws(StoreError) -> String? { try fail() }
    public func user(forCustomer customerID: String) async throws(StoreError) -> String? { try fail() }
    public func subscriptions(forUser userID: String) async throws(StoreError) -> [SubscriptionRecord] { try fail() }
    public func checkoutState(forUser userID: String) async throws(StoreError) -> CheckoutState { try fail() }
    public func beginCheckout(userID: String, request: SessionRequest, now: Double, leaseUntil: Double)
        async throws(StoreError) -> CheckoutClaim
    { try fail() }
    public func finishCheckout(userID: String, claim: String, session: OpenSession) async throws(StoreError) -> Bool {
        try fail()
    }
    public func abandonCheckout(userID: String, claim: String) async throws(StoreError) { throw .unavailable(reason) }
    public func isProcessed(eventID: String) async throws(StoreError) -> Bool { try fail() }
    public func apply(_ change: StateChange, eventID: String, eventType: String, now: Double)
        async throws(StoreError) -> Bool
    { try fail() }
    public func export() async throws(StoreError) -> StoreSnapshot { try fail() }
    public func importSnapshot(_ snapshot: StoreSnapshot) async throws(StoreError) { throw .unavailable(reason) }
}
