/// Helpers for a server answering a query.
extension DNSMessage {
    /// An empty response to this query: same ID, opcode, questions, RD and CD; QR set; AA as
    /// given. If the query carried EDNS, the response does too (RFC 6891 §7), advertising
    /// `udpPayloadSize` and echoing the DO bit (RFC 3225 §3). Records are for the caller to add.
    public func makeResponse(
        responseCode: DNSResponseCode = .noError, isAuthoritative: Bool = true,
        udpPayloadSize: UInt16 = DNSEDNS.defaultPayloadSize
    ) -> DNSMessage {
        let responseHeader = DNSHeader(
            id: header.id, isResponse: true, opcode: header.opcode, isAuthoritativeAnswer: isAuthoritative,
            isRecursionDesired: header.isRecursionDesired, isCheckingDisabled: header.isCheckingDisabled,
            responseCode: responseCode)
        let responseEDNS = edns.map { DNSEDNS(udpPayloadSize: udpPayloadSize, dnssecOK: $0.dnssecOK) }
        return DNSMessage(header: responseHeader, questions: questions, edns: responseEDNS)
    }

    /// How large a UDP response to this query may be: 512 octets when it had no EDNS, else the
    /// size it advertised (never below 512, RFC 6891 §6.2.5) capped by `serverMaximum`.
    public func maximumUDPResponseSize(serverMaximum: Int = Int(DNSEDNS.defaultPayloadSize)) -> Int {
        guard let edns else { return DNSMessage.classicUDPSize }
        return max(DNSMessage.classicUDPSize, min(Int(edns.udpPayloadSize), serverMaximum))
    }
}
