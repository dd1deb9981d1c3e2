import Hummingbird

/// `GET /`: the operations dashboard, one HTML page compiled into the binary
/// (`HTTP/Dashboard/dashboard.html`). The page itself holds no data, so it is open; its
/// API calls carry the token. The content security policy keeps it from loading anything
/// but this collector's API, even if a field-supplied string were ever rendered as markup.
struct DashboardRoutes: Sendable {
    static let page = ByteBuffer(bytes: PackageResources.dashboard_html)
    static let policy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    func register(on router: Router<BasicRequestContext>) {
        router.read("/") { _, _ in
            Response(status: .ok, headers: [
                .contentType: "text/html; charset=utf-8",
                .cacheControl: "no-cache",
                .contentSecurityPolicy: Self.policy,
                .xContentTypeOptions: "nosniff",
            ], body: ResponseBody(byteBuffer: Self.page))
        }
    }
}
