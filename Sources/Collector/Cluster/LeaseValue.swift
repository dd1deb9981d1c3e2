import Foundation

/// What a lease's key holds: the holder's member name, its lease length and a number drawn
/// when its process started, as one line of JSON
/// (`{"member":"collector-a","lease_ms":10000,"run":"6f1c…"}`). A standby waits out the longer
/// of its own lease and the holder's, so collectors given different lengths by mistake stay
/// safe; the run tells a collector its own writes from another's with the same name (a write
/// whose answer was lost is recognised when read back). An empty value is a released lease; a
/// plain name (written by earlier versions) has no length.
struct LeaseValue: Equatable {
    let member: String
    let lease: Duration?
    let run: String?

    init(member: String, lease: Duration?, run: String? = nil) {
        self.member = member
        self.lease = lease
        self.run = run
    }

    /// Reads a key's value.
    init(parsing text: String) {
        guard text.hasPrefix("{"),
              let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              let member = object["member"] as? String else {
            self.init(member: text, lease: nil)
            return
        }
        let millis = (object["lease_ms"] as? NSNumber)?.int64Value
        self.init(member: member, lease: millis.flatMap { $0 > 0 ? .milliseconds($0) : nil }, run: object["run"] as? String)
    }

    /// The value written under the key.
    var text: String {
        let name = String(decoding: try! JSONSerialization.data(withJSONObject: [member], options: [.withoutEscapingSlashes]),
                          as: UTF8.self).dropFirst().dropLast()
        var text = "{\"member\":\(name)"
        if let lease {
            text += ",\"lease_ms\":\(lease.components.seconds * 1_000 + lease.components.attoseconds / 1_000_000_000_000_000)"
        }
        if let run { text += ",\"run\":\"\(run.filter { $0.isHexDigit })\"" }
        return text + "}"
    }
}
