#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A system call on a file or directory that failed: which call, on which path, and the
/// system's reason.
struct FileIOError: Error, CustomStringConvertible {
    let operation: String
    let path: String
    let code: CInt

    var description: String {
        "\(operation) \(path) failed: \(String(cString: strerror(code))) (errno \(code))"
    }
}
