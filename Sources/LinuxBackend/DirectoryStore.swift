import Mesh
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `DurableStore` that keeps one file per key in a directory.
///
/// File I/O blocks, so it runs on a thread pool; results are delivered on `eventLoop`, the
/// host's loop. Saves write a temporary file in the same directory, fsync it and rename it over
/// the key's file, so a reader (or a crash) sees the old value or the new one, never a mix.
public final class DirectoryStore: DurableStore {
    public let directory: String
    private let eventLoop: EventLoop
    private let threadPool: NIOThreadPool

    /// The directory (and its parents) is created on the first save, so constructing a store
    /// does no I/O.
    public init(directory: String, eventLoop: EventLoop, threadPool: NIOThreadPool = .singleton) {
        self.directory = directory
        self.eventLoop = eventLoop
        self.threadPool = threadPool
    }

    public func load(_ key: String) -> EventLoopFuture<ByteBuffer?> {
        perform(key) { path in try PosixFile.contents(path) }
    }

    public func save(_ key: String, _ value: ByteBuffer) -> EventLoopFuture<Void> {
        let directory = self.directory
        return perform(key) { path in
            try Self.makeDirectories(directory)
            // "~" never appears in a valid key, so a temporary file cannot shadow one.
            let temporary = path + "~" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            do {
                try Self.writeFile(value, to: temporary)
                try Self.check(rename(temporary, path), "rename", temporary)
            } catch {
                unlink(temporary)
                throw error
            }
            // The rename is durable only once the directory entry is.
            try Self.syncDirectory(directory)
        }
    }

    public func remove(_ key: String) -> EventLoopFuture<Void> {
        let directory = self.directory
        return perform(key) { path in
            if unlink(path) != 0 {
                let code = errno
                if code == ENOENT { return }
                throw FileIOError(operation: "unlink", path: path, code: code)
            }
            try Self.syncDirectory(directory)
        }
    }

    /// Validates `key`, runs `body` with the key's path on the thread pool and delivers the
    /// result on the host's loop, every failure as `HostError.storeFailure`.
    private func perform<T: Sendable>(
        _ key: String,
        _ body: @escaping @Sendable (String) throws -> T
    ) -> EventLoopFuture<T> {
        guard Self.isValidKey(key) else {
            return eventLoop.makeFailedFuture(
                HostError.storeFailure(
                    key: key,
                    reason: "invalid key: use 1 to 128 letters, digits, '-', '_' or '.', and not '.' or '..'"
                )
            )
        }
        let path = directory + "/" + key
        return threadPool.runIfActive(eventLoop: eventLoop) {
            try body(path)
        }.flatMapErrorThrowing { error in
            if let error = error as? HostError { throw error }
            throw HostError.storeFailure(key: key, reason: "\(error)")
        }
    }

    // MARK: Blocking file operations (thread pool only)

    private static func writeFile(_ value: ByteBuffer, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 { throw FileIOError(operation: "open", path: path, code: errno) }
        var closed = false
        defer { if !closed { close(fd) } }
        try value.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let count = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    throw FileIOError(operation: "write", path: path, code: code)
                }
                offset += count
            }
        }
        try check(fsync(fd), "fsync", path)
        closed = true
        try check(close(fd), "close", path)
    }

    /// `mkdir -p`; the store's own directory is made (or, when it exists, set) 0700: the
    /// snapshot can hold a gateway's certificates.
    private static func makeDirectories(_ directory: String) throws {
        var path = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o755) != 0 {
                let code = errno
                if code != EEXIST { throw FileIOError(operation: "mkdir", path: path, code: code) }
            }
        }
        try check(chmod(directory, 0o700), "chmod", directory)
    }

    private static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw FileIOError(operation: "open", path: directory, code: errno) }
        defer { close(fd) }
        try check(fsync(fd), "fsync", directory)
    }

    private static func check(_ result: CInt, _ operation: String, _ path: String) throws {
        if result != 0 { throw FileIOError(operation: operation, path: path, code: errno) }
    }
}
