import Foundation

/// Runs the system tools a lab is built with (`ip`, `nft`, `tc`, `conntrack`), one command at a
/// time, and fails with the tool's own words when it does.
enum LabShell {
    /// Runs `arguments` (the tool first, found on PATH) with `input` on standard input; returns
    /// standard output. Throws `LabError` with standard error when the exit status is not 0.
    @discardableResult
    static func run(_ arguments: [String], input: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let inputPipe = input.map { _ in Pipe() }
        process.standardInput = inputPipe ?? FileHandle.nullDevice
        try process.run()
        if let inputPipe, let input {
            inputPipe.fileHandleForWriting.write(Data(input.utf8))
            try inputPipe.fileHandleForWriting.close()
        }
        // Read both before waiting: a tool that fills a pipe would otherwise never exit.
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw LabError("\(arguments.joined(separator: " ")): \(message.isEmpty ? "exit \(process.terminationStatus)" : message)")
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `tool` is on PATH.
    static func has(_ tool: String) -> Bool {
        (try? run(["sh", "-c", "command -v \(tool)"])) != nil
    }

    /// Runs `arguments` inside a network namespace (`ip netns exec`).
    @discardableResult
    static func run(_ arguments: [String], input: String? = nil, in namespace: String) throws -> String {
        try run(["ip", "netns", "exec", namespace] + arguments, input: input)
    }
}
