import Mesh
import NIOCore

/// What a TCP connection tells the channel above it. Calls come on the host's loop.
protocol TCPConnectionDelegate: AnyObject {
    func connectionEstablished(_ connection: TCPConnection)
    func connection(_ connection: TCPConnection, received data: ByteBuffer)
    /// The peer will send no more (its FIN arrived, in order).
    func connectionReceivedEndOfStream(_ connection: TCPConnection)
    /// The connection is gone: refused, timed out, or reset.
    func connection(_ connection: TCPConnection, failed error: HostError)
    /// Room opened in the send buffer.
    func connectionCanSend(_ connection: TCPConnection)
}
