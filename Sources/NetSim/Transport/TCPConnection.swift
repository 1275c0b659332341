import Mesh
import NIOCore

/// One simulated TCP connection: the part of a kernel's TCP that matters to a mesh.
///
/// It does the handshake (including simultaneous open, which TCP hole punching needs),
/// cumulative acknowledgement with out-of-order buffering, RFC 6298 retransmission timeouts
/// with backoff, fast retransmit after three duplicate ACKs, slow start and congestion
/// avoidance, receive windows that push back on a sender whose reader is slow, zero-window
/// probes, FIN half-close, RST, and a user timeout that resets a connection whose data goes
/// unacknowledged through a long outage. It leaves out what a simulation does not need:
/// SACK, delayed ACKs, Nagle, urgent data, TIME_WAIT.
///
/// Internally bytes are numbered by 64-bit stream offsets; 32-bit sequence numbers exist only
/// on the wire.
/// Sendable only in name: it lives on the simulation thread, as the whole simulator does.
final class TCPConnection: @unchecked Sendable {
    enum State {
        case synSent
        case synReceived
        case established
        case closed
    }

    private enum FINState {
        case none
        case queued
        case sent(offset: UInt64)
        case acknowledged
    }

    private struct Segment {
        var offset: UInt64
        var data: ByteBuffer
        var sentAt: UInt64
        var retransmitted: Bool
    }

    unowned(unsafe) let kernel: SimKernel  // the kernel owns its connections
    let key: ConnectionKey
    private let options: TCPOptions
    private(set) var state: State
    weak var delegate: TCPConnectionDelegate? {
        didSet { handOverBufferedData() }
    }
    /// The listener to tell when a passive open completes.
    weak var acceptor: TCPAcceptor?

    // Send side.
    private let initialSendSequence: UInt32
    private var sendUnacknowledged: UInt64 = 0
    private var sendNext: UInt64 = 0
    private var unsent = CircularBuffer<ByteBuffer>()
    private(set) var unsentBytes = 0
    private var inflight = CircularBuffer<Segment>()
    private var fin = FINState.none
    private var peerWindow: UInt64 = 65535
    private var congestionWindow: UInt64
    private var slowStartThreshold: UInt64 = .max
    private var smoothedRTT: UInt64?
    private var rttVariance: UInt64 = 0
    private var retransmissionTimeout: UInt64
    private var duplicateAcks = 0
    /// While recovering from a loss: the send offset at the time it was detected. ACKs below it
    /// reveal the next hole, which is resent at once (NewReno's partial acknowledgement).
    private var recoveryPoint: UInt64?
    private var outstandingSince: UInt64?
    private var handshakeAttempts = 0
    private let openedAt: UInt64
    private var timerDeadline: UInt64?
    private var timerTaskDeadline: UInt64?

    // Receive side.
    private var initialReceiveSequence: UInt32 = 0
    private var receiveNext: UInt64 = 0
    private var outOfOrder: [(offset: UInt64, data: ByteBuffer)] = []
    private var outOfOrderBytes = 0
    private var peerFINOffset: UInt64?
    private(set) var receivedEndOfStream = false
    private var unreadBytes = 0
    private var heldForDelegate = CircularBuffer<ByteBuffer>()
    private var heldEndOfStream = false
    private var lastAdvertisedWindow: UInt64 = 0
    private(set) var applicationClosed = false

    private var mss: Int { options.maximumSegmentSize }

    /// An active open: sends the SYN at once.
    init(activeOpen key: ConnectionKey, kernel: SimKernel, options: TCPOptions, initialSequence: UInt32) {
        self.key = key
        self.kernel = kernel
        self.options = options
        self.initialSendSequence = initialSequence
        self.state = .synSent
        self.openedAt = kernel.now
        self.congestionWindow = UInt64(options.initialWindowSegments * options.maximumSegmentSize)
        self.retransmissionTimeout = options.initialRTO
        sendControl([.syn], sequence: initialSequence, acknowledgment: 0)
        armTimer(at: kernel.now + retransmissionTimeout)
    }

    /// A passive open: a SYN arrived at a listener; answers with SYN-ACK.
    init(passiveOpen key: ConnectionKey, kernel: SimKernel, options: TCPOptions, initialSequence: UInt32, peerSequence: UInt32) {
        self.key = key
        self.kernel = kernel
        self.options = options
        self.initialSendSequence = initialSequence
        self.initialReceiveSequence = peerSequence
        self.state = .synReceived
        self.openedAt = kernel.now
        self.congestionWindow = UInt64(options.initialWindowSegments * options.maximumSegmentSize)
        self.retransmissionTimeout = options.initialRTO
        sendControl([.syn, .ack], sequence: initialSequence, acknowledgment: acknowledgmentNumber)
        armTimer(at: kernel.now + retransmissionTimeout)
    }

    // MARK: Application side

    /// Bytes the application may still hand over before the send buffer is full.
    var sendSpace: Int {
        max(0, options.sendBuffer - unsentBytes - Int(sendNext - sendUnacknowledged))
    }

    /// Queues bytes for sending. The caller respects `sendSpace`.
    func enqueue(_ data: ByteBuffer) {
        guard data.readableBytes > 0, case .none = fin else { return }
        unsent.append(data)
        unsentBytes += data.readableBytes
        pump()
    }

    /// The application read `count` bytes that were handed to it: the window may reopen.
    func consumed(_ count: Int) {
        unreadBytes -= count
        let window = receiveWindow
        if state == .established, lastAdvertisedWindow < UInt64(2 * mss), window >= UInt64(options.receiveBuffer / 2) {
            sendAck()
        }
    }

    /// No more data from us: FIN after what is queued.
    func shutdownOutput() {
        if case .none = fin { fin = .queued }
        pump()
    }

    /// The application is done with the connection: FIN, then linger until the peer's FIN.
    func close() {
        applicationClosed = true
        delegate = nil
        shutdownOutput()
        finishIfDone()
    }

    /// Tears the connection down at once with a RST.
    func abort() {
        guard state != .closed else { return }
        sendControl([.rst, .ack], sequence: sequenceNumber(forOffset: sendNext), acknowledgment: acknowledgmentNumber)
        terminate()
    }

    // MARK: Network side

    func receive(_ header: TCPHeader, payload: ByteBuffer) {
        let flags = header.flags
        if flags.contains(.rst) {
            fail(state == .synSent ? .connectionRefused(kernel.socketAddress(key.remote)) : .connectionReset)
            return
        }
        switch state {
        case .closed:
            return
        case .synSent:
            if flags.contains(.syn) && flags.contains(.ack) {
                guard header.acknowledgment == initialSendSequence &+ 1 else {
                    sendControl([.rst], sequence: header.acknowledgment, acknowledgment: 0)
                    return
                }
                initialReceiveSequence = header.sequence
                becomeEstablished(window: header.window)
                sendAck()
            } else if flags.contains(.syn) {
                // Simultaneous open: both sides sent a SYN; answer theirs with SYN-ACK.
                initialReceiveSequence = header.sequence
                state = .synReceived
                sendControl([.syn, .ack], sequence: initialSendSequence, acknowledgment: acknowledgmentNumber)
            }
            return
        case .synReceived:
            if flags.contains(.syn) && !flags.contains(.ack) {
                sendControl([.syn, .ack], sequence: initialSendSequence, acknowledgment: acknowledgmentNumber)
                return
            }
            guard flags.contains(.ack), header.acknowledgment == initialSendSequence &+ 1 else { return }
            if flags.contains(.syn) { sendAck() }
            becomeEstablished(window: header.window)
            if payload.readableBytes == 0 && !flags.contains(.fin) { return }
        case .established:
            if flags.contains(.syn) {
                // A retransmitted SYN-ACK: our ACK was lost.
                sendAck()
                return
            }
        }
        if flags.contains(.ack) { processAcknowledgment(header, hasPayload: payload.readableBytes > 0) }
        guard state == .established else { return }
        if payload.readableBytes > 0 || flags.contains(.fin) {
            processData(sequence: header.sequence, payload: payload, fin: flags.contains(.fin))
        }
        finishIfDone()
    }

    private func becomeEstablished(window: UInt32) {
        // Karn: a handshake that needed a retransmission gives no RTT sample.
        if handshakeAttempts == 0 { sampleRTT(kernel.now - openedAt) }
        state = .established
        peerWindow = UInt64(window)
        timerDeadline = nil
        handshakeAttempts = 0
        if let acceptor {
            acceptor.accept(self)
        } else {
            delegate?.connectionEstablished(self)
        }
        pump()
    }

    private func processAcknowledgment(_ header: TCPHeader, hasPayload: Bool) {
        let acknowledged = unwrap(header.acknowledgment &- initialSendSequence &- 1, near: sendUnacknowledged)
        let previousWindow = peerWindow
        peerWindow = UInt64(header.window)
        let dataEnd = sendNext
        if acknowledged > Int64(sendUnacknowledged) {
            let ackedData = min(UInt64(acknowledged), dataEnd)
            // Karn's rule over the whole acknowledgment, as Linux applies it without timestamps:
            // an ACK that covers a retransmitted segment gives no sample, since segments sent
            // after the hole were held until the retransmission filled it; their "round trip"
            // is the recovery time (30 s in a chaos run) and would inflate the timeout for good.
            var newestSample: UInt64?
            var coversRetransmission = false
            while let first = inflight.first, first.offset + UInt64(first.data.readableBytes) <= ackedData {
                if first.retransmitted { coversRetransmission = true } else { newestSample = kernel.now - first.sentAt }
                inflight.removeFirst()
            }
            if let first = inflight.first, first.offset < ackedData, first.retransmitted { coversRetransmission = true }
            if coversRetransmission { newestSample = nil }
            if var first = inflight.first, first.offset < ackedData {
                first.data.moveReaderIndex(forwardBy: Int(ackedData - first.offset))
                first.offset = ackedData
                inflight[inflight.startIndex] = first
            }
            let newlyAcked = ackedData - sendUnacknowledged
            sendUnacknowledged = ackedData
            if case .sent(let finOffset) = fin, acknowledged >= Int64(finOffset) + 1 { fin = .acknowledged }
            if let newestSample { sampleRTT(newestSample) } else { resetBackoff() }
            growCongestionWindow(by: newlyAcked)
            duplicateAcks = 0
            if let point = recoveryPoint {
                if ackedData < point, !inflight.isEmpty {
                    resendOldest()
                } else {
                    recoveryPoint = nil
                }
            }
            outstandingSince = hasOutstanding ? kernel.now : nil
            if hasOutstanding {
                armTimer(at: kernel.now + retransmissionTimeout)
            } else {
                timerDeadline = nil
            }
            if newlyAcked > 0 { delegate?.connectionCanSend(self) }
        } else if acknowledged == Int64(sendUnacknowledged), !hasPayload, !inflight.isEmpty, recoveryPoint == nil {
            // The receiver's window shrinks as out-of-order data piles up, so unlike RFC 5681
            // a changed window does not disqualify a duplicate ACK here.
            _ = previousWindow
            duplicateAcks += 1
            if duplicateAcks == 3 { fastRetransmit() }
        }
        pump()
    }

    private func processData(sequence: UInt32, payload: ByteBuffer, fin finFlag: Bool) {
        let offset = unwrap(sequence &- initialReceiveSequence &- 1, near: receiveNext)
        var data = payload
        let end = offset + Int64(data.readableBytes)
        if data.readableBytes > 0 && !receivedEndOfStream {
            if end <= Int64(receiveNext) {
                // A retransmission of what we have: just acknowledge again.
            } else if offset <= Int64(receiveNext) {
                data.moveReaderIndex(forwardBy: Int(Int64(receiveNext) - offset))
                deliver(data)
                drainOutOfOrder()
            } else {
                storeOutOfOrder(offset: UInt64(offset), data: data)
            }
        }
        if finFlag, end >= 0 { peerFINOffset = UInt64(end) }
        if let finOffset = peerFINOffset, finOffset == receiveNext, !receivedEndOfStream {
            receivedEndOfStream = true
            if let delegate {
                delegate.connectionReceivedEndOfStream(self)
            } else {
                heldEndOfStream = true
            }
        }
        sendAck()
    }

    private func deliver(_ data: ByteBuffer) {
        receiveNext += UInt64(data.readableBytes)
        guard !applicationClosed else { return }
        unreadBytes += data.readableBytes
        if let delegate {
            delegate.connection(self, received: data)
        } else {
            heldForDelegate.append(data)
        }
    }

    private func storeOutOfOrder(offset: UInt64, data: ByteBuffer) {
        guard !outOfOrder.contains(where: { $0.offset == offset }) else { return }
        let index = outOfOrder.firstIndex { $0.offset > offset } ?? outOfOrder.endIndex
        outOfOrder.insert((offset, data), at: index)
        outOfOrderBytes += data.readableBytes
    }

    private func drainOutOfOrder() {
        while let first = outOfOrder.first, first.offset <= receiveNext {
            outOfOrder.removeFirst()
            outOfOrderBytes -= first.data.readableBytes
            let end = first.offset + UInt64(first.data.readableBytes)
            guard end > receiveNext else { continue }
            var data = first.data
            data.moveReaderIndex(forwardBy: Int(receiveNext - first.offset))
            deliver(data)
        }
    }

    private func handOverBufferedData() {
        guard let delegate else { return }
        while let data = heldForDelegate.popFirst() {
            delegate.connection(self, received: data)
        }
        if heldEndOfStream {
            heldEndOfStream = false
            delegate.connectionReceivedEndOfStream(self)
        }
    }

    // MARK: Sending

    private var hasOutstanding: Bool {
        if !inflight.isEmpty { return true }
        if case .sent = fin { return true }
        return false
    }

    /// Sends what the windows allow.
    private func pump() {
        guard state == .established else { return }
        while true {
            let inFlight = sendNext - sendUnacknowledged
            let window = min(congestionWindow, peerWindow)
            guard var front = unsent.first else {
                if case .queued = fin {
                    fin = .sent(offset: sendNext)
                    if outstandingSince == nil { outstandingSince = kernel.now }
                    sendControl([.fin, .ack], sequence: sequenceNumber(forOffset: sendNext), acknowledgment: acknowledgmentNumber)
                    if timerDeadline == nil { armTimer(at: kernel.now + retransmissionTimeout) }
                }
                return
            }
            guard inFlight < window else {
                if peerWindow == 0 && inflight.isEmpty && timerDeadline == nil {
                    armTimer(at: kernel.now + retransmissionTimeout)
                }
                return
            }
            let size = min(mss, Int(window - inFlight), front.readableBytes)
            let chunk = front.readSlice(length: size)!
            if front.readableBytes == 0 {
                unsent.removeFirst()
            } else {
                unsent[unsent.startIndex] = front
            }
            unsentBytes -= size
            transmitSegment(offset: sendNext, data: chunk)
        }
    }

    private func transmitSegment(offset: UInt64, data: ByteBuffer) {
        if !hasOutstanding { outstandingSince = kernel.now }
        inflight.append(Segment(offset: offset, data: data, sentAt: kernel.now, retransmitted: false))
        sendNext = offset + UInt64(data.readableBytes)
        send(flags: [.ack, .psh], offset: offset, payload: data)
        if timerDeadline == nil { armTimer(at: kernel.now + retransmissionTimeout) }
    }

    private func fastRetransmit() {
        guard !inflight.isEmpty else { return }
        let inFlight = sendNext - sendUnacknowledged
        slowStartThreshold = max(inFlight / 2, UInt64(2 * mss))
        congestionWindow = slowStartThreshold
        recoveryPoint = sendNext
        resendOldest()
    }

    /// Sends the oldest unacknowledged segment again.
    private func resendOldest() {
        guard var segment = inflight.first else { return }
        segment.retransmitted = true
        inflight[inflight.startIndex] = segment
        send(flags: [.ack, .psh], offset: segment.offset, payload: segment.data)
    }

    private func send(flags: TCPFlags, offset: UInt64, payload: ByteBuffer) {
        let header = TCPHeader(
            flags: flags, sequence: sequenceNumber(forOffset: offset), acknowledgment: acknowledgmentNumber,
            window: UInt32(receiveWindow))
        lastAdvertisedWindow = receiveWindow
        kernel.transmitTCP(from: key.local, to: key.remote, header: header, payload: payload)
    }

    private func sendAck() {
        send(flags: [.ack], offset: sendNext, payload: kernel.emptyBuffer)
    }

    private func sendControl(_ flags: TCPFlags, sequence: UInt32, acknowledgment: UInt32) {
        let header = TCPHeader(flags: flags, sequence: sequence, acknowledgment: acknowledgment, window: UInt32(receiveWindow))
        kernel.transmitTCP(from: key.local, to: key.remote, header: header, payload: kernel.emptyBuffer)
    }

    private var receiveWindow: UInt64 {
        UInt64(max(0, options.receiveBuffer - unreadBytes - outOfOrderBytes))
    }

    private var acknowledgmentNumber: UInt32 {
        initialReceiveSequence &+ 1 &+ UInt32(truncatingIfNeeded: receiveNext) &+ (receivedEndOfStream ? 1 : 0)
    }

    private func sequenceNumber(forOffset offset: UInt64) -> UInt32 {
        initialSendSequence &+ 1 &+ UInt32(truncatingIfNeeded: offset)
    }

    /// The stream offset closest to `reference` whose low 32 bits are `wire`.
    private func unwrap(_ wire: UInt32, near reference: UInt64) -> Int64 {
        let difference = Int32(bitPattern: wire &- UInt32(truncatingIfNeeded: reference))
        return Int64(reference) + Int64(difference)
    }

    // MARK: Timers and congestion

    private func sampleRTT(_ sample: UInt64) {
        if let smoothed = smoothedRTT {
            let delta = smoothed > sample ? smoothed - sample : sample - smoothed
            rttVariance = (3 * rttVariance + delta) / 4
            smoothedRTT = (7 * smoothed + sample) / 8
        } else {
            smoothedRTT = sample
            rttVariance = sample / 2
        }
        retransmissionTimeout = min(max(smoothedRTT! + 4 * rttVariance, options.minimumRTO), options.maximumRTO)
    }

    private func growCongestionWindow(by acked: UInt64) {
        if congestionWindow < slowStartThreshold {
            congestionWindow += acked
        } else {
            congestionWindow += max(1, UInt64(mss * mss) / congestionWindow)
        }
    }

    /// One timer per connection; re-arming only moves the deadline, and the scheduled task
    /// re-schedules itself if it fires early, so an ACK costs no allocation.
    private func armTimer(at deadline: UInt64) {
        timerDeadline = deadline
        if let pending = timerTaskDeadline, pending <= deadline { return }
        timerTaskDeadline = deadline
        kernel.schedule(at: deadline) { [weak self] in self?.timerTaskFired() }
    }

    private func timerTaskFired() {
        timerTaskDeadline = nil
        guard state != .closed, let deadline = timerDeadline else { return }
        if kernel.now < deadline {
            timerTaskDeadline = deadline
            kernel.schedule(at: deadline) { [weak self] in self?.timerTaskFired() }
            return
        }
        timerDeadline = nil
        timerExpired()
    }

    private func timerExpired() {
        switch state {
        case .closed:
            return
        case .synSent, .synReceived:
            handshakeAttempts += 1
            guard handshakeAttempts <= 6 else {
                fail(.connectTimeout(kernel.socketAddress(key.remote)))
                return
            }
            backOff()
            let flags: TCPFlags = state == .synSent ? [.syn] : [.syn, .ack]
            sendControl(flags, sequence: initialSendSequence, acknowledgment: state == .synSent ? 0 : acknowledgmentNumber)
            armTimer(at: kernel.now + retransmissionTimeout)
        case .established:
            if hasOutstanding {
                if let since = outstandingSince, kernel.now - since >= options.userTimeout {
                    abortAfterTimeout()
                    return
                }
                retransmitOldest()
                armTimer(at: kernel.now + retransmissionTimeout)
            } else if peerWindow == 0, var front = unsent.first {
                // Zero-window probe: one byte, so the peer answers with its current window.
                let probe = front.readSlice(length: 1)!
                if front.readableBytes == 0 { unsent.removeFirst() } else { unsent[unsent.startIndex] = front }
                unsentBytes -= 1
                transmitSegment(offset: sendNext, data: probe)
                backOff()
            } else if applicationClosed {
                // Our FIN is acknowledged and the peer never sent its own.
                terminate()
            }
        }
    }

    private func retransmitOldest() {
        let inFlight = sendNext - sendUnacknowledged
        slowStartThreshold = max(inFlight / 2, UInt64(2 * mss))
        congestionWindow = UInt64(mss)
        duplicateAcks = 0
        recoveryPoint = sendNext
        backOff()
        if !inflight.isEmpty {
            resendOldest()
        } else if case .sent(let finOffset) = fin {
            sendControl([.fin, .ack], sequence: sequenceNumber(forOffset: finOffset), acknowledgment: acknowledgmentNumber)
        }
    }

    /// New data was acknowledged: the exponential backoff of earlier timeouts ends.
    private func resetBackoff() {
        guard let smoothed = smoothedRTT else { return }
        retransmissionTimeout = min(max(smoothed + 4 * rttVariance, options.minimumRTO), options.maximumRTO)
    }

    private func backOff() {
        retransmissionTimeout = min(retransmissionTimeout * 2, options.maximumRTO)
    }

    private func abortAfterTimeout() {
        sendControl([.rst, .ack], sequence: sequenceNumber(forOffset: sendNext), acknowledgment: acknowledgmentNumber)
        fail(.connectionReset)
    }

    // MARK: Ending

    private func finishIfDone() {
        guard state == .established, case .acknowledged = fin else { return }
        if receivedEndOfStream {
            if applicationClosed { terminate() }
        } else if applicationClosed, timerDeadline == nil {
            armTimer(at: kernel.now + options.finWaitTimeout)
        }
    }

    private func fail(_ error: HostError) {
        let delegate = self.delegate
        terminate()
        delegate?.connection(self, failed: error)
    }

    private func terminate() {
        guard state != .closed else { return }
        state = .closed
        timerDeadline = nil
        kernel.forget(self)
    }
}

/// Who learns of a completed passive open: the listening socket.
protocol TCPAcceptor: AnyObject {
    /// The address listened on; `0.0.0.0` for every address of the host.
    var listeningAddress: IPv4Address { get }
    func accept(_ connection: TCPConnection)
}
