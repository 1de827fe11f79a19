import BillingStore
import Foundation

/// The store's side of a checkout: 409 for a user who is subscribed, the open session again for the same
/// request, one session at a time per user however many requests race (two tabs, several processes or hosts).
struct CheckoutFlow: Sendable {
    let store: any BillingStore
    let stripe: any StripeClient
    /// How long a claim on a user's slot lasts: long enough for an expire and a create within Stripe's deadline.
    let leaseSeconds: Double
    let now: @Sendable () -> Double
    let pause: @Sendable () async -> Void

    /// Statuses after which a user may subscribe again.
    static let endedStatuses: Set<String> = ["canceled", "incomplete_expired"]

    /// What a checkout reads before it decides: the user's state, and for a user with nothing yet a claim on
    /// their slot made in the same step, when the store can (`checkoutState(forUser:claimingIfNew:…)`).
    func read(userID: String, request: SessionRequest) async throws(CheckoutError)
        -> (state: CheckoutState, claim: String?)
    {
        let start = now()
        return try await state { () async throws(StoreError) in
            try await store.checkoutState(
                forUser: userID, claimingIfNew: request, now: start, leaseUntil: start + leaseSeconds,
                endedStatuses: Self.endedStatuses)
        }
    }

    /// The session for `parameters`: reused, or created (after expiring the user's other open session). `known` is
    /// the user's state as `read` gave it: a subscribed user and a reusable open session are answered from it,
    /// without a write; a claim made with it is the user's slot, for a session created now.
    func session(
        for parameters: CheckoutSessionParameters, known: (state: CheckoutState, claim: String?),
        idempotencyKey: String
    ) async throws(CheckoutError) -> CheckoutSession {
        let request = SessionRequest(
            priceID: parameters.priceID, successURL: parameters.successURL, cancelURL: parameters.cancelURL)
        if let claim = known.claim {
            // Claimed with the read: the user had no slot and no subscription that is not ended.
            return try await create(
                parameters, request: request, claim: claim, replacing: nil, idempotencyKey: idempotencyKey)
        }
        let userID = parameters.userID
        let known = known.state
        if known.subscriptions.contains(where: { !Self.endedStatuses.contains($0.status) }) { throw .alreadySubscribed }
        if let open = known.openSession, open.isOpen(at: now()), open.request == request {
            return CheckoutSession(id: open.sessionID, url: open.url, expiresAt: open.expiresAt)
        }
        let giveUp = now() + leaseSeconds
        while true {
            let start = now()
            let claim = try await state { () async throws(StoreError) in
                try await store.beginCheckout(
                    userID: userID, request: request, now: start, leaseUntil: start + leaseSeconds)
            }
            switch claim {
            case .reuse(let open):
                return CheckoutSession(id: open.sessionID, url: open.url, expiresAt: open.expiresAt)
            case .busy:
                guard now() < giveUp else {
                    throw .stateUnavailable(
                        retryAfter: 1, reason: "another checkout for the user is still being created")
                }
                await pause()
            case .claimed(let claim, let replacing):
                return try await create(
                    parameters, request: request, claim: claim, replacing: replacing, idempotencyKey: idempotencyKey)
            }
        }
    }

    /// Creates the session under `claim`; on failure the claim is given up, so that nothing is left half-written
    /// and the slot is free for the next request.
    private func create(
        _ parameters: CheckoutSessionParameters, request: SessionRequest, claim: String, replacing: OpenSession?,
        idempotencyKey: String
    ) async throws(CheckoutError) -> CheckoutSession {
        do {
            return try await createClaimed(
                parameters, request: request, claim: claim, replacing: replacing, idempotencyKey: idempotencyKey)
        } catch {
            try? await store.abandonCheckout(userID: parameters.userID, claim: claim)
            throw error
        }
    }

    private func createClaimed(
        _ parameters: CheckoutSessionParameters, request: SessionRequest, claim: String, replacing: OpenSession?,
        idempotencyKey: String
    ) async throws(CheckoutError) -> CheckoutSession {
        if let replacing {
            // A session for another price or other URLs must not stay payable next to the new one.
            let old = try await stripe.expireCheckoutSession(id: replacing.sessionID)
            if old.status == "complete" { throw .alreadySubscribed }
        }
        let session = try await stripe.createCheckoutSession(parameters, idempotencyKey: idempotencyKey)
        // Stripe expires a session after 24 hours unless it says otherwise; an hour's margin.
        let expiresAt = session.expiresAt ?? Int64(now()) + 23 * 3600
        let open = OpenSession(sessionID: session.id, url: session.url, request: request, expiresAt: expiresAt)
        let userID = parameters.userID
        _ = try await state { () async throws(StoreError) in
            try await store.finishCheckout(userID: userID, claim: claim, session: open)
        }
        return session
    }
}
