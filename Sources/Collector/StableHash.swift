/// FNV-1a over a text's UTF-8: the same number in every run and on every machine (Swift's
/// `Hasher` is seeded per process), for names derived from ids.
enum StableHash {
    static func fnv1a(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
