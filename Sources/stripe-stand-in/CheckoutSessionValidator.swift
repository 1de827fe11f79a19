import Foundation

/// Checks checkout-session parameters the way Stripe does, returning the first error found.
struct CheckoutSessionValidator {

    /// Top-level parameters the stand-in accepts.
    static let knownParameters: Set<String> = [
        "mode", "line_items", "success_url", "cancel_url", "client_reference_id", "customer",
        "customer_email", "metadata", "subscription_data", "allow_promotion_codes", "automatic_tax",
        "payment_method_types", "locale", "billing_address_collection",
    ]

    /// Price ids that exist.
    let prices: Set<String>

    /// Returns a 400 response for the first invalid parameter, or `nil` when the request is valid.
    func firstError(in params: [FormPair]) -> StandInResponse? {
        let form = FormLookup(params: params)
        if let unknown = params.map({ FormDecoder.path(of: $0.key)[0] }).first(where: {
            !Self.knownParameters.contains($0)
        }) {
            return .invalidRequest(
                code: "parameter_unknown", message: "Received unknown parameter: \(unknown)", param: unknown)
        }
        if let error = modeError(form) ?? lineItemsError(form) ?? urlErrors(form) ?? customerError(form) {
            return error
        }
        return nil
    }

    /// Validates `mode`: required, non-empty, one of payment, setup, subscription.
    private func modeError(_ form: FormLookup) -> StandInResponse? {
        guard let mode = form["mode"] else { return Self.missing("mode") }
        if mode.isEmpty { return Self.empty("mode") }
        guard ["payment", "setup", "subscription"].contains(mode) else {
            return .invalidRequest(
                code: "parameter_invalid",
                message:
                    "Invalid mode: must be one of payment, setup, or subscription", param: "mode")
        }
        return nil
    }

    /// Validates every `line_items[i]`: a known price and a positive integer quantity; required unless mode is setup.
    private func lineItemsError(_ form: FormLookup) -> StandInResponse? {
        let indices = form.lineItemIndices
        if indices.isEmpty {
            return form["mode"] == "setup"
                ? nil
                : .invalidRequest(
                    code: "parameter_missing",
                    message:
                        "Missing required param: line_items.", param: "line_items")
        }
        for index in indices {
            let priceParam = "line_items[\(index)][price]"
            guard let price = form[priceParam] else { return Self.missing(priceParam) }
            if price.isEmpty { return Self.empty(priceParam) }
            guard prices.contains(price) else {
                return .invalidRequest(
                    code: "resource_missing", message: "No such price: '\(price)'", param: priceParam)
            }
            let quantityParam = "line_items[\(index)][quantity]"
            guard let quantity = form[quantityParam] else {
                return .invalidRequest(
                    code: "parameter_missing",
                    message:
                        "Quantity is required. Add `quantity` to `line_items[\(index)]`", param: quantityParam)
            }
            guard let number = Int(quantity) else {
                return .invalidRequest(
                    code: "parameter_invalid_integer", message: "Invalid integer: \(quantity)", param: quantityParam)
            }
            guard number > 0 else {
                return .invalidRequest(
                    code: "parameter_invalid_integer",
                    message:
                        "This value must be greater than or equal to 1.", param: quantityParam)
            }
        }
        return nil
    }

    /// Validates `success_url` (required) and `cancel_url` (optional) as http(s) URLs of at most 5000 characters.
    private func urlErrors(_ form: FormLookup) -> StandInResponse? {
        guard let success = form["success_url"] else { return Self.missing("success_url") }
        if success.isEmpty { return Self.empty("success_url") }
        if let error = Self.urlError(success, param: "success_url") { return error }
        if let cancel = form["cancel_url"] {
            if cancel.isEmpty { return Self.empty("cancel_url") }
            return Self.urlError(cancel, param: "cancel_url")
        }
        return nil
    }

    /// Validates `customer` and `customer_email` and that only one is given.
    private func customerError(_ form: FormLookup) -> StandInResponse? {
        let customer = form["customer"], email = form["customer_email"]
        if customer != nil, email != nil {
            return .invalidRequest(
                code: "parameter_invalid",
                message:
                    "You may only specify one of these parameters: customer, customer_email.", param: "customer")
        }
        if let customer, !customer.hasPrefix("cus_") {
            return .invalidRequest(
                code: "resource_missing", message: "No such customer: '\(customer)'", param: "customer")
        }
        if let email, !email.contains("@") {
            return .invalidRequest(
                code: "email_invalid", message: "Invalid email address: \(email)", param: "customer_email")
        }
        return nil
    }

    /// Returns a `url_invalid` error unless `value` is an absolute http(s) URL with a host and at most 5000 characters.
    static func urlError(_ value: String, param: String) -> StandInResponse? {
        if value.count > 5000 {
            return .invalidRequest(
                code: "url_invalid", message: "Invalid URL: URL must be 5000 characters or fewer.", param: param)
        }
        guard let components = URLComponents(string: value),
            let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = components.host, !host.isEmpty
        else {
            return .invalidRequest(code: "url_invalid", message: "Not a valid URL", param: param)
        }
        return nil
    }

    /// Makes Stripe's `parameter_missing` error.
    static func missing(_ param: String) -> StandInResponse {
        .invalidRequest(code: "parameter_missing", message: "Missing required param: \(param).", param: param)
    }

    /// Makes Stripe's `parameter_invalid_empty` error.
    static func empty(_ param: String) -> StandInResponse {
        .invalidRequest(
            code: "parameter_invalid_empty",
            message:
                "You passed an empty string for '\(param)'. We assume empty values are an attempt to unset a parameter; "
                + "however '\(param)' cannot be unset. You should remove '\(param)' from your request or supply a non-empty value.",
            param: param)
    }
}

/// Looks up form values by full key; the last occurrence of a key wins.
struct FormLookup {
    /// The decoded pairs in request order.
    let params: [FormPair]

    /// Returns the last value sent for `key`.
    subscript(key: String) -> String? {
        params.last { $0.key == key }?.value
    }

    /// The distinct integer indices used under `line_items[...]`, ascending.
    var lineItemIndices: [Int] {
        let indices = params.compactMap { pair -> Int? in
            let path = FormDecoder.path(of: pair.key)
            return path[0] == "line_items" && path.count > 1 ? Int(path[1]) : nil
        }
        return Array(Set(indices)).sorted()
    }
}
