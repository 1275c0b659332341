/// A TCP client the DNS server refused because `maximumTCPConnections` were open.
struct DNSServerLimitReached: Error {}
