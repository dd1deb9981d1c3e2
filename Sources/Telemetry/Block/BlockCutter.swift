/// Cuts a run of samples or buckets into the blocks a container row holds. A block has at most
/// a maximum count and, where it can, at most `maxBytes` encoded: SQLite keeps a row of a
/// `WITHOUT ROWID` table inside its 4 KB page only up to about 1,000 bytes, and spills the
/// rest of a larger one into overflow pages of its own, mostly empty (a 2.4 KB block took two
/// pages). Blocks under the limit share pages, three or four to a page.
enum BlockCutter {
    /// The encoded bytes a block aims to stay under: SQLite's largest in-page payload of a
    /// `WITHOUT ROWID` row on 4,096-byte pages (1,002 bytes) less the key's columns.
    static let maxBytes = 960

    /// Encodes `items` as consecutive blocks of at most `maxCount` items and at most `maxBytes`
    /// bytes (a single item may exceed it), handing each block's range and bytes to `body`.
    static func cut<T>(_ items: [T], maxCount: Int, maxBytes: Int = maxBytes, encode: (ArraySlice<T>) -> [UInt8],
                       _ body: (Range<Int>, [UInt8]) throws -> Void) rethrows {
        var start = 0
        while start < items.count {
            var count = min(maxCount, items.count - start)
            var bytes = encode(items[start..<start + count])
            while bytes.count > maxBytes && count > 1 {
                // Encoded sizes grow about linearly with the count: aim a little under.
                count = max(1, min(count - 1, count * maxBytes * 15 / (bytes.count * 16)))
                bytes = encode(items[start..<start + count])
            }
            try body(start..<start + count, bytes)
            start += count
        }
    }
}
