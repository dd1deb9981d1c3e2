import Testing
@testable import Telemetry

/// Every layout of a ring (capacity x head x count) against a plain array.
@Suite struct RingBufferTests {
    /// Builds a ring whose head sits at physical `head` holding `count` elements, plus its oracle.
    static func layout(capacity: Int, head: Int, count: Int) -> (RingBuffer<Int>, [Int]) {
        var r = RingBuffer<Int>(capacity: capacity)
        var next = 0
        // Fill to capacity once so every physical slot has been written, then rotate the head.
        for _ in 0..<capacity { r.append(next); next += 1 }
        for _ in 0..<capacity { r.removeFirst() }
        for _ in 0..<head { r.append(next); next += 1; r.removeFirst() }
        var oracle: [Int] = []
        for _ in 0..<count { r.append(next); oracle.append(next); next += 1 }
        return (r, oracle)
    }

    static func everyLayout(_ body: (RingBuffer<Int>, [Int], Int) -> Void) {
        for capacity in [1, 2, 4, 8] {
            for head in 0..<capacity {
                for count in 0...capacity {
                    let (r, o) = layout(capacity: capacity, head: head, count: count)
                    body(r, o, capacity)
                }
            }
        }
    }

    @Test func contentsMatchOracle() {
        Self.everyLayout { r, o, cap in
            #expect(r.elements == o)
            #expect(r.count == o.count)
            #expect(r.capacity == cap)
            #expect(r.first == o.first)
            #expect(r.last == o.last)
        }
    }

    @Test func appendOverwritesOldestWhenFull() {
        Self.everyLayout { r, o, cap in
            var r = r
            var o = o
            let dropped = r.append(-1)
            o.append(-1)
            var expectedDrop: Int? = nil
            if o.count > cap { expectedDrop = o.removeFirst() }
            #expect(dropped == expectedDrop)
            #expect(r.elements == o)
        }
    }

    @Test func insertAtEveryPosition() {
        Self.everyLayout { r0, o0, cap in
            for i in 0...o0.count {
                var r = r0
                var o = o0
                if o.count == cap {
                    if i == 0 { continue }   // before the oldest of a full ring is refused by contract
                    o.insert(-1, at: i)
                    o.removeFirst()
                } else {
                    o.insert(-1, at: i)
                }
                r.insert(-1, at: i)
                #expect(r.elements == o, "cap \(cap) insert at \(i)")
            }
        }
    }

    @Test func removeFirstDrainsInOrder() {
        Self.everyLayout { r, o, _ in
            var r = r
            var drained: [Int] = []
            while !r.isEmpty { drained.append(r.removeFirst()) }
            #expect(drained == o)
        }
    }

    @Test func capacityRoundsUpToPowerOfTwo() {
        #expect(RingBuffer<Int>(capacity: 3).capacity == 4)
        #expect(RingBuffer<Int>(capacity: 100).capacity == 128)
        #expect(RingBuffer<Int>(capacity: 1).capacity == 1)
    }
}

@Suite struct SeriesRingTests {
    /// The ring keeps the `capacity` newest distinct times; the first value for a time wins.
    @Test(arguments: [1, 7, 42, 1234])
    func lateAndDuplicateReadings(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        for capacity in [1, 4, 16] {
            var ring = SeriesRing(capacity: capacity)
            var firstValue: [EpochMillis: Double] = [:]
            for step in 0..<500 {
                let t = EpochMillis(step) * 1000 - EpochMillis(rng.next(below: 40)) * 1000
                let v = Double(rng.next(below: 1000))
                ring.record(Sample(time: t, value: v))
                if firstValue[t] == nil { firstValue[t] = v }
            }
            // Once full, the ring's oldest time only grows, so an evicted or refused time never
            // re-enters: the ring is the newest `capacity` times with their first values.
            let times = firstValue.keys.sorted().suffix(capacity)
            #expect(ring.samples == times.map { Sample(time: $0, value: firstValue[$0]!) })
            #expect(ring.latest?.time == times.last)
        }
    }
}

extension SplitMix64 {
    /// Uniform enough for test data: 0 ..< n.
    mutating func next(below n: UInt64) -> UInt64 { next() % n }
}
