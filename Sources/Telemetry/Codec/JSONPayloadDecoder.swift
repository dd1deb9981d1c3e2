/// Decodes the collector's JSON payloads (README, "Payloads"):
/// an object `{"ts": 1795000000, "temp_c": 31.2, "sensor": "ft-mt-0001"}` or an array of them.
/// Every numeric field but `ts` is a metric; the sensor is `"sensor"`, else the topic's last
/// segment; `ts` is epoch seconds, epoch milliseconds or RFC 3339, else the arrival time.
/// Any bad record rejects the whole message: a message is stored whole or not at all.
public struct JSONPayloadDecoder: Sendable {
    public init() {}

    /// Appends the message's readings to `out`; on error appends nothing.
    public func decode(_ payload: UnsafeRawBufferPointer, context: DecodeContext, into out: inout [Reading]) throws(DecodeError) {
        try decode(root: try JSONScanner.parse(payload), context: context, into: &out)
    }

    func decode(root: JSONValue, context: DecodeContext, into out: inout [Reading]) throws(DecodeError) {
        let mark = out.count
        do {
            switch root {
            case .object(let o):
                try record(o, index: nil, context: context, into: &out)
            case .array(let items):
                guard !items.isEmpty else { throw DecodeError.noReadings("empty JSON array") }
                for (i, item) in items.enumerated() {
                    guard case .object(let o) = item else {
                        throw DecodeError.badJSON("array element \(i) is not an object")
                    }
                    try record(o, index: i, context: context, into: &out)
                    if out.count - mark > context.maxReadings {
                        throw DecodeError.tooLarge("more than \(context.maxReadings) readings in one message")
                    }
                }
            default:
                throw DecodeError.badJSON("top level is not an object or an array of objects")
            }
        } catch let e as DecodeError {
            out.removeSubrange(mark...)
            throw e
        } catch {
            out.removeSubrange(mark...)
            throw .badJSON("\(error)")
        }
    }

    private func record(_ o: [String: JSONValue], index: Int?, context: DecodeContext, into out: inout [Reading]) throws(DecodeError) {
        let at = index.map { "element \($0): " } ?? ""
        let sensor: String
        switch o["sensor"] {
        case .string(let s)?: sensor = s
        case nil: sensor = String(context.topicSensor)
        case _?: throw .badName("\(at)\"sensor\" is not a string")
        }
        let time: EpochMillis
        switch o["ts"] {
        case nil, .null?:
            time = context.now
        case .number(let x)?:
            guard let t = TimestampParser.epoch(x) else { throw .badTime("\(at)\"ts\" \(x) is not a usable epoch time") }
            time = t
        case .string(let s)?:
            guard let t = TimestampParser.rfc3339(s) else {
                throw .badTime("\(at)\"ts\" '\(s.prefix(40))' is not RFC 3339 (e.g. 2026-11-22T13:00:00+07:00)")
            }
            time = t
        case _?:
            throw .badTime("\(at)\"ts\" is neither a number nor an RFC 3339 string")
        }
        try context.check(time)
        var n = 0
        for (key, value) in o where key != "ts" && key != "sensor" {
            guard case .number(let v) = value else { continue }
            guard v.isFinite else { throw .badValue("\(at)\"\(key)\" is not a finite number") }
            let name: SeriesName
            do {
                name = try SeriesName(sensor: sensor, metric: key)
            } catch {
                throw .badName("\(at)\(error.message)")
            }
            out.append(Reading(series: name, time: time, value: v))
            n += 1
        }
        guard n > 0 else { throw .noReadings("\(at)no numeric fields besides \"ts\"") }
    }
}
