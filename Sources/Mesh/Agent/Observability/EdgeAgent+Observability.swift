import Foundation
import NIOCore

extension EdgeAgent {
    /// A snapshot for `edgemesh status`. Call on the host's event loop.
    public func status() -> AgentStatus {
        host.eventLoop.preconditionInEventLoop()
        let dns = dnsServer.statistics
        let sources = apiSource?.statuses.map { status in
            AgentStatus.Source(
                resource: status.resource.plural, state: Self.state(of: status), resourceVersion: status.resourceVersion,
                lists: status.listCount, reconnects: status.reconnectCount, lastError: status.lastError)
        } ?? []
        return AgentStatus(
            node: configuration.nodeName,
            uptimeSeconds: (host.now - startedAt).nanoseconds / 1_000_000_000,
            tableRevision: table.revision,
            objects: TableObjectKind.allCases.map { AgentStatus.ObjectCount(kind: $0.rawValue, count: table.count(of: $0)) },
            sourceDescription: sourceDescription,
            sources: sources,
            synced: apiSource?.isSynced ?? (sourceDescription == "manifests"),
            dns: AgentStatus.DNS(
                listening: dnsServer.localAddresses.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }.uniqued(),
                queries: dns.queries, malformed: dns.malformed, truncated: dns.truncated,
                responses: Dictionary(uniqueKeysWithValues: dns.sortedResponseCounts.map { ("\($0.code)", $0.count) })),
            tunnelKey: tunnelKeyStatus,
            tunnel: tunnel?.statusReport,
            relays: holePunching.map { $0.status.description.split(separator: "\n").map(String.init) },
            gateway: gateway?.statusLines,
            socks5: socks5Proxy?.statusLines,
            podNetworks: configuration.edgeCNI.map { _ in
                podNetworks.statusLines + (podNetworkRouter?.statusLines ?? podNetworkRouterProblem.map { ["edge CNI: \($0)"] } ?? [])
            },
            limitsReached: limitCounters.filter { $0.value > 0 }.map { "\($0.value) \($0.words)" })
    }

    /// Every limit the agent keeps that a peer, a client or a server can run into, with how
    /// often it was reached (only the components this agent runs).
    public var limitCounters: [LimitCounter] {
        let dns = dnsServer.statistics
        var limits = [
            LimitCounter("edgemesh_dns_tcp_connections_refused_total", help: "DNS TCP clients refused at the connection limit.",
                         words: "DNS TCP clients refused at the connection limit", value: dns.tcpConnectionsRefused),
            LimitCounter("edgemesh_dns_tcp_idle_closes_total", help: "DNS TCP clients closed idle.",
                         words: "DNS TCP clients closed idle", value: dns.tcpIdleCloses),
            LimitCounter("edgemesh_proxy_request_head_timeouts_total", help: "HTTP connections closed waiting for a request head.",
                         words: "HTTP connections closed waiting for a request head", value: proxy.statistics.requestHeadTimeouts),
        ]
        if let forwarder = dnsServer.forwarder {
            limits.append(LimitCounter(
                "edgemesh_dns_forward_refused_in_flight_total", help: "Forwarded queries answered at once at the in-flight limit.",
                words: "forwarded DNS queries answered at once with the upstream exchanges all in flight", value: forwarder.queriesRefusedInFlight))
        }
        if let socks5Proxy {
            limits.append(LimitCounter(
                "edgemesh_socks5_sessions_refused_total", help: "SOCKS5 clients closed at once at the session limit.",
                words: "SOCKS5 clients closed at the session limit", value: socks5Proxy.statistics.sessionsRefusedAtLimit))
        }
        if let gateway {
            let statistics = gateway.statistics
            let help = "Gateway connections refused at a connection limit."
            limits += [
                LimitCounter("edgemesh_gateway_connections_refused_total", labels: [("limit", "total")], help: help,
                             words: "gateway connections refused at the total limit", value: statistics.refusedAtTotalLimit),
                LimitCounter("edgemesh_gateway_connections_refused_total", labels: [("limit", "per-client")], help: help,
                             words: "gateway connections refused at a client's limit", value: statistics.refusedAtClientLimit),
                LimitCounter("edgemesh_gateway_idle_closes_total", help: "Gateway TCP connections closed idle.",
                             words: "gateway TCP connections closed idle", value: statistics.idleCloses),
            ]
        }
        if let tunnel {
            limits += [
                LimitCounter("edgemesh_tunnel_datagrams_dropped_total", help: "Datagrams from UDP targets dropped for a full stream to the peer.",
                             words: "datagrams from UDP targets dropped for a full tunnel stream", value: tunnel.datagramsDroppedForFullStreams),
                LimitCounter("edgemesh_tunnel_handshakes_refused_total", help: "Connections closed at once with too many handshakes under way.",
                             words: "tunnel connections closed at once with too many handshakes under way", value: tunnel.handshakesRefusedAtLimit),
                LimitCounter("edgemesh_tunnel_connections_closed_at_peer_limit_total", help: "Connections closed because their peer had too many.",
                             words: "tunnel connections closed over a peer's connection limit", value: tunnel.connectionsClosedAtPeerLimit),
                LimitCounter("edgemesh_tunnel_streams_refused_over_budget_total", help: "Tunnel streams refused with the receive budget spent.",
                             words: "tunnel streams refused with the receive budget spent", value: tunnel.streamsRefusedOverBudget),
            ]
        }
        if let holePunching {
            limits.append(LimitCounter(
                "edgemesh_tunnel_punch_requests_declined_total", help: "Punch requests declined with too many punches under way.",
                words: "punch requests declined with too many punches under way", value: holePunching.declinedRequests))
        }
        return limits
    }

    /// Where this node's tunnel key stands, in words: published, or why not and what to do.
    var tunnelKeyStatus: String? {
        guard let tunnel else { return nil }
        guard let identity = tunnel.identity else { return "no key yet: the tunnel has not started" }
        if let keyPublisher { return "\(keyPublisher.state) on Node \(configuration.nodeName)" }
        if apiSource == nil {
            return "not published (source: \(sourceDescription)); peers find it only in annotation \(tunnelPublicKeyAnnotation): \(identity.publicKeyText) on Node \(configuration.nodeName)"
        }
        return "not yet published"
    }

    /// The status as indented JSON with sorted keys (stable output for people and tools).
    public func statusJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(status()) else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The service table as a Kubernetes `List` (no Secrets): what `GET /table` serves.
    public func tableJSON() -> String {
        host.eventLoop.preconditionInEventLoop()
        guard let bytes = try? ServiceTableListing(of: table).json() else { return "{}\n" }
        return String(decoding: bytes, as: UTF8.self) + "\n"
    }

    /// The proxy's recent flows as `GET /flows` serves them (`ProxiedFlowPage`).
    public func flowsJSON() -> String {
        host.eventLoop.preconditionInEventLoop()
        let page = ProxiedFlowPage(recorded: proxy.flowLog.recorded, capacity: proxy.flowLog.capacity, flows: proxy.recentFlows)
        guard let bytes = try? page.json() else { return "{}\n" }
        return String(decoding: bytes, as: UTF8.self) + "\n"
    }

    /// Every counter and gauge the agent keeps, in Prometheus text format.
    public func metricsText() -> String {
        host.eventLoop.preconditionInEventLoop()
        var out = PrometheusExposition()
        out.add("edgemesh_agent_info", .gauge, help: "Always 1; labels name the node.", labels: [("node", configuration.nodeName)], value: 1)
        out.add("edgemesh_table_revision", .gauge, help: "Changes applied to the service table so far.", value: table.revision)
        for kind in TableObjectKind.allCases {
            out.add("edgemesh_table_objects", .gauge, help: "Objects in the service table.", labels: [("kind", kind.rawValue)], value: table.count(of: kind))
        }
        for status in apiSource?.statuses ?? [] {
            let labels = [("resource", status.resource.plural)]
            out.add("edgemesh_api_lists_total", .counter, help: "Lists of a resource on the API server.", labels: labels, value: status.listCount)
            out.add("edgemesh_api_reconnects_total", .counter, help: "Watches and lists after the first.", labels: labels, value: status.reconnectCount)
            out.add("edgemesh_api_watching", .gauge, help: "1 while the resource's watch is open.", labels: labels, value: status.phase == .watching ? 1 : 0)
        }
        if let apiSource {
            out.add("edgemesh_api_synced", .gauge, help: "1 once every followed kind has been listed.", value: apiSource.isSynced ? 1 : 0)
        }
        if let keyPublisher {
            let published = if case .published = keyPublisher.state { 1 } else { 0 }
            out.add("edgemesh_tunnel_key_published", .gauge, help: "1 while this node's tunnel key is on its Node object.", value: published)
            out.add("edgemesh_tunnel_key_publications_total", .counter, help: "Patches of the tunnel key the API server accepted.", value: keyPublisher.publications)
        }
        let dns = dnsServer.statistics
        out.add("edgemesh_dns_queries_total", .counter, help: "DNS messages received (UDP and TCP).", value: dns.queries)
        out.add("edgemesh_dns_malformed_total", .counter, help: "DNS messages that did not decode.", value: dns.malformed)
        out.add("edgemesh_dns_truncated_total", .counter, help: "UDP answers sent truncated (TC).", value: dns.truncated)
        for (code, count) in dns.sortedResponseCounts {
            out.add("edgemesh_dns_responses_total", .counter, help: "DNS responses by code.", labels: [("rcode", "\(code)")], value: count)
        }
        let proxy = self.proxy.statistics
        out.add("edgemesh_proxy_streams_accepted_total", .counter, help: "Intercepted TCP connections.", value: proxy.streamsAccepted)
        out.add("edgemesh_proxy_streams_proxied_total", .counter, help: "TCP connections carried to a backend.", value: proxy.streamsProxied)
        out.add("edgemesh_proxy_streams_refused_total", .counter, help: "TCP connections no backend took.", value: proxy.streamsRefused)
        out.add("edgemesh_proxy_dial_failures_total", .counter, help: "Failed dials to backends (retried elsewhere).", value: proxy.dialFailures)
        out.add("edgemesh_proxy_request_retries_total", .counter, help: "HTTP requests tried again on another backend by their route's retries.", value: proxy.requestRetries)
        out.add("edgemesh_proxy_request_timeouts_total", .counter, help: "HTTP requests answered 504 or cut off at their route's timeout.", value: proxy.requestTimeouts)
        out.add("edgemesh_proxy_backend_connections_reused_total", .counter,
                help: "HTTP requests sent on an idle pooled backend connection instead of a new one.", value: proxy.backendConnectionsReused)
        out.add("edgemesh_proxy_requests_mirrored_total", .counter, help: "Copies of requests sent to a gateway route's mirror.", value: proxy.requestsMirrored)
        out.add("edgemesh_proxy_mirrors_skipped_total", .counter,
                help: "Requests a route mirrors whose copy was not sent (body over 64 KiB, 64 copies out, HTTP/2 mirror).", value: proxy.mirrorsSkipped)
        out.add("edgemesh_proxy_idle_backend_connections", .gauge, help: "Idle kept-alive backend connections held for the next request.",
                value: self.proxy.idleBackendConnectionCount)
        out.add("edgemesh_proxy_datagram_sessions_total", .counter, help: "UDP client sessions opened.", value: proxy.datagramSessionsOpened)
        out.add("edgemesh_proxy_datagrams_dropped_total", .counter, help: "UDP datagrams dropped.", value: proxy.datagramsDropped)
        if let gateway {
            out.add("edgemesh_gateway_connections", .gauge, help: "Open gateway connections.", value: gateway.openConnections)
        }
        if let socks5Proxy {
            let statistics = socks5Proxy.statistics
            out.add("edgemesh_socks5_sessions_total", .counter, help: "SOCKS5 clients accepted.", value: statistics.sessionsAccepted)
            out.add("edgemesh_socks5_connected_total", .counter, help: "SOCKS5 sessions connected to a node.", value: statistics.sessionsConnected)
            out.add("edgemesh_socks5_open_sessions", .gauge, help: "SOCKS5 sessions open now.", value: statistics.openSessions)
            out.add("edgemesh_socks5_authentication_failures_total", .counter, help: "SOCKS5 clients refused for their credentials.", value: statistics.authenticationFailures)
            for (reason, count) in statistics.refusals.sorted(by: { $0.key < $1.key }) {
                out.add("edgemesh_socks5_refusals_total", .counter, help: "SOCKS5 requests refused, by reply.", labels: [("reply", reason)], value: count)
            }
        }
        if let tunnel {
            out.add("edgemesh_tunnel_pending_handshakes", .gauge, help: "Handshakes under way on connections peers opened.", value: tunnel.pendingHandshakes)
            out.add("edgemesh_tunnel_receive_budget_bytes", .gauge, help: "Bytes of the tunnel receive budget open streams hold.", value: tunnel.receiveBudgetInUse)
        }
        for limit in limitCounters {
            out.add(limit.metric, .counter, help: limit.help, labels: limit.labels, value: limit.value)
        }
        for peer in tunnel?.peerStatuses() ?? [] {
            let labels = [("peer", peer.node), ("path", peer.path?.rawValue ?? "down")]
            out.add("edgemesh_tunnel_peer_up", .gauge, help: "1 while a tunnel connection to the peer is up.", labels: labels, value: peer.path == nil ? 0 : 1)
            let byPeer = [("peer", peer.node)]
            out.add("edgemesh_tunnel_sent_bytes_total", .counter, help: "Bytes sent to the peer through the tunnel.", labels: byPeer, value: peer.bytesSent)
            out.add("edgemesh_tunnel_received_bytes_total", .counter, help: "Bytes received from the peer.", labels: byPeer, value: peer.bytesReceived)
            if let rtt = peer.roundTripTime {
                out.add("edgemesh_tunnel_rtt_seconds", .gauge, help: "Keepalive round trip to the peer.", labels: byPeer, value: Double(rtt.nanoseconds) / 1e9)
            }
        }
        return out.text
    }

    /// The endpoint serving `/metrics`, `/status`, `/table`, `/flows` and `/tunnel/status` on `address`.
    public func makeHTTPEndpoint(address: SocketAddress) -> AgentHTTPEndpoint {
        AgentHTTPEndpoint(
            host: host, address: address,
            pages: [
                "/metrics": .init(contentType: "text/plain; version=0.0.4") { [self] in metricsText() },
                "/status": .init(contentType: "application/json") { [self] in statusJSON() },
                "/table": .init(contentType: "application/json") { [self] in tableJSON() },
                "/flows": .init(contentType: "application/json") { [self] in flowsJSON() },
                "/tunnel/status": .init(contentType: "application/json") { [self] in
                    (try? tunnel?.statusReport.json()).map { String(decoding: $0, as: UTF8.self) + "\n" } ?? "null\n"
                },
            ])
    }

    private static func state(of status: KubernetesReflectorStatus) -> String {
        switch status.phase {
        case .idle: "idle"
        case .listing: "listing"
        case .watching: "watching"
        case .backingOff(_, let delay, let relist): "retrying in \(delay.nanoseconds / 1_000_000) ms (\(relist ? "relist" : "watch"))"
        case .stopped: "stopped"
        case .notServed: "not served"
        }
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once (UDP and TCP listen on the same address).
    fileprivate func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
