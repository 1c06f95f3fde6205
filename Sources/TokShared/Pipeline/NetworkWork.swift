import Logging

/// Chain I/O for a batch of records: grouped by network, cut into chunks of the
/// network's RPC batch size, at most `rpc_concurrency` chunks in flight per
/// network, results back in input order. tok-verify and tok-submit both use it.
enum NetworkWork {
    static func run<Input: Sendable, Output: Sendable>(
        _ inputs: [Input], network: (Input) -> NetworkConfig,
        work: @escaping @Sendable (NetworkConfig, [Input]) async -> [Output]
    ) async -> [Output] {
        var results = [Output?](repeating: nil, count: inputs.count)
        var slotsByNetwork: [String: [Int]] = [:]
        for (slot, input) in inputs.enumerated() { slotsByNetwork[network(input).alias, default: []].append(slot) }
        for alias in slotsByNetwork.keys.sorted() {
            let slots = slotsByNetwork[alias]!
            let config = network(inputs[slots[0]])
            let chunks = stride(from: 0, to: slots.count, by: config.rpcBatchSize).map {
                Array(slots[$0..<min($0 + config.rpcBatchSize, slots.count)])
            }
            let chunkInputs = chunks.map { chunk in chunk.map { inputs[$0] } }
            await withTaskGroup(of: (Int, [Output]).self) { group in
                var next = 0
                func startNext() {
                    guard next < chunks.count else { return }
                    let chunkIndex = next
                    let input = chunkInputs[chunkIndex]
                    next += 1
                    group.addTask { (chunkIndex, await work(config, input)) }
                }
                for _ in 0..<min(config.rpcConcurrency, chunks.count) { startNext() }
                for await (chunkIndex, values) in group {
                    precondition(values.count == chunks[chunkIndex].count, "chain work must answer every input")
                    for (slot, value) in zip(chunks[chunkIndex], values) { results[slot] = value }
                    startNext()
                }
            }
        }
        return results.map { $0! }
    }
}

/// How long a stage holds a batch for the chain to catch up (--wait).
public struct WaitPolicy: Sendable {
    public var timeoutMilliseconds: Int
    public var pollMilliseconds: Int
    public init(timeoutMilliseconds: Int, pollMilliseconds: Int) {
        precondition(timeoutMilliseconds >= 0 && pollMilliseconds > 0)
        self.timeoutMilliseconds = timeoutMilliseconds
        self.pollMilliseconds = pollMilliseconds
    }
}

extension JSONRPCClient {
    /// The client for a configured network, or why there cannot be one.
    static func forNetwork(
        _ network: NetworkConfig, numbersAsText: Bool = false, closesConnections: Bool = false,
        logger: Logger
    ) -> Result<JSONRPCClient, TokError> {
        do {
            return .success(
                try JSONRPCClient(
                    url: network.rpcURL, user: network.rpcUser, password: network.rpcPassword,
                    timeoutMilliseconds: network.rpcTimeoutMilliseconds, retries: network.rpcRetries,
                    numbersAsText: numbersAsText, closesConnections: closesConnections,
                    network: network.alias, logger: logger))
        } catch {
            return .failure(error)
        }
    }
}
