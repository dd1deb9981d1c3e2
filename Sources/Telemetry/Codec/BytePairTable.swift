#if canImport(Glibc)
import Glibc
#endif

/// A hash table from a key of two byte strings to an `Int32`, found without building a String:
/// what a decoder uses to recognise a series it has named before by the bytes that named it
/// (line protocol: the series part and the field key; SenML: the base name and the name).
/// Open addressing over `slots` (entry index + 1; 0 empty), each entry's bytes (the first
/// part, then the second) kept in one arena.
struct BytePairTable: Sendable {
    private var slots = [Int32](repeating: 0, count: 1 << 10)
    private var entries: [Entry] = []
    private var arena: [UInt8] = []
    private struct Entry {
        var hash: UInt64
        var start: Int
        var firstLength: Int32
        var secondLength: Int32
        var value: Int32
    }

    var count: Int { entries.count }

    /// The value stored for (`first`, `second`), whose hash is `hash`.
    func find(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, hash h: UInt64) -> Int32? {
        let mask = slots.count - 1
        var s = Int(truncatingIfNeeded: h) & mask
        while slots[s] != 0 {
            let e = entries[Int(slots[s]) - 1]
            if e.hash == h && Int(e.firstLength) == first.count && Int(e.secondLength) == second.count
                && arena.withUnsafeBytes({ a in
                    Self.same(a.baseAddress! + e.start, first) && Self.same(a.baseAddress! + e.start + first.count, second)
                }) {
                return e.value
            }
            s = (s + 1) & mask
        }
        return nil
    }

    /// Stores `value` for (`first`, `second`) unless the key is there already.
    mutating func insert(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, hash h: UInt64, value: Int32) {
        guard find(first, second, hash: h) == nil else { return }
        entries.append(Entry(hash: h, start: arena.count, firstLength: Int32(first.count), secondLength: Int32(second.count), value: value))
        arena.append(contentsOf: first)
        arena.append(contentsOf: second)
        if entries.count * 2 > slots.count {
            slots = [Int32](repeating: 0, count: slots.count * 2)
            for k in entries.indices { place(k) }
        } else {
            place(entries.count - 1)
        }
    }

    mutating func removeAll() {
        entries.removeAll()
        arena.removeAll()
        slots = [Int32](repeating: 0, count: 1 << 10)
    }

    private mutating func place(_ k: Int) {
        let mask = slots.count - 1
        var s = Int(truncatingIfNeeded: entries[k].hash) & mask
        while slots[s] != 0 { s = (s + 1) & mask }
        slots[s] = Int32(k + 1)
    }

    @inline(__always)
    private static func same(_ a: UnsafeRawPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        b.isEmpty || memcmp(a, b.baseAddress!, b.count) == 0
    }

    /// A 64-bit hash of `b` continuing `seed`: eight bytes at a time, multiplied and folded.
    @inline(__always)
    static func hash(_ b: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        var h = seed ^ UInt64(b.count)
        var i = 0
        while i + 8 <= b.count {
            h = (h ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < b.count {
            tail |= UInt64(b[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 29)
    }
}
