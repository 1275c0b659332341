import Foundation
import Testing

/// `edgemesh sim FILE --report OUT.html`: one self-contained page, opened in headless Chromium
/// as a person would open it: it renders the timeline, runs its script, logs no error.
@Suite struct ReportCommandTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func browse(_ arguments: [String]) throws -> (output: String, errors: String) {
        let run = try EdgemeshProcess.run(
            executable: URL(fileURLWithPath: chromium!),
            ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"] + arguments)
        return (run.output, run.errors)
    }

    @Test(.enabled(if: chromium != nil, "needs Chromium (Debian's chromium; scripts/install-deps installs it)"))
    func theReportOfAChaosRunOpensOfflineAndShowsTheTimeline() throws {
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let page = directory.appendingPathComponent("run.html")
        let run = try EdgemeshProcess.run(["sim", "Scenarios/quickstart.yaml", "--seed", "3", "--chaos", "medium", "--report", page.path])
        #expect(run.status == 0 && run.output.contains("report in \(page.path)"), "\(run.output)")
        let html = try String(contentsOf: page, encoding: .utf8)
        // Self-contained: nothing to fetch (the SVG namespace is a name, not a fetch).
        #expect(!html.contains("src=") && !html.contains("<link") && !html.contains("@import"))
        #expect(html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").range(of: "https?://", options: .regularExpression) == nil)

        // The script ran (it counts the lanes into the title) and nothing went to the console.
        let dom = try Self.browse(["--dump-dom", page.absoluteString])
        // 5 drawn faults, 12 ordered pairs of the 4 agents' tunnels, 4 clients.
        #expect(dom.output.contains("<title>edgemesh run: quickstart seed 3 (21 lanes)</title>"), "\(dom.output.prefix(400))")
        let console = dom.errors.split(separator: "\n").filter { $0.contains(":CONSOLE") }
        #expect(console.isEmpty, "\(console)")

        // The screenshot shows the timeline: hole-punched (blue) and direct (green) tunnel
        // paths, the faults shaded (red), a relayed stretch (orange).
        let screenshot = directory.appendingPathComponent("run.png")
        _ = try Self.browse(["--window-size=1280,1400", "--screenshot=\(screenshot.path)", page.absoluteString])
        let colours = try EdgemeshProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/python3"),
            ["Tests/EdgemeshCLITests/Fixtures/png_colors.py", screenshot.path, "1565c0", "2e7d32", "e57373", "ef6c00"])
        let counts = Dictionary(uniqueKeysWithValues: colours.output.split(separator: "\n").dropFirst().map { line in
            let parts = line.split(separator: " ")
            return (String(parts[0]), Int(parts[1]) ?? 0)
        })
        #expect(colours.output.hasPrefix("1280 1400"), "\(colours.output)\(colours.errors)")
        #expect((counts["1565c0"] ?? 0) > 10_000 && (counts["2e7d32"] ?? 0) > 10_000, "\(counts)")
        #expect((counts["e57373"] ?? 0) > 500 && (counts["ef6c00"] ?? 0) > 50, "\(counts)")
    }
}
