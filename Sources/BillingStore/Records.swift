/// A Stripe subscription as the store keeps it, as last read from Stripe.
public struct SubscriptionRecord: Sendable, Equatable {
    /// Stripe's id (`sub_…`).
    public var id: String
    /// The SaaS's user.
    public var userID: String
    /// The Stripe customer (`cus_…`).
    public var customerID: String?
    /// Stripe's status (`active`, `trialing`, `past_due`, `canceled`, …).
    public var status: String
    /// The price of its first item.
    public var priceID: String?
    /// End of the current period, seconds since the epoch.
    public var currentPeriodEnd: Int64?
    /// Whether it ends at the end of the period.
    public var cancelAtPeriodEnd: Bool
    /// Stripe's `created`, seconds since the epoch.
    public var created: Int64?
    /// When it was read from Stripe (this host's clock): a read older than the one stored never replaces it.
    public var fetchedAt: Double

    /// A record from its parts.
    public init(
        id: String, userID: String, customerID: String?, status: String, priceID: String?,
        currentPeriodEnd: Int64?, cancelAtPeriodEnd: Bool, created: Int64?, fetchedAt: Double
    ) {
        self.id = id
        self.userID = userID
        self.customerID = customerID
        self.status = status
        self.priceID = priceID
        self.currentPeriodEnd = currentPeriodEnd
        self.cancelAtPeriodEnd = cancelAtPeriodEnd
        self.created = created
        self.fetchedAt = fetchedAt
    }
}

/// What a checkout asks Stripe for: the same request gets the open session again.
public struct SessionRequest: Sendable, Equatable {
    /// The price, chosen on the server.
    public var priceID: String
    /// Where Stripe sends the customer after paying.
    public var successURL: String
    /// Where Stripe sends the customer who goes back.
    public var cancelURL: String

    /// A request from its parts.
    public init(priceID: String, successURL: String, cancelURL: String) {
        self.priceID = priceID
        self.successURL = successURL
        self.cancelURL = cancelURL
    }
}

/// The user's open Checkout Session.
public struct OpenSession: Sendable, Equatable {
    /// Stripe's id (`cs_…`).
    public var sessionID: String
    /// The URL the browser was sent to.
    public var url: String
    /// What it was created for.
    public var request: SessionRequest
    /// When Stripe expires it, seconds since the epoch.
    public var expiresAt: Int64

    /// A session from its parts.
    public init(sessionID: String, url: String, request: SessionRequest, expiresAt: Int64) {
        self.sessionID = sessionID
        self.url = url
        self.request = request
        self.expiresAt = expiresAt
    }

    /// Whether Stripe still takes payment on it at `now` (seconds since the epoch).
    public func isOpen(at now: Double) -> Bool { Double(expiresAt) > now }
}

/// What a checkout reads before it writes: the user's Stripe customer, subscriptions (newest first) and open
/// session, read together.
public struct CheckoutState: Sendable, Equatable {
    /// The Stripe customer linked to the user, if any.
    public var customerID: String?
    /// Every subscription of the user, as `subscriptions(forUser:)` orders them.
    public var subscriptions: [SubscriptionRecord]
    /// The user's open session, if their slot holds one (expired or not).
    public var openSession: OpenSession?

    /// A state from its parts.
    public init(customerID: String?, subscriptions: [SubscriptionRecord], openSession: OpenSession?) {
        self.customerID = customerID
        self.subscriptions = subscriptions
        self.openSession = openSession
    }
}

/// What `beginCheckout` decided.
public enum CheckoutClaim: Sendable, Equatable {
    /// The user's open session asks for the same; answer its URL again, with no Stripe call.
    case reuse(OpenSession)
    /// This request owns the user's slot under `claim`; `replacing` is an open session to expire first.
    case claimed(claim: String, replacing: OpenSession?)
    /// Another request for the user is creating a session right now.
    case busy
}

/// The change one webhook event makes to the state.
public struct StateChange: Sendable, Equatable {
    /// Links a user to a Stripe customer (the first link of a user stays).
    public var customerLink: (userID: String, customerID: String)?
    /// A subscription as re-read from Stripe, upserted by id unless the stored read is newer.
    public var subscription: SubscriptionRecord?
    /// A session that is no longer open (completed or expired): the user's slot is emptied if it holds it.
    public var closedSessionID: String?

    /// A change from its parts; an empty change only records the event.
    public init(
        customerLink: (userID: String, customerID: String)? = nil, subscription: SubscriptionRecord? = nil,
        closedSessionID: String? = nil
    ) {
        self.customerLink = customerLink
        self.subscription = subscription
        self.closedSessionID = closedSessionID
    }

    /// Compares the parts.
    public static func == (lhs: StateChange, rhs: StateChange) -> Bool {
        lhs.customerLink?.userID == rhs.customerLink?.userID
            && lhs.customerLink?.customerID == rhs.customerLink?.customerID && lhs.subscription == rhs.subscription
            && lhs.closedSessionID == rhs.closedSessionID
    }
}

/// Everything a store holds, engine-neutral.
public struct StoreSnapshot: Sendable, Equatable {
    /// User → customer links.
    public var customers: [CustomerLink]
    /// Every subscription.
    public var subscriptions: [SubscriptionRecord]
    /// Every open session, by user.
    public var openSessions: [UserSession]
    /// Every applied event.
    public var processedEvents: [ProcessedEvent]

    /// A snapshot from its parts.
    public init(
        customers: [CustomerLink], subscriptions: [SubscriptionRecord], openSessions: [UserSession],
        processedEvents: [ProcessedEvent]
    ) {
        self.customers = customers
        self.subscriptions = subscriptions
        self.openSessions = openSessions
        self.processedEvents = processedEvents
    }
}

/// A user's Stripe customer.
public struct CustomerLink: Sendable, Equatable {
    public var userID: String
    public var customerID: String
    /// A link from its parts.
    public init(userID: String, customerID: String) {
        self.userID = userID
        self.customerID = customerID
    }
}

/// A user's open session.
public struct UserSession: Sendable, Equatable {
    public var userID: String
    public var session: OpenSession
    /// A pair from its parts.
    public init(userID: String, session: OpenSession) {
        self.userID = userID
        self.session = session
    }
}

/// An applied webhook event.
public struct ProcessedEvent: Sendable, Equatable {
    public var id: String
    public var type: String
    public var processedAt: Double
    /// An event from its parts.
    public init(id: String, type: String, processedAt: Double) {
        self.id = id
        self.type = type
        self.processedAt = processedAt
    }
}
