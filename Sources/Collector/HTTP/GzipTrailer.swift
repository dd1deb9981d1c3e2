/// A gzip member's trailer (RFC 1952): the CRC-32 and the length (mod 2^32) of what it holds.
/// The decompressor we use stops where the data stops and does not check them, so a body cut
/// off in transit would otherwise read as a shorter valid one.
enum GzipTrailer {
    /// Whether `decompressed` is all that the member `compressed` says it holds.
    static func matches(compressed: some Collection<UInt8>, decompressed: some Collection<UInt8>) -> Bool {
        guard compressed.count >= 18 else { return false }
        let tail = Array(compressed.suffix(8))
        func le(_ at: Int) -> UInt32 {
            UInt32(tail[at]) | UInt32(tail[at + 1]) << 8 | UInt32(tail[at + 2]) << 16 | UInt32(tail[at + 3]) << 24
        }
        return le(0) == crc32(decompressed) && le(4) == UInt32(truncatingIfNeeded: decompressed.count)
    }

    /// CRC-32 (IEEE 802.3, reflected, as gzip uses it).
    static func crc32(_ bytes: some Collection<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
}
