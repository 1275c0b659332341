import CNftnl
import Glibc

/// An open, bound libmnl netlink socket on one bus, with the port id replies are addressed to
/// and a sequence counter: what the netfilter (nftables) and route (links, addresses) sockets
/// share. It belongs to the network namespace of the thread that opened it. Not thread-safe.
final class MNLSocket {
    struct OpenError: Error {
        var operation: String
        var errno: Int32
    }

    let pointer: OpaquePointer
    let portID: UInt32
    /// The next sequence number to put in a message; replies carry the number of the message
    /// they answer. Any start works: one that differs per socket keeps replies meant for a
    /// previous socket (same port id reused) from looking like ours.
    var nextSequence = UInt32(truncatingIfNeeded: time(nil))

    /// `busName` names the bus in errors ("netfilter", "route").
    init(bus: Int32, busName: String) throws(OpenError) {
        guard let socket = mnl_socket_open(bus) else {
            throw OpenError(operation: "open a \(busName) netlink socket", errno: errno)
        }
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let code = errno
            mnl_socket_close(socket)
            throw OpenError(operation: "bind the \(busName) netlink socket", errno: code)
        }
        pointer = socket
        portID = mnl_socket_get_portid(socket)
    }

    var descriptor: Int32 { mnl_socket_get_fd(pointer) }

    deinit {
        mnl_socket_close(pointer)
    }
}
