import Foundation

/// A subscription as Stripe answers `GET /v1/subscriptions/{id}`, the fields the billing state keeps.
public struct StripeSubscription: Sendable, Equatable {
    public var id: String
    public var customerID: String?
    public var status: String
    public var priceID: String?
    public var currentPeriodEnd: Int64?
    public var cancelAtPeriodEnd: Bool
    public var created: Int64?
    /// `metadata.user_id`, set at checkout.
    public var userID: String?

    /// A subscription from its parts.
    public init(
        id: String, customerID: String?, status: String, priceID: String?, currentPeriodEnd: Int64?,
        cancelAtPeriodEnd: Bool, created: Int64?, userID: String?
    ) {
        self.id = id
        self.customerID = customerID
        self.status = status
        self.priceID = priceID
        self.currentPeriodEnd = currentPeriodEnd
        self.cancelAtPeriodEnd = cancelAtPeriodEnd
        self.created = created
        self.userID = userID
    }
}

/// A Checkout Session's state as Stripe answers it.
public struct StripeSessionState: Sendable, Equatable {
    public var id: String
    /// `open`, `complete` or `expired`.
    public var status: String

    /// A state from its parts.
    public init(id: String, status: String) {
        self.id = id
        self.status = status
    }
}

/// Reads Stripe's objects out of JSON without trusting them: ids are checked, numbers converted without a trap.
enum StripeObjects {
    /// The subscription object, or nil when `value` is not one.
    static func subscription(_ value: JSONValue) -> StripeSubscription? {
        guard case .object(let object) = value, string(object["object"]) == "subscription",
            let id = identifier(object["id"], prefix: "sub_"), let status = word(object["status"])
        else { return nil }
        var priceID: String?
        var itemPeriodEnd: Int64?
        if case .object(let items)? = object["items"], case .array(let data)? = items["data"],
            case .object(let item)? = data.first
        {
            if case .object(let price)? = item["price"] { priceID = identifier(price["id"], prefix: "") }
            itemPeriodEnd = integer(item["current_period_end"])
        }
        var userID: String?
        if case .object(let metadata)? = object["metadata"] { userID = string(metadata["user_id"]).flatMap(nonEmpty) }
        return StripeSubscription(
            id: id, customerID: identifier(object["customer"], prefix: "cus_"), status: status, priceID: priceID,
            // Stripe moved current_period_end from the subscription to its items in later API versions.
            currentPeriodEnd: integer(object["current_period_end"]) ?? itemPeriodEnd,
            cancelAtPeriodEnd: object["cancel_at_period_end"] == .bool(true), created: integer(object["created"]),
            userID: userID)
    }

    /// A Checkout Session's id and status, or nil when `value` is not one.
    static func sessionState(_ value: JSONValue) -> StripeSessionState? {
        guard case .object(let object) = value, string(object["object"]) == "checkout.session",
            let id = identifier(object["id"], prefix: "cs_"), let status = word(object["status"])
        else { return nil }
        return StripeSessionState(id: id, status: status)
    }

    static func string(_ value: JSONValue?) -> String? {
        if case .string(let text)? = value { return text }
        return nil
    }

    /// A Stripe id with `prefix`, or nil (also for an expanded object, whose `id` is read instead).
    static func identifier(_ value: JSONValue?, prefix: String) -> String? {
        if case .object(let expanded)? = value { return identifier(expanded["id"], prefix: prefix) }
        guard let text = string(value), StripeIdentifier.isPlausible(text, prefix: prefix) else { return nil }
        return text
    }

    /// A lowercase word of letters and `_` (a status), at most 40 characters.
    static func word(_ value: JSONValue?) -> String? {
        guard let text = string(value), !text.isEmpty, text.utf8.count <= 40,
            text.utf8.allSatisfy({ ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || $0 == UInt8(ascii: "_") })
        else { return nil }
        return text
    }

    /// A whole number that fits in 64 bits, or nil: never a trap, whatever the JSON holds.
    static func integer(_ value: JSONValue?) -> Int64? {
        switch value {
        case .integer(let digits)?: return Int64(digits)
        case .double(let number)? where number.isFinite && number == number.rounded() && abs(number) < 9e15:
            return Int64(number)
        default: return nil
        }
    }

    private static func nonEmpty(_ text: String) -> String? { text.isEmpty ? nil : text }
}
