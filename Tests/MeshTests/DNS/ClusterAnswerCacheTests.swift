import NIOCore
import Testing

@testable import Mesh

/// `ClusterAnswerCache`: answers found by the query's bytes whatever its ID, forgotten when the
/// table moves on, and never more than the byte budget.
@Suite struct DNSAnswerCacheTests {
    static func query(_ name: String, id: UInt16) -> ByteBuffer {
        var buffer = ByteBuffer()
        DNSMessage(header: DNSHeader(id: id, isRecursionDesired: true),
                   questions: [DNSQuestion(name: try! DNSName(name), type: .a)]).encode(into: &buffer)
        return buffer
    }

    static func entry(size: Int) -> ClusterAnswerCache.Entry {
        ClusterAnswerCache.Entry(response: ByteBuffer(repeating: 7, count: size), responseCode: .noError, isTruncated: false)
    }

    @Test func anAnswerIsFoundByEverythingButTheIDAndOnlyAtItsRevisionAndTransport() {
        var cache = ClusterAnswerCache()
        cache.store(Self.entry(size: 40), for: Self.query("web.default.svc.cluster.local", id: 1), overUDP: true, revision: 3)
        #expect(cache.answer(to: Self.query("web.default.svc.cluster.local", id: 99), overUDP: true, revision: 3) != nil)
        #expect(cache.answer(to: Self.query("Web.default.svc.cluster.local", id: 1), overUDP: true, revision: 3) == nil)
        #expect(cache.answer(to: Self.query("web.default.svc.cluster.local", id: 1), overUDP: false, revision: 3) == nil)
        #expect(cache.answer(to: Self.query("web.default.svc.cluster.local", id: 1), overUDP: true, revision: 4) == nil)
        #expect(cache.count == 0)
    }

    @Test func itNeverHoldsMoreThanItsBudget() {
        var cache = ClusterAnswerCache(byteBudget: 1_000)
        for index in 0..<100 {
            cache.store(Self.entry(size: 60), for: Self.query("svc-\(index).default.svc.cluster.local", id: 1), overUDP: true, revision: 1)
            // Each entry is 60 octets of answer and 47 or 48 of key: at most 9 fit.
            #expect(cache.count <= 9)
        }
        #expect(cache.count > 0)
        cache.store(Self.entry(size: 2_000), for: Self.query("big.default.svc.cluster.local", id: 1), overUDP: true, revision: 1)
        #expect(cache.answer(to: Self.query("big.default.svc.cluster.local", id: 1), overUDP: true, revision: 1) == nil)
    }
}
