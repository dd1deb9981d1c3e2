import Foundation
import Testing
@testable import Collector

/// The remote write body, byte for byte against the protobuf encoding of remote write 1.0 (a
/// body of exactly these bytes was taken by VictoriaMetrics and exported back), and the names
/// Prometheus takes.
@Suite struct RemoteWriteRequestTests {
    @Test func protobufOfOneSeries() {
        var r = RemoteWriteRequest()
        r.series = [.init(labels: [("sensor", "rw-1"), ("__name__", "temp_c")], samples: [(1_796_563_920_000, 86), (-1, 0.5)])]
        let hex = r.protobuf().map { String(format: "%02x", $0) }.joined()
        // TimeSeries (field 1) { Label __name__ (sorted first), Label sensor, Sample {86, t}, Sample {0.5, -1 as a 10-byte varint} }
        #expect(hex == "0a4c" + "0a12" + "0a085f5f6e616d655f5f" + "120674656d705f63" + "0a0e" + "0a0673656e736f72" + "120472772d31"
                + "1210" + "090000000000805540" + "1080c9b7dca434"
                + "1214" + "09000000000000e03f" + "10ffffffffffffffffff01")
        // A snappy block that says how long the protobuf is (its first varint).
        #expect(r.body().first == UInt8(r.protobuf().count))
    }

    @Test func namesPrometheusTakes() {
        #expect(RemoteWriter.promName("temp.c") == "temp_c" && RemoteWriter.promName("fire-danger") == "fire_danger")
        #expect(RemoteWriter.promName("9x") == "_9x" && RemoteWriter.promName("") == "_" && RemoteWriter.promName("độ") == "__")
    }
}
