import Foundation
import Telemetry

/// One run of decoded lines of an import file: its readings, the lines quarantined, and how
/// far into the file it reaches (for the progress bar).
struct DecodedChunk: Sendable {
    var readings: [Reading] = []
    var quarantine: [QuarantineRecord] = []
    var endOffset = 0
}

/// Hands decoded chunks from the import's decoding thread to its committing one, in order,
/// holding at most `capacity` (so decoding runs at most that far ahead, and memory stays at
/// a few batches). Either side may stop it: the decoder by `finish()`, the committer (a
/// failed commit) by `cancel()`, after which `put` refuses.
final class DecodedChunks: @unchecked Sendable {
    private let cond = NSCondition()
    private var items: [DecodedChunk] = []
    private var finished = false
    private var cancelled = false
    private let capacity: Int

    init(capacity: Int = 2) { self.capacity = capacity }

    /// Waits for room, then queues `chunk`; false once cancelled.
    func put(_ chunk: DecodedChunk) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        while items.count >= capacity && !cancelled { cond.wait() }
        guard !cancelled else { return false }
        items.append(chunk)
        cond.broadcast()
        return true
    }

    /// The next chunk, waiting for it; nil once the decoder finished and all are taken.
    func take() -> DecodedChunk? {
        cond.lock()
        defer { cond.unlock() }
        while items.isEmpty && !finished && !cancelled { cond.wait() }
        guard !items.isEmpty, !cancelled else { return nil }
        cond.broadcast()
        return items.removeFirst()
    }

    /// The decoder has put its last chunk.
    func finish() {
        cond.lock()
        finished = true
        cond.broadcast()
        cond.unlock()
    }

    /// The committer stops taking: a waiting `put` returns false.
    func cancel() {
        cond.lock()
        cancelled = true
        cond.broadcast()
        cond.unlock()
    }
}
