import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Blocking whole-file reads and directory listings through the C library.
///
/// Used instead of Foundation's `FileManager` and `String(contentsOfFile:)` so the agent's
/// steady state (a manifest directory polled every second) keeps Foundation's file and
/// property-list machinery out of its resident memory.
enum PosixFile {
    /// The whole file, or nil when it does not exist.
    static func contents(_ path: String) throws -> ByteBuffer? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw FileIOError(operation: "open", path: path, code: code)
        }
        defer { close(fd) }
        var buffer = ByteBufferAllocator().buffer(capacity: 64 * 1024)
        while true {
            let count = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 64 * 1024) { bytes in
                while true {
                    let count = read(fd, bytes.baseAddress, bytes.count)
                    if count >= 0 { return count }
                    let code = errno
                    if code != EINTR { throw FileIOError(operation: "read", path: path, code: code) }
                }
            }
            if count == 0 { return buffer }
        }
    }

    /// The names in a directory, `.` and `..` left out, in no particular order.
    static func names(in directory: String) throws -> [String] {
        guard let stream = opendir(directory) else { throw FileIOError(operation: "opendir", path: directory, code: errno) }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Modification time (nanoseconds since the epoch) and size, or nil when `path` cannot be
    /// examined (it was removed meanwhile, say).
    static func stamp(_ path: String) -> (modified: Int64, size: Int64)? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return (Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec), Int64(status.st_size))
    }
}
