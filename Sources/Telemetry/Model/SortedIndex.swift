extension RandomAccessCollection where Index == Int {
    /// The first index whose element's `key` is not less than `t`, the elements being in order
    /// of `key` (a binary search; `endIndex` when there is none).
    @inlinable
    public func firstIndex<K: Comparable>(notBefore t: K, by key: (Element) -> K) -> Int {
        var lo = startIndex, hi = endIndex
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if key(self[mid]) < t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
