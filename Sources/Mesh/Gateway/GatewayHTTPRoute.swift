import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP route of a VirtualService as the gateway serves it: its matches compiled, its
/// durations parsed, and what it does with a request that fits: answer it (a CORS preflight, a
/// `redirect`, a `directResponse`) or forward it, rewritten and with its headers edited, under
/// the route's timeout and retries.
struct GatewayHTTPRoute {
    enum Action {
        case forward([GatewayDestination])
        case redirect(GatewayRedirect)
        case respond(LocalReply)
    }

    var name: String
    /// Any one fits; none means every request.
    var matches: [HTTPRequestMatch]
    var action: Action
    var rewrite: GatewayRewrite?
    var requestEdits: [HTTPHeaderEdit]
    var responseEdits: [HTTPHeaderEdit]
    var cors: GatewayCORSPolicy?
    var timeout: TimeAmount?
    var retry: HTTPRetryPolicy
    var mirror: GatewayRoutes.Mirror?

    init(_ route: VirtualService.HTTPRoute, label: String, namespace: String, clusterDomain: String, problems: inout [String]) {
        name = label + (route.name.map { " (\($0))" } ?? "")
        if !route.unsupportedFields.isEmpty {
            problems.append("\(label): \(route.unsupportedFields.joined(separator: ", ")) not implemented; the route is served without them")
        }
        matches = route.match.enumerated().map { index, match in
            HTTPRequestMatch(match, label: "\(label).match[\(index)]", problems: &problems)
        }
        if let redirect = route.redirect {
            action = .redirect(GatewayRedirect(redirect, label: label, problems: &problems))
        } else if let direct = route.directResponse {
            action = .respond(Self.directReply(direct, label: label, problems: &problems))
        } else {
            action = .forward(BoundVirtualService.destinations(route.route, namespace: namespace, clusterDomain: clusterDomain))
        }
        rewrite = route.rewrite.map { GatewayRewrite($0, label: label, problems: &problems) }
        requestEdits = HTTPHeaderEdit.edits(route.headers?.request)
        responseEdits = HTTPHeaderEdit.edits(route.headers?.response)
        cors = route.corsPolicy.map { GatewayCORSPolicy($0, label: label, problems: &problems) }
        timeout = Self.duration(route.timeout, field: "timeout", label: label, problems: &problems)
        if let mirror = route.mirror {
            let percentage = min(max(route.mirrorPercentage ?? 100, 0), 100)
            if let asked = route.mirrorPercentage, asked != percentage {
                problems.append("\(label): mirrorPercentage \(asked) is not between 0 and 100; \(percentage) is used")
            }
            self.mirror = GatewayRoutes.Mirror(
                destination: BoundVirtualService.destinations(
                    [VirtualService.RouteDestination(destination: mirror)], namespace: namespace, clusterDomain: clusterDomain)[0],
                percentage: percentage)
        }
        if let retries = route.retries {
            retry = HTTPRetryPolicy(
                attempts: retries.attempts ?? 2,
                perTryTimeout: Self.duration(retries.perTryTimeout, field: "retries.perTryTimeout", label: label, problems: &problems),
                retryOn: retries.retryOn ?? HTTPRetryPolicy.istioDefaultRetryOn)
            if retries.retryOn == nil || retry.conditions.contains("retriable-status-codes") && retry.statusCodes.isEmpty {
                retry.statusCodes = [503]
            }
        } else {
            retry = .istioDefault
        }
    }

    /// The match of this route `request` fits, if any.
    func match(for request: GatewayRequest) -> HTTPRequestMatch? {
        matches.isEmpty ? .everything : matches.first { $0.fits(request) }
    }

    /// What becomes of `request`, which fits `match`.
    func decide(_ request: GatewayRequest, matchedBy match: HTTPRequestMatch) -> GatewayRoutes.Decision {
        if let preflight = cors?.preflightReply(to: request) { return .reply(preflight) }
        switch action {
        case .redirect(let redirect):
            return .reply(redirect.reply(to: request))
        case .respond(let reply):
            return .reply(reply)
        case .forward(let destinations):
            var head = request.head
            rewrite?.apply(to: &head, of: request, matchedBy: match)
            HTTPHeaderEdit.apply(requestEdits, to: &head.headers)
            let policy = HTTPExchangePolicy(
                timeout: timeout, retry: retry, responseEdits: responseEdits + (cors?.responseEdits(for: request) ?? []))
            return .forward(GatewayRoutes.ForwardedRequest(destinations: destinations, route: name, head: head, policy: policy, mirror: mirror))
        }
    }

    /// An Istio duration; "0s" or a duration that does not parse (reported) mean none.
    private static func duration(_ text: String?, field: String, label: String, problems: inout [String]) -> TimeAmount? {
        guard let text else { return nil }
        do {
            let amount = try IstioDuration.parse(text)
            return amount > .zero ? amount : nil
        } catch {
            problems.append("\(label): \(field) \"\(text)\" is not a duration (\(error)); not applied")
            return nil
        }
    }

    private static func directReply(_ response: VirtualService.HTTPDirectResponse, label: String, problems: inout [String]) -> LocalReply {
        guard (200...599).contains(response.status) else {
            problems.append("\(label): directResponse.status \(response.status) is not a response status; 500 is sent")
            return LocalReply(status: .internalServerError, reason: "\(label): directResponse.status \(response.status) is not a response status")
        }
        var body = response.body?.string
        if body == nil, let bytes = response.body?.bytes {
            if let decoded = Data(base64Encoded: bytes) {
                body = String(decoding: decoded, as: UTF8.self)
            } else {
                problems.append("\(label): directResponse.body.bytes is not base64; sent without a body")
            }
        }
        return LocalReply(
            status: HTTPResponseStatus(statusCode: response.status), reason: "\(label): direct response", body: body ?? "")
    }
}
