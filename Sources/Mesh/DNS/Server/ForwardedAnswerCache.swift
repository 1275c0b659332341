import NIOCore

/// Upstream answers by question, kept for their TTL (RFC 1035 §7.4), negative answers for the
/// SOA's TTL capped by its MINIMUM (RFC 2308 §5), either never longer than `maximumTTL`, and
/// kept past expiry for `staleLimit` so they can be served when no upstream answers (RFC 8767).
///
/// Times come from the caller (the host's clock). Keys compare names case-insensitively.
public struct ForwardedAnswerCache {
    /// One cached response: its sections, and when it was stored and for how long it is good.
    struct Entry {
        var responseCode: DNSResponseCode
        var answers: [DNSResourceRecord]
        var authorities: [DNSResourceRecord]
        var additionals: [DNSResourceRecord]
        var storedAt: NIODeadline
        var ttl: UInt32
        /// Insertion order, the tie-break when evicting (keeps eviction deterministic).
        var sequence: UInt64

        var expiry: NIODeadline { storedAt + .seconds(Int64(ttl)) }
    }

    public let capacity: Int
    /// The longest an answer is kept fresh, whatever its TTLs say; records are served with TTLs
    /// no longer than this either. EdgeMesh's `cacheDNS.cacheTTL`, which it hands to CoreDNS's
    /// `cache` plugin as its maximum TTL; nil for no cap.
    public let maximumTTL: UInt32?
    /// How long past expiry an entry may still be served stale (RFC 8767 suggests 1 to 3 days).
    public let staleLimit: TimeAmount
    /// The TTL on stale records (RFC 8767 §4 recommends 30 s).
    public let staleTTL: UInt32
    private var entries: [DNSQuestion: Entry] = [:]
    private var nextSequence: UInt64 = 0

    public init(
        capacity: Int = 10_000, maximumTTL: UInt32? = nil, staleLimit: TimeAmount = .hours(24), staleTTL: UInt32 = 30
    ) {
        self.capacity = max(1, capacity)
        self.maximumTTL = maximumTTL
        self.staleLimit = staleLimit
        self.staleTTL = staleTTL
    }

    public var count: Int { entries.count }

    /// How long `response` may be cached, or `nil` when it must not be: errors other than
    /// NXDOMAIN, truncated answers, and negative answers without an SOA (RFC 2308 §5).
    static func cacheTTL(of response: DNSMessage) -> UInt32? {
        guard !response.header.isTruncated else { return nil }
        switch response.header.responseCode {
        case .noError where !response.answers.isEmpty:
            return response.answers.map(\.ttl).min()
        case .noError, .nameError:
            for record in response.authorities {
                if case .soa(_, _, _, _, _, _, let minimum) = record.data { return min(record.ttl, minimum) }
            }
            return nil
        default:
            return nil
        }
    }

    /// Stores `response` as the answer to `question` at `now`, if it may be cached at all.
    public mutating func store(_ response: DNSMessage, for question: DNSQuestion, now: NIODeadline) {
        guard let ttl = Self.cacheTTL(of: response).map(capped), ttl > 0 else { return }
        if entries[question] == nil, entries.count >= capacity { evict(now: now) }
        nextSequence += 1
        entries[question] = Entry(
            responseCode: response.header.responseCode, answers: capped(response.answers),
            authorities: capped(response.authorities), additionals: capped(response.additionals), storedAt: now,
            ttl: ttl, sequence: nextSequence)
    }

    private func capped(_ ttl: UInt32) -> UInt32 {
        maximumTTL.map { min($0, ttl) } ?? ttl
    }

    private func capped(_ records: [DNSResourceRecord]) -> [DNSResourceRecord] {
        maximumTTL == nil ? records : Self.retimed(records, capped)
    }

    /// `records` with each TTL replaced by `ttl` of it.
    private static func retimed(_ records: [DNSResourceRecord], _ ttl: (UInt32) -> UInt32) -> [DNSResourceRecord] {
        records.map { record in
            var record = record
            record.ttl = ttl(record.ttl)
            return record
        }
    }

    /// The fresh answer to `question`, its TTLs lowered by the time it has spent here.
    public func fresh(_ question: DNSQuestion, now: NIODeadline) -> DNSMessage? {
        guard let entry = entries[question], now < entry.expiry else { return nil }
        let elapsed = UInt32(clamping: (now - entry.storedAt).nanoseconds / 1_000_000_000)
        return message(entry, question: question) { $0 - min($0, elapsed) }
    }

    /// An expired answer still within `staleLimit`, every TTL set to `staleTTL`.
    public func stale(_ question: DNSQuestion, now: NIODeadline) -> DNSMessage? {
        guard let entry = entries[question], now < entry.expiry + staleLimit else { return nil }
        return message(entry, question: question) { _ in staleTTL }
    }

    private func message(_ entry: Entry, question: DNSQuestion, ttl: (UInt32) -> UInt32) -> DNSMessage {
        func adjusted(_ records: [DNSResourceRecord]) -> [DNSResourceRecord] { Self.retimed(records, ttl) }
        return DNSMessage(
            header: DNSHeader(isResponse: true, isRecursionAvailable: true, responseCode: entry.responseCode),
            questions: [question], answers: adjusted(entry.answers), authorities: adjusted(entry.authorities),
            additionals: adjusted(entry.additionals))
    }

    /// Drops everything past the stale limit; if still full, the entry expiring first (the
    /// oldest stored among equals), so the choice never depends on hash order.
    private mutating func evict(now: NIODeadline) {
        let dead = entries.filter { now >= $0.value.expiry + staleLimit }.map(\.key)
        for key in dead { entries[key] = nil }
        guard entries.count >= capacity else { return }
        let victim = entries.min { left, right in
            (left.value.expiry, left.value.sequence) < (right.value.expiry, right.value.sequence)
        }
        if let victim { entries[victim.key] = nil }
    }
}
