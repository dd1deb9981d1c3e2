import Foundation

/// Headless Chromium driven by `scripts/browser.py` (DevTools protocol over a pipe): one JSON
/// command per line in, one JSON answer per line out. Every call is bounded by the script's
/// own timeouts and by `seconds` here.
final class HeadlessBrowser: @unchecked Sendable {
    private let process: SpawnedProcess
    /// The FIFO the script reads its commands from, held open here.
    private let commands: Int32
    private let outPath: String
    private let dir: String
    private var readOffset: UInt64 = 0
    private var buffer = Data()

    /// Starts Chromium at `width` x `height` and loads `url`. (A `SpawnedProcess`, like every
    /// long-lived child of the tests: commands go in through a FIFO, answers come out in a file.)
    init(url: String, width: Int = 1280, height: Int = 800) async throws {
        _ = try which("chromium")
        dir = NSTemporaryDirectory() + "collector-browser-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let fifo = dir + "/commands"
        guard mkfifo(fifo, 0o600) == 0 else { throw HarnessError("mkfifo \(fifo) failed") }
        commands = open(fifo, O_RDWR | O_CLOEXEC)   // O_RDWR: opening does not wait for the reader
        guard commands >= 0 else { throw HarnessError("cannot open \(fifo)") }
        outPath = dir + "/answers"
        process = try SpawnedProcess(try which("python3"), [packageRoot + "/scripts/browser.py", url, String(width), String(height)],
                                     logPath: outPath, stdinPath: fifo, errorPath: dir + "/stderr")
        let first = try await readAnswer(seconds: 60)
        guard first["ok"] as? Bool == true else { throw HarnessError("browser: \(first["error"] ?? first)") }
    }

    /// Sends one command; throws with the browser's error unless it answers ok.
    @discardableResult
    func send(_ command: [String: Any], seconds: Double = 60) async throws -> Any? {
        var line = try JSONSerialization.data(withJSONObject: command)
        line.append(0x0A)
        try write(line)
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
        try? write(Data(#"{"cmd": "quit"}"#.utf8 + [0x0A]))
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        process.stop()
    }

    private func write(_ data: Data) throws {
        let n = data.withUnsafeBytes { Foundation.write(commands, $0.baseAddress, $0.count) }
        guard n == data.count else { throw HarnessError("cannot write to the browser's FIFO") }
    }

    /// Waits for the next answer line in the script's output file (polled every 20 ms).
    private func readAnswer(seconds: Double) async throws -> [String: Any] {
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
            let running = process.isRunning
            if let h = FileHandle(forReadingAtPath: outPath) {
                try h.seek(toOffset: readOffset)
                let chunk = h.readDataToEndOfFile()
                try? h.close()
                readOffset += UInt64(chunk.count)
                buffer.append(chunk)
                if !chunk.isEmpty { continue }
            }
            if !running { throw HarnessError("browser exited") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    deinit {
        Foundation.close(commands)
        if process.isRunning { process.stop() }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
