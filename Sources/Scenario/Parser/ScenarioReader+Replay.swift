import Foundation
import Mesh
import NetworkTopology

// MARK: - Replaying a field capture

extension ScenarioReader {
    /// A `replay` workload: the capture is read and cut into flows now, so a missing or broken
    /// file, or one with nothing to replay, fails validation with the field that names it.
    func replay(_ fields: MappingEntries, duration: UInt64) throws(ScenarioError) -> WorkloadSpec.ReplaySpec {
        let pcapValue = try required(fields, "pcap")
        let file = try scalar(pcapValue, "a capture file path")
        let path = file.hasPrefix("/") || baseDirectory == "." ? file : "\(baseDirectory)/\(file)"
        let bytes: [UInt8]
        do { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw fail(pcapValue, "cannot read capture file \(path): \(error.localizedDescription)")
        }
        let pcap: [UInt8]
        do { pcap = try FieldBundle.contents(of: bytes, member: FieldBundle.captureMember) } catch {
            throw fail(pcapValue, "\(file): \(error.description)")
        }
        let capture: PcapFile
        do { capture = try PcapFile(bytes: pcap, path: file) } catch { throw fail(pcapValue, error.description) }
        let captured = CapturedFlows(capture)

        var prefixes: [IPv4Prefix] = []
        if let value = fields["only"] {
            for item in try list(value, of: "destination prefixes (CIDR)") { prefixes.append(try prefix(item)) }
        }
        let flows = captured.filtered(to: prefixes)
        guard !flows.isEmpty else {
            let scope = prefixes.isEmpty ? "" : " to \(prefixes.map(\.description).joined(separator: ", "))"
            throw fail(
                fields["only"] ?? pcapValue,
                "no TCP or UDP flow\(scope) begins in \(file) (\(captured.flows.count) flows in all, "
                    + "\(captured.joinedMidway) TCP flows whose SYN was not captured, \(captured.otherFrames) other frames)")
        }
        var start: UInt64 = 0
        var timeout = 5 * Nanoseconds.second
        if let value = fields["start"] { start = try self.duration(value) }
        if let value = fields["timeout"] { timeout = try self.duration(value, positive: true) }
        let lastDecision = flows.map { flow -> UInt64 in
            let lastSend = max(flow.sends.last?.offset ?? .zero, flow.clientClosedAt ?? .zero)
            return UInt64((flow.start + lastSend).nanoseconds)
        }.max() ?? 0
        let end = start.addingClamped(lastDecision).addingClamped(timeout)
        if end > duration {
            throw fail(
                fields["start"] ?? pcapValue,
                "the capture's \(flows.count) flows, played from \(ScenarioValues.format(duration: start)) and each given "
                    + "\(ScenarioValues.format(duration: timeout)), are decided only at \(ScenarioValues.format(duration: end)), "
                    + "after the end of the run (\(ScenarioValues.format(duration: duration))); lengthen duration")
        }
        return WorkloadSpec.ReplaySpec(pcap: file, flows: flows, start: start, timeout: timeout)
    }
}
