import Testing

/// Seeds a chaos sweep of the quickstart failed on, each until its fix: they stay in the sweep's
/// way. 1: a relay link and a punched connection given up for silence held their fixed local
/// port with a FIN that could not get through, so nothing could reconnect from it; 32: a
/// bandwidth-limited link queued packets by when they were sent rather than when they arrived,
/// and dropped every 12th request to the cloud as if the queue were full; 44: round-trip
/// samples of segments held behind a retransmission inflated a tunnel's TCP timeout to the
/// 60 s cap, so one later loss stalled it for a minute; 57: when the peer's punching SYN arrived
/// before our own connect, the connect failed "address in use" and every round was spent at
/// once, so the punch gave up while the peer's connection was being accepted (relayed ever after);
/// 421: the relay took edge-a2's reservation and crashed before its answer arrived; the agent
/// waited for the answer for good (its keepalive starts with a reservation), so it had no relay
/// and never reached the other LAN's pods again.
///
/// multi-nic-gateway, seed 40: the gateway node crashed and booted; the dead agent's address
/// subscription outlived it in the simulator, so when eth1's address came back the dead agent's
/// gateway took the port first, answering 503 from its stale table, and the live one was refused
/// the port for good (a crashed process's netlink socket dies with it: the simulator now drops
/// a crashed node's subscriptions).
@Suite struct ChaosRegressionSeedTests {
    @Test(arguments: [UInt64(1), 32, 44, 57, 421])
    func quickstartWithMediumChaosPasses(seed: UInt64) throws {
        let run = try EdgemeshProcess.run(["sim", "Scenarios/quickstart.yaml", "--chaos", "medium", "--seed", "\(seed)"])
        #expect(run.status == 0, "\(run.output)")
    }

    @Test func multiNICGatewayWithMediumChaosPasses() throws {
        let run = try EdgemeshProcess.run(["sim", "Scenarios/multi-nic-gateway.yaml", "--chaos", "medium", "--seed", "40"])
        #expect(run.status == 0, "\(run.output)")
    }
}
