import NIOCore
import NetworkTopology

/// A run as one self-contained HTML page (`edgemesh sim FILE --report OUT.html`): a timeline
/// with the faults shaded, each tunnel peer's path over time, every request's outcome and
/// latency per client, the settle point of a chaos run, the verdicts and the drawn chaos.
/// Everything is inline (SVG drawn here, a few lines of script, no network), so the file opens
/// anywhere and can be attached to a bug.
public struct RunReportPage {
    public var scenario: Scenario
    public var report: ScenarioReport
    public var timeline: RunTimeline
    public var logs: [String: RequestLog]
    /// The drawn chaos, one line per fault; empty without chaos.
    public var chaos: [String]
    /// A host clock's instant as time of the run.
    public var runTime: (NIODeadline) -> UInt64

    public init(
        scenario: Scenario, report: ScenarioReport, timeline: RunTimeline, logs: [String: RequestLog], chaos: [String],
        runTime: @escaping (NIODeadline) -> UInt64
    ) {
        self.scenario = scenario
        self.report = report
        self.timeline = timeline
        self.logs = logs
        self.chaos = chaos
        self.runTime = runTime
    }

    // Geometry of the timeline (pixels).
    private static let width = 1200.0, labelWidth = 230.0, right = 20.0, laneHeight = 18.0, clientHeight = 64.0
    static let pathColors: [(path: String, color: String)] = [
        ("local", "#6a1b9a"), ("direct", "#2e7d32"), ("hole-punched", "#1565c0"), ("relayed", "#ef6c00"),
        ("none", "#cfd8dc"), ("down", "#c62828"),
    ]

    private var plotWidth: Double { Self.width - Self.labelWidth - Self.right }

    private func x(_ time: UInt64) -> Double {
        Self.labelWidth + Double(min(time, scenario.duration)) / Double(max(scenario.duration, 1)) * plotWidth
    }

    public func html() -> String {
        let passed = report.passed
        var body = """
            <h1>\(Self.escape(scenario.name)) <span class="\(passed ? "pass" : "fail")">\(passed ? "PASS" : "FAIL")</span></h1>
            <p class="meta">seed \(report.seed) · trace \(report.traceDigest.prefix(16))… · \(Nanoseconds.format(report.simulatedTime)) simulated · \
            \(report.deliveredPackets) packets delivered, \(report.droppedPackets) dropped\
            \(scenario.settlesAt.map { " · judged from \(Nanoseconds.format($0)) on" } ?? "")</p>
            <p>\(Self.escape(scenario.description))</p>
            """
        body += "<h2>Timeline</h2>\n" + timelineSVG() + legend()
        body += "<h2>Verdicts</h2>\n<table class=\"verdicts\"><tr><th></th><th>about</th><th>measured</th></tr>\n"
        for verdict in report.verdicts {
            body += "<tr class=\"\(verdict.label.lowercased())\"><td>\(verdict.label)</td><td>\(Self.escape(verdict.expectation.subject)) \(Self.escape(verdict.expectation.kind.name))</td><td>\(Self.escape(verdict.detail))</td></tr>\n"
        }
        for invariant in report.invariants {
            let label = invariant.passed ? "PASS" : "FAIL"
            body += "<tr class=\"\(label.lowercased())\"><td>\(label)</td><td>invariant \(Self.escape(invariant.name))</td><td>\(Self.escape(invariant.detail))</td></tr>\n"
        }
        body += "</table>\n"
        if !chaos.isEmpty {
            body += "<h2>Chaos drawn from the seed</h2>\n<ul>" + chaos.map { "<li>\(Self.escape($0))</li>" }.joined() + "</ul>\n"
        }
        body += "<h2>Workloads</h2>\n<pre>\(Self.escape(report.renderTable()))</pre>\n"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>edgemesh run: \(Self.escape(scenario.name)) seed \(report.seed)</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #212121; }
            h1 span { font-size: 16px; padding: 2px 8px; border-radius: 4px; color: white; }
            h1 .pass { background: #2e7d32; } h1 .fail { background: #c62828; }
            table.verdicts td:first-child { color: white; font-weight: bold; text-align: center; }
            table.verdicts td, table.verdicts th { padding: 2px 8px; text-align: left; vertical-align: top; }
            tr.pass td:first-child { background: #2e7d32; } tr.fail td:first-child { background: #c62828; } tr.skip td:first-child { background: #9e9e9e; }
            .meta { color: #616161; } pre { font-size: 12px; background: #fafafa; padding: 8px; overflow-x: auto; }
            svg text { font: 11px system-ui, sans-serif; } .legend span { display: inline-block; margin-right: 14px; }
            .legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: middle; }
            </style></head><body>
            \(body)
            <script>
            // Counts what was drawn, for whoever opened the page headless (and its title).
            const lanes = document.querySelectorAll('svg g.lane').length;
            document.body.dataset.lanes = String(lanes);
            document.title += ' (' + lanes + ' lanes)';
            for (const mark of document.querySelectorAll('svg [data-tip]')) {
              mark.addEventListener('mouseenter', () => { document.getElementById('tip').textContent = mark.dataset.tip; });
            }
            </script></body></html>
            """
    }

    // MARK: The timeline

    private func timelineSVG() -> String {
        var y = 28.0
        var parts: [String] = []
        // Faults, one lane each, in time order: the file's and the drawn ones.
        let faults = scenario.faults.sorted { $0.at < $1.at }
        if !faults.isEmpty { parts.append(sectionTitle("faults", y: &y)) }
        for fault in faults {
            let end = fault.duration.map { fault.at + $0 }
            let words = "\(Nanoseconds.format(fault.at))\(fault.duration.map { " for \(Nanoseconds.format($0))" } ?? ""): \(ChaosPlan.describe(fault.kind))"
            let mark = end.map { rect(from: fault.at, to: $0, y: y, color: "#e57373", tip: words) }
                ?? "<rect x=\"\(f(x(fault.at) - 1))\" y=\"\(f(y + 2))\" width=\"3\" height=\"\(f(Self.laneHeight - 4))\" fill=\"#c62828\" data-tip=\"\(Self.escape(words))\"/>"
            parts.append(lane(Self.shortened(ChaosPlan.describe(fault.kind)), y: y, content: mark))
            y += Self.laneHeight
        }
        if !scenario.changes.isEmpty {
            let ticks = scenario.changes.map { change -> String in
                let words: String = switch change.action {
                case .apply(let manifest): "apply \(manifest.kind) \(manifest.namespace ?? "default")/\(manifest.name)"
                case .delete(let kind, let namespace, let name): "delete \(kind) \(namespace ?? "default")/\(name)"
                }
                return "<rect x=\"\(f(x(change.at) - 1))\" y=\"\(f(y + 2))\" width=\"3\" height=\"\(f(Self.laneHeight - 4))\" fill=\"#5d4037\" data-tip=\"\(Self.escape("\(Nanoseconds.format(change.at)): \(words)"))\"/>"
            }
            parts.append(lane("object changes", y: y, content: ticks.joined()))
            y += Self.laneHeight
        }
        // Tunnel paths, one lane per ordered pair of agents.
        if !timeline.paths.isEmpty { parts.append(sectionTitle("tunnel paths", y: &y)) }
        for (pair, segments) in timeline.paths.sorted(by: { $0.key < $1.key }) {
            let marks = segments.map { segment in
                rect(from: segment.from, to: segment.to, y: y, color: Self.color(of: segment.path),
                     tip: "\(pair): \(segment.path) from \(Nanoseconds.format(segment.from)) to \(Nanoseconds.format(segment.to))")
            }
            parts.append(lane(pair, y: y, content: marks.joined()))
            y += Self.laneHeight
        }
        // Requests of each client: latency on a log scale, failures on top in red.
        let clients = scenario.workloads.filter { workload in
            if case .client = workload.kind { return logs[workload.name] != nil }
            return false
        }
        if !clients.isEmpty { parts.append(sectionTitle("requests (latency, log scale; failures in red on top)", y: &y)) }
        for client in clients {
            let outcomes = logs[client.name]?.outcomes ?? []
            let marks = outcomes.map { outcome -> String in
                let start = runTime(outcome.startedAt)
                let latency = UInt64(max(outcome.latency.nanoseconds, 0))
                let tip = "\(client.name) at \(Nanoseconds.format(start)): "
                    + (outcome.succeeded ? "\(outcome.backend ?? "answered") in \(Nanoseconds.format(latency))" : (outcome.failure ?? "failed"))
                if !outcome.succeeded {
                    return "<rect x=\"\(f(x(start) - 1.5))\" y=\"\(f(y + 3))\" width=\"3\" height=\"6\" fill=\"#c62828\" data-tip=\"\(Self.escape(tip))\"/>"
                }
                // 100 µs at the bottom, 10 s at the top of the lane.
                let decades = max(0, min(5, log10(Double(max(latency, 1)) / 1e5)))
                let cy = y + Self.clientHeight - 4 - decades / 5 * (Self.clientHeight - 16)
                return "<circle cx=\"\(f(x(start)))\" cy=\"\(f(cy))\" r=\"2\" fill=\"#2e7d32\" data-tip=\"\(Self.escape(tip))\"/>"
            }
            let log = logs[client.name]
            let label = "\(client.name) \(log?.succeeded ?? 0)/\(log?.attempted ?? 0)"
            parts.append(lane(label, y: y, height: Self.clientHeight, content: marks.joined()))
            y += Self.clientHeight
        }
        let height = y + 10
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(Self.width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(Self.width)) \(f(height))\">\n"
        svg += axis(height: height)
        svg += parts.joined(separator: "\n")
        if let settled = scenario.settlesAt {
            svg += "<line x1=\"\(f(x(settled)))\" y1=\"14\" x2=\"\(f(x(settled)))\" y2=\"\(f(height - 6))\" stroke=\"#212121\" stroke-dasharray=\"4 3\"/>"
            svg += "<text x=\"\(f(x(settled) + 4))\" y=\"24\">settled, judged from here</text>"
        }
        svg += "</svg>\n<p id=\"tip\" class=\"meta\">Point at a mark for its details.</p>\n"
        return svg
    }

    private func axis(height: Double) -> String {
        let seconds = Double(scenario.duration) / Double(Nanoseconds.second)
        let step = [1.0, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].first { seconds / $0 <= 12 } ?? 7200
        var ticks = ""
        var t = 0.0
        while t <= seconds {
            let position = x(UInt64(t * Double(Nanoseconds.second)))
            ticks += "<line x1=\"\(f(position))\" y1=\"14\" x2=\"\(f(position))\" y2=\"\(f(height - 6))\" stroke=\"#eeeeee\"/>"
            ticks += "<text x=\"\(f(position))\" y=\"10\" text-anchor=\"middle\">\(Nanoseconds.format(UInt64(t * Double(Nanoseconds.second))))</text>"
            t += step
        }
        return ticks
    }

    private func sectionTitle(_ title: String, y: inout Double) -> String {
        defer { y += 16 }
        return "<text x=\"4\" y=\"\(f(y + 12))\" font-weight=\"bold\">\(Self.escape(title))</text>"
    }

    private func lane(_ label: String, y: Double, height: Double = laneHeight, content: String) -> String {
        "<g class=\"lane\"><rect x=\"\(f(Self.labelWidth))\" y=\"\(f(y + 1))\" width=\"\(f(plotWidth))\" height=\"\(f(height - 2))\" fill=\"#fafafa\"/>"
            + "<text x=\"\(f(Self.labelWidth - 6))\" y=\"\(f(y + min(height, Self.laneHeight) - 5))\" text-anchor=\"end\">\(Self.escape(label))</text>\(content)</g>"
    }

    private func rect(from: UInt64, to: UInt64, y: Double, color: String, tip: String) -> String {
        let left = x(from), width = max(1, x(to) - left)
        return "<rect x=\"\(f(left))\" y=\"\(f(y + 2))\" width=\"\(f(width))\" height=\"\(f(Self.laneHeight - 4))\" fill=\"\(color)\" data-tip=\"\(Self.escape(tip))\"/>"
    }

    private func legend() -> String {
        "<p class=\"legend\">" + Self.pathColors.map { "<span><i style=\"background:\($0.color)\"></i>\($0.path)</span>" }.joined()
            + "<span><i style=\"background:#e57373\"></i>fault</span></p>\n"
    }

    /// A label that fits the label column (the full text is the mark's tip).
    static func shortened(_ label: String) -> String {
        label.count <= 34 ? label : String(label.prefix(33)) + "…"
    }

    static func color(of path: String) -> String { pathColors.first { $0.path == path }?.color ?? "#9e9e9e" }

    /// A coordinate with at most one decimal, as SVG reads it.
    private func f(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(sign)\(abs(tenths) / 10).\(abs(tenths) % 10)"
    }

    static func escape(_ text: String) -> String {
        text.escaping(["&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;"])
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
