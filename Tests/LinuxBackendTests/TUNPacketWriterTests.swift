import Glibc
import Mesh
import NIOCore
import NIOEmbedded
import Testing

@testable import LinuxBackend

/// What the writer hands a TUN device with offloads, read back from a socket pair that keeps
/// each write a message of its own, as the device does.
@Suite struct TUNPacketWriterTests {
    /// A socket pair standing in for the device: the writer's end and the device's.
    private final class FakeDevice {
        let writerEnd: CInt
        let deviceEnd: CInt
        init() throws {
            var ends: [CInt] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &ends) == 0 else { throw TestFailure(description: "socketpair: \(errno)") }
            writerEnd = ends[0]
            deviceEnd = ends[1]
        }
        /// Every write so far, one message each.
        func writes() -> [[UInt8]] {
            var messages: [[UInt8]] = []
            var buffer = [UInt8](repeating: 0, count: 70_000)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(deviceEnd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                guard count > 0 else { return messages }
                messages.append(Array(buffer[0..<count]))
            }
        }
        deinit { close(deviceEnd) }
    }

    /// 10.244.1.2:`sourcePort` → 10.244.2.2:5201, ack 7, window 502, checksums right.
    static func segment(sequence: UInt32, identification: UInt16, flags: UInt8 = 0x10, payload: [UInt8], sourcePort: UInt16 = 40000,
                        acknowledgement: UInt32 = 7) -> ByteBuffer {
        var packet = ByteBuffer()
        packet.writeBytes([0x45, 0x00])
        packet.writeInteger(UInt16(40 + payload.count))
        packet.writeInteger(identification)
        packet.writeBytes([0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 10, 244, 1, 2, 10, 244, 2, 2])
        packet.writeInteger(sourcePort)
        packet.writeInteger(UInt16(5201))
        packet.writeInteger(sequence)
        packet.writeInteger(acknowledgement)
        packet.writeBytes([0x50, flags, 0x01, 0xF6, 0x00, 0x00, 0x00, 0x00])
        packet.writeBytes(payload)
        packet.withUnsafeMutableReadableBytes { bytes in
            bytes.storeBytes(of: InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<20])).bigEndian, toByteOffset: 10, as: UInt16.self)
            let pseudo = InternetChecksum.pseudoHeaderSum(source: 0x0AF4_0102, destination: 0x0AF4_0202, transport: 6, length: 20 + payload.count)
            bytes.storeBytes(
                of: InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: bytes[20...]), initial: pseudo).bigEndian, toByteOffset: 36,
                as: UInt16.self)
        }
        return packet
    }

    private static let empty = [UInt8](repeating: 0, count: VirtioNetHeader.length)

    private func write(_ packets: [ByteBuffer], flush: Bool = true) throws -> (writes: [[UInt8]], writer: TUNPacketWriter, device: FakeDevice) {
        let device = try FakeDevice()
        let writer = TUNPacketWriter(descriptor: device.writerEnd, joinSegments: true)
        let channel = EmbeddedChannel(handler: writer)
        for packet in packets { channel.write(packet, promise: nil) }
        if flush { channel.flush() }
        return (device.writes(), writer, device)
    }

    @Test func segmentsThatContinueEachOtherLeaveAsOneLargePacketAndTheRestAsTheyCame() throws {
        let first = Self.segment(sequence: 1000, identification: 0x1234, payload: [0, 1, 2, 3])
        let second = Self.segment(sequence: 1004, identification: 0x1235, payload: [4, 5, 6, 7])
        let last = Self.segment(sequence: 1008, identification: 0x1236, flags: 0x18, payload: [8, 9])
        let datagram = UDPPacket.make(from: IPv4Address(10, 244, 1, 2), 5353, to: IPv4Address(10, 244, 2, 2), 53, payload: [1])
        let otherFlow = Self.segment(sequence: 1004, identification: 0x0001, payload: [9, 9], sourcePort: 40001)
        let (writes, writer, _) = try write([first, datagram, second, otherFlow, last])

        #expect(writes.count == 3)
        #expect(writes[0] == [
            // needs checksum, TCP over IPv4, 40 header bytes, segments of 4, checksum at 20 + 16.
            0x01, 0x01, 0x28, 0x00, 0x04, 0x00, 0x14, 0x00, 0x10, 0x00,
            0x45, 0x00, 0x00, 0x32, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x0F, 0xA7, 10, 244, 1, 2, 10, 244, 2, 2,
            // ACK, and PSH from the last segment.
            0x9C, 0x40, 0x14, 0x51, 0x00, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x00, 0x07, 0x50, 0x18, 0x01, 0xF6,
            // The pseudo-header's sum for the kernel to finish.
            0x19, 0x10, 0x00, 0x00,
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
        ])
        #expect(writes[1] == Self.empty + Array(datagram.readableBytesView))
        #expect(writes[2] == Self.empty + Array(otherFlow.readableBytesView))
        #expect(writer.joinedWrites == 1)

        // Cut up again as the far kernel's segmentation would (the decoder does it as the
        // device reads), the three segments come back exactly, PSH on the last again.
        let decoder = EmbeddedChannel(handler: TUNOffloadDecoder())
        try decoder.writeInbound(ByteBuffer(bytes: writes[0]))
        var segments: [ByteBuffer] = []
        while let segment = try decoder.readInbound(as: ByteBuffer.self) { segments.append(segment) }
        #expect(segments == [first, second, last])
    }

    @Test func segmentsTheKernelWouldNotJoinAreWrittenOneByOne() throws {
        let packets = [
            Self.segment(sequence: 1000, identification: 1, payload: [0, 1, 2, 3]),
            // A gap in the sequence.
            Self.segment(sequence: 1010, identification: 2, payload: [0, 1, 2, 3]),
            // Another acknowledgement.
            Self.segment(sequence: 1014, identification: 3, payload: [0, 1, 2, 3], acknowledgement: 8),
            // FIN.
            Self.segment(sequence: 1018, identification: 4, flags: 0x11, payload: [0, 1, 2, 3]),
            // Larger than the segments before it.
            Self.segment(sequence: 1022, identification: 5, payload: [0, 1, 2, 3, 4, 5]),
        ]
        let (writes, writer, _) = try write(packets)
        #expect(writes == packets.map { Self.empty + Array($0.readableBytesView) })
        #expect(writer.joinedWrites == 0)
    }

    @Test func packetsWaitForTheFlushButNeverMoreThanTheLimit() throws {
        let datagram = UDPPacket.make(from: IPv4Address(10, 244, 1, 2), 5353, to: IPv4Address(10, 244, 2, 2), 53, payload: [1])
        let (held, _, _) = try write([datagram, datagram], flush: false)
        #expect(held.isEmpty)
        let (written, _, _) = try write(Array(repeating: datagram, count: TUNPacketWriter.maximumPending + 1), flush: false)
        #expect(written.count == TUNPacketWriter.maximumPending)
    }

    @Test func aWriteTheDeviceRefusesFailsItsPacketsAndIsCounted() throws {
        // A descriptor open for reading only: every write fails with EBADF.
        let readOnly = open("/dev/null", O_RDONLY)
        let writer = TUNPacketWriter(descriptor: readOnly, joinSegments: true)
        let channel = EmbeddedChannel(handler: writer)
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.write(Self.segment(sequence: 1, identification: 1, payload: [1]), promise: promise)
        channel.flush()
        #expect(throws: IOError.self) { try promise.futureResult.wait() }
        #expect(writer.droppedPackets == 1)
    }
}
