/// A call whose result is a hex string, as `JSONRPCClient.batchHex` read it: decoded straight
/// from the answer (`bytes`), or, for an answer of another shape, as JSON for the caller to judge.
public enum HexCallResult {
    case bytes([UInt8])
    case json(JSON)
}

extension JSONRPCClient {
    /// Sends one call per item in batches of `size` and reads each answer with `read`, in item order. A batch
    /// whose whole answer the client refuses (over its response limit) is sent again one call at a time: one
    /// answer always fits. The chain followers read blocks, headers and transactions this way.
    func batched<Item, Value>(
        _ items: [Item], size: Int, call: (Item) -> JSONRPCClient.Call,
        read: (Item, Result<JSON, RPCCallError>) throws(TokError) -> Value
    ) async throws(TokError) -> [Value] {
        try await batched(
            items, size: size, send: { (calls) async throws(TokError) in try await self.batch(calls) }, call: call,
            read: read)
    }

    /// `batched` for calls whose results are hex strings (raw blocks and transactions), through `batchHex`.
    func batchedHex<Item, Value>(
        _ items: [Item], size: Int, call: (Item) -> JSONRPCClient.Call,
        read: (Item, Result<HexCallResult, RPCCallError>) throws(TokError) -> Value
    ) async throws(TokError) -> [Value] {
        try await batched(
            items, size: size, send: { (calls) async throws(TokError) in try await self.batchHex(calls) }, call: call,
            read: read)
    }

    private func batched<Item, Answer, Value>(
        _ items: [Item], size: Int, send: ([Call]) async throws(TokError) -> [Answer],
        call: (Item) -> JSONRPCClient.Call, read: (Item, Answer) throws(TokError) -> Value
    ) async throws(TokError) -> [Value] {
        precondition(size > 0, "a batch holds at least one call")
        var values: [Value] = []
        values.reserveCapacity(items.count)
        var start = 0
        while start < items.count {
            let chunk = items[start..<min(start + size, items.count)]
            var answers: [Answer]
            do {
                answers = try await send(chunk.map(call))
            } catch  where error.code == .rpcError && chunk.count > 1 {
                answers = []
                for item in chunk { answers.append(try await send([call(item)])[0]) }
            }
            for (item, answer) in zip(chunk, answers) { values.append(try read(item, answer)) }
            start += chunk.count
        }
        return values
    }

    /// `batch` for calls whose results are hex strings: an answer of the shape nodes write is
    /// decoded without a JSON tree (HexBatchAnswer); any other is read as `batch` reads it.
    func batchHex(_ calls: [Call]) async throws(TokError) -> [Result<HexCallResult, RPCCallError>] {
        enum Answer {
            case hex([[UInt8]])
            case json(JSON)
        }
        let (body, firstId) = requestBody(calls)
        let answer = try await send(body, calls) { (bytes: inout [UInt8]) throws(TokError) -> Answer? in
            if let decoded = HexBatchAnswer.read(bytes, firstId: firstId, count: calls.count) { return .hex(decoded) }
            return try self.answerJSON(&bytes).map(Answer.json)
        }
        switch answer {
        case .hex(let decoded):
            return decoded.map { .success(.bytes($0)) }
        case .json(let response):
            return results(of: response, calls: calls, firstId: firstId).map { $0.map(HexCallResult.json) }
        }
    }
}
