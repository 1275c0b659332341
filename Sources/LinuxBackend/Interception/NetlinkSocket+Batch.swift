import CNftnl
import Glibc

/// What the kernel answered to the messages of one batch, filled in by a libmnl callback.
private final class AcknowledgementSink {
    /// (sequence number of the answered message, errno; 0 for a plain ACK).
    var answers: [(sequence: UInt32, code: Int32)] = []
    var malformed = false
}

extension NetlinkSocket {
    /// Longest the kernel gets to answer. It processes a batch inside sendmsg, so its answers are
    /// normally queued before `send` returns; this only bounds a kernel that never answers.
    static let answerTimeoutMilliseconds: Int32 = 5000

    /// Sends `batch` and reads one answer per message that asked for an ACK.
    /// Throws the first refusal (in batch order), naming the object the kernel refused.
    func commit(_ batch: NftablesBatch) throws(NftablesError) {
        discardPendingReplies()
        // One reply per message; a refusal echoes the whole message. Without room for all of them
        // the kernel drops replies (ENOBUFS) and the outcome would be unknown.
        try reserveReceiveSpace(64 * 1024 + batch.objects.count * 2048)
        try send(batch.bytes, operation: batch.description)

        var pending = batch.objects
        var refusals: [(sequence: UInt32, object: String, code: Int32)] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let sink = AcknowledgementSink()
        while !pending.isEmpty {
            guard let received = try receive(into: &buffer, timeoutMilliseconds: Self.answerTimeoutMilliseconds,
                                             operation: batch.description)
            else { break }
            sink.answers.removeAll(keepingCapacity: true)
            let result = runAcknowledgementCallbacks(buffer, count: received, sink: sink)
            if sink.malformed || (result == MNL_CB_ERROR && sink.answers.isEmpty) {
                throw .malformedReply("answer to \(batch.description) (\(received) bytes, errno \(errno))")
            }
            for answer in sink.answers {
                if answer.sequence == batch.beginSequence, answer.code != 0 {
                    // The batch was refused as a whole (e.g. no CAP_NET_ADMIN); nothing else follows.
                    throw .refused(object: batch.description, errno: answer.code)
                }
                // Answers with unknown numbers belong to no message of ours: ignore them.
                guard let object = pending.removeValue(forKey: answer.sequence) else { continue }
                if answer.code != 0 {
                    refusals.append((answer.sequence, object, answer.code))
                }
            }
        }
        // A refused message aborts the whole batch, and later messages often fail only because of
        // it (no table → no chain); the first refusal is the cause.
        if let first = refusals.min(by: { $0.sequence &- batch.beginSequence < $1.sequence &- batch.beginSequence }) {
            if first.code == EPERM {
                // A missing CAP_NET_ADMIN refuses the batch as a whole (BEGIN, handled above); an
                // object refused with EPERM inside an accepted batch belongs to another owner.
                throw .ownedByAnotherProcess(object: first.object)
            }
            throw .refused(object: first.object, errno: first.code)
        }
        if !pending.isEmpty {
            let missing = pending.sorted { $0.key &- batch.beginSequence < $1.key &- batch.beginSequence }
            throw .missingAcknowledgements(objects: missing.map(\.value))
        }
    }

    /// Runs libmnl over one datagram of replies, sending every NLMSG_ERROR (errors and plain
    /// ACKs alike) to `sink`. The default handler would stop at the first ACK and lose the rest.
    private func runAcknowledgementCallbacks(_ buffer: [UInt8], count: Int, sink: AcknowledgementSink) -> Int32 {
        let onError: mnl_cb_t = { header, data in
            guard let header, let data else { return MNL_CB_ERROR }
            let sink = Unmanaged<AcknowledgementSink>.fromOpaque(data).takeUnretainedValue()
            guard Int(header.pointee.nlmsg_len) >= mnl_nlmsg_size(MemoryLayout<nlmsgerr>.size) else {
                sink.malformed = true
                return MNL_CB_ERROR
            }
            let error = UnsafeRawPointer(mnl_nlmsg_get_payload(header)!).loadUnaligned(as: nlmsgerr.self)
            // The kernel reports -errno; the echoed header carries the number of the message answered.
            sink.answers.append((error.msg.nlmsg_seq, -error.error))
            return MNL_CB_OK
        }
        var controlCallbacks = [mnl_cb_t?](repeating: nil, count: Int(NLMSG_MIN_TYPE))
        controlCallbacks[Int(NLMSG_ERROR)] = onError
        let context = Unmanaged.passUnretained(sink).toOpaque()
        return withExtendedLifetime(sink) {
            buffer.withUnsafeBytes { bytes in
                controlCallbacks.withUnsafeMutableBufferPointer { callbacks in
                    // Sequence 0: answers to several messages arrive together, each checked above.
                    mnl_cb_run2(bytes.baseAddress, count, 0, portID, nil, context,
                                callbacks.baseAddress, UInt32(callbacks.count))
                }
            }
        }
    }
}
