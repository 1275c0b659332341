import Mesh
import NIOCore

/// A bare simulated UDP socket for traffic generators: background load, keepalive storms,
/// replayed captures. It skips the NIO channel pipeline (a closure per datagram instead), so
/// a scenario can push millions of packets through the network model cheaply. Mesh code uses
/// `Host.bindDatagram` instead.
public final class SimTrafficSocket {
    private unowned(unsafe) let kernel: SimKernel  // the node keeps its kernel for the whole run
    public let local: Endpoint
    private let receiver: Receiver

    /// Called with each datagram that arrives, and who sent it.
    public typealias Handler = (_ payload: ByteBuffer, _ source: Endpoint, _ socket: SimTrafficSocket) -> Void

    init(kernel: SimKernel, local: Endpoint, handler: @escaping Handler) {
        self.kernel = kernel
        self.local = local
        self.receiver = Receiver()
        receiver.socket = self
        receiver.handler = handler
        kernel.bindDatagram(receiver, port: local.port)
    }

    public func send(_ payload: ByteBuffer, to destination: Endpoint) {
        kernel.sendDatagram(from: local, to: destination, payload: payload)
    }

    public func close() {
        kernel.unbindDatagram(receiver, port: local.port)
    }

    private final class Receiver: DatagramReceiver {
        weak var socket: SimTrafficSocket?
        var handler: Handler?

        func receive(_ payload: ByteBuffer, from source: Endpoint, to destination: Endpoint) {
            guard let socket else { return }
            handler?(payload, source, socket)
        }
    }
}

extension SimHost {
    /// Binds a traffic-generator socket on `port` (0 picks one).
    public func openTrafficSocket(port: UInt16, handler: @escaping SimTrafficSocket.Handler) throws -> SimTrafficSocket {
        let local = try kernel.resolveLocal(Endpoint(.any, port), transport: .udp, reuse: false)
        return SimTrafficSocket(kernel: kernel, local: local, handler: handler)
    }
}
