@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    // Any bytes: refused or decoded, never a crash; what decodes encodes back to itself.
    if let samples = try? SampleBlock.decode(bytes) {
        let again = try? SampleBlock.decode(SampleBlock.encode(samples))
        precondition(again.map { same($0, samples) } == true, "a decoded block does not survive its own round trip")
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
