import CSnappy

/// A Prometheus remote write 1.0 request body: a `prometheus.WriteRequest` protobuf
/// (timeseries = 1; in each, labels = 1 {name = 1, value = 2} sorted by name, samples = 2
/// {value = 1 double, timestamp = 2 int64 ms}), compressed as one snappy block (libsnappy).
/// Four fixed messages: encoded here rather than through a protobuf runtime and its build.
struct RemoteWriteRequest {
    struct Series {
        var labels: [(name: String, value: String)]
        var samples: [(time: Int64, value: Double)]
    }

    var series: [Series] = []

    /// The protobuf bytes (uncompressed).
    func protobuf() -> [UInt8] {
        var out: [UInt8] = []
        for s in series {
            var ts: [UInt8] = []
            for l in s.labels.sorted(by: { $0.name < $1.name }) {
                var label: [UInt8] = []
                Self.bytesField(1, Array(l.name.utf8), into: &label)
                Self.bytesField(2, Array(l.value.utf8), into: &label)
                Self.bytesField(1, label, into: &ts)
            }
            for sample in s.samples {
                var m: [UInt8] = [0x09]   // field 1, 64-bit
                withUnsafeBytes(of: sample.value.bitPattern.littleEndian) { m += $0 }
                m.append(0x10)            // field 2, varint
                Self.varint(UInt64(bitPattern: sample.time), into: &m)
                Self.bytesField(2, m, into: &ts)
            }
            Self.bytesField(1, ts, into: &out)
        }
        return out
    }

    /// The body to POST: the protobuf as a snappy block.
    func body() -> [UInt8] { Self.snappy(protobuf()) }

    static func snappy(_ input: [UInt8]) -> [UInt8] {
        var length = snappy_max_compressed_length(input.count)
        var out = [UInt8](repeating: 0, count: length)
        let status = input.withUnsafeBytes { i in
            out.withUnsafeMutableBytes { o in
                snappy_compress(i.baseAddress?.assumingMemoryBound(to: CChar.self), input.count,
                                o.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
            }
        }
        precondition(status == SNAPPY_OK, "snappy_compress failed with a buffer of its own maximum size")
        return Array(out.prefix(length))
    }

    static func varint(_ v: UInt64, into out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func bytesField(_ number: UInt64, _ bytes: [UInt8], into out: inout [UInt8]) {
        varint(number << 3 | 2, into: &out)
        varint(UInt64(bytes.count), into: &out)
        out += bytes
    }
}
