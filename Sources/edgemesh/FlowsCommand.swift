import ArgumentParser
import Foundation
import Mesh

struct FlowsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flows",
        abstract: "Show the connections, requests and UDP sessions the local agent carried recently: the backend each went to and the path it took.",
        discussion: "Asks the agent's local endpoint (edgemesh agent --status-address) for GET /flows; the agent keeps the last \(ProxiedFlowLog.defaultCapacity)."
    )

    @OptionGroup var options: AgentPageOptions

    func run() throws {
        let body = try options.fetch("/flows")
        if options.json {
            print(body, terminator: "")
            return
        }
        let page = try JSONDecoder().decode(ProxiedFlowPage.self, from: Data(body.utf8))
        print(Self.render(page))
    }

    /// One line per flow, newest last, under a line saying how many the agent carried.
    static func render(_ page: ProxiedFlowPage) -> String {
        let shown = page.flows.count
        var lines = ["\(page.recorded) flow(s) carried\(UInt64(shown) < page.recorded ? ", the last \(shown) shown" : "")"]
        for flow in page.flows {
            var line = "#\(flow.id) \(String(format: "%.3f", flow.openedAt))s \(flow.transport.rawValue) \(flow.service) "
                + "\(flow.client ?? "?") -> \(flow.backend)"
            if let node = flow.node { line += " on \(node)" }
            line += ": \(flow.path.rawValue)"
            if flow.tunnelled { line += " (tunnel\(flow.via.map { " via \($0)" } ?? ""))" }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
