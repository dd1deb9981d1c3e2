@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    // The first byte picks the timestamp precision; the rest is the payload.
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: count - 1)
    var context = fuzzContext
    context.precision = [.ns, .us, .ms, .s][Int(data[0]) % 4]
    var out: [Reading] = []
    if (try? LineProtocolDecoder().decode(bytes, context: context, into: &out)) != nil { checkReadings(out) }
    return 0
}
