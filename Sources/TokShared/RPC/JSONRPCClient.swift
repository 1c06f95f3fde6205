import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging

/// The error a JSON-RPC endpoint returned for one call.
public struct RPCCallError: Error, Sendable, CustomStringConvertible {
    public let code: Int64
    public let message: String
    public var description: String { "RPC error \(code): \(message)" }
}

/// A JSON-RPC 2.0 client over HTTP(S) with limits on everything: a timeout per
/// request, a bounded number of retries with exponential backoff, a cap on
/// response size. Transport failures are retried; an endpoint's own error
/// answer is returned to the caller, who knows whether it is final.
///
/// On Linux, `http://` endpoints (a node on loopback or a private network) go
/// through SocketHTTPClient: kept-alive connections with quick ACKs, without
/// libcurl's cost per request. `https://` goes through URLSession
/// (FoundationNetworking, libcurl underneath), which comes with the Swift
/// toolchain, so TLS works without building an HTTP package.
public final class JSONRPCClient: @unchecked Sendable {
    public struct Call {
        public let method: String
        public let params: JSON
        public init(_ method: String, _ params: [JSON]) {
            self.method = method
            let array = JSON.array()
            for value in params { array.append(value) }
            self.params = array
        }
    }

    public static let maxResponseBytes = 64 << 20
    static let firstBackoffMilliseconds = 100
    static let maxBackoffMilliseconds = 5_000
    /// Connecting never waits longer than this (nor longer than the request's timeout): a
    /// node that does not take a connection in 10 s is down for our purposes.
    static let maxConnectMilliseconds = 10_000
    /// Connections kept to one endpoint at a time (requests beyond wait for one).
    static let maxConnections = 16

    private let url: URL
    private let authorization: String?
    private let timeoutMilliseconds: Int
    private let retries: Int
    private let session: URLSession
    /// The transport for `http://` endpoints; nil for the others (and off Linux).
    private let socketClient: SocketHTTPClientBox?
    /// The session's delegate: runs each POST so that a 401 comes back (see HTTPExchange).
    private let exchange = HTTPExchange()
    private let logger: Logger
    private let nextId = ManagedCounter()
    /// Bitcoin-family nodes print amounts as JSON numbers with 8 decimals; with
    /// this set, every number of an answer arrives as text (see JSONNumberText),
    /// so no amount ever passes through a Double.
    private let numbersAsText: Bool
    /// The network's alias, for the RPC counters of --metrics-file.
    private let metricLabels: [(String, String)]
    /// Core's RPC server (libevent) does not set TCP_NODELAY: on a kept-alive
    /// connection an answer of more than a few KB (a raw block) waits for the
    /// client's delayed ACK of its headers, 40 ms on Linux. With this set,
    /// every request asks the server to close the connection after answering
    /// (which sends the rest at once): a TCP handshake instead of the stall.
    /// Only URLSession needs this: SocketHTTPClient acknowledges at once, so it
    /// keeps its connections whatever this says.
    private let closesConnections: Bool

    public init(
        url: String, user: String?, password: String?, timeoutMilliseconds: Int, retries: Int,
        numbersAsText: Bool = false, closesConnections: Bool = false, network: String = "",
        usesSocketTransport: Bool = true, logger: Logger
    ) throws(TokError) {
        self.numbersAsText = numbersAsText
        self.closesConnections = closesConnections
        self.metricLabels = [("network", network)]
        guard let parsed = URL(string: url) else { throw TokError(.rpcError, "invalid RPC URL") }
        precondition(timeoutMilliseconds > 0 && retries >= 0)
        self.url = parsed
        if let user {
            authorization = "Basic " + Base64.encode(Array("\(user):\(password ?? "")".utf8))
        } else {
            authorization = nil
        }
        self.timeoutMilliseconds = timeoutMilliseconds
        self.retries = retries
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = TimeInterval(timeoutMilliseconds) / 1000
        configuration.timeoutIntervalForResource = TimeInterval(timeoutMilliseconds) / 1000
        configuration.httpMaximumConnectionsPerHost = JSONRPCClient.maxConnections
        socketClient =
            usesSocketTransport ? SocketHTTPClientBox(url: parsed, timeoutMilliseconds: timeoutMilliseconds) : nil
        self.session = URLSession(configuration: configuration, delegate: exchange, delegateQueue: nil)
        self.logger = logger
    }

    /// A session retains its delegate until it is invalidated.
    deinit { session.finishTasksAndInvalidate() }

    /// One call; an endpoint error comes back as `.failure`.
    public func call(_ method: String, _ params: [JSON]) async throws(TokError) -> Result<JSON, RPCCallError> {
        try await batch([Call(method, params)])[0]
    }

    /// Sends calls as one JSON-RPC batch and returns their results in call order.
    /// Throws `.rpcUnavailable` when the endpoint cannot be reached after all retries.
    public func batch(_ calls: [Call]) async throws(TokError) -> [Result<JSON, RPCCallError>] {
        let (bytes, firstId) = requestBody(calls)
        let response = try await send(bytes, calls) { (answer: inout [UInt8]) throws(TokError) in
            try self.answerJSON(&answer)
        }
        return results(of: response, calls: calls, firstId: firstId)
    }

    /// The request for `calls` and the id of the first one (the others follow it).
    func requestBody(_ calls: [Call]) -> (bytes: [UInt8], firstId: Int64) {
        precondition(!calls.isEmpty)
        let firstId = nextId.take(calls.count)
        let body = JSON.array()
        for (offset, call) in calls.enumerated() {
            let request = JSON.object()
            request.set("jsonrpc", string: "2.0")
            request.set("id", integer: firstId + Int64(offset))
            request.set("method", string: call.method)
            request.set("params", call.params)
            body.append(request)
        }
        // A single call goes unbatched: some endpoints handle batches poorly.
        let payload = calls.count == 1 ? body[0]! : body
        var bytes: [UInt8] = []
        payload.serialize(into: &bytes)
        return (bytes, firstId)
    }

    /// Posts `bytes` (with retries) and reads the answer with `read` (nil: not a JSON-RPC answer), counting the calls.
    func send<Answer>(
        _ bytes: [UInt8], _ calls: [Call], read: (inout [UInt8]) throws(TokError) -> Answer?
    ) async throws(TokError) -> Answer {
        let metrics = MetricsRegistry.shared
        for call in calls { metrics.add(.rpcCalls, metricLabels + [("method", call.method)]) }
        do {
            return try await postWithRetries(
                bytes, summary: calls.count == 1 ? calls[0].method : "batch of \(calls.count)", read: read)
        } catch {
            metrics.add(.rpcErrors, metricLabels + [("kind", "transport")])
            throw error
        }
    }

    /// Each call's result or error, from the answer to a request made by `requestBody`.
    func results(of response: JSON, calls: [Call], firstId: Int64) -> [Result<JSON, RPCCallError>] {
        let metrics = MetricsRegistry.shared
        var results = [Result<JSON, RPCCallError>?](repeating: nil, count: calls.count)
        let responses = response.kind == .array ? response.arrayElements : [response]
        for item in responses {
            guard let id = item["id"]?.lenientInt64, id >= firstId, id < firstId + Int64(calls.count) else {
                if let error = item["error"], calls.count == 1 {
                    // Some endpoints answer a malformed request with id null.
                    results[0] = .failure(
                        RPCCallError(
                            code: error["code"]?.lenientInt64 ?? 0,
                            message: error["message"]?.stringValue ?? "unknown error"))
                }
                continue
            }
            let index = Int(id - firstId)
            if let error = item["error"], !error.isNull {
                metrics.add(.rpcErrors, metricLabels + [("kind", "answer")])
                results[index] = .failure(
                    RPCCallError(
                        code: error["code"]?.lenientInt64 ?? 0,
                        message: error["message"]?.stringValue ?? "unknown error"))
            } else {
                results[index] = .success(item["result"] ?? JSON.null())
            }
        }
        return results.map {
            $0 ?? .failure(RPCCallError(code: -32603, message: "the endpoint returned no answer for this call"))
        }
    }

    private func postWithRetries<Answer>(
        _ body: [UInt8], summary: String, read: (inout [UInt8]) throws(TokError) -> Answer?
    ) async throws(TokError) -> Answer {
        var backoffMilliseconds = JSONRPCClient.firstBackoffMilliseconds
        var lastProblem = ""
        for attempt in 0...retries {
            if attempt > 0 {
                // A cancelled task (a batch fetched ahead and dropped) wants no answer: no retries, no warnings.
                if Task.isCancelled { throw TokError(.rpcUnavailable, "cancelled: \(lastProblem)") }
                MetricsRegistry.shared.add(.rpcRetries, metricLabels)
                logger.warning(
                    "RPC retry", metadata: ["attempt": "\(attempt)", "call": "\(summary)", "problem": "\(lastProblem)"])
                try? await Task.sleep(nanoseconds: UInt64(backoffMilliseconds) * 1_000_000)
                backoffMilliseconds = min(backoffMilliseconds * 2, JSONRPCClient.maxBackoffMilliseconds)
            }
            let statusCode: Int
            var bytes: [UInt8]
            if let socketClient {
                switch await socketClient.post(body, authorization: authorization) {
                case .success(let answer):
                    (statusCode, bytes) = (answer.statusCode, answer.body)
                case .failure(let problem) where problem.isResponseTooLarge:
                    throw TokError(.rpcError, "RPC response exceeds the limit: \(problem)")
                case .failure(let problem):
                    lastProblem = "\(problem)"
                    continue
                }
            } else {
                var request = URLRequest(url: url)
                request.httpMethod = "POST"
                request.timeoutInterval = TimeInterval(timeoutMilliseconds) / 1000
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
                if closesConnections { request.setValue("close", forHTTPHeaderField: "Connection") }
                request.httpBody = Data(body)
                let data: Data
                let response: URLResponse
                do {
                    (data, response) = try await exchange.data(for: request, session: session)
                } catch {
                    lastProblem = "\(error.localizedDescription)"
                    continue
                }
                statusCode = (response as? HTTPURLResponse)?.statusCode ?? 0
                guard data.count <= JSONRPCClient.maxResponseBytes else {
                    throw TokError(.rpcError, "RPC response of \(data.count) bytes exceeds the limit")
                }
                bytes = [UInt8](data)
            }
            // Bitcoin-family nodes answer RPC errors with HTTP 500 and a JSON body; parse first.
            if let answer = try read(&bytes) { return answer }
            if statusCode == 401 || statusCode == 403 {
                throw TokError(
                    .rpcUnauthorized,
                    "the RPC endpoint refused our credentials (HTTP \(statusCode)): check rpc_user and rpc_password")
            }
            lastProblem = "HTTP \(statusCode), \(bytes.count) bytes that are not a JSON-RPC answer"
        }
        throw TokError(.rpcUnavailable, "RPC endpoint unavailable after \(retries + 1) attempts: \(lastProblem)")
    }

    /// The answer as JSON (its numbers as text when `numbersAsText`); nil when it is not an object or array.
    func answerJSON(_ bytes: inout [UInt8]) throws(TokError) -> JSON? {
        if numbersAsText {
            do { bytes = try JSONNumberText.quotingNumbers(bytes, maxBytes: JSONRPCClient.maxResponseBytes) } catch {
                throw TokError(.rpcError, "unreadable RPC answer: \(error.message)")
            }
        }
        let parsed = bytes.withUnsafeBytes { JSON.parse($0) }
        if case .success(let value) = parsed, value.isObject || value.kind == .array { return value }
        return nil
    }
}

/// A lock-protected counter for request ids.
final class ManagedCounter: @unchecked Sendable {
    private var value: Int64 = 1
    private let lock = NSLock()
    func take(_ count: Int) -> Int64 {
        lock.lock()
        defer { lock.unlock() }
        let first = value
        value += Int64(count)
        return first
    }
}

/// SocketHTTPClient where there is one (Linux, `http://`), behind an API that compiles everywhere.
struct SocketHTTPClientBox: Sendable {
    struct Answer {
        let statusCode: Int
        let body: [UInt8]
    }
    struct Problem: Error, CustomStringConvertible {
        let description: String
        let isResponseTooLarge: Bool
    }
    #if os(Linux)
    private let client: SocketHTTPClient

    init?(url: URL, timeoutMilliseconds: Int) {
        guard
            let client = SocketHTTPClient(
                url: url,
                connectTimeoutMilliseconds: min(timeoutMilliseconds, JSONRPCClient.maxConnectMilliseconds),
                requestTimeoutMilliseconds: timeoutMilliseconds,
                maxResponseBytes: JSONRPCClient.maxResponseBytes,
                maxConnections: JSONRPCClient.maxConnections)
        else { return nil }
        self.client = client
    }

    func post(_ body: [UInt8], authorization: String?) async -> Result<Answer, Problem> {
        var headers = [("Content-Type", "application/json")]
        if let authorization { headers.append(("Authorization", authorization)) }
        do {
            let response = try await client.post(body, headers: headers)
            return .success(Answer(statusCode: response.statusCode, body: response.body))
        } catch {
            return .failure(Problem(description: "\(error)", isResponseTooLarge: error.code == .responseTooLarge))
        }
    }
    #else
    init?(url: URL, timeoutMilliseconds: Int) { return nil }

    func post(_ body: [UInt8], authorization: String?) async -> Result<Answer, Problem> {
        .failure(Problem(description: "no socket transport on this platform", isResponseTooLarge: false))
    }
    #endif
}
