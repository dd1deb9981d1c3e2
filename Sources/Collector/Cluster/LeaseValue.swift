import Foundation

/// What a lease's key holds: the holder's member name and its lease length, as one line of
/// JSON (`{"member":"collector-a","lease_ms":10000}`). A standby waits out the longer of its
/// own lease and the holder's, so collectors given different lengths by mistake stay safe.
/// An empty value is a released lease; a plain name (written by earlier versions) has no length.
struct LeaseValue: Equatable {
    let member: String
    let lease: Duration?

    init(member: String, lease: Duration?) {
        self.member = member
        self.lease = lease
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
        self.init(member: member, lease: millis.flatMap { $0 > 0 ? .milliseconds($0) : nil })
    }

    /// The value written under the key.
    var text: String {
        let name = String(decoding: try! JSONSerialization.data(withJSONObject: [member], options: [.withoutEscapingSlashes]),
                          as: UTF8.self).dropFirst().dropLast()
        guard let lease else { return "{\"member\":\(name)}" }
        let millis = lease.components.seconds * 1_000 + lease.components.attoseconds / 1_000_000_000_000_000
        return "{\"member\":\(name),\"lease_ms\":\(millis)}"
    }
}
