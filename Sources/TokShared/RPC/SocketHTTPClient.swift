#if os(Linux)
import Foundation
import Glibc

/// Why an HTTP exchange over a socket failed. The codes are stable: they appear in log lines
/// and tests match on them.
public struct HTTPTransportError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case hostNotFound = "host_not_found"
        case connectionRefused = "connection_refused"
        case connectionReset = "connection_reset"
        case timedOut = "timed_out"
        case malformedResponse = "malformed_response"
        case responseTooLarge = "response_too_large"
        case cancelled = "cancelled"
        case socketError = "socket_error"
    }
    public let code: Code
    public let detail: String
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }
    public var description: String { "\(code.rawValue): \(detail)" }
}

/// One HTTP answer: status and the whole body.
public struct HTTPResponse: Sendable {
    public let statusCode: Int
    public let body: [UInt8]
}

/// A small HTTP/1.1 client for plain `http://` endpoints on POSIX sockets, for JSON-RPC POSTs.
///
/// Why not URLSession: on Linux it goes through libcurl, and every request pays for that; worse,
/// Bitcoin-family nodes (libevent's HTTP server) do not set TCP_NODELAY, so a large answer on a
/// kept-alive connection waits for the client's delayed ACK (40 ms). Here every connection sets
/// TCP_NODELAY and re-arms TCP_QUICKACK after each read (Linux clears it on its own), so the
/// connection can be kept alive and reused.
///
/// Connections are pooled: a request takes an idle one or opens one (at most `maxConnections` at
/// a time; more requests wait for one), and gives it back when the answer was read to its end
/// and the server did not ask to close. The socket work blocks (poll with deadlines) on a thread
/// of its own per exchange, never on Swift's cooperative pool.
public final class SocketHTTPClient: @unchecked Sendable {
    public let host: String
    public let port: UInt16
    /// Path and query of every request.
    public let target: String
    public let connectTimeoutMilliseconds: Int
    /// The deadline of one exchange, from writing the request to the last byte of the answer.
    public let requestTimeoutMilliseconds: Int
    public let maxResponseBytes: Int
    public let maxConnections: Int
    /// Status line and headers of an answer.
    static let maxHeaderBytes = 64 << 10
    static let maxHeaderLines = 200
    /// An answer that ends when the connection does (no length, not chunked) still gets its limit.
    static let readChunkBytes = 64 << 10

    private let lock = NSLock()
    private var idle: [SocketConnection] = []
    private var open = 0
    private var waiters: [CheckedContinuation<SocketConnection?, Never>] = []

    /// nil unless `url` is `http://host[:port][/path]`: other schemes are not this client's.
    public convenience init?(
        url: URL, connectTimeoutMilliseconds: Int, requestTimeoutMilliseconds: Int,
        maxResponseBytes: Int, maxConnections: Int
    ) {
        guard url.scheme?.lowercased() == "http", var host = url.host, !host.isEmpty,
            url.user == nil, url.password == nil
        else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = url.port ?? 80
        guard (1...65535).contains(port) else { return nil }
        var target = url.path.isEmpty ? "/" : url.path
        if let query = url.query { target += "?" + query }
        self.init(
            host: host, port: UInt16(port), target: target, connectTimeoutMilliseconds: connectTimeoutMilliseconds,
            requestTimeoutMilliseconds: requestTimeoutMilliseconds, maxResponseBytes: maxResponseBytes,
            maxConnections: maxConnections)
    }

    public init(
        host: String, port: UInt16, target: String, connectTimeoutMilliseconds: Int, requestTimeoutMilliseconds: Int,
        maxResponseBytes: Int, maxConnections: Int
    ) {
        precondition(
            connectTimeoutMilliseconds > 0 && requestTimeoutMilliseconds > 0 && maxResponseBytes > 0
                && maxConnections > 0)
        self.host = host
        self.port = port
        self.target = target
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.requestTimeoutMilliseconds = requestTimeoutMilliseconds
        self.maxResponseBytes = maxResponseBytes
        self.maxConnections = maxConnections
    }

    deinit {
        for connection in idle { connection.close() }
    }

    /// Connections open now, idle or in use (for tests).
    var openConnections: Int {
        lock.lock()
        defer { lock.unlock() }
        return open
    }

    /// POSTs `body` with `headers` (Host, Content-Length and Connection are added here).
    public func post(_ body: [UInt8], headers: [(String, String)]) async throws(HTTPTransportError) -> HTTPResponse {
        if Task.isCancelled { throw HTTPTransportError(.cancelled, "the task was cancelled") }
        var request = "POST \(target) HTTP/1.1\r\nHost: \(hostHeader)\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "Content-Length: \(body.count)\r\nConnection: keep-alive\r\n\r\n"
        // One write for headers and body: nothing for Nagle's algorithm to hold back.
        var message = Array(request.utf8)
        message.append(contentsOf: body)
        let bytes = message

        let reused = await acquire()
        let outcome = await runBlocking {
            [self] cancellation -> Result<(HTTPResponse, SocketConnection?), HTTPTransportError> in
            exchange(bytes, reused: reused, cancellation: cancellation)
        }
        switch outcome {
        case .success(let (response, keep)):
            release(keep)
            return response
        case .failure(let error):
            release(nil)
            throw error
        }
    }

    private var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? name : "\(name):\(port)"
    }

    // MARK: The pool

    /// An idle connection, or nil when the caller may open a new one; waits while `maxConnections` are in use.
    private func acquire() async -> SocketConnection? {
        await withCheckedContinuation { continuation in takeSlot(continuation) }
    }

    /// Answers `continuation` at once when a slot is free, or queues it (under the lock, so a
    /// release cannot miss it).
    private func takeSlot(_ continuation: CheckedContinuation<SocketConnection?, Never>) {
        lock.lock()
        if let connection = idle.popLast() {
            lock.unlock()
            continuation.resume(returning: connection)
        } else if open < maxConnections {
            open += 1
            lock.unlock()
            continuation.resume(returning: nil)
        } else {
            waiters.append(continuation)
            lock.unlock()
        }
    }

    /// Gives a slot back: `connection` when it can carry another request, nil when it was closed.
    private func release(_ connection: SocketConnection?) {
        lock.lock()
        if !waiters.isEmpty {
            let waiter = waiters.removeFirst()
            lock.unlock()
            // A waiter given nil opens its own connection in the slot this one freed.
            waiter.resume(returning: connection)
            return
        }
        if let connection {
            idle.append(connection)
        } else {
            open -= 1
        }
        lock.unlock()
    }

    // MARK: One exchange, on its own thread

    private func runBlocking<T: Sendable>(_ work: @escaping @Sendable (SocketCancellation) -> T) async -> T {
        let cancellation = SocketCancellation()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let thread = Thread { continuation.resume(returning: work(cancellation)) }
                thread.name = "tok-http"
                thread.start()
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    /// Sends the request and reads the answer; on a reused connection that the server had
    /// closed meanwhile (nothing of an answer came back), once more on a new connection.
    private func exchange(
        _ request: [UInt8], reused: SocketConnection?,
        cancellation: SocketCancellation
    ) -> Result<(HTTPResponse, SocketConnection?), HTTPTransportError> {
        let deadline = Deadline(milliseconds: requestTimeoutMilliseconds)
        var candidate = reused
        if let connection = candidate, !connection.looksUsable() {
            connection.close()
            candidate = nil
        }
        while true {
            let connection: SocketConnection
            let isReused = candidate != nil
            if let candidate {
                connection = candidate
            } else {
                do {
                    connection = try SocketConnection.open(
                        host: host, port: port,
                        deadline: Deadline(
                            milliseconds: min(
                                connectTimeoutMilliseconds,
                                requestTimeoutMilliseconds)),
                        cancellation: cancellation)
                } catch {
                    return .failure(error)
                }
            }
            candidate = nil
            cancellation.watch(connection.descriptor)
            defer { cancellation.watch(-1) }
            do {
                try connection.write(request, deadline: deadline, cancellation: cancellation)
                let (response, keepAlive) = try readResponse(connection, deadline: deadline, cancellation: cancellation)
                if keepAlive {
                    return .success((response, connection))
                }
                connection.close()
                return .success((response, nil))
            } catch {
                cancellation.watch(-1)
                connection.close()
                // A shutdown() by cancel() shows up as a reset or an early end: say what it was.
                if cancellation.isCancelled {
                    return .failure(HTTPTransportError(.cancelled, "the task was cancelled"))
                }
                let staleReuse =
                    isReused && connection.receivedNothing
                    && (error.code == .connectionReset || error.code == .malformedResponse)
                if staleReuse { continue }
                return .failure(error)
            }
        }
    }

    /// Status line, headers, then a body by Content-Length, by chunks, or up to the end of the
    /// connection; 1xx interim answers are skipped. Returns whether the connection can be reused.
    private func readResponse(
        _ connection: SocketConnection, deadline: Deadline,
        cancellation: SocketCancellation
    ) throws(HTTPTransportError) -> (HTTPResponse, Bool) {
        var headerBytes = 0
        func line() throws(HTTPTransportError) -> String {
            let text = try connection.readLine(
                maxBytes: SocketHTTPClient.maxHeaderBytes - headerBytes,
                deadline: deadline, cancellation: cancellation)
            headerBytes += text.utf8.count + 2
            return text
        }
        while true {
            let statusLine = try line()
            let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].utf8.count == 3,
                let statusCode = Int(parts[1]), statusCode >= 100
            else {
                throw HTTPTransportError(
                    .malformedResponse, "not an HTTP/1.x status line: \(SocketHTTPClient.excerpt(statusLine))")
            }
            let isHTTP10 = parts[0] == "HTTP/1.0"
            var contentLength: Int?
            var chunked = false
            var connectionTokens: [String] = []
            var lines = 0
            while true {
                let header = try line()
                if header.isEmpty { break }
                lines += 1
                guard lines <= SocketHTTPClient.maxHeaderLines, let colon = header.firstIndex(of: ":") else {
                    throw HTTPTransportError(.malformedResponse, "bad header line: \(SocketHTTPClient.excerpt(header))")
                }
                let name = header[..<colon].lowercased()
                let value = header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                switch name {
                case "content-length":
                    guard let length = Int(value), length >= 0, contentLength == nil || contentLength == length else {
                        throw HTTPTransportError(
                            .malformedResponse, "bad Content-Length: \(SocketHTTPClient.excerpt(value))")
                    }
                    contentLength = length
                case "transfer-encoding":
                    let codings = value.lowercased().split(separator: ",").map {
                        $0.trimmingCharacters(in: .whitespaces)
                    }
                    guard codings.last == "chunked" else {
                        throw HTTPTransportError(
                            .malformedResponse, "unsupported Transfer-Encoding: \(SocketHTTPClient.excerpt(value))")
                    }
                    chunked = true
                case "connection":
                    connectionTokens += value.lowercased().split(separator: ",").map {
                        $0.trimmingCharacters(in: .whitespaces)
                    }
                default:
                    break
                }
            }
            if statusCode < 200 {
                headerBytes = 0
                continue
            }
            var keepAlive = isHTTP10 ? connectionTokens.contains("keep-alive") : !connectionTokens.contains("close")
            var body: [UInt8] = []
            if statusCode == 204 || statusCode == 304 {
                // No body by definition.
            } else if chunked {
                try readChunked(connection, into: &body, deadline: deadline, cancellation: cancellation)
            } else if let contentLength {
                guard contentLength <= maxResponseBytes else {
                    throw HTTPTransportError(
                        .responseTooLarge,
                        "an answer of \(contentLength) bytes exceeds the limit of \(maxResponseBytes)")
                }
                try connection.read(count: contentLength, into: &body, deadline: deadline, cancellation: cancellation)
            } else {
                try connection.readToEnd(
                    into: &body, maxBytes: maxResponseBytes, deadline: deadline, cancellation: cancellation)
                keepAlive = false
            }
            // Bytes after the answer were never asked for: the connection is out of step.
            if keepAlive && connection.hasBufferedBytes { keepAlive = false }
            return (HTTPResponse(statusCode: statusCode, body: body), keepAlive)
        }
    }

    private func readChunked(
        _ connection: SocketConnection, into body: inout [UInt8], deadline: Deadline,
        cancellation: SocketCancellation
    ) throws(HTTPTransportError) {
        while true {
            let sizeLine = try connection.readLine(maxBytes: 1024, deadline: deadline, cancellation: cancellation)
            let sizeText =
                sizeLine.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first
                .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard !sizeText.isEmpty, sizeText.utf8.count <= 15, let size = Int(sizeText, radix: 16), size >= 0 else {
                throw HTTPTransportError(
                    .malformedResponse, "bad chunk size line: \(SocketHTTPClient.excerpt(sizeLine))")
            }
            if size == 0 { break }
            guard size <= maxResponseBytes - body.count else {
                throw HTTPTransportError(
                    .responseTooLarge, "a chunked answer exceeds the limit of \(maxResponseBytes) bytes")
            }
            try connection.read(count: size, into: &body, deadline: deadline, cancellation: cancellation)
            guard try connection.readLine(maxBytes: 2, deadline: deadline, cancellation: cancellation).isEmpty else {
                throw HTTPTransportError(.malformedResponse, "a chunk does not end with CRLF")
            }
        }
        // Trailer fields, ignored, up to the empty line.
        var trailerBytes = 0
        while true {
            let trailer = try connection.readLine(
                maxBytes: SocketHTTPClient.maxHeaderBytes - trailerBytes,
                deadline: deadline, cancellation: cancellation)
            if trailer.isEmpty { return }
            trailerBytes += trailer.utf8.count + 2
        }
    }

    static func excerpt(_ text: some StringProtocol) -> String {
        let printable = text.unicodeScalars.prefix(80).map {
            $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f ? Character($0) : "?"
        }
        return "\"" + String(printable) + (text.unicodeScalars.count > 80 ? "…" : "") + "\""
    }
}

/// A point in time after which socket work gives up, on the monotonic clock.
struct Deadline {
    let uptimeNanoseconds: UInt64
    init(milliseconds: Int) {
        uptimeNanoseconds = DispatchTime.now().uptimeNanoseconds + UInt64(milliseconds) * 1_000_000
    }
    /// Milliseconds left, rounded up, for poll(); 0 once passed.
    var remainingMilliseconds: Int32 {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now < uptimeNanoseconds else { return 0 }
        return Int32(clamping: (uptimeNanoseconds - now + 999_999) / 1_000_000)
    }
}

/// Lets a cancelled task wake the thread blocked on its socket: shutdown() ends the poll at once.
final class SocketCancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var descriptor: Int32 = -1
    private var cancelled = false

    var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }

    /// The socket to shut down on cancellation; -1 before it is closed, so that a descriptor
    /// number reused by someone else is never touched.
    func watch(_ descriptor: Int32) {
        lock.lock()
        self.descriptor = descriptor
        let shutNow = cancelled && descriptor >= 0
        lock.unlock()
        if shutNow { _ = shutdown(descriptor, Int32(SHUT_RDWR)) }
    }

    func cancel() {
        lock.lock()
        cancelled = true
        let descriptor = self.descriptor
        if descriptor >= 0 { _ = shutdown(descriptor, Int32(SHUT_RDWR)) }
        lock.unlock()
    }
}

/// One non-blocking TCP socket with a read buffer; used by one exchange at a time.
final class SocketConnection: @unchecked Sendable {
    /// Linux's TCP_QUICKACK (netinet/tcp.h); not every Glibc module map exports it.
    private static let tcpQuickAck: Int32 = 12
    private static let tcpNoDelay: Int32 = 1

    let descriptor: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var closed = false
    /// Nothing read since the last request was written: a failure then means the server had
    /// closed the connection before it saw the request.
    private(set) var receivedNothing = true

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close() }

    func close() {
        guard !closed else { return }
        closed = true
        _ = Glibc.close(descriptor)
    }

    var hasBufferedBytes: Bool { start < buffer.count }

    static func open(
        host: String, port: UInt16, deadline: Deadline,
        cancellation: SocketCancellation
    ) throws(HTTPTransportError) -> SocketConnection {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
            throw HTTPTransportError(.hostNotFound, "\(host): \(reason)")
        }
        defer { freeaddrinfo(list) }
        var lastError = HTTPTransportError(.hostNotFound, "\(host): no address")
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            if cancellation.isCancelled { throw HTTPTransportError(.cancelled, "the task was cancelled") }
            let descriptor = socket(
                info.pointee.ai_family,
                Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                    | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            guard descriptor >= 0 else {
                lastError = HTTPTransportError(.socketError, "socket(): \(String(cString: strerror(errno)))")
                continue
            }
            let connection = SocketConnection(descriptor: descriptor)
            var on: Int32 = 1
            _ = setsockopt(descriptor, Int32(IPPROTO_TCP), tcpNoDelay, &on, socklen_t(MemoryLayout<Int32>.size))
            connection.armQuickAck()
            do {
                try connection.connect(
                    info.pointee.ai_addr, info.pointee.ai_addrlen, host: host, port: port,
                    deadline: deadline, cancellation: cancellation)
                return connection
            } catch {
                connection.close()
                if error.code == .cancelled || error.code == .timedOut { throw error }
                lastError = error
            }
        }
        throw lastError
    }

    private func connect(
        _ address: UnsafeMutablePointer<sockaddr>, _ length: socklen_t, host: String, port: UInt16,
        deadline: Deadline, cancellation: SocketCancellation
    ) throws(HTTPTransportError) {
        cancellation.watch(descriptor)
        defer { cancellation.watch(-1) }
        if Glibc.connect(descriptor, address, length) == 0 { return }
        guard errno == EINPROGRESS else { throw SocketConnection.error(errno, "connect to \(host):\(port)") }
        try wait(
            for: Int16(POLLOUT), deadline: deadline, cancellation: cancellation, doing: "connecting to \(host):\(port)")
        var problem: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &problem, &size) == 0 else {
            throw SocketConnection.error(errno, "connect to \(host):\(port)")
        }
        if problem != 0 { throw SocketConnection.error(problem, "connect to \(host):\(port)") }
    }

    /// Before reuse: an idle connection the server closed (or wrote to unasked) is readable.
    func looksUsable() -> Bool {
        guard !closed, !hasBufferedBytes else { return false }
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) == 0
    }

    func write(_ bytes: [UInt8], deadline: Deadline, cancellation: SocketCancellation) throws(HTTPTransportError) {
        receivedNothing = true
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { raw in
                send(descriptor, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
            }
            if count > 0 {
                sent += count
            } else if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                try wait(
                    for: Int16(POLLOUT), deadline: deadline, cancellation: cancellation, doing: "sending the request")
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                throw SocketConnection.error(errno, "send")
            }
        }
    }

    /// One line without its CRLF (a bare LF is accepted too), of at most `maxBytes`.
    func readLine(
        maxBytes: Int, deadline: Deadline, cancellation: SocketCancellation
    ) throws(HTTPTransportError) -> String {
        // Bytes after `start` already searched; an offset, since fill() moves the buffer's contents.
        var scannedBytes = 0
        while true {
            if let newline = buffer[(start + scannedBytes)...].firstIndex(of: 0x0A) {
                var end = newline
                if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                guard end - start <= maxBytes else { break }
                let line = String(decoding: buffer[start..<end], as: UTF8.self)
                start = newline + 1
                return line
            }
            scannedBytes = buffer.count - start
            guard buffer.count - start <= maxBytes + 1 else { break }
            guard try fill(deadline: deadline, cancellation: cancellation) else {
                throw HTTPTransportError(
                    receivedNothing ? .connectionReset : .malformedResponse,
                    receivedNothing
                        ? "the server closed the connection without answering"
                        : "the connection ended inside the answer's headers")
            }
        }
        throw HTTPTransportError(.malformedResponse, "a line of the answer's headers is longer than \(maxBytes) bytes")
    }

    /// Exactly `count` bytes, appended to `body`.
    func read(
        count: Int, into body: inout [UInt8], deadline: Deadline, cancellation: SocketCancellation
    ) throws(HTTPTransportError) {
        body.reserveCapacity(body.count + count)
        var left = count
        while left > 0 {
            if start == buffer.count {
                guard try fill(deadline: deadline, cancellation: cancellation, direct: left) else {
                    throw HTTPTransportError(
                        .malformedResponse, "the connection ended \(left) bytes before the end of the answer")
                }
            }
            let take = min(left, buffer.count - start)
            body.append(contentsOf: buffer[start..<start + take])
            start += take
            left -= take
        }
    }

    /// Everything up to the end of the connection, appended to `body`, at most `maxBytes` in all.
    func readToEnd(
        into body: inout [UInt8], maxBytes: Int, deadline: Deadline, cancellation: SocketCancellation
    ) throws(HTTPTransportError) {
        while true {
            if start < buffer.count {
                guard buffer.count - start <= maxBytes - body.count else {
                    throw HTTPTransportError(
                        .responseTooLarge, "an answer without a length exceeds the limit of \(maxBytes) bytes")
                }
                body.append(contentsOf: buffer[start...])
                start = buffer.count
            }
            guard try fill(deadline: deadline, cancellation: cancellation) else { return }
        }
    }

    /// Reads what the socket has into the buffer (at least `direct` bytes of room); false at the end of the connection.
    private func fill(
        deadline: Deadline, cancellation: SocketCancellation, direct: Int = 0
    ) throws(HTTPTransportError) -> Bool {
        if start > 0 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        let room = max(SocketHTTPClient.readChunkBytes, min(direct, 16 << 20))
        let used = buffer.count
        while true {
            buffer.append(contentsOf: repeatElement(0, count: room))
            let count = buffer.withUnsafeMutableBytes { raw in
                recv(descriptor, raw.baseAddress! + used, room, 0)
            }
            buffer.removeSubrange((used + max(count, 0))...)
            if count > 0 {
                receivedNothing = false
                // Linux turns quick ACKs off again by itself: without this, the next segment of
                // a large answer from a server without TCP_NODELAY waits for a delayed ACK.
                armQuickAck()
                return true
            }
            if count == 0 { return false }
            switch errno {
            case EAGAIN, EWOULDBLOCK:
                try wait(
                    for: Int16(POLLIN), deadline: deadline, cancellation: cancellation, doing: "waiting for the answer")
            case EINTR:
                continue
            default:
                throw SocketConnection.error(errno, "recv")
            }
        }
    }

    private func armQuickAck() {
        var on: Int32 = 1
        _ = setsockopt(
            descriptor, Int32(IPPROTO_TCP), SocketConnection.tcpQuickAck, &on, socklen_t(MemoryLayout<Int32>.size))
    }

    private func wait(
        for events: Int16, deadline: Deadline, cancellation: SocketCancellation,
        doing: String
    ) throws(HTTPTransportError) {
        while true {
            if cancellation.isCancelled {
                throw HTTPTransportError(.cancelled, "the task was cancelled while \(doing)")
            }
            let remaining = deadline.remainingMilliseconds
            guard remaining > 0 else { throw HTTPTransportError(.timedOut, "timed out \(doing)") }
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&entry, 1, remaining)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw SocketConnection.error(errno, "poll") }
        }
    }

    static func error(_ number: Int32, _ doing: String) -> HTTPTransportError {
        let reason = String(cString: strerror(number))
        switch number {
        case ECONNREFUSED: return HTTPTransportError(.connectionRefused, "\(doing): \(reason)")
        case ECONNRESET, EPIPE, ECONNABORTED, ENOTCONN:
            return HTTPTransportError(.connectionReset, "\(doing): \(reason)")
        case ETIMEDOUT: return HTTPTransportError(.timedOut, "\(doing): \(reason)")
        default: return HTTPTransportError(.socketError, "\(doing): \(reason)")
        }
    }
}
#endif
