import Foundation

/// Headless Chromium driven by `scripts/browser.py` (DevTools protocol over a pipe): one JSON
/// command per line in, one JSON answer per line out. Every call is bounded by the script's
/// own timeouts and by `seconds` here.
final class HeadlessBrowser: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffer = Data()

    /// Starts Chromium at `width` x `height` and loads `url`.
    init(url: String, width: Int = 1280, height: Int = 800) async throws {
        _ = try which("chromium")
        process.executableURL = URL(fileURLWithPath: try which("python3"))
        process.arguments = [packageRoot + "/scripts/browser.py", url, String(width), String(height)]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let first = try await readAnswer(seconds: 60)
        guard first["ok"] as? Bool == true else { throw HarnessError("browser: \(first["error"] ?? first)") }
    }

    /// Sends one command; throws with the browser's error unless it answers ok.
    @discardableResult
    func send(_ command: [String: Any], seconds: Double = 60) async throws -> Any? {
        var line = try JSONSerialization.data(withJSONObject: command)
        line.append(0x0A)
        try input.fileHandleForWriting.write(contentsOf: line)
        let answer = try await readAnswer(seconds: seconds)
        guard answer["ok"] as? Bool == true else {
            throw HarnessError("browser \(command["cmd"] ?? "?"): \(answer["error"] ?? answer)")
        }
        return answer["value"]
    }

    func eval(_ js: String) async throws -> Any? { try await send(["cmd": "eval", "expr": js]) }

    /// Waits in the page until `js` is truthy; returns its value. On a timeout the error
    /// carries what `show` evaluates to (the page's state, for the reader of the failure).
    @discardableResult
    func wait(_ js: String, timeout: Double = 20, show: String = "document.body.innerText.slice(0, 2000)") async throws -> Any? {
        let limit = timeout * ciWaitFactor
        do {
            return try await send(["cmd": "wait", "expr": js, "timeout": limit], seconds: limit + 30)
        } catch {
            let state = try? await eval(show)
            throw HarnessError("\(error); the page shows: \(state.map { "\($0)" } ?? "?")")
        }
    }

    func close() {
        try? input.fileHandleForWriting.write(contentsOf: Data(#"{"cmd": "quit"}"#.utf8 + [0x0A]))
        try? input.fileHandleForWriting.close()
        try? waitForExit(process, seconds: 15)
    }

    /// Reads one answer line off the main thread's pool (the read blocks).
    private func readAnswer(seconds: Double) async throws -> [String: Any] {
        let handle = output.fileHandleForReading
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<nl]
                buffer = Data(buffer[(nl + 1)...])
                guard let o = try JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                    throw HarnessError("browser said: \(String(decoding: line, as: UTF8.self))")
                }
                return o
            }
            guard Date() < deadline else { throw HarnessError("browser did not answer within \(seconds) s") }
            guard process.isRunning || handle.availableDataNonBlocking() else { throw HarnessError("browser exited") }
            let chunk: Data = await withCheckedContinuation { c in
                DispatchQueue.global().async { c.resume(returning: handle.availableData) }
            }
            if chunk.isEmpty && !process.isRunning { throw HarnessError("browser exited") }
            buffer.append(chunk)
        }
    }

    deinit { if process.isRunning { process.terminate() } }
}

private extension FileHandle {
    /// Whether bytes wait to be read (poll with no wait).
    func availableDataNonBlocking() -> Bool {
        var p = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) > 0
    }
}
