import Foundation
import Testing
@testable import Telemetry

/// The pipeline's threads carry their name in the kernel, and background ones run 10 nice
/// levels below the process, so a busy machine serves ingest and alerts first.
@Suite struct NamedThreadTests {
    /// What a thread started by `NamedThread` sees of itself: its `comm` and its nice value.
    static func selfView(background: Bool) async -> (String, Int32) {
        await withCheckedContinuation { c in
            NamedThread.start("nt-test", background: background) {
                let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
                let tid = NamedThread.currentThreadID ?? 0
                errno = 0
                let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid)
                c.resume(returning: (comm.trimmingCharacters(in: .whitespacesAndNewlines), errno == 0 ? nice : -100))
            }
        }
    }

    @Test func backgroundThreadsAreNicedAndNamed() async {
        let base = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        let (name, nice) = await Self.selfView(background: true)
        #expect(name == "nt-test")
        #expect(nice == min(base + 10, 19))
        let (_, plain) = await Self.selfView(background: false)
        #expect(plain == base)
    }
}
