import Testing
@testable import Telemetry

@Suite struct SeriesRingsTests {
    /// Each ring keeps the `capacity` newest distinct times of its series; the first value for
    /// a time wins. Series interleave and sit in different chunks.
    @Test(arguments: [1, 7, 42, 1234])
    func lateAndDuplicateReadings(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let series = [0, 1, 1023, 1024, 3000].map { SeriesID(Int32($0)) }
        for capacity in [1, 3, 4, 16, 100, 70_000] {   // 70,000: a chunk per series
            var rings = SeriesRings(capacity: capacity)
            rings.reserve(seriesCount: 3001)
            var firstValue: [SeriesID: [EpochMillis: Double]] = [:]
            for step in 0..<2000 {
                let s = series[Int(rng.next(below: UInt64(series.count)))]
                let t = EpochMillis(step) * 1000 - EpochMillis(rng.next(below: 400)) * 1000
                let v = Double(rng.next(below: 1000))
                rings.record(Sample(time: t, value: v), of: s)
                if firstValue[s, default: [:]][t] == nil { firstValue[s, default: [:]][t] = v }
            }
            // Once full, a ring's oldest time only grows, so an evicted or refused time never
            // re-enters: the ring is the newest `capacity` times with their first values.
            for s in series {
                let values = firstValue[s, default: [:]]
                let times = values.keys.sorted().suffix(capacity)
                #expect(rings.samples(of: s) == times.map { Sample(time: $0, value: values[$0]!) }, "capacity \(capacity), series \(s)")
                #expect(rings.latest(of: s)?.time == times.last)
                #expect(rings.count(of: s) == times.count)
            }
        }
    }

    /// Every reachable layout (filling: head 0 and any count; full: any head), and a reading
    /// at every place in it: before, between and after the kept times, and on one of them.
    @Test func everyLayoutAndEveryPlace() {
        for capacity in 1...5 {
            var layouts: [(count: Int, rotations: Int)] = (0...capacity).map { ($0, 0) }
            if capacity > 1 { layouts += (1..<capacity).map { (capacity, $0) } }
            for (count, rotations) in layouts {
                for place in -1...(2 * count) {
                    var rings = SeriesRings(capacity: capacity)
                    rings.reserve(seriesCount: 2)
                    let id = SeriesID(1)
                    var kept: [Sample] = []
                    for k in 0..<(count + rotations) {   // times 10, 20, ...; the oldest roll off
                        let s = Sample(time: EpochMillis(k + 1) * 10, value: Double(k))
                        rings.record(s, of: id)
                        kept.append(s)
                    }
                    kept = Array(kept.suffix(capacity))
                    #expect(rings.samples(of: id) == kept)
                    // place: odd = between two kept times (or before/after all), even = on one.
                    let base = (kept.first?.time ?? 10) - 10
                    let time = base + EpochMillis(place + 1) * 5
                    let reading = Sample(time: time, value: -1)
                    var expected = kept
                    let duplicate = kept.contains { $0.time == time }
                    let olderThanAll = kept.count == capacity && time < (kept.first?.time ?? .max)
                    if !duplicate && !olderThanAll {
                        expected.append(reading)
                        expected.sort { $0.time < $1.time }
                        expected = Array(expected.suffix(capacity))
                    }
                    let taken = rings.record(reading, of: id)
                    #expect(taken == (!duplicate && !olderThanAll), "capacity \(capacity) count \(count) rotations \(rotations) time \(time)")
                    #expect(rings.samples(of: id) == expected, "capacity \(capacity) count \(count) rotations \(rotations) time \(time)")
                    #expect(rings.samples(of: SeriesID(0)).isEmpty)
                }
            }
        }
    }

    /// A slot holds its time as 32 bits of milliseconds after its series' base, so a ring
    /// spans at most `maxSpanMillis`: readings months apart, late ones, and gaps longer than
    /// the span move the base, evict the samples too old for it, or are refused, exactly as
    /// a sorted list with the same rules.
    @Test(arguments: [3, 11, 99])
    func aRingSpansAtMostFortyNineDays(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let span = SeriesRings.maxSpanMillis, day: EpochMillis = 86_400_000
        for capacity in [1, 4, 50, 400] {   // 400: more than the span holds
            var rings = SeriesRings(capacity: capacity)
            rings.reserve(seriesCount: 2)
            let id = SeriesID(1)
            var model: [Sample] = []   // sorted by time
            for step in 0..<3000 {
                // About three a day, some up to 80 days late, and a 100-day gap every 500.
                var t = EpochMillis(step) * day / 3 + EpochMillis(step / 500) * 100 * day
                t -= EpochMillis(rng.next(below: 4)) == 0 ? EpochMillis(rng.next(below: UInt64(80 * day))) : 0
                if step % 97 == 0, let newest = model.last { t = newest.time - span + EpochMillis(rng.next(below: 3)) - 1 }
                let s = Sample(time: t, value: Double(step))
                var taken = false
                if !model.contains(where: { $0.time == t })
                    && !(model.count == capacity && t < model[0].time)
                    && !(model.last.map { t < $0.time - span } ?? false)
                {
                    taken = true
                    model.insert(s, at: model.firstIndex { $0.time > t } ?? model.endIndex)
                    if model.count > capacity { model.removeFirst() }
                    let newest = model.last!.time
                    model.removeAll { $0.time < newest - span }
                }
                #expect(rings.record(s, of: id) == taken, "capacity \(capacity), step \(step)")
                #expect(rings.samples(of: id) == model, "capacity \(capacity), step \(step)")
            }
            #expect(rings.samples(of: SeriesID(0)).isEmpty)
        }
    }

    @Test func seriesWithoutARingHoldNothing() {
        var rings = SeriesRings(capacity: 4)
        #expect(rings.count(of: SeriesID(5)) == 0 && rings.latest(of: SeriesID(5)) == nil)
        rings.reserve(seriesCount: 100_000)
        #expect(rings.seriesCount == 100_000 && rings.samples(of: SeriesID(5)).isEmpty)
        #expect(rings.chunks.allSatisfy { $0.isEmpty })   // memory comes with the first reading
        rings.record(Sample(time: 1, value: 1), of: SeriesID(99_999))
        #expect(rings.chunks.filter { !$0.isEmpty }.count == 1 && rings.latest(of: SeriesID(99_999))?.value == 1)
        rings.reserve(seriesCount: 3)   // never shrinks
        #expect(rings.seriesCount == 100_000)
    }
}

extension SplitMix64 {
    /// Uniform enough for test data: 0 ..< n.
    mutating func next(below n: UInt64) -> UInt64 { next() % n }
}
