import Mesh
import Testing

@Suite struct NoiseTransportTests {
    @Test func aTamperedFrameFailsAndTheGenuineOneStillOpens() throws {
        var peers = try NoisePeers(seed: 10)
        var (initiator, responder) = try peers.transports()
        let frame = try initiator.seal(Array("payload".utf8))
        for position in [7, 8, frame.count - 1] { // counter, ciphertext, tag
            var tampered = frame
            tampered[position] ^= 0x01
            #expect(throws: NoiseError.decryptFailed) { try responder.open(tampered) }
        }
        // A forged frame must not mark its counter as seen.
        #expect(try responder.open(frame) == Array("payload".utf8))
        #expect(throws: NoiseError.self) { try responder.open(Array(frame.prefix(20))) }
    }

    @Test func aReplayedFrameIsRejected() throws {
        var peers = try NoisePeers(seed: 11)
        var (initiator, responder) = try peers.transports()
        let frame = try initiator.seal([1, 2, 3])
        _ = try responder.open(frame)
        #expect(throws: NoiseError.replayed(counter: 0)) { try responder.open(frame) }
        // The reverse direction has its own key: a frame reflected back does not open either.
        #expect(throws: NoiseError.decryptFailed) { try initiator.open(frame) }
    }

    @Test func aFrameOlderThanTheWindowIsTooOld() throws {
        var peers = try NoisePeers(seed: 12)
        var (initiator, responder) = try peers.transports()
        let frames = try (0...2048).map { try initiator.seal([UInt8(truncatingIfNeeded: $0)]) }
        _ = try responder.open(frames[2048])
        #expect(throws: NoiseError.tooOld(counter: 0, highest: 2048)) { try responder.open(frames[0]) }
        // Counter 1 is the oldest still inside a 2048-frame window.
        #expect(try responder.open(frames[1]) == [1])
        #expect(throws: NoiseError.replayed(counter: 1)) { try responder.open(frames[1]) }
    }

    @Test func outOfOrderFramesInsideTheWindowAreAcceptedOnceEach() throws {
        var peers = try NoisePeers(seed: 13)
        var (initiator, responder) = try peers.transports()
        let frames = try (0..<200).map { try initiator.seal([UInt8($0)]) }
        var order = Array(frames.indices)
        var random = NoiseTestRandom(seed: 99)
        order.shuffle(using: &random)
        for index in order {
            #expect(try responder.open(frames[index]) == [UInt8(index)])
        }
        for index in order {
            #expect(throws: NoiseError.replayed(counter: UInt64(index))) { try responder.open(frames[index]) }
        }
    }

    @Test func rekeyingKeepsBothSidesInStepAcrossReordering() throws {
        var peers = try NoisePeers(seed: 14)
        let rekeyed = NoiseTransport.Options(rekeyInterval: 4)
        var (initiator, responder) = try peers.transports(rekeyed)
        var plainInitiator = try peers.initiator.split()

        var frames: [[UInt8]] = []
        var unrekeyed: [[UInt8]] = []
        for index in 0..<20 {
            frames.append(try initiator.seal([UInt8(index)]))
            unrekeyed.append(try plainInitiator.seal([UInt8(index)]))
        }
        // The first epoch uses the key from Split(); every later epoch a REKEYed one.
        #expect(Array(frames[0..<4]) == Array(unrekeyed[0..<4]))
        for index in 4..<20 { #expect(frames[index] != unrekeyed[index]) }

        // Delivered with reordering across epoch boundaries, a skipped epoch, and late frames
        // from the previous epoch.
        let order = [1, 0, 4, 3, 2, 5, 7, 6, 13, 12, 8, 9, 10, 11, 16, 15, 14, 19, 17, 18]
        for index in order {
            #expect(try responder.open(frames[index]) == [UInt8(index)])
        }
        for index in 0..<20 {
            let reply = try responder.seal([UInt8(index)])
            #expect(try initiator.open(reply) == [UInt8(index)])
        }
        // Two epochs behind the newest is refused even inside the window: its key is gone.
        var (lateInitiator, lateResponder) = (try peers.initiator.split(options: rekeyed),
                                              try peers.responder.split(options: rekeyed))
        let late = try (0..<12).map { try lateInitiator.seal([UInt8($0)]) }
        _ = try lateResponder.open(late[11])
        #expect(throws: NoiseError.tooOld(counter: 0, highest: 11)) { try lateResponder.open(late[0]) }
        #expect(try lateResponder.open(late[5]) == [5])
    }

    @Test func theReplayWindowSlidesAndForgetsOnlyWhatFellOut() throws {
        var window = try NoiseReplayWindow(size: 64)
        try window.check(5)
        window.accept(5)
        #expect(throws: NoiseError.replayed(counter: 5)) { try window.check(5) }
        try window.check(4)
        window.accept(68) // window now covers 5...68
        #expect(throws: NoiseError.replayed(counter: 5)) { try window.check(5) }
        try window.check(6)
        window.accept(69) // 5 falls out
        #expect(throws: NoiseError.tooOld(counter: 5, highest: 69)) { try window.check(5) }
        window.accept(1000) // a jump clears everything
        try window.check(999)
        #expect(throws: NoiseError.replayed(counter: 1000)) { try window.check(1000) }
        #expect(throws: NoiseError.self) { try NoiseReplayWindow(size: 100) }
    }
}
