import Configuration
import Foundation
import Logging
import SystemPackage

/// Reads `Settings` with swift-configuration: environment over `.env` over the JSON file over defaults.
public enum SettingsLoader {
    /// Variables a client can set in CGI mode (`HTTP_*` from request headers) are never settings.
    static func trustedEnvironment(_ environment: [String: String]) -> [String: String] {
        environment.filter { !$0.key.hasPrefix("HTTP_") }
    }

    /// Loads and validates the settings from `environment` and the files it points at.
    public static func load(environment: [String: String]) async throws -> Settings {
        let loaded = await read(environment: environment)
        guard loaded.problems.isEmpty, let settings = loaded.settings else {
            throw SettingsError(problems: loaded.problems)
        }
        return settings
    }

    /// Reads and validates the settings from `environment` and the files it points at, and keeps the reader, so
    /// that the other parts read theirs from the same sources.
    ///
    /// `BILLING_CONFIG` names an optional JSON file; `BILLING_ENV_FILE` an optional `.env` file
    /// (default: `.env` in the working directory, when present; an empty value means none).
    public static func read(environment: [String: String]) async -> LoadedSettings {
        let trusted = trustedEnvironment(environment)
        let secretNames: Set<String> = ["STRIPE_SECRET_KEY", "JWT_SECRET", "STRIPE_WEBHOOK_SECRET"]
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: trusted, secretsSpecifier: .specific(secretNames))
        ]
        var problems: [String] = []
        // BILLING_ENV_FILE names the file; set but empty, it turns the `.env` lookup off.
        let envFile = trusted["BILLING_ENV_FILE"] ?? ".env"
        if !envFile.isEmpty && (trusted["BILLING_ENV_FILE"] != nil || FileManager.default.fileExists(atPath: envFile)) {
            do {
                providers.append(
                    try await EnvironmentVariablesProvider(
                        environmentFilePath: FilePath(envFile), secretsSpecifier: .specific(secretNames)))
            } catch {
                problems.append("BILLING_ENV_FILE: cannot read \(envFile)")
            }
        }
        if let configPath = trusted["BILLING_CONFIG"], !configPath.isEmpty {
            do {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(configPath)))
            } catch {
                problems.append("BILLING_CONFIG: cannot read \(configPath) as a JSON object (\(type(of: error)))")
            }
        }
        let config = ConfigReader(providers: providers)
        var reader = SettingsReader(config: config)
        reader.planNames = Self.planNames(environment: trusted)
        let settings = reader.settings()
        problems += reader.problems
        return LoadedSettings(settings: problems.isEmpty ? settings : nil, reader: config, problems: problems)
    }
}

extension SettingsLoader {
    /// `STRIPE_PRICES_<PLAN>` variables and the keys of `stripe.prices` in the JSON file, lowercased.
    static func planNames(environment: [String: String]) -> [String] {
        var names = Set<String>()
        for key in environment.keys where key.hasPrefix("STRIPE_PRICES_") && key.count > 14 {
            names.insert(String(key.dropFirst(14)).lowercased())
        }
        if let path = environment["BILLING_CONFIG"], !path.isEmpty,
            let data = FileManager.default.contents(atPath: path),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let stripe = root["stripe"] as? [String: Any], let prices = stripe["prices"] as? [String: Any]
        {
            names.formUnion(prices.keys)
        }
        return names.filter(PriceResolver.isPlainName).sorted()
    }
}

/// Reads each setting once, collecting every problem instead of stopping at the first.
struct SettingsReader {
    let config: ConfigReader
    var problems: [String] = []

    init(config: ConfigReader) {
        self.config = config
    }

    /// Plan names spelled out in the environment and the JSON file, for mapping a price back to its plan.
    var planNames: [String] = []

    mutating func settings() -> Settings? {
        let secretKey = secret("stripe.secretKey", variable: "STRIPE_SECRET_KEY")
        if secretKey == nil {
            problems.append("stripe.secretKey (STRIPE_SECRET_KEY or STRIPE_SECRET_KEY_FILE) is required")
        } else if let key = secretKey?.value, !(key.hasPrefix("sk_") || key.hasPrefix("rk_")) {
            problems.append(
                "stripe.secretKey (STRIPE_SECRET_KEY) must be a Stripe secret or restricted key (sk_… or rk_…)")
        }
        let apiBase = string("stripe.apiBase") ?? "https://api.stripe.com"
        if (try? Origin(url: apiBase)) == nil
            || URL(string: apiBase.trimmingTrailingSlashes() + "/v1/checkout/sessions") == nil
        {
            problems.append("stripe.apiBase (STRIPE_API_BASE) must be an http(s) URL, got \(apiBase)")
        }
        let planReader = config
        let stripe = StripeSettings(
            secretKey: secretKey ?? Secret(""),
            defaultPriceID: string("stripe.priceId"),
            planPrices: PlanPrices(names: planNames) { plan in
                planReader.string(forKey: ConfigKey(["stripe", "prices", plan]))?.nonEmpty
            },
            apiBase: apiBase.trimmingTrailingSlashes(),
            apiVersion: string("stripe.apiVersion") ?? StripeSettings.pinnedAPIVersion,
            maxNetworkRetries: int("stripe.maxNetworkRetries", default: 2, range: 0...10),
            timeoutSeconds: Double(int("stripe.timeoutSeconds", default: 20, range: 1...300)),
            allowPromotionCodes: bool("stripe.allowPromotionCodes"),
            automaticTax: bool("stripe.automaticTax") ?? false,
            trialPeriodDays: intIfSet("stripe.trialPeriodDays", range: 1...730),
            checkoutHosts: hosts("stripe.checkoutHosts", default: StripeSettings.defaultCheckoutHosts),
            portalHosts: hosts("stripe.portalHosts", default: StripeSettings.defaultPortalHosts)
        )
        let jwt = jwtSettings()
        let frontendURL = string("frontendUrl")
        var allowed = Set<Origin>()
        if let frontendURL {
            do throws(Origin.ParseError) {
                allowed.insert(try Origin(url: frontendURL))
            } catch {
                problems.append("frontendUrl (FRONTEND_URL): \(error), got \(frontendURL)")
            }
        } else {
            problems.append("frontendUrl (FRONTEND_URL) is required: the default redirect URLs are built from it")
        }
        if let listed = list("allowedRedirectOrigins") {
            allowed = []
            for entry in listed {
                do throws(Origin.ParseError) {
                    allowed.insert(try Origin(url: entry))
                } catch {
                    problems.append("allowedRedirectOrigins (ALLOWED_REDIRECT_ORIGINS): \(error), got \(entry)")
                }
            }
        }
        let cors = Set((list("corsOrigins") ?? []).map { $0.trimmingTrailingSlashes() })
        let routePath = string("routePath") ?? "/api/v1/billing/checkout"
        if !routePath.hasPrefix("/") {
            problems.append("routePath (ROUTE_PATH) must start with /, got \(routePath)")
        }
        let levelName = string("logLevel") ?? "info"
        let level = Logger.Level(rawValue: levelName.lowercased())
        if level == nil {
            problems.append("logLevel (LOG_LEVEL) must be one of trace, debug, info, notice, warning, error, critical")
        }
        let formatName = (string("logFormat") ?? LogFormat.logfmt.rawValue).lowercased()
        let format = LogFormat(rawValue: formatName)
        if format == nil {
            problems.append(
                "logFormat (LOG_FORMAT) must be one of \(LogFormat.allCases.map(\.rawValue).joined(separator: ", ")), got \(formatName.loggable(limit: 40))"
            )
        }
        let settings = Settings(
            stripe: stripe,
            jwt: jwt,
            frontendURL: frontendURL ?? "",
            allowedRedirectOrigins: allowed,
            corsOrigins: cors,
            routePath: routePath,
            logLevel: level ?? .info,
            logFormat: format ?? .logfmt,
            strictContentType: bool("strictContentType") ?? true,
            loop: loopSettings(legacyRoutePath: string("routePath"))
        )
        return problems.isEmpty ? settings : nil
    }

    private mutating func jwtSettings() -> JWTSettings {
        let secret = secret("jwt.secret", variable: "JWT_SECRET")
        // RFC 7518 §3.2: an HS256 key must be at least as long as the hash; jwt-kit asserts the same.
        if let secret, secret.value.utf8.count < 32 {
            problems.append("jwt.secret (JWT_SECRET) must be at least 32 bytes for HS256 (RFC 7518 §3.2)")
        }
        var pems: [String] = []
        if let pem = string("jwt.publicKey") { pems.append(pem.replacingOccurrences(of: "\\n", with: "\n")) }
        if let path = string("jwt.publicKeyFile"),
            let pem = fileContents(path, setting: "jwt.publicKeyFile (JWT_PUBLIC_KEY_FILE)")
        {
            pems.append(pem)
        }
        var jwks: String?
        if let path = string("jwt.jwksFile") {
            jwks = fileContents(path, setting: "jwt.jwksFile (JWT_JWKS_FILE)")
        }
        if secret == nil && pems.isEmpty && jwks == nil {
            problems.append(
                "jwt: no verification key; set jwt.secret (JWT_SECRET or JWT_SECRET_FILE) for HS256, or jwt.publicKey / jwt.publicKeyFile / jwt.jwksFile for RS256, ES256 or EdDSA"
            )
        }
        return JWTSettings(
            secret: secret,
            publicKeysPEM: pems,
            jwks: jwks,
            issuer: string("jwt.issuer"),
            audience: string("jwt.audience"),
            planClaim: string("jwt.planClaim") ?? "plan",
            customerClaim: string("jwt.customerClaim") ?? "stripe_customer_id",
            leewaySeconds: Double(int("jwt.leewaySeconds", default: 0, range: 0...600))
        )
    }

    /// A secret from its own key, or from the file named by `<key>File` (`…_FILE`).
    mutating func secret(_ key: String, variable: String) -> Secret? {
        if let value = config.string(forKey: ConfigKey(key), isSecret: true)?.nonEmpty {
            return Secret(value)
        }
        guard let path = string(key + "File") else { return nil }
        return fileContents(path, setting: "\(key)File (\(variable)_FILE)").map { Secret($0) }
    }

    mutating func fileContents(_ path: String, setting: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            problems.append("\(setting): cannot read \(path)")
            return nil
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { problems.append("\(setting): \(path) is empty") }
        return trimmed.nonEmpty
    }

    func string(_ key: String) -> String? {
        config.string(forKey: ConfigKey(key))?.trimmingCharacters(in: .whitespaces).nonEmpty
    }

    /// A list from a JSON array, or from a comma-separated string (the environment's form).
    func list(_ key: String) -> [String]? {
        let items =
            config.stringArray(forKey: ConfigKey(key)) ?? string(key).map { $0.split(separator: ",").map(String.init) }
        return items?.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Host names from a list setting, lowercased; each must be a plain DNS name (no scheme, port or path).
    mutating func hosts(_ key: String, default defaultValue: Set<String>) -> Set<String> {
        guard let listed = list(key) else { return defaultValue }
        var hosts = Set<String>()
        for entry in listed {
            let name = entry.lowercased()
            let isName =
                name.utf8.count <= 253 && !name.hasPrefix(".") && !name.hasSuffix(".") && !name.contains("..")
                && name.utf8.allSatisfy {
                    ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                        || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
                }
            if isName {
                hosts.insert(name)
            } else {
                problems.append("\(key) (\(Self.variableName(key))) must list host names such as checkout.stripe.com, got \(entry)")
            }
        }
        if listed.isEmpty { problems.append("\(key) (\(Self.variableName(key))) must name at least one host") }
        return hosts
    }

    mutating func int(_ key: String, default defaultValue: Int, range: ClosedRange<Int>) -> Int {
        intIfSet(key, range: range) ?? defaultValue
    }

    mutating func intIfSet(_ key: String, range: ClosedRange<Int>) -> Int? {
        let value = config.int(forKey: ConfigKey(key)) ?? string(key).flatMap { Int($0) }
        if let value, range.contains(value) { return value }
        // A JSON number that is not a whole number in Int's range (3.5, 1e300) reads as no int at all.
        if value != nil || string(key) != nil || config.double(forKey: ConfigKey(key)) != nil {
            problems.append(
                "\(key) (\(Self.variableName(key))) must be a whole number from \(range.lowerBound) to \(range.upperBound)"
            )
        }
        return nil
    }

    private mutating func bool(_ key: String) -> Bool? {
        if let value = config.bool(forKey: ConfigKey(key)) { return value }
        guard let text = string(key) else { return nil }
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default:
            problems.append("\(key) (\(Self.variableName(key))) must be true or false, got \(text)")
            return nil
        }
    }

    /// The environment variable swift-configuration maps `key` to (`stripe.secretKey` is `STRIPE_SECRET_KEY`).
    static func variableName(_ key: String) -> String {
        var name = ""
        var previousLower = false
        for character in key {
            if character == "." {
                name.append("_")
                previousLower = false
                continue
            }
            if character.isUppercase && previousLower { name.append("_") }
            name.append(contentsOf: character.uppercased())
            previousLower = character.isLowercase
        }
        return name
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
