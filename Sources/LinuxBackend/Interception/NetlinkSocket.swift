import CNftnl
import Glibc

/// A netfilter netlink socket (libmnl) with its own sequence numbers.
///
/// A socket belongs to the network namespace of the thread that opened it, for its whole life:
/// whoever creates the socket picks the namespace, later calls may come from any thread.
/// Not thread-safe; `NftablesInterception` serialises all use.
final class NetlinkSocket {
    private let mnl: MNLSocket
    private var socket: OpaquePointer { mnl.pointer }
    var portID: UInt32 { mnl.portID }
    /// The next sequence number to put in a message. Replies carry the number of the message
    /// they answer, which is how acknowledgements are matched to objects.
    var nextSequence: UInt32 {
        get { mnl.nextSequence }
        set { mnl.nextSequence = newValue }
    }

    init() throws(NftablesError) {
        do {
            mnl = try MNLSocket(bus: NETLINK_NETFILTER, busName: "netfilter")
        } catch {
            throw .socketFailure(operation: error.operation, errno: error.errno)
        }
    }

    private var descriptor: Int32 { mnl.descriptor }

    /// Sends one datagram: the kernel processes a whole nfnetlink batch inside this call.
    func send(_ bytes: [UInt8], operation: String) throws(NftablesError) {
        // A batch must travel as one datagram; large rule sets outgrow the default send buffer.
        try growBuffer(SO_SNDBUFFORCE, SO_SNDBUF, to: bytes.count)
        let sent = bytes.withUnsafeBytes { mnl_socket_sendto(socket, $0.baseAddress, $0.count) }
        if sent < 0 {
            throw .socketFailure(operation: "send \(operation)", errno: errno)
        }
        if sent != bytes.count {
            throw .socketFailure(operation: "send \(operation) (short write)", errno: EMSGSIZE)
        }
    }

    /// Makes room for `bytes` of replies (one acknowledgement per message of a large batch).
    func reserveReceiveSpace(_ bytes: Int) throws(NftablesError) {
        try growBuffer(SO_RCVBUFFORCE, SO_RCVBUF, to: bytes)
    }

    /// Receives one datagram into `buffer`, waiting at most `timeoutMilliseconds`.
    /// Returns the byte count, or `nil` when nothing arrived in time.
    func receive(into buffer: inout [UInt8], timeoutMilliseconds: Int32,
                 operation: String) throws(NftablesError) -> Int? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&poller, 1, timeoutMilliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                throw .socketFailure(operation: "wait for the answer to \(operation)", errno: errno)
            }
            if ready == 0 { return nil }
            let count = buffer.withUnsafeMutableBytes { mnl_socket_recvfrom(socket, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .socketFailure(operation: "receive the answer to \(operation)", errno: errno)
            }
            return count
        }
    }

    /// Throws away replies left over from an operation that failed half-way, so they cannot be
    /// mistaken for answers to the next one.
    func discardPendingReplies() {
        var scratch = [UInt8](repeating: 0, count: 4096)
        let fd = descriptor
        scratch.withUnsafeMutableBytes { buffer in
            while recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT)) >= 0 {}
        }
    }

    private func growBuffer(_ forceOption: Int32, _ option: Int32, to wanted: Int) throws(NftablesError) {
        var current: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        // The kernel reports twice the size that was set (bookkeeping overhead), so compare halves.
        if getsockopt(descriptor, SOL_SOCKET, option, &current, &length) == 0, Int(current) / 2 >= wanted {
            return
        }
        var size = Int32(clamping: wanted)
        if setsockopt(descriptor, SOL_SOCKET, forceOption, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            // Without CAP_NET_ADMIN only the capped, unforced option works; try it before giving up.
            if setsockopt(descriptor, SOL_SOCKET, option, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
                throw .socketFailure(operation: "size the netlink socket buffer to \(wanted) bytes", errno: errno)
            }
        }
    }
}
