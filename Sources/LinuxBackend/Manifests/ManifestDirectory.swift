import NIOCore

/// The manifest files of `edgemesh agent --manifests DIR`: every `*.yaml`, `*.yml` and `*.json`
/// file directly in the directory, read whole, and watched for changes.
///
/// The mesh only parses (Mesh/Discovery's ManifestSet); reading and watching files is the Linux
/// side's job. Watching polls modification times and sizes on the host's event loop: portable,
/// cheap for a handful of files, and it notices edits made by `kubectl`-style tools that
/// replace a file by renaming (which inotify on the file itself would miss).
public final class ManifestDirectory: @unchecked Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// What a scan found: file name → contents, and file name → why it could not be read.
    public struct Contents: Equatable, Sendable {
        public var files: [String: String]
        public var unreadable: [String: String]

        /// File names in order, so what is built from them does not depend on hashing.
        public var sortedNames: [String] { files.keys.sorted() }
    }

    /// Reads every manifest file now. Throws only when the directory itself cannot be listed.
    public func read() throws -> Contents {
        var contents = Contents(files: [:], unreadable: [:])
        for name in try manifestNames() {
            do {
                guard let bytes = try PosixFile.contents("\(path)/\(name)") else {
                    contents.unreadable[name] = "removed while the directory was read"
                    continue
                }
                guard let text = String(validating: bytes.readableBytesView, as: UTF8.self) else {
                    contents.unreadable[name] = "not UTF-8 text"
                    continue
                }
                contents.files[name] = text
            } catch {
                contents.unreadable[name] = "\(error)"
            }
        }
        return contents
    }

    /// Calls `onChange` on `eventLoop` with the new contents whenever a file is added, removed or
    /// modified, checking every `interval`. Cancel the returned task to stop watching.
    public func watch(
        on eventLoop: EventLoop, every interval: TimeAmount = .seconds(1),
        onChange: @escaping @Sendable (Result<Contents, Error>) -> Void
    ) -> RepeatedTask {
        // The starting point is taken now, when the caller has just read the files, so a change
        // made before the first check is still seen as a change.
        let state = NIOLoopBoundBox.makeBoxSendingValue(try? currentStamps(), eventLoop: eventLoop)
        return eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            do {
                let stamps = try currentStamps()
                guard stamps != state.value else { return }
                state.value = stamps
                onChange(.success(try read()))
            } catch {
                onChange(.failure(error))
            }
        }
    }

    private struct FileStamp: Equatable {
        /// Nanoseconds since the epoch; 0 when the file could not be examined.
        var modified: Int64
        var size: Int64
    }

    private func manifestNames() throws -> [String] {
        try PosixFile.names(in: path)
            .filter { name in
                !name.hasPrefix(".") && [".yaml", ".yml", ".json"].contains { name.hasSuffix($0) }
            }
            .sorted()
    }

    private func currentStamps() throws -> [String: FileStamp] {
        var stamps: [String: FileStamp] = [:]
        for name in try manifestNames() {
            let stamp = PosixFile.stamp("\(path)/\(name)")
            stamps[name] = FileStamp(modified: stamp?.modified ?? 0, size: stamp?.size ?? 0)
        }
        return stamps
    }
}
