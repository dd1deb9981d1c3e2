@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: count)
    for server in [LoRaWANDecoder.Server.chirpstack, .ttn] {
        var out: [Reading] = []
        if (try? LoRaWANDecoder(server).decode(bytes, context: fuzzContext, devices: ["eui:70b3d57ed005b89a": "hy-1"], into: &out)) != nil {
            checkReadings(out)
        }
    }
    return 0
}
