import ArgumentParser
import Foundation
import LinuxBackend
import NetworkTopology
import Scenario

struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Record a field bundle on this node: its packets, its agent's table and status (root).",
        discussion: """
            Every IPv4 packet the node sends or receives is recorded as its sender wrote it, \
            before the agent's redirect (nftables log rules, table edgemesh_capture, removed \
            afterwards), for --duration; then the agent's GET /table and GET /status are added. \
            The bundle is one tar file a scenario names as a replay's `pcap:` and in `manifests:`, \
            so `edgemesh sim` replays the node's flows against the services it had.
            """
    )

    @Option(help: "This node's name, recorded in the bundle (default: $NODE_NAME).")
    var nodeName: String?

    @Option(help: "How long to record (e.g. 60s, 5m).")
    var duration: String

    @Option(help: "The bundle file to write.")
    var output: String

    @Option(help: "The agent's status endpoint (ip:port).")
    var agent: String = "127.0.0.1:10551"

    @Option(help: "The nflog group the packets are logged to while recording.")
    var nflogGroup: UInt16 = 4242

    func run() throws {
        guard let node = nodeName ?? ProcessInfo.processInfo.environment["NODE_NAME"] else {
            throw ValidationError("--node-name is required (or set NODE_NAME)")
        }
        guard let length = ScenarioValues.duration(duration), length > 0 else {
            throw ValidationError("--duration \"\(duration)\" is not a duration (e.g. 60s, 5m)")
        }
        let started = Date()
        let frames = try record(for: length)
        let packets = frames.compactMap { frame in
            PacketLogTap.packet(fromNFLOGFrame: frame.bytes).map { (timestamp: frame.timestampNanoseconds, bytes: $0) }
        }
        var members: [(name: String, bytes: [UInt8])] = []
        let info: [String: Any] = [
            "node": node, "startedAt": ISO8601DateFormatter().string(from: started),
            "durationSeconds": Double(length) / 1e9, "packets": packets.count, "agent": agent,
        ]
        members.append((FieldBundle.infoMember, Array(try JSONSerialization.data(withJSONObject: info, options: [.sortedKeys, .prettyPrinted]))))
        members.append((FieldBundle.captureMember, PcapFile.encode(linkType: PcapFile.linkTypeRaw, records: packets)))
        var missing: [String] = []
        for (path, member) in [("/table", FieldBundle.tableMember), ("/status", FieldBundle.statusMember)] {
            do {
                members.append((member, Array(try AgentPage.fetch(path, from: agent).utf8)))
            } catch {
                missing.append("\(path): \(error)")
            }
        }
        let bundle = FieldBundle(members: members).encoded(modificationTime: Int(started.timeIntervalSince1970))
        try Data(bundle).write(to: URL(fileURLWithPath: output))
        print("\(output): \(packets.count) packets in \(Nanoseconds.format(length))"
            + (missing.isEmpty ? ", the agent's table and status" : "; without the agent's \(missing.joined(separator: "; "))"))
    }

    /// The frames of the nflog group while the tap is in place.
    private func record(for length: UInt64) throws -> [CapturedFrame] {
        let file = NSTemporaryDirectory() + "edgemesh-capture-\(getpid()).pcap"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let tap = try PacketLogTap(group: nflogGroup)
        do {
            let capture = try LivePacketCapture(interface: "nflog:\(nflogGroup)", path: file)
            try capture.start()
            usleep(useconds_t(min(length / 1000, UInt64(UInt32.max))))
            // The kernel hands logged packets over at least once a second.
            usleep(1_200_000)
            try capture.stop()
        } catch {
            try? tap.remove()
            throw error
        }
        try tap.remove()
        return try LivePacketCapture.readRecords(path: file)
    }
}
