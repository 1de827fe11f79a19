import Foundation

/// The current Unix time in whole seconds, as Stripe writes `created` and friends.
func unixNow() -> Int {
    Int(Date().timeIntervalSince1970)
}

/// A customer as the stand-in keeps it (API version 2024-06-20 shape, only the fields the billing loop reads).
struct CustomerRecord: Sendable {
    let id: String
    let created: Int
    var email: String?
    var name: String?
    var description: String?
    var metadata: JSON

    /// The `customer` object.
    var json: JSON {
        .object([
            ("id", .string(id)),
            ("object", .string("customer")),
            ("created", .number(created)),
            ("description", .optional(description)),
            ("email", .optional(email)),
            ("livemode", .bool(false)),
            ("metadata", metadata),
            ("name", .optional(name)),
        ])
    }
}

/// A Checkout Session as the stand-in keeps it, with what it was created with.
struct CheckoutSessionRecord: Sendable {
    let id: String
    let created: Int
    let expiresAt: Int
    let mode: String?
    var customer: String?
    let customerEmail: String?
    let clientReferenceID: String?
    let metadata: JSON
    /// `subscription_data[metadata]`, given to the subscription the session creates.
    let subscriptionMetadata: JSON
    /// `subscription_data[trial_period_days]`, the trial a `trialing` completion gives.
    let trialPeriodDays: Int?
    /// Every `line_items[i]`, in index order.
    let lineItems: [LineItem]
    let successURL: String?
    let cancelURL: String?
    /// `open`, `complete` or `expired`.
    var status = "open"
    /// `unpaid`, `paid` or `no_payment_required`.
    var paymentStatus = "unpaid"
    var subscription: String?

    /// The price of `line_items[0]`, which the subscription is for.
    var price: String? { lineItems.first?.price }

    /// The `checkout.session` object; `url` is only present while the session is open, as at Stripe, and left out
    /// entirely when `omitURL` (the `noURL` fault).
    func json(omitURL: Bool = false, lineItems expandLineItems: Bool = false) -> JSON {
        var members: [(String, JSON)] = [("id", .string(id)), ("object", .string("checkout.session"))]
        if !omitURL {
            members.append(("url", status == "open" ? .string("https://checkout.stripe.com/c/pay/\(id)") : .null))
        }
        members += [
            ("mode", .optional(mode)),
            ("success_url", .optional(successURL)),
            ("cancel_url", .optional(cancelURL)),
            ("client_reference_id", .optional(clientReferenceID)),
            ("customer", .optional(customer)),
            ("customer_email", .optional(customerEmail)),
            ("metadata", metadata),
            ("livemode", .bool(false)),
            ("status", .string(status)),
            ("payment_status", .string(paymentStatus)),
            ("subscription", .optional(subscription)),
            ("created", .number(created)),
            ("expires_at", .number(expiresAt)),
        ]
        if expandLineItems {
            let items: [JSON] = lineItems.map { item in
                .object([
                    ("id", .string(item.id)),
                    ("object", .string("item")),
                    ("price", .object([("id", .string(item.price)), ("object", .string("price"))])),
                    ("quantity", .number(item.quantity)),
                ])
            }
            members.append(("line_items", .list(items, url: "/v1/checkout/sessions/\(id)/line_items")))
        }
        return .object(members)
    }
}

/// One line item of a Checkout Session.
struct LineItem: Sendable {
    let id: String
    let price: String
    let quantity: Int
}

/// A subscription as the stand-in keeps it: one item, quantity 1.
struct SubscriptionRecord: Sendable {
    let id: String
    let created: Int
    let customer: String
    /// Stripe's status: `incomplete`, `incomplete_expired`, `trialing`, `active`, `past_due`, `canceled`, `unpaid`
    /// or `paused`.
    var status: String
    let itemID: String
    var price: String
    var currentPeriodStart: Int
    var currentPeriodEnd: Int
    var cancelAtPeriodEnd = false
    var canceledAt: Int?
    var trialEnd: Int?
    var metadata: JSON

    /// The statuses a subscription can have.
    static let statuses: Set<String> = [
        "incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused",
    ]

    /// The `subscription` object.
    var json: JSON {
        let item = JSON.object([
            ("id", .string(itemID)),
            ("object", .string("subscription_item")),
            ("created", .number(created)),
            ("price", .object([("id", .string(price)), ("object", .string("price"))])),
            ("quantity", .number(1)),
        ])
        return .object([
            ("id", .string(id)),
            ("object", .string("subscription")),
            ("cancel_at_period_end", .bool(cancelAtPeriodEnd)),
            ("canceled_at", canceledAt.map(JSON.number) ?? .null),
            ("created", .number(created)),
            ("current_period_end", .number(currentPeriodEnd)),
            ("current_period_start", .number(currentPeriodStart)),
            ("customer", .string(customer)),
            ("items", .list([item], url: "/v1/subscription_items?subscription=\(id)")),
            ("livemode", .bool(false)),
            ("metadata", metadata),
            ("status", .string(status)),
            ("trial_end", trialEnd.map(JSON.number) ?? .null),
        ])
    }
}

/// A minimal invoice, only as the object of `invoice.paid` and `invoice.payment_failed`.
struct InvoiceRecord: Sendable {
    let id: String
    let created: Int
    let customer: String
    let subscription: String
    /// `paid` or `open`.
    let status: String

    /// The `invoice` object.
    var json: JSON {
        .object([
            ("id", .string(id)),
            ("object", .string("invoice")),
            ("created", .number(created)),
            ("customer", .string(customer)),
            ("livemode", .bool(false)),
            ("status", .string(status)),
            ("subscription", .string(subscription)),
        ])
    }
}

/// A billing portal session, kept only to answer it.
struct PortalSessionRecord: Sendable {
    let id: String
    let created: Int
    let customer: String
    let returnURL: String?
    let url: String

    /// The `billing_portal.session` object.
    var json: JSON {
        .object([
            ("id", .string(id)),
            ("object", .string("billing_portal.session")),
            ("created", .number(created)),
            ("customer", .string(customer)),
            ("livemode", .bool(false)),
            ("return_url", .optional(returnURL)),
            ("url", .string(url)),
        ])
    }
}

extension JSON {
    /// Stripe's list envelope: `{"object":"list","data":[...],"has_more":…,"url":…}`.
    static func list(_ data: [JSON], hasMore: Bool = false, url: String) -> JSON {
        .object([
            ("object", .string("list")),
            ("data", .array(data)),
            ("has_more", .bool(hasMore)),
            ("url", .string(url)),
        ])
    }

    /// The member `key` of an object, if this is one and has it (the last one when repeated).
    subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.0 == key }?.1
    }

    /// The string this value holds, if it is one.
    var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}
