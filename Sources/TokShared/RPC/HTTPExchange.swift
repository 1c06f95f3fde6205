import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// POSTs for JSONRPCClient as delegate-driven data tasks, so that an HTTP 401 always comes back.
///
/// Bitcoin-family nodes (Dogecoin Core 1.14, Litecoin and Bitcoin Core) answer a wrong
/// rpcuser/rpcpassword with 401 and `WWW-Authenticate: Basic realm="jsonrpc"`. On Linux,
/// swift-corelibs-foundation turns that header into an authentication challenge, and when no
/// credential is stored it neither retries nor fails the task: it stays suspended forever
/// (swift-corelibs-foundation issue #5456), past every timeout, and `session.data(for:)` never
/// returns. Tasks with a completion handler, including the async API, never reach a delegate
/// for that challenge; tasks without one do. So requests run here as plain data tasks of a
/// session whose delegate is this object: it refuses every challenge, and the task then ends
/// with the 401 response it received, which the client reports as refused credentials.
final class HTTPExchange: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private struct Pending {
        var data = Data()
        var challengedResponse: URLResponse?
        let continuation: CheckedContinuation<(Data, URLResponse), Error>
    }

    private let lock = NSLock()
    private var pending: [Int: Pending] = [:]

    /// Runs `request` as a data task of `session`, whose delegate must be this object.
    func data(for request: URLRequest, session: URLSession) async throws -> (Data, URLResponse) {
        precondition(session.delegate === self, "the session's delegate must be this HTTPExchange")
        let task = session.dataTask(with: request)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                lock.lock()
                pending[task.taskIdentifier] = Pending(continuation: continuation)
                lock.unlock()
                task.resume()
            }
        } onCancel: {
            task.cancel()
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.lock()
        pending[dataTask.taskIdentifier]?.data.append(data)
        lock.unlock()
    }

    /// Never answers a challenge with credentials: the Authorization header is already on the
    /// request, and a challenge only means the endpoint refused it.
    func urlSession(
        _ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
        completionHandler: @escaping (URLSession.AuthChallengeDisposition, URLCredential?) -> Void
    ) {
        lock.lock()
        pending[task.taskIdentifier]?.challengedResponse = challenge.failureResponse ?? task.response
        lock.unlock()
        completionHandler(.cancelAuthenticationChallenge, nil)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        lock.lock()
        let finished = pending.removeValue(forKey: task.taskIdentifier)
        lock.unlock()
        guard let finished else { return }
        // A refused challenge ends the task as cancelled; what the caller needs is the 401 itself.
        if let refused = finished.challengedResponse {
            finished.continuation.resume(returning: (finished.data, refused))
        } else if let error {
            finished.continuation.resume(throwing: error)
        } else if let response = task.response {
            finished.continuation.resume(returning: (finished.data, response))
        } else {
            finished.continuation.resume(throwing: URLError(.badServerResponse))
        }
    }
}
