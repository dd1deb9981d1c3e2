/// Decodes a message in the format its subscription names, or detects it (`auto`):
/// `{` is a JSON object; `[` is a SenML pack when its first record carries a SenML label
/// (`bn`, `n`, `bt`, `bv`, `v`, ...) and neither `sensor` nor `ts`, else a JSON batch;
/// anything else is line protocol. A UTF-8 byte-order mark at the start (some Windows
/// gateways write one) is skipped, whatever the format.
public struct PayloadDecoder: Sendable {
    private let json = JSONPayloadDecoder()
    private let senml = SenMLDecoder()
    private let lineProtocol = LineProtocolDecoder()

    public init() {}

    /// Appends the message's readings to `out` (nothing on error) and returns the format used.
    @discardableResult
    public func decode(_ payload: UnsafeRawBufferPointer, format: PayloadFormat, context: DecodeContext,
                       into out: inout [Reading]) throws(DecodeError) -> PayloadFormat {
        // Compared byte by byte: no array on the hot path.
        let bom = payload.count >= 3 && payload[0] == 0xEF && payload[1] == 0xBB && payload[2] == 0xBF
        let payload = bom ? UnsafeRawBufferPointer(rebasing: payload[3...]) : payload
        switch format {
        case .json:
            try json.decode(payload, context: context, into: &out)
            return .json
        case .senml:
            try senml.decode(payload, context: context, into: &out)
            return .senml
        case .influx:
            try lineProtocol.decode(payload, context: context, into: &out)
            return .influx
        case .chirpstack, .ttn:
            // Uplinks carry a frame to check for repeats: `decodeUplink`.
            _ = try decodeUplink(payload, server: format == .ttn ? .ttn : .chirpstack, context: context, devices: [:], into: &out)
            return format
        case .auto:
            guard let first = payload.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else {
                throw DecodeError("empty", "empty payload")
            }
            switch first {
            case UInt8(ascii: "{"):
                try json.decode(payload, context: context, into: &out)
                return .json
            case UInt8(ascii: "["):
                let root = try JSONScanner.parse(payload)
                if Self.looksLikeSenML(root) {
                    try senml.decode(root: root, context: context, into: &out)
                    return .senml
                }
                try json.decode(root: root, context: context, into: &out)
                return .json
            default:
                try lineProtocol.decode(payload, context: context, into: &out)
                return .influx
            }
        }
    }

    /// A LoRaWAN network server's uplink event: its readings appended to `out`, and its frame.
    public func decodeUplink(_ payload: UnsafeRawBufferPointer, server: LoRaWANDecoder.Server, context: DecodeContext,
                             devices: [String: String], into out: inout [Reading]) throws(DecodeError) -> LoRaWANDecoder.Frame {
        let bom = payload.count >= 3 && payload[0] == 0xEF && payload[1] == 0xBB && payload[2] == 0xBF
        return try LoRaWANDecoder(server).decode(bom ? UnsafeRawBufferPointer(rebasing: payload[3...]) : payload,
                                                 context: context, devices: devices, into: &out)
    }

    static let senmlLabels: Set<String> = ["bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"]

    static func looksLikeSenML(_ root: JSONValue) -> Bool {
        guard case .array(let items) = root, case .object(let first)? = items.first else { return false }
        if first["sensor"] != nil || first["ts"] != nil { return false }
        return first.keys.contains { senmlLabels.contains($0) }
    }
}
