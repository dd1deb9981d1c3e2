import Hummingbird

/// Methods per route: `HEAD` is answered wherever `GET` is (the same status and headers, no
/// body: monitoring probes use it), except on the alert stream, and a method a route does not
/// serve gets 405 with `Allow`, not 404. Outside access control, so an unauthenticated HEAD
/// still gets 401.
struct MethodMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let allowed = RouteMethods.allowed(request.uri.path)
        if !allowed.isEmpty && !allowed.contains(request.method) {
            var j = JSONText()
            j.object {
                $0.field("error") { $0.string("method_not_allowed") }
                $0.field("detail") { $0.string("\(request.method) is not served here; use \(allowed.map(\.rawValue).joined(separator: ", "))") }
            }
            var r = j.response(status: .methodNotAllowed)
            r.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
            return r
        }
        guard request.method == .head else { return try await next(request, context) }
        var response = try await next(request, context)
        // The headers of the GET answer; its body is not sent (nor produced, for a stream).
        if let length = response.body.contentLength { response.headers[.contentLength] = String(length) }
        response.body = ResponseBody()
        return response
    }
}

extension RouterMethods {
    /// A read route: GET, and HEAD with the same handler (`MethodMiddleware` drops the body).
    @discardableResult
    func read(_ path: RouterPath, use handler: @Sendable @escaping (Request, Context) async throws -> some ResponseGenerator) -> Self {
        head(path, use: handler)
        return get(path, use: handler)
    }
}

/// The methods each route of the daemon serves (`MethodMiddleware`).
enum RouteMethods {
    /// Each route and its methods (`:x` matches one path segment). A test checks every route
    /// the daemon registers is here.
    static var routes: [(path: String, methods: [HTTPRequest.Method])] {
        let read: [HTTPRequest.Method] = [.get, .head]
        return [("/", read), ("/healthz", read), ("/readyz", read), ("/metrics", read),
                ("/api/v1/raw", read), ("/api/v1/rollups", read), ("/api/v1/quarantine", read),
                ("/api/v1/sensors", read), ("/api/v1/series", read), ("/api/v1/coverage", read),
                ("/api/v1/coverage/daily", read), ("/api/v1/alerts", read), ("/api/v1/alerts/stream", [.get]),
                ("/api/v1/alerts/:x/ack", [.post]), ("/api/v1/alert-groups", read), ("/api/v1/alert-groups/ack", [.post]),
                ("/api/v1/places", read), ("/api/v2/write", [.post]), ("/write", [.post]), ("/api/v1/senml", [.post]),
                ("/ping", read), ("/health", read), ("/query", [.post])]
    }

    /// The methods `path` is served with; empty for no route.
    static func allowed(_ path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for route in routes {
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: false)
            guard pattern.count == segments.count,
                  zip(pattern, segments).allSatisfy({ $0 == $1 || ($0.hasPrefix(":") && !$1.isEmpty) }) else { continue }
            return route.methods
        }
        return []
    }
}
