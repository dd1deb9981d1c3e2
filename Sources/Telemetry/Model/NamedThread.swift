import Foundation

/// Starts the long-lived threads of the pipeline (ingest loop, alert worker, rollup merger,
/// WAL checkpointer, alert publisher) under a name the kernel knows, so `top -H`, `perf` and
/// `/proc/<pid>/task/*/comm` tell them apart.
public enum NamedThread {
    /// Runs `body` on a new thread named `name` (the kernel keeps 15 bytes).
    public static func start(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let t = Thread {
            #if os(Linux)
            // Linux names a thread through its `comm` file; Foundation's `Thread.name` does not.
            try? Data(name.utf8.prefix(15)).write(to: URL(fileURLWithPath: "/proc/thread-self/comm"))
            #endif
            body()
        }
        t.name = name
        t.start()
    }
}
