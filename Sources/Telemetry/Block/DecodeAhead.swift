import Foundation

/// Sample blocks decoded ahead of their reader (`BlockStore.forEachBlockDecodingAhead`): a
/// background decoder takes the blocks in order, at most `ahead` past the one being read, and
/// the reader, when its next block is not ready, decodes the next one nobody has taken rather
/// than wait. With a light reader (a year's LTTB) the two cores share the decoding.
final class DecodeAhead: @unchecked Sendable {
    typealias Decoded = Result<[Sample], BlockError>
    private let blobs: [[UInt8]]
    private let ahead: Int
    private let lock = NSCondition()
    // Guarded by `lock`.
    private var decoded: [Decoded?]
    /// Blocks before this one are taken by the decoder or the reader.
    private var claimed = 0
    /// Blocks before this one have been handed to the reader.
    private var consumed = 0
    private var cancelled = false

    init(_ blobs: [[UInt8]], ahead: Int) {
        self.blobs = blobs
        self.ahead = max(ahead, 1)
        decoded = Array(repeating: nil, count: blobs.count)
    }

    /// The background decoder's loop, until every block is taken or `cancel`.
    func decodeInBackground() {
        while let i = claim(waiting: true) { publish(i, Self.decode(blobs[i])) }
    }

    /// Block `i` (in order: 0, 1, ...), decoded.
    func take(_ i: Int) -> Decoded {
        while true {
            lock.lock()
            if let d = decoded[i] {
                decoded[i] = nil
                consumed = i + 1
                lock.broadcast()
                lock.unlock()
                return d
            }
            lock.unlock()
            // Not ready: decode the next block nobody has taken (this one, or one after it),
            // else wait for the decoder's.
            if let j = claim(waiting: false) {
                publish(j, Self.decode(blobs[j]))
            } else {
                lock.lock()
                while decoded[i] == nil && !cancelled { lock.wait() }
                lock.unlock()
            }
        }
    }

    /// The reader stops (done, or an error): the decoder stops taking blocks.
    func cancel() {
        lock.lock()
        cancelled = true
        lock.broadcast()
        lock.unlock()
    }

    /// The next block to decode, when it is fewer than `ahead` past the reader's; `waiting`:
    /// until it is (the decoder), else nil at once (the reader).
    private func claim(waiting: Bool) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        while !cancelled && claimed < blobs.count && claimed >= consumed + ahead {
            guard waiting else { return nil }
            lock.wait()
        }
        guard !cancelled, claimed < blobs.count else { return nil }
        claimed += 1
        return claimed - 1
    }

    private func publish(_ i: Int, _ d: Decoded) {
        lock.lock()
        decoded[i] = d
        lock.broadcast()
        lock.unlock()
    }

    private static func decode(_ bytes: [UInt8]) -> Decoded {
        Result { () throws(BlockError) in try SampleBlock.decode(bytes) }
    }
}
