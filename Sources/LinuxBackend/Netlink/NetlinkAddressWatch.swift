import CNftnl
import Foundation
import Mesh
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Address events from the kernel: a `NETLINK_ROUTE` socket subscribed to IPv4 address
/// changes (`RTMGRP_IPV4_IFADDR`), read on a thread of its own, calls `changed` on the event
/// loop for every `RTM_NEWADDR` or `RTM_DELADDR` batch, as `ip monitor address` sees them. The
/// messages themselves are not parsed: the host reads its interfaces anew.
///
/// Nothing is polled; the thread sleeps in `recv` until the kernel speaks or the watch is
/// cancelled (the socket is shut down, which wakes it).
final class NetlinkAddressWatch: @unchecked Sendable {
    private let socket: Int32

    /// Subscribes, or throws when the kernel refuses a netlink socket (then poll instead).
    init(eventLoop: EventLoop, changed: @escaping @Sendable () -> Void) throws {
        let descriptor = Glibc.socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */)
        guard descriptor >= 0 else { throw NetlinkAddressWatchError(operation: "socket", code: errno) }
        // struct sockaddr_nl: family, padding, port id (0: the kernel picks), groups.
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_groups = 0x10  // RTMGRP_IPV4_IFADDR
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
        }
        guard bound == 0 else {
            let code = errno
            close(descriptor)
            throw NetlinkAddressWatchError(operation: "bind", code: code)
        }
        socket = descriptor
        let thread = Thread { [descriptor] in
            var buffer = [UInt8](repeating: 0, count: 8192)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    eventLoop.execute { changed() }
                } else if count < 0 && (errno == EINTR || errno == ENOBUFS) {
                    // Interrupted, or events overflowed the socket: read on (an overflow still
                    // means something changed).
                    if errno == ENOBUFS { eventLoop.execute { changed() } }
                } else {
                    break  // Shut down: the watch was cancelled.
                }
            }
            close(descriptor)
        }
        thread.name = "edgemesh-netlink"
        thread.start()
    }

    /// Stops the thread; no call of `changed` starts after the socket is shut down.
    func cancel() {
        shutdown(socket, Int32(SHUT_RDWR))
    }
}

struct NetlinkAddressWatchError: Error, CustomStringConvertible {
    let operation: String
    let code: Int32

    var description: String { "netlink address watch: \(operation) failed: \(String(cString: strerror(code)))" }
}
