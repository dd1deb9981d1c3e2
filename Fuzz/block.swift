@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    // Any bytes: refused or decoded, never a crash; what decodes encodes back to itself.
    if let samples = try? SampleBlock.decode(bytes) {
        let again = try? SampleBlock.decode(SampleBlock.encode(samples))
        precondition(again.map { same($0, samples) } == true, "a decoded block does not survive its own round trip")
    }
    // Rollup blocks likewise; a re-encoded sum may be snapped to its decimal, within the
    // rounding bound of its additions.
    if let buckets = try? RollupBlock.decode(bytes) {
        let again = try? RollupBlock.decode(RollupBlock.encode(buckets))
        precondition(again.map { sameBuckets($0, buckets) } == true, "a decoded rollup block does not survive its own round trip")
    }
    // The bytes read as samples (8 for the time, 8 for the value): encoded, decoded, equal.
    var samples: [Sample] = []
    var at = 0
    while at + 16 <= bytes.count {
        var t: Int64 = 0, v: UInt64 = 0
        for k in 0..<8 { t |= Int64(bytes[at + k]) << Int64(8 * k); v |= UInt64(bytes[at + 8 + k]) << UInt64(8 * k) }
        samples.append(Sample(time: t, value: Double(bitPattern: v)))
        at += 16
    }
    let back = try? SampleBlock.decode(SampleBlock.encode(samples))
    precondition(back.map { same($0, samples) } == true, "samples did not survive encode and decode")
    return 0
}

/// Equal times and bit-identical values (NaN payloads and -0.0 included).
func same(_ a: [Sample], _ b: [Sample]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.time == $1.time && $0.value.bitPattern == $1.value.bitPattern }
}

/// Equal starts, counts, times and values bit for bit; sums bit for bit or snapped within the
/// rounding bound `RollupBlock.snaps` allows.
func sameBuckets(_ a: [(start: Int64, bucket: Bucket)], _ b: [(start: Int64, bucket: Bucket)]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { x, y in
        let p = x.bucket, q = y.bucket
        let n = Double(p.count)
        let sumOK = p.sum.bitPattern == q.sum.bitPattern
            || abs(p.sum - q.sum) <= n * n * max(abs(p.min), abs(p.max)) * Double.ulpOfOne + p.sum.ulp
        return x.start == y.start && p.count == q.count && p.firstTime == q.firstTime && p.lastTime == q.lastTime && sumOK
            && [p.min, p.max, p.first, p.last].map(\.bitPattern) == [q.min, q.max, q.first, q.last].map(\.bitPattern)
    }
}
