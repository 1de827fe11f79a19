import Foundation

/// An answer a test writes itself, to see how the client treats what Stripe never sends: odd headers, redirects,
/// oversized or compressed bodies.
struct CraftedAnswer: Sendable, Equatable {
    var status: Int
    var headers: [String: String]
    var body: Data

    /// The answer for a fault description: `body` repeated `repeat` times, or, with `gzipBytes`, a gzip stream
    /// that inflates to that many `0` bytes (and `Content-Encoding: gzip`).
    static func make(status: Int, headers: [String: String], body: String, repeat count: Int, gzipBytes: Int?)
        -> CraftedAnswer
    {
        var headers = headers
        if let gzipBytes {
            headers["Content-Encoding"] = "gzip"
            return CraftedAnswer(status: status, headers: headers, body: Gzip.zeros(gzipBytes))
        }
        var data = Data(capacity: body.utf8.count * count)
        for _ in 0..<count { data.append(contentsOf: body.utf8) }
        return CraftedAnswer(status: status, headers: headers, body: data)
    }

    /// The stand-in's response for this answer.
    var response: StandInResponse {
        StandInResponse(status: status, headers: headers, body: body)
    }
}

/// A gzip stream of ASCII `0`s that is about 600 times smaller than what it inflates to.
///
/// One fixed-Huffman deflate block (RFC 1951 §3.2.6): a literal `0`, then back-references of length 258 at
/// distance 1, each 13 bits for 258 bytes.
enum Gzip {
    static func zeros(_ count: Int) -> Data {
        var bits = BitWriter()
        bits.write(1, count: 1)  // BFINAL
        bits.write(1, count: 2)  // BTYPE 01: fixed Huffman codes
        var produced = 0
        func literal(_ byte: UInt32) {
            // Literals 0...143 are the 8-bit codes 0x30...0xBF.
            bits.writeCode(0x30 + byte, count: 8)
            produced += 1
        }
        if count > 0 { literal(UInt32(UInt8(ascii: "0"))) }
        while count - produced >= 258 {
            bits.writeCode(0xC5, count: 8)  // length symbol 285: 258 bytes, no extra bits
            bits.writeCode(0, count: 5)  // distance code 0: distance 1
            produced += 258
        }
        while produced < count { literal(UInt32(UInt8(ascii: "0"))) }
        bits.writeCode(0, count: 7)  // end of block (256)
        bits.flush()
        var out = Data([0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03])
        out.append(contentsOf: bits.bytes)
        let crc = CRC32.ofZeroCharacters(count)
        let size = UInt32(truncatingIfNeeded: count)
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: size >> UInt32(shift))) }
        return out
    }

    private struct BitWriter {
        var bytes: [UInt8] = []
        private var accumulator: UInt32 = 0
        private var pending = 0

        /// Writes `count` bits of `value`, least significant first (deflate's order for everything but codes).
        mutating func write(_ value: UInt32, count: Int) {
            accumulator |= value << UInt32(pending)
            pending += count
            while pending >= 8 {
                bytes.append(UInt8(truncatingIfNeeded: accumulator))
                accumulator >>= 8
                pending -= 8
            }
        }

        /// Writes a Huffman code, which deflate packs most significant bit first.
        mutating func writeCode(_ code: UInt32, count: Int) {
            var reversed: UInt32 = 0
            for index in 0..<count where code & (1 << UInt32(index)) != 0 {
                reversed |= 1 << UInt32(count - 1 - index)
            }
            write(reversed, count: count)
        }

        mutating func flush() {
            if pending > 0 { bytes.append(UInt8(truncatingIfNeeded: accumulator)) }
            accumulator = 0
            pending = 0
        }
    }

    private enum CRC32 {
        static let table: [UInt32] = (0..<256).map { index in
            var value = UInt32(index)
            for _ in 0..<8 { value = value & 1 != 0 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
            return value
        }

        /// The CRC-32 of `count` ASCII `0`s; past 8 MiB it is left wrong on purpose (a client reading that far
        /// has already failed the test), which keeps a large stream cheap to make.
        static func ofZeroCharacters(_ count: Int) -> UInt32 {
            guard count <= 8 << 20 else { return 0 }
            var crc: UInt32 = 0xFFFF_FFFF
            for _ in 0..<count { crc = table[Int((crc ^ 0x30) & 0xFF)] ^ (crc >> 8) }
            return crc ^ 0xFFFF_FFFF
        }
    }
}
