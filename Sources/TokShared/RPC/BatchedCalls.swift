extension JSONRPCClient {
    /// Sends one call per item in batches of `size` and reads each answer with `read`, in item order. A batch
    /// whose whole answer the client refuses (over its response limit) is sent again one call at a time: one
    /// answer always fits. The chain followers read blocks, headers and transactions this way.
    func batched<Item, Value>(
        _ items: [Item], size: Int, call: (Item) -> JSONRPCClient.Call,
        read: (Item, Result<JSON, RPCCallError>) throws(TokError) -> Value
    ) async throws(TokError) -> [Value] {
        precondition(size > 0, "a batch holds at least one call")
        var values: [Value] = []
        values.reserveCapacity(items.count)
        var start = 0
        while start < items.count {
            let chunk = items[start..<min(start + size, items.count)]
            var answers: [Result<JSON, RPCCallError>]
            do {
                answers = try await batch(chunk.map(call))
            } catch  where error.code == .rpcError && chunk.count > 1 {
                answers = []
                for item in chunk { answers.append(try await batch([call(item)])[0]) }
            }
            for (item, answer) in zip(chunk, answers) { values.append(try read(item, answer)) }
            start += chunk.count
        }
        return values
    }
}
