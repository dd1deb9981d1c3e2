import Synchronization
import Telemetry

/// A write over HTTP (`POST /api/v2/write`, `/write`, `/api/v1/senml`) waiting for the ingest
/// loop: what it holds, how to read it, and who waits for the answer. The loop binds it into
/// its batch beside the MQTT messages and answers once the batch's commit is durable, the
/// same contract as a PUBACK.
struct WriteJob: Sendable {
    enum Body: Sendable {
        /// Influx line protocol, admitted line by line: a bad line is quarantined and named in
        /// the answer, the good ones stored (InfluxDB's partial write).
        case lineProtocol(TimePrecision)
        /// A SenML pack, stored whole or quarantined whole (RFC 8428's records resolve
        /// against each other).
        case senml
    }

    let body: Body
    /// The quarantine's "topic" and the sensor for lines that name none: `http/<bucket>`.
    let source: String
    let payload: [UInt8]
    let reply: @Sendable (WriteOutcome) -> Void
}

/// What became of a write.
enum WriteOutcome: Sendable, Equatable {
    /// Committed: how many lines (or packs) were stored, and each refused one with its
    /// 1-based line and reason (quarantined).
    case stored(accepted: Int, refused: [RefusedLine])
    /// Storage could not commit (or the collector is stopping): nothing of it is stored.
    case unavailable(String)

    struct RefusedLine: Sendable, Equatable {
        let line: Int
        let error: DecodeError
    }
}

/// Writes handed from HTTP handlers to the ingest loop's thread.
final class HTTPWrites: Sendable {
    private let queue = Mutex<(jobs: [WriteJob], closed: Bool)>(([], false))
    /// Wakes the ingest loop (its wake pipe), set when the loop is built.
    private let wakeUp = Mutex<(@Sendable () -> Void)?>(nil)

    init() {}

    func setWake(_ wake: @escaping @Sendable () -> Void) { wakeUp.withLock { $0 = wake } }

    /// Queues a write; its `reply` is called once, from the ingest loop's thread (at once
    /// when the loop has stopped).
    func submit(_ job: WriteJob) {
        let open = queue.withLock { q in
            guard !q.closed else { return false }
            q.jobs.append(job)
            return true
        }
        guard open else { job.reply(.unavailable("the collector is stopping")); return }
        wakeUp.withLock { $0 }?()
    }

    /// The writes queued so far, oldest first.
    func take() -> [WriteJob] {
        queue.withLock { q in
            defer { q.jobs.removeAll() }
            return q.jobs
        }
    }

    /// Takes no more writes; the ones still queued are returned for a last answer.
    func close() -> [WriteJob] {
        queue.withLock { q in
            q.closed = true
            defer { q.jobs.removeAll() }
            return q.jobs
        }
    }
}
