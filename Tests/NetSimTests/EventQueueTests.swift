@testable import NetSim
import Testing

@Suite struct EventQueueTests {
    @Test func ordersByDeadlineThenInsertion() {
        var queue = EventQueue<String>()
        queue.push(deadline: 30, "c")
        queue.push(deadline: 10, "a1")
        queue.push(deadline: 20, "b")
        queue.push(deadline: 10, "a2")
        queue.push(deadline: 10, "a3")
        var order: [String] = []
        while let entry = queue.pop() { order.append(entry.payload) }
        #expect(order == ["a1", "a2", "a3", "b", "c"])
    }

    @Test func sameSeedSameStreamOtherLabelOtherStream() {
        let a = SimRandom(seed: 7, label: "host:edge-1")
        let b = SimRandom(seed: 7, label: "host:edge-1")
        let c = SimRandom(seed: 7, label: "host:edge-2")
        let aValues = (0..<8).map { _ in a.nextUInt64() }
        #expect(aValues == (0..<8).map { _ in b.nextUInt64() })
        #expect(aValues != (0..<8).map { _ in c.nextUInt64() })
    }
}
