import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim
@testable import Scenario

/// Projected service-account tokens rotate: the client asks its token source before every
/// request, so a token replaced on disk is the one the next request carries.
@Suite struct KubernetesTokenRotationTests {
    final class TokenBox: @unchecked Sendable {
        var token = "old"
    }

    @Test func eachRequestCarriesTheTokenOfTheMoment() throws {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: 0)
        let api = try #require(sim.host(named: "api")), edge = try #require(sim.host(named: "edge-1"))
        let server = KubernetesTestAPIServer(host: api, configuration: .init(requiredBearerToken: "new"))
        _ = server.start()
        let box = TokenBox()
        var options = KubernetesAPIClient.Options(bearerToken: "stale start-up token")
        options.bearerTokenSource = { box.token }
        let client = KubernetesAPIClient(host: edge, endpoint: KubernetesAPIEndpoint(host: api.address.description, port: 6443), options: options)
        func list() -> Result<ByteBuffer, Error>? {
            var outcome: Result<ByteBuffer, Error>?
            edge.eventLoop.execute { client.list(.services).whenComplete { outcome = $0 } }
            sim.run(until: sim.now + 10 * Nanoseconds.second) { outcome == nil }
            return outcome
        }
        guard case .failure(KubernetesAPIError.status(let code, _)) = list() else {
            Issue.record("the old token should be refused")
            return
        }
        #expect(code == 401)
        box.token = "new"
        guard case .success = list() else {
            Issue.record("the rotated token should be accepted")
            return
        }
    }
}
