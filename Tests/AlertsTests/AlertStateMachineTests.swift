import Alerts
import Testing

@Suite struct AlertStateMachineTests {
    typealias M = AlertStateMachine

    @Test func firesAtOnceWithoutFor() {
        var m = M(forMillis: 0)
        #expect(m.observe(holds: false, clears: true, at: 0) == .none)
        #expect(m.observe(holds: true, clears: false, at: 10) == .fire)
        #expect(m.state == .firing(since: 10))
        #expect(m.observe(holds: true, clears: false, at: 20) == .none)
        #expect(m.observe(holds: false, clears: true, at: 30) == .resolve)
        #expect(m.state == .resolved(at: 30))
        #expect(m.observe(holds: true, clears: false, at: 40) == .fire)
    }

    @Test func pendingThenFiringAfterFor() {
        var m = M(forMillis: 100)
        #expect(m.observe(holds: true, clears: false, at: 0) == .pending)
        #expect(m.observe(holds: true, clears: false, at: 50) == .none)
        #expect(m.state == .pending(since: 0))
        #expect(m.observe(holds: true, clears: false, at: 100) == .fire)
        #expect(m.state == .firing(since: 100))
    }

    @Test func flappingIsHeldBackByFor() {
        var m = M(forMillis: 100)
        #expect(m.observe(holds: true, clears: false, at: 0) == .pending)
        #expect(m.observe(holds: false, clears: true, at: 60) == .cancel)
        #expect(m.state == .inactive)
        #expect(m.observe(holds: true, clears: false, at: 90) == .pending)
        #expect(m.observe(holds: true, clears: false, at: 150) == .none)
        #expect(m.observe(holds: true, clears: false, at: 190) == .fire)
    }

    @Test func hysteresisKeepsFiringUntilClear() {
        var m = M(forMillis: 0)
        #expect(m.observe(holds: true, clears: false, at: 0) == .fire)
        // no longer above the firing threshold, but not yet below the clear one
        #expect(m.observe(holds: false, clears: false, at: 10) == .none)
        #expect(m.observe(holds: false, clears: true, at: 20) == .resolve)
    }

    @Test func tickFiresAPendingAlertWithoutNewReadings() {
        var m = M(forMillis: 100)
        _ = m.observe(holds: true, clears: false, at: 0)
        #expect(m.tick(at: 99, stillHolds: true) == .none)
        #expect(m.tick(at: 100, stillHolds: true) == .fire)
        var n = M(forMillis: 100)
        _ = n.observe(holds: true, clears: false, at: 0)
        #expect(n.tick(at: 200, stillHolds: false) == .none)
    }
}
