import Foundation
import Testing
@testable import Telemetry

/// A fresh directory under the system temp dir, removed by `cleanup()`.
struct TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "collector-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// The naive recompute the downsampler is checked against: group unique readings by bucket,
/// then aggregate each bucket's readings with plain reductions. It shares nothing with the
/// code under test (not `Bucket.add`, not `LocalDays`) beyond the `Bucket` type it fills in.
enum RollupOracle {
    /// Day buckets for a fixed-offset zone, computed independently of `LocalDays`.
    static func bucketStart(_ tier: Tier, _ t: EpochMillis, utcOffsetSeconds: Int64) -> EpochMillis {
        if tier == .day {
            let off = utcOffsetSeconds * 1000
            return EpochMillis.floorDiv(t + off, 86_400_000) * 86_400_000 - off
        }
        return EpochMillis.floorDiv(t, tier.widthMillis) * tier.widthMillis
    }

    static func recompute(_ readings: [BoundReading], tier: Tier, utcOffsetSeconds: Int64) -> [BucketKey: Bucket] {
        recompute(readings, tier: tier) { bucketStart(tier, $0, utcOffsetSeconds: utcOffsetSeconds) }
    }

    /// The first reading of each (series, time) kept, grouped by `bucketStart` of its time.
    static func recompute(_ readings: [BoundReading], tier: Tier, bucketStart: (EpochMillis) -> EpochMillis) -> [BucketKey: Bucket] {
        var seen = Set<[Int64]>()
        var groups: [BucketKey: [(time: EpochMillis, value: Double)]] = [:]
        for r in readings where seen.insert([Int64(r.series.rawValue), r.time]).inserted {
            groups[BucketKey(tier: tier, series: r.series, start: bucketStart(r.time)), default: []].append((r.time, r.value))
        }
        return groups.mapValues(aggregate)
    }

    /// Count, sum, minimum, maximum, and the values at the earliest and latest times.
    static func aggregate(_ readings: [(time: EpochMillis, value: Double)]) -> Bucket {
        let byTime = readings.sorted { $0.time < $1.time }
        let values = byTime.map(\.value)
        return Bucket(count: Int64(values.count), sum: values.reduce(0, +), min: values.min()!, max: values.max()!,
                      firstTime: byTime.first!.time, first: byTime.first!.value,
                      lastTime: byTime.last!.time, last: byTime.last!.value)
    }
}

/// Equal up to floating-point summation order (count, min, max, first, last exactly).
func sameBucket(_ a: Bucket, _ b: Bucket) -> Bool {
    a.count == b.count && a.min == b.min && a.max == b.max && a.first == b.first && a.last == b.last
        && a.firstTime == b.firstTime && a.lastTime == b.lastTime
        && abs(a.sum - b.sum) <= 1e-9 * max(1, abs(b.sum))
}

/// Runs `body` on a thread of its own and returns its result: for test code that blocks or
/// computes for seconds, which must not hold one of the few threads the async tests share
/// (on two cores, two such tests starve every test waiting for a broker). Check results
/// with `Checks`: `#expect` needs the test's task, which a thread does not have.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        Thread { c.resume(with: Result { try body() }) }.start()
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Checks made on a thread of its own (`onOwnThread(checking:)`), recorded as the test's
/// issues, with their source location, once the thread is done.
final class Checks: @unchecked Sendable {
    private let lock = NSLock()
    private var failures: [(String, SourceLocation)] = []

    func callAsFunction(_ ok: Bool, _ message: @autoclosure () -> String = "",
                        sourceLocation: SourceLocation = #_sourceLocation) {
        guard !ok else { return }
        let m = message()
        lock.lock()
        failures.append(("Check failed" + (m.isEmpty ? "" : ": " + m), sourceLocation))
        lock.unlock()
    }

    fileprivate func record() {
        lock.lock()
        defer { lock.unlock() }
        for (m, at) in failures { Issue.record(Comment(rawValue: m), sourceLocation: at) }
    }
}

/// `onOwnThread`, with a `Checks` whose failures become the calling test's issues.
func onOwnThread<T: Sendable>(checking body: @escaping @Sendable (Checks) throws -> T) async throws -> T {
    let checks = Checks()
    defer { checks.record() }
    return try await onOwnThread { try body(checks) }
}

extension TelemetryStore {
    /// Binds and commits `readings` in batches of `size`, each merged into the rollups before
    /// the next (a refused bind is recorded as a failed expectation).
    func commitInBatches(_ readings: [Reading], of size: Int = 2_000) throws {
        for part in stride(from: 0, to: readings.count, by: size) {
            var batch = IngestBatch()
            #expect(bind(Array(readings[part..<min(part + size, readings.count)]), into: &batch))
            try commit(batch, now: 0)
        }
    }
}
