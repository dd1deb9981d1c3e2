import Synchronization
import Testing
@testable import Collector

/// A slow alert-stream client: every event it misses is counted where it is dropped (before,
/// 778 of 3,000 were lost in a second, uncounted buffer), and its stream says how many it
/// missed (`event: gap`) before the next alert, so the dashboard reloads the list.
@Suite struct AlertBroadcasterTests {
    @Test func aSlowClientsMissedEventsAreCountedAndSignalled() async {
        let drops = Mutex(0)
        let b = AlertBroadcaster(onDrop: { drops.withLock { $0 += 1 } })
        b.send(#"{"n":0}"#)                      // before the subscription: not this client's
        let (events, keepAlive, after) = b.subscribe()
        for i in 1...1500 { b.send(#"{"n":\#(i)}"#) }
        #expect(drops.withLock { $0 } == 500)
        #expect(keepAlive())                     // a keep-alive in a full buffer evicts one more alert
        #expect(drops.withLock { $0 } == 501)
        b.close()
        var text = AlertStreamText(after: after)
        var out: [String] = []
        for await item in events { out.append(text.next(item)) }
        #expect(out.count == 1000)
        #expect(out.first == "event: gap\ndata: {\"missed\":501}\n\nid: 503\nevent: alert\ndata: {\"n\":502}\n\n")
        #expect(out.dropFirst().filter { $0.contains("event: gap") }.isEmpty)
        #expect(out.last == ": keep-alive\n\n")
        #expect(!keepAlive())                    // ended: the heartbeat stops
    }
}
