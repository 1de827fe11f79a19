import Foundation
import Testing

@testable import stripe_stand_in

/// Unit checks for form decoding and key masking inside the executable module.
@Suite struct FormDecoderTests {

    /// Percent escapes and `+` decode; order is kept.
    @Test func decodesPairs() {
        let pairs = FormDecoder.pairs(from: "a=1+2&b%5Bc%5D=x%26y&empty=&flag")
        #expect(
            pairs == [
                FormPair(key: "a", value: "1 2"), FormPair(key: "b[c]", value: "x&y"),
                FormPair(key: "empty", value: ""), FormPair(key: "flag", value: ""),
            ])
    }

    /// Bracket keys nest into objects, integer keys and `[]` into arrays.
    @Test func nestsBrackets() {
        let pairs = FormDecoder.pairs(
            from:
                "line_items[1][price]=p2&line_items[0][price]=p1&metadata[user_id]=u&subscription_data[metadata][user_id]=u"
                + "&payment_method_types[]=card&payment_method_types[]=link")
        let expected = JSON.object([
            ("line_items", .array([.object([("price", .string("p1"))]), .object([("price", .string("p2"))])])),
            ("metadata", .object([("user_id", .string("u"))])),
            ("subscription_data", .object([("metadata", .object([("user_id", .string("u"))]))])),
            ("payment_method_types", .array([.string("card"), .string("link")])),
        ])
        #expect(FormDecoder.nested(pairs) == expected)
    }

    /// Keys are masked like Stripe, keeping the prefix and last four characters.
    @Test func masksKeys() {
        #expect(APIKeyCheck.mask("sk_test_abcdefgh1234") == "sk_test_********1234")
        #expect(APIKeyCheck.mask("bad") == "***")
    }
}
