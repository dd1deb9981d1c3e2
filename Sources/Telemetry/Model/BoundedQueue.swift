import Foundation

/// Hands items from one thread to another, in order, holding at most `capacity`: the
/// producer runs at most that far ahead, and memory stays bounded. The producer ends with
/// `finish()`; the consumer may stop early with `cancel()`, after which `put` refuses (so a
/// producer waiting for room returns).
public final class BoundedQueue<Element: Sendable>: @unchecked Sendable {
    private let cond = NSCondition()
    private var items: [Element] = []
    private var head = 0
    private var finished = false
    private var cancelled = false
    private let capacity: Int

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Waits for room, then queues `item`; false once cancelled.
    public func put(_ item: Element) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        while items.count - head >= capacity && !cancelled { cond.wait() }
        guard !cancelled else { return false }
        items.append(item)
        cond.broadcast()
        return true
    }

    /// The next item, waiting for it; nil once the producer finished and all are taken (or
    /// after `cancel`).
    public func take() -> Element? {
        cond.lock()
        defer { cond.unlock() }
        while head == items.count && !finished && !cancelled { cond.wait() }
        guard head < items.count, !cancelled else { return nil }
        let item = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        cond.broadcast()
        return item
    }

    /// The producer has put its last item.
    public func finish() {
        cond.lock()
        finished = true
        cond.broadcast()
        cond.unlock()
    }

    /// The consumer stops taking: a waiting `put` returns false.
    public func cancel() {
        cond.lock()
        cancelled = true
        cond.broadcast()
        cond.unlock()
    }
}
