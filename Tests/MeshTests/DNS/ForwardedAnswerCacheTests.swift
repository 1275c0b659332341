import Mesh
import NIOCore
import Testing

/// TTL, negative caching and stale serving in `ForwardedAnswerCache`, on explicit times.
@Suite struct DNSResponseCacheTests {
    static let question = DNSQuestion(name: try! DNSName("www.example.com"), type: .a)
    static let soa = DNSResourceRecord(
        name: try! DNSName("example.com"), ttl: 300,
        data: .soa(mname: try! DNSName("ns.example.com"), rname: try! DNSName("host.example.com"),
                   serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60))

    static func response(_ code: DNSResponseCode, answers: [DNSResourceRecord] = [],
                         authorities: [DNSResourceRecord] = []) -> DNSMessage {
        DNSMessage(header: DNSHeader(isResponse: true, responseCode: code), questions: [question],
                   answers: answers, authorities: authorities)
    }

    static func at(_ seconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(seconds) * 1_000_000_000) }

    @Test func positiveAnswersLiveForTheirSmallestTTLAndCountDown() throws {
        var cache = ForwardedAnswerCache()
        let records = [DNSResourceRecord(name: Self.question.name, ttl: 100, data: .a(IPv4Address(1, 2, 3, 4))),
                       DNSResourceRecord(name: Self.question.name, ttl: 40, data: .a(IPv4Address(1, 2, 3, 5)))]
        cache.store(Self.response(.noError, answers: records), for: Self.question, now: Self.at(10))
        // The lookup ignores case, as DNS does.
        let asked = DNSQuestion(name: try DNSName("WWW.Example.COM"), type: .a)
        let hit = try #require(cache.fresh(asked, now: Self.at(25)))
        #expect(hit.answers.map(\.ttl) == [85, 25])
        #expect(hit.questions == [asked])
        #expect(cache.fresh(Self.question, now: Self.at(50)) == nil)
        #expect(cache.stale(Self.question, now: Self.at(50))?.answers.map(\.ttl) == [30, 30])
        #expect(cache.stale(Self.question, now: Self.at(50 + 24 * 3600)) == nil)
    }

    @Test func negativeAnswersLiveForTheSOAMinimumAndNeedAnSOA() {
        var cache = ForwardedAnswerCache()
        cache.store(Self.response(.nameError, authorities: [Self.soa]), for: Self.question, now: Self.at(0))
        #expect(cache.fresh(Self.question, now: Self.at(59))?.header.responseCode == .nameError)
        #expect(cache.fresh(Self.question, now: Self.at(60)) == nil)
        var bare = ForwardedAnswerCache()
        bare.store(Self.response(.nameError), for: Self.question, now: Self.at(0))
        bare.store(Self.response(.serverFailure, authorities: [Self.soa]), for: Self.question, now: Self.at(0))
        #expect(bare.count == 0)
    }

    @Test func withAMaximumTTLAnswersExpireByThenAndAreServedWithNoMoreTTL() throws {
        var cache = ForwardedAnswerCache(maximumTTL: 20)
        let records = [DNSResourceRecord(name: Self.question.name, ttl: 100, data: .a(IPv4Address(1, 2, 3, 4))),
                       DNSResourceRecord(name: Self.question.name, ttl: 5, data: .a(IPv4Address(1, 2, 3, 5)))]
        let other = DNSQuestion(name: try DNSName("other.example.com"), type: .a)
        cache.store(Self.response(.noError, answers: [records[0]]), for: Self.question, now: Self.at(0))
        cache.store(Self.response(.noError, answers: [records[1]]), for: other, now: Self.at(0))
        #expect(try #require(cache.fresh(Self.question, now: Self.at(4))).answers.map(\.ttl) == [16])
        // A shorter TTL of its own still wins.
        #expect(cache.fresh(other, now: Self.at(5)) == nil)
        #expect(cache.fresh(Self.question, now: Self.at(20)) == nil)
        #expect(cache.stale(Self.question, now: Self.at(20)) != nil)
        // Negative answers are capped the same way (the SOA says 60 s).
        cache.store(Self.response(.nameError, authorities: [Self.soa]), for: Self.question, now: Self.at(100))
        #expect(cache.fresh(Self.question, now: Self.at(119))?.authorities.map(\.ttl) == [1])
        #expect(cache.fresh(Self.question, now: Self.at(120)) == nil)
    }

    @Test func aFullCacheEvictsTheEntryExpiringFirst() {
        var cache = ForwardedAnswerCache(capacity: 2)
        for (index, ttl) in [(1, 50), (2, 10), (3, 90)] as [(UInt8, UInt32)] {
            let question = DNSQuestion(name: try! DNSName("h\(index).example.com"), type: .a)
            let record = DNSResourceRecord(name: question.name, ttl: ttl, data: .a(IPv4Address(10, 0, 0, index)))
            cache.store(Self.response(.noError, answers: [record]), for: question, now: Self.at(0))
        }
        #expect(cache.count == 2)
        #expect(cache.fresh(DNSQuestion(name: try! DNSName("h2.example.com"), type: .a), now: Self.at(1)) == nil)
        #expect(cache.fresh(DNSQuestion(name: try! DNSName("h1.example.com"), type: .a), now: Self.at(1)) != nil)
    }
}
