import HTTPTypes
import Testing

@testable import Billing

/// `BearerToken.extract`: FastAPI's `HTTPBearer` reading of `Authorization`.
@Suite struct BearerTokenTests {
    static func extract(_ header: String?) -> Result<String, CheckoutError> {
        var fields = HTTPFields()
        if let header { fields[.authorization] = header }
        do throws(CheckoutError) {
            return .success(try BearerToken.extract(from: fields))
        } catch {
            return .failure(error)
        }
    }

    @Test(
        "reads the token after a Bearer scheme in any case",
        arguments: [
            ("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer x", "x"), ("BEARER x", "x"), ("Bearer  x ", "x"),
            ("Bearer \tx\t", "x"), ("Bearer x y", "x y"),
        ])
    func reads(header: String, token: String) {
        #expect(Self.extract(header) == .success(token))
    }

    @Test(
        "is not authenticated without a header, with another scheme, or with no token",
        arguments: [
            nil, "", "Basic dXNlcjpwdw==", "Bearer", "Bearer ", "Bearer    ", "Token x", "Bearerx", "Bearer\tx",
        ] as [String?])
    func notAuthenticated(header: String?) {
        #expect(Self.extract(header) == .failure(.notAuthenticated))
    }
}
