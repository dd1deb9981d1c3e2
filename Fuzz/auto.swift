@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: count)
    var out: [Reading] = []
    if (try? PayloadDecoder().decode(bytes, format: .auto, context: fuzzContext, into: &out)) != nil { checkReadings(out) }
    return 0
}
