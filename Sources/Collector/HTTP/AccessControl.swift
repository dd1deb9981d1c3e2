import Foundation
import Hummingbird
import Yams

/// Who may do what over HTTP (README, "Access"): tokens from `http.tokens_file`, each with a
/// role. Reads need viewer (operator and admin may read), acknowledging needs operator (or
/// admin), writing readings needs writer (or admin); a writer may do nothing else, so a
/// gateway's token cannot read the province's data. `/healthz` and `/readyz` stay open;
/// `/metrics` needs viewer unless `http.open_metrics`. A token comes as `Authorization:
/// Bearer <token>`, `Token <token>` (InfluxDB v2 clients) or Basic with the token as password
/// (InfluxDB v1 clients, Telegraf). Tokens are compared in constant time and never logged.
struct AccessControl: Sendable {
    enum Role: String, Sendable {
        case viewer, operator_ = "operator", admin, writer

        /// Whether the role may do `need`.
        func allows(_ need: Need) -> Bool {
            switch (self, need) {
            case (.admin, _): true
            case (.viewer, .read), (.operator_, .read), (.operator_, .operate), (.writer, .write): true
            default: false
            }
        }
    }

    /// What a request does.
    enum Need: String, Sendable {
        case read, operate, write

        /// The roles that may, for messages.
        var roles: String {
            switch self {
            case .read: "viewer, operator or admin"
            case .operate: "operator or admin"
            case .write: "writer or admin"
            }
        }
    }

    /// Paths that write readings (`/query` takes Telegraf's `CREATE DATABASE` only).
    static let writePaths: Set<String> = ["/api/v2/write", "/write", "/api/v1/senml", "/query"]

    struct Token: Sendable {
        var name: String
        var role: Role
        var secret: [UInt8]
    }

    let tokens: [Token]
    let openMetrics: Bool

    /// Loads the tokens file; problems as `file:line: message`, never with the file's text
    /// (it holds secrets). A file other users may read is refused, as `mqtt.password_file` is.
    static func load(path: String, openMetrics: Bool) throws(ConfigProblems) -> AccessControl {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigProblems(problems: [ConfigProblem(file: path, line: 1, message: "cannot read the tokens file")])
        }
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & S_IROTH != 0 {
            throw ConfigProblems(problems: [ConfigProblem(file: path, line: 1,
                                                          message: "the tokens file is world-readable; chmod o-r it first (it holds secrets)")])
        }
        let sink = ProblemSink()
        var tokens: [Token] = []
        do {
            guard let root = try Yams.compose(yaml: text) else {
                throw ConfigProblems(problems: [ConfigProblem(file: path, line: 1, message: "the tokens file is empty")])
            }
            let top = YAMLMapping(root, file: path, sink: sink, what: "the tokens file")
            for node in top.sequence("tokens") ?? [] {
                let m = top.child(node, what: "a token")
                let name = m.string("name")
                let roleText = m.string("role")
                let secret = m.string("token")
                let role = roleText.flatMap { Role(rawValue: $0) }
                if roleText != nil && role == nil { m.problem("role", "role must be viewer, operator, admin or writer") }
                if let secret, secret.utf8.count < 16 { m.problem("token", "a token must be at least 16 characters") }
                if let name, let role, let secret, secret.utf8.count >= 16 {
                    if tokens.contains(where: { $0.secret == Array(secret.utf8) }) { m.problem("token", "the same token appears twice") }
                    tokens.append(Token(name: name, role: role, secret: Array(secret.utf8)))
                } else if name == nil || roleText == nil || secret == nil {
                    m.problem("name", "a token needs name, role and token")
                }
                m.finish("a token")
            }
            top.finish("the tokens file")
        } catch let e as ConfigProblems {
            throw e
        } catch let e as YamlError {
            // The parser's reason and line only: its own message quotes the line, a secret.
            throw ConfigProblems(problems: [ConfigLoader.yamlProblem(e, file: path, quoting: false)])
        } catch {
            throw ConfigProblems(problems: [ConfigProblem(file: path, line: 1, message: "YAML syntax error")])
        }
        if !sink.problems.isEmpty { throw ConfigProblems(problems: sink.problems) }
        if tokens.isEmpty { throw ConfigProblems(problems: [ConfigProblem(file: path, line: 1, message: "no tokens: nobody could use the API")]) }
        return AccessControl(tokens: tokens, openMetrics: openMetrics)
    }

    /// What a request needs, or nil when it is open.
    func required(method: HTTPRequest.Method, path raw: String) -> Need? {
        // As the router reads it: empty segments (`//write`, `/write/`) do not count.
        let path = "/" + raw.split(separator: "/").joined(separator: "/")
        if path == "/healthz" || path == "/readyz" || path == "/" || path == "/ping" || path == "/health" { return nil }
        if path == "/metrics" { return openMetrics ? nil : .read }
        if method == .post { return Self.writePaths.contains(path) ? .write : .operate }
        return .read
    }

    /// The token presented (`Bearer`, `Token`, or Basic's password; else InfluxDB v1's `p`
    /// query parameter), compared against every configured one in constant time.
    func role(of header: String?, password: String? = nil) -> Role? {
        let presented = Self.presentedTokens(header) + (password.map { [Array($0.utf8)] } ?? [])
        var found: Role?
        for candidate in presented {
            for t in tokens where Self.constantTimeEqual(candidate, t.secret) { found = t.role }
        }
        return found
    }

    /// The secrets an `Authorization` header may carry: `Bearer <t>`, `Token <t>` (and, as
    /// InfluxDB v1 clients send it, `Token user:<t>`), or Basic with `<t>` as the password.
    static func presentedTokens(_ header: String?) -> [[UInt8]] {
        guard let header else { return [] }
        if header.hasPrefix("Bearer ") { return [Array(header.utf8.dropFirst(7))] }
        if header.hasPrefix("Token ") {
            let t = header.dropFirst(6)
            return [Array(t.utf8)] + (t.firstIndex(of: ":").map { [Array(t[t.index(after: $0)...].utf8)] } ?? [])
        }
        if header.hasPrefix("Basic "), let data = Data(base64Encoded: String(header.dropFirst(6))),
           let colon = data.firstIndex(of: UInt8(ascii: ":")) {
            return [Array(data[data.index(after: colon)...])]
        }
        return []
    }

    /// Equal bytes, in a time that depends only on the longer length. The length difference
    /// is kept whole (folded to 8 bits, a token followed by 256 more bytes compared equal).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt(bitPattern: a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= UInt(x ^ y)
        }
        return diff == 0
    }
}

/// Enforces the `AccessControl` in force on every request.
struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let live: LiveAccess

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let access = live.current
        guard let need = access.required(method: request.method, path: request.uri.path) else {
            return try await next(request, context)
        }
        let password = need == .write ? request.uri.queryParameters.get("p") : nil
        guard let have = access.role(of: request.headers[.authorization], password: password) else {
            return deny(.unauthorized, "unauthorized", "send Authorization: Bearer <token>")
        }
        guard have.allows(need) else {
            return deny(.forbidden, "forbidden", "this needs the \(need.roles) role")
        }
        return try await next(request, context)
    }

    private func deny(_ status: HTTPResponse.Status, _ error: String, _ detail: String) -> Response {
        var j = JSONText()
        j.object {
            $0.field("error") { $0.string(error) }
            $0.field("detail") { $0.string(detail) }
        }
        var r = j.response(status: status)
        if status == .unauthorized { r.headers[.wwwAuthenticate] = "Bearer" }
        return r
    }
}
