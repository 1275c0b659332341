import Foundation
@testable import Mesh
import Testing

/// The flow log keeps a fixed number of flows, whatever a client does.
@Suite struct ProxiedFlowLogTests {
    static func flow(_ client: String) -> ProxiedFlow {
        ProxiedFlow(
            id: 0, service: "default/web:http", transport: .tcp, client: client, backend: "10.0.0.2:8080", node: "b",
            path: .relayed, tunnelled: true, via: "198.51.100.10:20008", openedAt: 1.5)
    }

    @Test func keepsTheLastFlowsOldestFirstAndCountsAll() {
        var log = ProxiedFlowLog(capacity: 3)
        var seen: [UInt64] = []
        log.observe { seen.append($0.id) }
        for port in 1...5 { log.record(Self.flow("10.0.0.1:\(port)")) }
        #expect(log.flows.map(\.id) == [3, 4, 5])
        #expect(log.flows.map(\.client) == ["10.0.0.1:3", "10.0.0.1:4", "10.0.0.1:5"])
        #expect(log.recorded == 5)
        #expect(seen == [1, 2, 3, 4, 5], "observers see every flow, not only the kept ones")
    }

    @Test func thePageRoundTripsThroughJSON() throws {
        let page = ProxiedFlowPage(recorded: 7, capacity: 256, flows: [Self.flow("10.0.0.1:40000")])
        let text = String(decoding: try page.json(), as: UTF8.self)
        #expect(text.contains("\"path\" : \"relayed\""))
        #expect(text.contains("\"via\" : \"198.51.100.10:20008\""))
        let decoded = try JSONDecoder().decode(ProxiedFlowPage.self, from: try page.json())
        #expect(decoded == page)
    }
}
