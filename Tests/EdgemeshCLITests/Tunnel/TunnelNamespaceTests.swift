import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The real tunnel on Linux: two nodes behind two nftables NAT routers and a public relay, in
/// network namespaces (`Tests/lab/tunnel-nat-lab.sh` builds and removes them). curl from one
/// node reaches a service on the other through both agents.
@Suite(.serialized) struct TunnelNamespaceTests {
    static let lab = EdgemeshProcess.packageRoot.appendingPathComponent("Tests/lab/tunnel-nat-lab.sh")

    /// Root, to build the namespaces, and the tools the lab script drives.
    static var isAvailable: Bool {
        geteuid() == 0 && ["ip", "nft", "curl", "python3"].allSatisfy { EdgemeshProcess.which($0) != nil }
    }

    /// The lab's run: its exit status, every `KEY=value` line it printed, and all it printed.
    static func runLab(_ mapping: String, pods: Bool = false) throws -> (status: Int32, values: [String: String], log: String) {
        let result = try EdgemeshProcess.run(
            executable: URL(fileURLWithPath: "/bin/bash"), [lab.path, EdgemeshProcess.binary.path, mapping] + (pods ? ["pods"] : []))
        var values: [String: String] = [:]
        for line in result.output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "="), line[..<equals].allSatisfy({ $0.isUppercase || $0 == "_" }) else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return (result.status, values, result.output + result.errors)
    }

    /// Two home routers that map endpoint-independently and drop unsolicited WAN packets: the
    /// synchronised connects cross, and the tunnel moves from the relay to the punched path.
    @Test(.enabled(if: TunnelNamespaceTests.isAvailable, "needs root, iproute2, nft, curl and python3 (scripts/install-deps)"))
    func coneNATsArePunchedThrough() throws {
        let run = try Self.runLab("cone")
        #expect(run.status == 0, "\(run.log)")
        #expect(run.values["BODY"] == "hello from node-b")
        #expect(run.values["PATH"] == "hole-punched", "\(run.log)")
    }

    @Test(.enabled(if: TunnelNamespaceTests.isAvailable, "needs root, iproute2, nft, curl and python3 (scripts/install-deps)"))
    func aSymmetricNATIsRelayedAndStillWorks() throws {
        let run = try Self.runLab("symmetric")
        #expect(run.status == 0, "\(run.log)")
        #expect(run.values["BODY"] == "hello from node-b")
        #expect(run.values["PATH"] == "relayed", "\(run.log)")
    }

    /// The edge CNI on the kernel: a pod on each node (a namespace on the node's cni0 bridge),
    /// the agents' TUN devices routing the other node's pod network. The pod behind one NAT
    /// pings, curls and runs iperf3 against the pod behind the other by pod IP; the WAN sees
    /// the tunnel's UDP datagrams and never the page in the clear, and the receiving node's
    /// device took the TCP download as joined segments.
    @Test(.enabled(
        if: TunnelNamespaceTests.isAvailable && ["ping", "iperf3", "tshark"].allSatisfy { EdgemeshProcess.which($0) != nil },
        "needs root, iproute2, nft, curl, python3, ping, iperf3 and tshark (scripts/install-deps)"))
    func podsBehindTwoNATsReachEachOtherByPodIP() throws {
        let run = try Self.runLab("cone", pods: true)
        #expect(run.status == 0, "\(run.log)")
        #expect(run.values["POD_BODY"] == "hello from pod-b", "\(run.log)")
        #expect(run.values["PING"] == "5", "every echo answered: \(run.log)")
        #expect((run.values["IPERF_BITS"].flatMap { Int($0) } ?? 0) > 0, "\(run.log)")
        #expect(run.values["WAN_PLAINTEXT"] == "0", "the pod's page crossed the WAN in the clear")
        #expect((run.values["WAN_DATAGRAMS"].flatMap { Int($0) } ?? 0) > 100, "pod packets go as the tunnel's UDP datagrams: \(run.log)")
        let device = run.values["DEVICE"] ?? ""
        #expect(device.contains("TCP segmentation offload: "), "\(device)")
        #expect(!device.contains(" 0 joined writes"), "the download's segments reach the pod joined: \(device)")
    }
}
