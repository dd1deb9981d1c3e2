/// LEB128 variable-length integers (7 bits a byte, low first, high bit = more follows);
/// signed ones zigzag-encoded first.
enum Varint {
    static func appendUnsigned(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func appendSigned(_ value: Int64, to out: inout [UInt8]) {
        appendUnsigned(SampleBlock.zigzag(value), to: &out)
    }

    static func readUnsigned(_ bytes: [UInt8], at i: inout Int) throws(BlockError) -> UInt64 {
        var out: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.count {
            let b = bytes[i]
            i += 1
            guard shift < 64 else { throw BlockError("varint longer than 64 bits") }
            out |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return out }
            shift += 7
        }
        throw BlockError("truncated varint")
    }

    static func readSigned(_ bytes: [UInt8], at i: inout Int) throws(BlockError) -> Int64 {
        SampleBlock.unzigzag(try readUnsigned(bytes, at: &i))
    }
}
