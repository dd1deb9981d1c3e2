import CompressNIO
import HTTPTypes
import Hummingbird
import NIOCore
import Telemetry

/// Readings over HTTP, for gateways and agents that cannot keep an MQTT session:
/// `POST /api/v2/write` (InfluxDB v2's write API: `bucket`, `precision` ns|us|ms|s),
/// `POST /write` (v1: `db`, `precision` n|ns|u|us|ms|s) and `POST /api/v1/senml` (a SenML
/// pack). Bodies may be gzip (`Content-Encoding: gzip`); `limits.max_payload_bytes` applies
/// after decompression (413), so a small bomb stops at the limit. The answer waits for the
/// ingest loop's durable commit: 204 when every line is stored; 400 naming each refused line
/// with its column, the others stored and the refused ones quarantined (InfluxDB's partial
/// write: Telegraf drops a batch on a 4xx, so refusing the good lines would lose them); 503
/// when storage cannot commit (nothing stored). A line naming no `sensor` or `id` tag is the
/// bucket's (`db`'s) sensor.
struct WriteRoutes: Sendable {
    let writes: HTTPWrites
    let maxPayloadBytes: Int

    func register(on router: Router<BasicRequestContext>) {
        router.post("/api/v2/write") { request, _ in
            try await lineProtocol(request, bucketParameter: "bucket", precisions: ["ns": .ns, "us": .us, "ms": .ms, "s": .s])
        }
        router.post("/write") { request, _ in
            try await lineProtocol(request, bucketParameter: "db",
                                   precisions: ["n": .ns, "ns": .ns, "u": .us, "us": .us, "ms": .ms, "s": .s])
        }
        router.post("/api/v1/senml") { request, _ in try await senml(request) }
        // What InfluxDB clients and Telegraf ask besides writing: are you there, and (v1
        // output) CREATE DATABASE, which has nothing to create here.
        router.read("/ping") { _, _ in Response(status: .noContent, headers: [HTTPField.Name("X-Influxdb-Version")!: "collector"]) }
        router.read("/health") { _, _ in
            var j = JSONText()
            j.object { $0.field("name") { $0.string("collector") }; $0.field("status") { $0.string("pass") } }
            return j.response()
        }
        router.post("/query") { request, _ in
            // `q` in the URL, or form-encoded in the body (as Telegraf's v1 output sends it).
            var request = request
            var q = request.uri.queryParameters.get("q") ?? ""
            if q.isEmpty, let body = try? await request.collectBody(upTo: 16_384) {
                let form = String(decoding: body.readableBytesView, as: UTF8.self)
                for pair in form.split(separator: "&") where pair.hasPrefix("q=") {
                    q = String(pair.dropFirst(2)).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
                }
            }
            guard q.uppercased().hasPrefix("CREATE DATABASE") else {
                return Self.answer(.badRequest, "invalid", "only CREATE DATABASE is taken here (a no-op); query through /api/v1/rollups and /api/v1/raw")
            }
            var j = JSONText()
            j.object { $0.field("results") { $0.array { $0.object { $0.field("statement_id") { $0.int(0) } } } } }
            return j.response()
        }
    }

    private func lineProtocol(_ request: Request, bucketParameter: String, precisions: [String: TimePrecision]) async throws -> Response {
        let q = request.uri.queryParameters
        var precision = TimePrecision.ns
        if let p = q.get("precision") {
            guard let v = precisions[p] else {
                return Self.answer(.badRequest, "invalid", "precision must be \(precisions.keys.sorted().joined(separator: ", ")), not '\(p.prefix(20))'")
            }
            precision = v
        }
        let source: String
        switch Self.source(q.get(bucketParameter)) {
        case .success(let s): source = s
        case .failure(let message): return Self.answer(.badRequest, "invalid", "\(bucketParameter): \(message)")
        }
        return try await write(request, body: .lineProtocol(precision), source: source, what: "line")
    }

    private func senml(_ request: Request) async throws -> Response {
        let source: String
        switch Self.source(request.uri.queryParameters.get("bucket")) {
        case .success(let s): source = s
        case .failure(let message): return Self.answer(.badRequest, "invalid", "bucket: \(message)")
        }
        return try await write(request, body: .senml, source: source, what: "pack")
    }

    /// `http/<bucket>` (`http/http` without one): the quarantine's topic, and the sensor of
    /// lines that name none.
    private static func source(_ bucket: String?) -> Result<String, Failure> {
        guard let bucket, !bucket.isEmpty else { return .success("http/http") }
        do throws(SeriesNameError) {
            try SeriesName.validateLabel(bucket, role: "bucket")
        } catch {
            return .failure(Failure(error.message))
        }
        return .success("http/" + bucket)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    private func write(_ request: Request, body: WriteJob.Body, source: String, what: String) async throws -> Response {
        var request = request
        let payload: [UInt8]
        switch try await Self.payload(of: &request, limit: maxPayloadBytes) {
        case .bytes(let p): payload = p
        case .refused(let r): return r
        }
        guard payload.contains(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else {
            return Self.answer(.badRequest, "invalid", "empty body: nothing to write")
        }
        let writes = self.writes
        let outcome = await withCheckedContinuation { (done: CheckedContinuation<WriteOutcome, Never>) in
            writes.submit(WriteJob(body: body, source: source, payload: payload, reply: { done.resume(returning: $0) }))
        }
        switch outcome {
        case .unavailable(let why):
            var r = Self.answer(.serviceUnavailable, "unavailable", "nothing stored: \(why)")
            r.headers[.retryAfter] = "5"
            return r
        case .stored(_, let refused) where refused.isEmpty:
            return Response(status: .noContent)
        case .stored(let accepted, let refused):
            // InfluxDB's words ("partial write", "unable to parse"), which clients match to
            // tell a bad line (drop it) from a failure to retry.
            let lines = refused.prefix(20).map(\.error.detail).joined(separator: "; ")
            let message = accepted == 0 ? "unable to parse: nothing stored: \(lines)"
                : "partial write: \(accepted) \(what)\(accepted == 1 ? "" : "s") stored, \(refused.count) refused: unable to parse: \(lines)"
            // New series beyond limits.new_series_per_minute: a 429 the sender retries later
            // (the lines stored already are deduplicated then), said without the words that
            // make clients drop the points.
            let throttled = refused.contains { $0.error.reason == "series_rate" }
            if throttled {
                var r = Self.answer(.tooManyRequests, "too_many_requests",
                                    "\(refused.count) line\(refused.count == 1 ? "" : "s") would add new series faster than limits.new_series_per_minute; "
                                        + "\(accepted) stored; send the rest again later")
                r.headers[.retryAfter] = "60"
                return r
            }
            var j = JSONText()
            j.object {
                $0.field("code") { $0.string("invalid") }
                $0.field("message") { $0.string(message) }
                $0.field("error") { $0.string(message) }   // InfluxDB v1 clients read this one
                $0.field("stored") { $0.int(Int64(accepted)) }
                $0.field("refused") { a in
                    a.array {
                        for r in refused {
                            $0.object {
                                $0.field("line") { $0.int(Int64(r.line)) }
                                $0.field("reason") { $0.string(r.error.reason) }
                                $0.field("detail") { $0.string(r.error.detail) }
                            }
                        }
                    }
                }
            }
            return j.response(status: .badRequest)
        }
    }

    /// The body, gunzipped when it says so, at most `limit` bytes either way (else a 413).
    enum Payload {
        case bytes([UInt8])
        case refused(Response)
    }

    private static func payload(of request: inout Request, limit: Int) async throws -> Payload {
        let tooLarge = answer(.contentTooLarge, "too_large", "the body exceeds limits.max_payload_bytes (\(limit) bytes, after decompression)")
        var buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            return .refused(tooLarge)
        } catch let e as HTTPError where e.status == .contentTooLarge {
            return .refused(tooLarge)
        }
        switch request.headers[.contentEncoding]?.lowercased() {
        case nil, "identity":
            break
        case "gzip", "x-gzip":
            // Member by member (RFC 1952 allows several), each checked against its trailer:
            // a body cut short in transit would otherwise read as less than was sent.
            let compressed = Array(buffer.readableBytesView)
            var input = buffer
            var output = ByteBuffer()
            while input.readableBytes > 0 {
                let start = input.readerIndex
                var member: ByteBuffer
                do {
                    member = try input.decompress(with: .gzip(), maxSize: limit + 1 - output.readableBytes)
                } catch let e as CompressNIOError where e == .bufferOverflow {
                    return .refused(tooLarge)
                } catch {
                    return .refused(answer(.badRequest, "invalid", "the body is not valid gzip"))
                }
                let used = input.readerIndex - start
                let first = start - buffer.readerIndex
                guard used > 0, GzipTrailer.matches(compressed: compressed[first..<first + used], decompressed: member.readableBytesView) else {
                    return .refused(answer(.badRequest, "invalid", "the gzip body is truncated (a member's CRC-32 or length does not match)"))
                }
                output.writeBuffer(&member)
                if output.readableBytes > limit { return .refused(tooLarge) }
            }
            buffer = output
        case let other?:
            return .refused(answer(.unsupportedMediaType, "invalid", "Content-Encoding '\(other.prefix(20))' is not supported (gzip or none)"))
        }
        return .bytes(Array(buffer.readableBytesView))
    }

    /// An InfluxDB-shaped error answer: `{"code", "message"}`, and `error` for v1 clients.
    static func answer(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        var j = JSONText()
        j.object {
            $0.field("code") { $0.string(code) }
            $0.field("message") { $0.string(message) }
            $0.field("error") { $0.string(message) }
        }
        return j.response(status: status)
    }
}
