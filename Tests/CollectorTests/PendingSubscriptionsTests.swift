import Testing
@testable import Collector

/// A connection's SUBSCRIBEs until their SUBACKs: receiving once every one is granted, given
/// up at the first refusal (MQTT 3.1.1's 0x80, MQTT 5's reason codes from 0x80 up).
@Suite struct PendingSubscriptionsTests {
    typealias Sent = PendingSubscriptions.Sent

    @Test func receivingOnlyOnceEverySubscriptionIsGranted() {
        var p = PendingSubscriptions()
        p.sent(mid: 1, topic: "telemetry/#", qos: 1)
        p.sent(mid: 2, topic: "meters/+/up", qos: 1)
        #expect(!p.isEmpty)
        #expect(p.answered(mid: 2, granted: [1]) == .waiting)
        #expect(p.answered(mid: 2, granted: [1]) == .unknown)   // answered already
        #expect(p.answered(mid: 1, granted: [1]) == .allGranted)
        #expect(p.isEmpty)
    }

    @Test func aRefusalGivesTheLinkUp() {
        for code: Int32 in [0x80, 0x87, 0x8F] {
            var p = PendingSubscriptions()
            p.sent(mid: 1, topic: "telemetry/#", qos: 1)
            p.sent(mid: 2, topic: "meters/#", qos: 0)
            #expect(p.answered(mid: 1, granted: [code]) == .refused(Sent(topic: "telemetry/#", qos: 1), code: code))
            #expect(p.isEmpty)
            #expect(p.answered(mid: 2, granted: [0]) == .unknown)   // the link was given up
        }
        var p = PendingSubscriptions()
        p.sent(mid: 3, topic: "a/#", qos: 1)
        #expect(p.answered(mid: 3, granted: []) == .refused(Sent(topic: "a/#", qos: 1), code: 0x80))
    }

    @Test func aLowerQoSIsGrantedAndSaid() {
        var p = PendingSubscriptions()
        p.sent(mid: 1, topic: "a/#", qos: 1)
        p.sent(mid: 2, topic: "b/#", qos: 2)
        #expect(p.answered(mid: 1, granted: [0]) == .downgraded(Sent(topic: "a/#", qos: 1), granted: 0, last: false))
        #expect(p.answered(mid: 2, granted: [1]) == .downgraded(Sent(topic: "b/#", qos: 2), granted: 1, last: true))
        #expect(p.isEmpty)
    }

    @Test func aNewConnectionForgetsTheOldSubscribes() {
        var p = PendingSubscriptions()
        p.sent(mid: 1, topic: "a/#", qos: 1)
        p.reset()
        #expect(p.isEmpty)
        #expect(p.answered(mid: 1, granted: [1]) == .unknown)
        p.sent(mid: 1, topic: "a/#", qos: 1)
        #expect(p.answered(mid: 1, granted: [1]) == .allGranted)
    }
}
