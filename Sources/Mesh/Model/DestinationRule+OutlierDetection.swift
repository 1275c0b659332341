import NIOCore

extension DestinationRule {
    /// `trafficPolicy.outlierDetection`: Istio ejects failing hosts only where a rule asks for
    /// it. For the agent's L4 proxy a failed dial (refused, timed out, unreachable) is the error
    /// that counts, as Envoy counts connection failures for TCP.
    ///
    /// Istio's defaults: 5 consecutive errors, a 30 s base ejection, at most 10 % of the hosts
    /// ejected (but always at least one), and no panic threshold (`minHealthPercent` 0); a
    /// `minHealthPercent` above 0 balances over every host while fewer are healthy.
    public struct OutlierDetection: Hashable, Sendable {
        /// Consecutive failed dials that eject a host; 0 turns ejection off.
        public var consecutiveErrors: Int
        public var baseEjectionTime: TimeAmount
        public var maxEjectionPercent: Int
        public var minHealthPercent: Int

        public init(consecutiveErrors: Int = 5, baseEjectionTime: TimeAmount = .seconds(30), maxEjectionPercent: Int = 10, minHealthPercent: Int = 0) {
            self.consecutiveErrors = consecutiveErrors
            self.baseEjectionTime = baseEjectionTime
            self.maxEjectionPercent = maxEjectionPercent
            self.minHealthPercent = minHealthPercent
        }
    }
}

extension DestinationRule.OutlierDetection: Codable {
    enum CodingKeys: String, CodingKey {
        case consecutive5xxErrors, consecutiveGatewayErrors, consecutiveErrors, baseEjectionTime, maxEjectionPercent, minHealthPercent
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func percent(_ key: CodingKeys, default value: Int) throws -> Int {
            guard let number = try container.decodeIfPresent(Int.self, forKey: key) else { return value }
            guard (0...100).contains(number) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\(number) is not a percentage (0 to 100)")
            }
            return number
        }
        // A dial failure is both a 5xx and a gateway error to Envoy: the smaller positive
        // threshold of the ones given trips first.
        let thresholds = try [CodingKeys.consecutive5xxErrors, .consecutiveGatewayErrors, .consecutiveErrors].compactMap {
            try container.decodeIfPresent(Int.self, forKey: $0)
        }
        guard thresholds.allSatisfy({ $0 >= 0 }) else {
            throw DecodingError.dataCorruptedError(forKey: .consecutive5xxErrors, in: container, debugDescription: "error counts cannot be negative")
        }
        consecutiveErrors = thresholds.isEmpty ? 5 : (thresholds.filter { $0 > 0 }.min() ?? 0)
        if let text = try container.decodeIfPresent(String.self, forKey: .baseEjectionTime) {
            do { baseEjectionTime = try IstioDuration.parse(text) } catch {
                throw DecodingError.dataCorruptedError(forKey: .baseEjectionTime, in: container, debugDescription: error.description)
            }
        } else {
            baseEjectionTime = .seconds(30)
        }
        maxEjectionPercent = try percent(.maxEjectionPercent, default: 10)
        minHealthPercent = try percent(.minHealthPercent, default: 0)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(consecutiveErrors, forKey: .consecutive5xxErrors)
        // Nanoseconds are exact, and Istio's duration syntax reads them back unchanged.
        try container.encode("\(baseEjectionTime.nanoseconds)ns", forKey: .baseEjectionTime)
        try container.encode(maxEjectionPercent, forKey: .maxEjectionPercent)
        try container.encode(minHealthPercent, forKey: .minHealthPercent)
    }
}
