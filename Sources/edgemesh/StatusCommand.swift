import ArgumentParser
import Foundation
import Mesh

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what the local agent is doing: its object source, table, DNS, tunnel peers and relays.",
        discussion: "Asks the agent's local endpoint (edgemesh agent --status-address) for GET /status."
    )

    @OptionGroup var options: AgentPageOptions

    func run() throws {
        let body = try options.fetch("/status")
        if options.json {
            print(body, terminator: "")
            return
        }
        let status = try JSONDecoder().decode(AgentStatus.self, from: Data(body.utf8))
        print(Self.render(status))
    }

    static func render(_ status: AgentStatus) -> String {
        var lines = [
            "node \(status.node), up \(status.uptimeSeconds) s",
            "source: \(status.sourceDescription)\(status.synced ? "" : " (not yet in sync: answering from the snapshot)")",
            "table: revision \(status.tableRevision); "
                + status.objects.filter { $0.count > 0 }.map { "\($0.count) \($0.kind)" }.joined(separator: ", "),
        ]
        for source in status.sources {
            var line = "  \(source.resource): \(source.state), version \(source.resourceVersion ?? "none"), "
                + "\(source.lists) lists, \(source.reconnects) reconnects"
            if let error = source.lastError { line += "; last error: \(error)" }
            lines.append(line)
        }
        let responses = status.dns.responses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append(
            "dns on \(status.dns.listening.joined(separator: ", ")): \(status.dns.queries) queries (\(responses.isEmpty ? "none answered" : responses)), "
                + "\(status.dns.malformed) malformed, \(status.dns.truncated) truncated")
        if let key = status.tunnelKey { lines.append("tunnel key: \(key)") }
        if let tunnel = status.tunnel { lines.append(tunnel.text) }
        lines += status.relays ?? []
        lines += status.gateway ?? []
        lines += status.socks5 ?? []
        lines += status.podNetworks ?? []
        if let limits = status.limitsReached, !limits.isEmpty { lines.append("limits reached: " + limits.joined(separator: "; ")) }
        return lines.joined(separator: "\n")
    }
}
