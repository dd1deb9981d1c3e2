import CompressNIO
import Foundation
import Hummingbird
import NIOCore

/// Compresses answers of 1 KiB or more with gzip when the client accepts it (analysts pulling
/// long CSVs over provincial links). Streams (SSE) are left alone: they have no length.
struct GzipMiddleware<Context: RequestContext>: RouterMiddleware {
    static var minimumBytes: Int { 1024 }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        guard let length = response.body.contentLength, length >= Self.minimumBytes,
              response.headers[.contentEncoding] == nil,
              Self.acceptsGzip(request.headers[values: .acceptEncoding]) else { return response }
        let sink = Sink()
        try await response.body.write(SinkWriter(sink: sink))
        var plain = sink.buffer
        let compressed = try plain.compress(with: .gzip())
        response.body = ResponseBody(byteBuffer: compressed)
        response.headers[.contentEncoding] = "gzip"
        response.headers[.vary] = "Accept-Encoding"
        return response
    }

    /// `Accept-Encoding` lists gzip with a non-zero weight.
    static func acceptsGzip(_ values: [String]) -> Bool {
        for part in values.flatMap({ $0.split(separator: ",") }) {
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let coding = fields.first?.lowercased(), coding == "gzip" || coding == "*" else { continue }
            let q = fields.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            if q > 0 { return true }
        }
        return false
    }

    private final class Sink: @unchecked Sendable {
        var buffer = ByteBuffer()
    }

    private struct SinkWriter: ResponseBodyWriter {
        let sink: Sink
        mutating func write(_ buffer: ByteBuffer) async throws {
            var b = buffer
            sink.buffer.writeBuffer(&b)
        }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
