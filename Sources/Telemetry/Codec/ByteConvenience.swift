// Byte-array entry points for callers that hold `[UInt8]` (tests, import, benchmarks). The
// ingest loop passes libmosquitto's payload buffer straight to the raw-buffer versions.

extension JSONPayloadDecoder {
    public func decode(_ payload: [UInt8], context: DecodeContext, into out: inout [Reading]) throws(DecodeError) {
        try withBytes(payload) { (b) throws(DecodeError) in try decode(b, context: context, into: &out) }
    }
}

extension SenMLDecoder {
    public func decode(_ payload: [UInt8], context: DecodeContext, into out: inout [Reading]) throws(DecodeError) {
        try withBytes(payload) { (b) throws(DecodeError) in try decode(b, context: context, into: &out) }
    }
}

extension LoRaWANDecoder {
    public func decode(_ payload: [UInt8], context: DecodeContext, devices: [String: String],
                       into out: inout [Reading]) throws(DecodeError) -> Frame {
        try withBytes(payload) { b throws(DecodeError) in try decode(b, context: context, devices: devices, into: &out) }
    }
}

extension LineProtocolDecoder {
    public func decode(_ payload: [UInt8], context: DecodeContext, into out: inout [Reading]) throws(DecodeError) {
        try withBytes(payload) { (b) throws(DecodeError) in try decode(b, context: context, into: &out) }
    }
}

extension PayloadDecoder {
    @discardableResult
    public func decode(_ payload: [UInt8], format: PayloadFormat, context: DecodeContext,
                       into out: inout [Reading]) throws(DecodeError) -> PayloadFormat {
        try withBytes(payload) { (b) throws(DecodeError) in try decode(b, format: format, context: context, into: &out) }
    }
}

extension JSONScanner {
    static func parse(_ bytes: [UInt8]) throws(DecodeError) -> JSONValue {
        try withBytes(bytes) { (b) throws(DecodeError) in try parse(b) }
    }
}

/// `withUnsafeBytes` with a typed error.
func withBytes<T>(_ a: [UInt8], _ body: (UnsafeRawBufferPointer) throws(DecodeError) -> T) throws(DecodeError) -> T {
    let r: Result<T, DecodeError> = a.withUnsafeBytes { b in
        do throws(DecodeError) { return .success(try body(b)) } catch { return .failure(error) }
    }
    return try r.get()
}

extension UnsafeRawBufferPointer {
    /// Bytes `start..<end` of the buffer as a buffer of their own: a pointer and a count, not
    /// a `Slice` (whose generic metadata the decoders looked up at run time for every token).
    @inline(__always)
    func bytes(_ start: Int, _ end: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: baseAddress.map { $0 + start }, count: end - start)
    }
}
