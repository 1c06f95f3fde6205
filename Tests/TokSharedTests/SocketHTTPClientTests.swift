#if os(Linux)
import Foundation
import Glibc
import Logging
import XCTest
@testable import TokShared

/// SocketHTTPClient against LoopbackHTTPServer: framing (Content-Length, chunked, up to the
/// close), connection reuse, and every way an answer can fail, each as its typed error; then
/// JSONRPCClient's mapping of those to TokError codes.
final class SocketHTTPClientTests: XCTestCase {
    private func client(
        _ server: LoopbackHTTPServer, requestTimeoutMilliseconds: Int = 10_000,
        maxResponseBytes: Int = 1 << 20, maxConnections: Int = 4
    ) -> SocketHTTPClient {
        SocketHTTPClient(
            host: "127.0.0.1", port: server.port, target: "/", connectTimeoutMilliseconds: 5_000,
            requestTimeoutMilliseconds: requestTimeoutMilliseconds, maxResponseBytes: maxResponseBytes,
            maxConnections: maxConnections)
    }

    private func post(_ client: SocketHTTPClient, _ text: String = "{}") async throws -> (Int, String) {
        let response = try await client.post(Array(text.utf8), headers: [("Content-Type", "application/json")])
        return (response.statusCode, String(decoding: response.body, as: UTF8.self))
    }

    private func expectFailure(
        _ code: HTTPTransportError.Code, _ client: SocketHTTPClient,
        file: StaticString = #filePath, line: UInt = #line
    ) async {
        do {
            let answer = try await post(client)
            XCTFail("expected \(code.rawValue), got \(answer)", file: file, line: line)
        } catch let error as HTTPTransportError {
            XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
        } catch {
            XCTFail("not an HTTPTransportError: \(error)", file: file, line: line)
        }
    }

    func testKeptAliveConnectionCarriesEveryRequest() async throws {
        let server = try LoopbackHTTPServer { request in
            .send(
                LoopbackHTTPServer.answer(
                    "{\"echo\":\(String(decoding: request.body, as: UTF8.self)),"
                        + "\"host\":\"\(request.header("Host") ?? "")\"}"), close: false)
        }
        defer { server.stop() }
        let http = client(server)
        for index in 0..<5 {
            let (status, body) = try await post(http, "\(index)")
            XCTAssertEqual(status, 200)
            XCTAssertEqual(body, "{\"echo\":\(index),\"host\":\"127.0.0.1:\(server.port)\"}")
        }
        XCTAssertEqual(server.acceptedConnections, 1)
        XCTAssertEqual(http.openConnections, 1)
    }

    func testAnswerInPiecesIsReadWhole() async throws {
        // 200 KB in 1000-byte writes: the headers and the body arrive over many reads.
        let big = String(repeating: "x", count: 200_000)
        let server = try LoopbackHTTPServer { _ in
            .send(
                LoopbackHTTPServer.answer(
                    "\"\(big)\"", headers: ["X-Padding: " + String(repeating: "p", count: 3_000)]),
                close: false, pieceBytes: 1_000)
        }
        defer { server.stop() }
        let http = client(server)
        for _ in 0..<2 {
            let (_, body) = try await post(http)
            XCTAssertEqual(body, "\"\(big)\"")
        }
        XCTAssertEqual(server.acceptedConnections, 1)
    }

    func testChunkedAnswerWithExtensionsAndTrailer() async throws {
        let server = try LoopbackHTTPServer { _ in
            .send(
                LoopbackHTTPServer.chunked(
                    ["{\"a\":", String(repeating: "1", count: 70_000), "}"], trailer: "X-Checksum: 1\r\n"),
                close: false, pieceBytes: 777)
        }
        defer { server.stop() }
        let http = client(server)
        for _ in 0..<2 {
            let (status, body) = try await post(http)
            XCTAssertEqual(status, 200)
            XCTAssertEqual(body, "{\"a\":" + String(repeating: "1", count: 70_000) + "}")
        }
        XCTAssertEqual(server.acceptedConnections, 1)
    }

    func testAnswerWithoutLengthEndsWithTheConnection() async throws {
        let server = try LoopbackHTTPServer { _ in
            .send(Array("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"old\":true}".utf8), close: true)
        }
        defer { server.stop() }
        let http = client(server)
        for _ in 0..<2 {
            let (_, body) = try await post(http)
            XCTAssertEqual(body, "{\"old\":true}")
        }
        XCTAssertEqual(server.acceptedConnections, 2, "an answer framed by the close leaves nothing to reuse")
        XCTAssertEqual(http.openConnections, 0)
    }

    func testConnectionCloseHeaderIsHonoured() async throws {
        let server = try LoopbackHTTPServer { _ in
            .send(LoopbackHTTPServer.answer("1", headers: ["Connection: close"]), close: true)
        }
        defer { server.stop() }
        let http = client(server)
        _ = try await post(http)
        _ = try await post(http)
        XCTAssertEqual(server.acceptedConnections, 2)
    }

    func testInterimAnswerIsSkipped() async throws {
        let server = try LoopbackHTTPServer { _ in
            .send(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8) + LoopbackHTTPServer.answer("2"), close: false)
        }
        defer { server.stop() }
        let (status, body) = try await post(client(server))
        XCTAssertEqual(status, 200)
        XCTAssertEqual(body, "2")
    }

    /// A server that drops an idle kept-alive connection (Core does after -rpcservertimeout)
    /// costs nothing but a new connection.
    func testConnectionTheServerDroppedIsReplaced() async throws {
        let server = try LoopbackHTTPServer { _ in .send(LoopbackHTTPServer.answer("3"), close: true) }
        defer { server.stop() }
        let http = client(server)
        for _ in 0..<3 {
            let (_, body) = try await post(http)
            XCTAssertEqual(body, "3")
        }
        XCTAssertEqual(server.acceptedConnections, 3)
    }

    /// The same when the server closes the connection only once it has read the next request.
    func testConnectionClosedOnTheNextRequestIsRetriedOnce() async throws {
        let server = try LoopbackHTTPServer { request in
            request.indexOnConnection == 0 ? .send(LoopbackHTTPServer.answer("4"), close: false) : .close
        }
        defer { server.stop() }
        let http = client(server)
        for _ in 0..<3 {
            let (_, body) = try await post(http)
            XCTAssertEqual(body, "4")
        }
        XCTAssertEqual(server.acceptedConnections, 3)
    }

    func testCloseWithoutAnAnswerIsAReset() async throws {
        let server = try LoopbackHTTPServer { _ in .close }
        defer { server.stop() }
        await expectFailure(.connectionReset, client(server))
        XCTAssertEqual(server.acceptedConnections, 1, "a new connection is not retried: that is the caller's decision")
    }

    func testGarbageIsMalformed() async throws {
        let server = try LoopbackHTTPServer { _ in .send(Array("SSH-2.0-OpenSSH\r\n\r\n".utf8), close: true) }
        defer { server.stop() }
        await expectFailure(.malformedResponse, client(server))
    }

    func testBadHeadersAreMalformed() async throws {
        let answers = [
            "HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-Long: " + String(repeating: "h", count: 70_000) + "\r\n\r\n",
        ]
        for text in answers {
            let server = try LoopbackHTTPServer { _ in .send(Array(text.utf8), close: true) }
            await expectFailure(.malformedResponse, client(server))
            server.stop()
        }
    }

    func testTruncatedBodyIsMalformed() async throws {
        let server = try LoopbackHTTPServer { _ in
            .send(Array("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"short\"".utf8), close: true)
        }
        defer { server.stop() }
        await expectFailure(.malformedResponse, client(server))
    }

    func testTruncatedChunkIsMalformed() async throws {
        let server = try LoopbackHTTPServer { _ in
            .send(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc".utf8), close: true)
        }
        defer { server.stop() }
        await expectFailure(.malformedResponse, client(server))
    }

    func testOversizedAnswersAreRefused() async throws {
        let framings: [[UInt8]] = [
            LoopbackHTTPServer.answer(String(repeating: "y", count: 5_000)),
            LoopbackHTTPServer.chunked([String(repeating: "y", count: 600), String(repeating: "y", count: 600)]),
            Array(("HTTP/1.0 200 OK\r\n\r\n" + String(repeating: "y", count: 5_000)).utf8),
        ]
        for bytes in framings {
            let server = try LoopbackHTTPServer { _ in .send(bytes, close: true) }
            await expectFailure(.responseTooLarge, client(server, maxResponseBytes: 1_000))
            server.stop()
        }
    }

    func testSilentServerTimesOut() async throws {
        let server = try LoopbackHTTPServer { _ in .stall }
        defer { server.stop() }
        await expectFailure(.timedOut, client(server, requestTimeoutMilliseconds: 200))
    }

    func testNoListenerIsRefused() async throws {
        // A port that was just bound and released: nothing listens on it.
        let server = try LoopbackHTTPServer { _ in .close }
        let port = server.port
        server.stop()
        let http = SocketHTTPClient(
            host: "127.0.0.1", port: port, target: "/", connectTimeoutMilliseconds: 5_000,
            requestTimeoutMilliseconds: 5_000, maxResponseBytes: 1_000, maxConnections: 1)
        await expectFailure(.connectionRefused, http)
        XCTAssertEqual(http.openConnections, 0)
    }

    func testUnknownHostIsReported() async throws {
        let http = SocketHTTPClient(
            host: "no-such-host.invalid", port: 1, target: "/", connectTimeoutMilliseconds: 5_000,
            requestTimeoutMilliseconds: 5_000, maxResponseBytes: 1_000, maxConnections: 1)
        await expectFailure(.hostNotFound, http)
    }

    func testCancellationEndsAWaitingExchange() async throws {
        let server = try LoopbackHTTPServer { _ in .stall }
        defer { server.stop() }
        let http = client(server, requestTimeoutMilliseconds: 600_000)
        let task = Task { try await self.post(http) }
        while server.requestCount == 0 { try await Task.sleep(nanoseconds: 5_000_000) }
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("a cancelled exchange answered")
        } catch let error as HTTPTransportError {
            XCTAssertEqual(error.code, .cancelled)
        }
        XCTAssertEqual(http.openConnections, 0)
    }

    func testConcurrentRequestsShareAtMostTheConnectionLimit() async throws {
        let server = try LoopbackHTTPServer { request in
            usleep(20_000)  // so that requests overlap
            return .send(LoopbackHTTPServer.answer(String(decoding: request.body, as: UTF8.self)), close: false)
        }
        defer { server.stop() }
        let http = client(server, maxConnections: 2)
        let bodies = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<8 { group.addTask { try await self.post(http, "\(index)").1 } }
            var bodies: [String] = []
            for try await body in group { bodies.append(body) }
            return bodies
        }
        XCTAssertEqual(Set(bodies), Set((0..<8).map(String.init)))
        XCTAssertLessThanOrEqual(server.acceptedConnections, 2)
        XCTAssertLessThanOrEqual(http.openConnections, 2)
    }

    func testPlainHTTPURLsOnly() {
        let make = { (text: String) in
            SocketHTTPClient(
                url: URL(string: text)!, connectTimeoutMilliseconds: 1, requestTimeoutMilliseconds: 1,
                maxResponseBytes: 1, maxConnections: 1)
        }
        XCTAssertNil(make("https://127.0.0.1:8545/"))
        XCTAssertEqual(make("http://127.0.0.1:8545")?.target, "/")
        XCTAssertEqual(make("http://127.0.0.1:8545")?.port, 8545)
        XCTAssertEqual(make("http://localhost/rpc?x=1")?.target, "/rpc?x=1")
        XCTAssertEqual(make("http://localhost/rpc?x=1")?.port, 80)
        XCTAssertEqual(make("http://[::1]:18332/")?.host, "::1")
    }

    // MARK: JSONRPCClient on this transport

    private func rpcClient(
        _ server: LoopbackHTTPServer, retries: Int = 0, password: String = "pw"
    ) throws -> JSONRPCClient {
        try JSONRPCClient(
            url: server.url, user: "user", password: password, timeoutMilliseconds: 5_000, retries: retries,
            logger: Logger(label: "socket-http-test"))
    }

    private static func rpcAnswer(_ request: LoopbackHTTPServer.Request, result: String) -> [UInt8] {
        let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]
        let id = (object?["id"] as? Int) ?? 0
        return LoopbackHTTPServer.answer("{\"jsonrpc\":\"2.0\",\"id\":\(id),\"result\":\(result)}")
    }

    func testRPCCallsKeepOneConnectionAndSendCredentials() async throws {
        let expected = "Basic " + Base64.encode(Array("user:pw".utf8))
        let server = try LoopbackHTTPServer { request in
            guard request.header("Authorization") == expected, request.head.hasPrefix("POST / HTTP/1.1\r\n") else {
                return .send(
                    LoopbackHTTPServer.answer(
                        "", status: "401 Unauthorized", headers: ["WWW-Authenticate: Basic realm=\"jsonrpc\""]),
                    close: true)
            }
            return .send(SocketHTTPClientTests.rpcAnswer(request, result: "\"ok\""), close: false)
        }
        defer { server.stop() }
        let rpc = try rpcClient(server)
        for _ in 0..<3 {
            let answer = try await rpc.call("ping", [])
            XCTAssertEqual(try answer.get().stringValue, "ok")
        }
        XCTAssertEqual(server.acceptedConnections, 1)
    }

    /// The URLSession path (what https:// endpoints take) answers the same.
    func testRPCWithoutTheSocketTransportStillWorks() async throws {
        let server = try LoopbackHTTPServer { request in
            .send(SocketHTTPClientTests.rpcAnswer(request, result: "\"via urlsession\""), close: false)
        }
        defer { server.stop() }
        let rpc = try JSONRPCClient(
            url: server.url, user: "user", password: "pw", timeoutMilliseconds: 5_000, retries: 0,
            usesSocketTransport: false, logger: Logger(label: "socket-http-test"))
        let answer = try await rpc.call("ping", [])
        XCTAssertEqual(try answer.get().stringValue, "via urlsession")
    }

    func testRPCRefusedCredentialsAreUnauthorized() async throws {
        let server = try LoopbackHTTPServer { _ in
            .send(
                LoopbackHTTPServer.answer(
                    "", status: "401 Unauthorized", headers: ["WWW-Authenticate: Basic realm=\"jsonrpc\""]),
                close: true)
        }
        defer { server.stop() }
        do {
            _ = try await rpcClient(server, retries: 2, password: "wrong").call("ping", [])
            XCTFail("a 401 answered")
        } catch let error as TokError {
            XCTAssertEqual(error.code, .rpcUnauthorized)
        }
        XCTAssertEqual(server.requestCount, 1, "refused credentials are not retried")
    }

    func testRPCTransportFailuresAreRetriedThenUnavailable() async throws {
        let server = try LoopbackHTTPServer { _ in .send(Array("garbage\r\n\r\n".utf8), close: true) }
        defer { server.stop() }
        do {
            _ = try await rpcClient(server, retries: 1).call("ping", [])
            XCTFail("garbage answered")
        } catch let error as TokError {
            XCTAssertEqual(error.code, .rpcUnavailable)
            XCTAssertTrue(error.message.contains("malformed_response"), error.message)
        }
        XCTAssertEqual(server.requestCount, 2)
    }

    func testRPCRecoversWhenTheServerComesBack() async throws {
        // The first exchange fails (closed without an answer), the retry gets the answer.
        let server = try LoopbackHTTPServer { request in
            request.connection == 0
                ? .close : .send(SocketHTTPClientTests.rpcAnswer(request, result: "7"), close: false)
        }
        defer { server.stop() }
        let answer = try await rpcClient(server, retries: 1).call("ping", [])
        XCTAssertEqual(try answer.get().lenientInt64, 7)
    }

    func testRPCOversizedAnswerIsAnErrorNotARetry() async throws {
        let server = try LoopbackHTTPServer { _ in
            .send(
                Array("HTTP/1.1 200 OK\r\nContent-Length: \(JSONRPCClient.maxResponseBytes + 1)\r\n\r\n".utf8),
                close: true)
        }
        defer { server.stop() }
        do {
            _ = try await rpcClient(server, retries: 2).call("ping", [])
            XCTFail("an oversized answer was taken")
        } catch let error as TokError {
            XCTAssertEqual(error.code, .rpcError)
        }
        XCTAssertEqual(server.requestCount, 1)
    }

    func testRPCErrorAnswerInChunksIsReturned() async throws {
        let server = try LoopbackHTTPServer { request in
            let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]
            let id = (object?["id"] as? Int) ?? 0
            return .send(
                LoopbackHTTPServer.chunked([
                    "{\"result\":null,\"error\":{\"code\":-5,", "\"message\":\"Block not found\"},\"id\":\(id)}",
                ]),
                close: false)
        }
        defer { server.stop() }
        let answer = try await rpcClient(server).call("getblock", [])
        guard case .failure(let failure) = answer else { return XCTFail("expected the endpoint's error") }
        XCTAssertEqual(failure.code, -5)
    }
}
#endif
