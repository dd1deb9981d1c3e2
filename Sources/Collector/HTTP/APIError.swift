import Hummingbird

/// An error answer of the HTTP API: `{"error": "...", "detail": "..."}` with its status.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let error: String
    let detail: String

    static func badParameter(_ name: String, _ detail: String) -> APIError {
        APIError(status: .badRequest, error: "bad_parameter", detail: "\(name): \(detail)")
    }

    static func notFound(_ detail: String) -> APIError {
        APIError(status: .notFound, error: "not_found", detail: detail)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var j = JSONText()
        j.object {
            $0.field("error") { $0.string(error) }
            $0.field("detail") { $0.string(detail) }
        }
        return j.response(status: status)
    }
}
