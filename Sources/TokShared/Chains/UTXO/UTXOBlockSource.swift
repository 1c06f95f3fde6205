import Logging

/// What `getblockheader <hash> true` says about a block's place in the node's chain.
public struct UTXOBlockHeaderInfo: Equatable, Sendable {
    public let hash: String
    public let height: Int64
    /// Blocks from this one to the tip on the node's main chain, this one included; -1 when
    /// the block is not on the main chain (a reorganisation abandoned it).
    public let confirmations: Int64
    /// nil for the genesis block.
    public let previousBlockHash: String?
    /// nil at the tip, and for a block off the main chain.
    public let nextBlockHash: String?

    public var isOnMainChain: Bool { confirmations > 0 }
}

/// Reads a Bitcoin-family chain from its node over Core's JSON-RPC, in the subset every
/// Dogecoin Core 1.14 release answers: `getblockcount`, `getblockhash`, `getblockheader <hash>
/// true`, `getblock <hash> false` (the raw block, parsed here; never verbosity 2) and
/// `getrawtransaction <txid> false` (the raw transaction, parsed here; needs -txindex for
/// confirmed transactions). Raw forms mean amounts are read as the integers they are on the
/// wire, never from the 8-decimal JSON numbers. Calls are sent as JSON-RPC batches.
///
/// A block or header the node does not know, and a height beyond its tip, are outcomes (nil),
/// not errors: a follower meets them whenever the chain moves under it.
public final class UTXOBlockSource: Sendable {
    /// Core's RPC_INVALID_ADDRESS_OR_KEY, "Block not found" and "No such mempool or blockchain transaction".
    static let notFoundCode: Int64 = -5
    /// Core's RPC_INVALID_PARAMETER, "Block height out of range".
    static let heightOutOfRangeCode: Int64 = -8
    /// Blocks per batch: the hex of this many blocks of the largest size stays under the
    /// client's response limit (checked in RawBlockTests), and every request costs a round
    /// trip to the node and a wait for its answer before the next batch is asked for.
    public static let maxBlocksPerBatch = 7
    /// Transactions per batch. Most are a few hundred bytes; a batch whose answer is too large
    /// for the client (a transaction can be as large as a block) is fetched one call at a time.
    public static let maxTransactionsPerBatch = 50
    /// Heights and headers per batch: small answers, bounded to keep one request modest.
    public static let maxHeadersPerBatch = 500

    public let chain: UTXOChainParameters
    private let client: JSONRPCClient

    public init(client: JSONRPCClient, chain: UTXOChainParameters) {
        self.client = client
        self.chain = chain
    }

    /// The source for a configured bip122 network: its chain row, and a client that reads numbers as text.
    /// Raw blocks are the large answers Core's server stalls on behind a delayed ACK: on `http://` the socket
    /// transport acknowledges at once (TCP_QUICKACK); on URLSession (`https://`) the client takes a connection
    /// per request instead (JSONRPCClient.closesConnections).
    public convenience init(network: NetworkConfig, logger: Logger) throws(TokError) {
        guard let chain = UTXOChains.parameters(for: network.chain) else {
            throw TokError(.unsupportedChainFamily, "\(network.chain) is not a known Bitcoin-family chain")
        }
        self.init(
            client: try JSONRPCClient.forNetwork(network, numbersAsText: true, closesConnections: true, logger: logger)
                .get(),
            chain: chain)
    }

    /// .chainMismatch unless the node's genesis block is the chain's.
    public func checkChain() async throws(TokError) {
        let genesis = try await blockHash(height: 0)
        guard genesis == chain.genesisHash else {
            throw TokError(
                .chainMismatch,
                "the node's genesis block is \(genesis ?? "unknown"), not \(chain.name)'s \(chain.genesisHash)")
        }
    }

    /// `getblockcount`: the height of the node's best block.
    public func tipHeight() async throws(TokError) -> Int64 {
        let answer = try await client.call("getblockcount", [])
        guard let height = try UTXOBlockSource.value(answer, "getblockcount")?.lenientInt64, height >= 0 else {
            throw TokError(.rpcError, "getblockcount did not answer a height")
        }
        return height
    }

    public func blockHash(height: Int64) async throws(TokError) -> String? {
        try await blockHashes(heights: [height])[0]
    }

    /// `getblockhash` for each height, on the node's main chain; nil beyond its tip.
    public func blockHashes(heights: [Int64]) async throws(TokError) -> [String?] {
        precondition(heights.allSatisfy { $0 >= 0 }, "a block height is not negative")
        return try await client.batched(
            heights, size: UTXOBlockSource.maxHeadersPerBatch,
            call: { .init("getblockhash", [.integer($0)]) }
        ) { (height, answer) throws(TokError) -> String? in
            guard
                let value = try UTXOBlockSource.value(
                    answer, "getblockhash \(height)", absentCode: UTXOBlockSource.heightOutOfRangeCode)
            else {
                return nil
            }
            guard let hash = value.stringValue.flatMap(UTXOBlockSource.canonicalHash) else {
                throw TokError(.rpcError, "getblockhash \(height) did not answer a block hash")
            }
            return hash
        }
    }

    public func header(hash: String) async throws(TokError) -> UTXOBlockHeaderInfo? {
        try await headers(hashes: [hash])[0]
    }

    /// `getblockheader <hash> true` for each hash; nil for a block the node does not know.
    public func headers(hashes: [String]) async throws(TokError) -> [UTXOBlockHeaderInfo?] {
        try await client.batched(
            hashes.map { $0.lowercased() }, size: UTXOBlockSource.maxHeadersPerBatch,
            call: { .init("getblockheader", [.string($0), .bool(true)]) }
        ) { (hash, answer) throws(TokError) -> UTXOBlockHeaderInfo? in
            guard let value = try UTXOBlockSource.value(answer, "getblockheader \(hash)") else { return nil }
            guard value.string(at: "hash") == hash, let height = value["height"]?.lenientInt64, height >= 0,
                let confirmations = value["confirmations"]?.lenientInt64
            else {
                throw TokError(
                    .rpcError, "getblockheader \(hash) did not answer this block's hash, height and confirmations")
            }
            return UTXOBlockHeaderInfo(
                hash: hash, height: height, confirmations: confirmations,
                previousBlockHash: value.string(at: "previousblockhash"),
                nextBlockHash: value.string(at: "nextblockhash"))
        }
    }

    public func block(hash: String) async throws(TokError) -> RawBlock? {
        try await blocks(hashes: [hash])[0]
    }

    /// `getblock <hash> false` for each hash, parsed (.badRawBlock when it does not parse);
    /// nil for a block the node does not know.
    public func blocks(hashes: [String]) async throws(TokError) -> [RawBlock?] {
        let chain = self.chain
        return try await client.batchedHex(
            hashes.map { $0.lowercased() }, size: UTXOBlockSource.maxBlocksPerBatch,
            call: { .init("getblock", [.string($0), .bool(false)]) }
        ) { (hash, answer) throws(TokError) -> RawBlock? in
            guard
                let bytes = try UTXOBlockSource.bytes(
                    answer, "getblock \(hash)", subject: "raw block", code: .badRawBlock)
            else { return nil }
            let block = try RawBlock(parsing: bytes, chain: chain)
            guard block.hash == hash else {
                throw TokError(.rpcError, "getblock \(hash) answered block \(block.hash)")
            }
            return block
        }
    }

    /// `getrawtransaction <txid> false` for each txid, parsed and checked to be that
    /// transaction. .txNotFound for one the node does not know (it needs -txindex=1 for
    /// confirmed transactions that are not its wallet's).
    public func transactions(txids: [String]) async throws(TokError) -> [UTXOParsedTransaction] {
        try await client.batchedHex(
            txids.map { $0.lowercased() }, size: UTXOBlockSource.maxTransactionsPerBatch,
            call: { .init("getrawtransaction", [.string($0), .bool(false)]) }
        ) { (txid, answer) throws(TokError) -> UTXOParsedTransaction in
            guard
                let bytes = try UTXOBlockSource.bytes(
                    answer, "getrawtransaction \(txid)", subject: "raw transaction", code: .badRawTx)
            else {
                throw TokError(
                    .txNotFound, "transaction \(txid) is unknown to the node (is it running with -txindex=1?)")
            }
            let transaction = try UTXOParsedTransaction(parsing: bytes)
            guard transaction.txid == txid else {
                throw TokError(.rpcError, "getrawtransaction \(txid) answered transaction \(transaction.txid)")
            }
            return transaction
        }
    }

    /// For each transaction, the outputs its inputs spend, in input order (none for a
    /// coinbase): their exact values and scripts, so the caller can prove which address an
    /// input spends from and what the inputs add up to. Outputs of the given transactions
    /// themselves (spent later in the same block) are taken from them; the rest are fetched
    /// once each with `getrawtransaction`.
    public func spentOutputs(of transactions: [UTXOParsedTransaction]) async throws(TokError) -> [[UTXOOutput]] {
        var known: [[UInt8]: UTXOTransaction] = [:]
        for parsed in transactions { known[parsed.txidInternalBytes] = parsed.transaction }
        var missing: [String] = []
        var requested: Set<[UInt8]> = []
        for parsed in transactions where !parsed.isCoinbase {
            for input in parsed.inputs {
                let txid = input.previousOutput.txidInternalBytes
                if known[txid] == nil, requested.insert(txid).inserted { missing.append(input.previousOutput.txid) }
            }
        }
        if !missing.isEmpty {
            for fetched in try await self.transactions(txids: missing) {
                known[fetched.txidInternalBytes] = fetched.transaction
            }
        }
        return try transactions.map { (parsed) throws(TokError) -> [UTXOOutput] in
            guard !parsed.isCoinbase else { return [] }
            return try parsed.inputs.enumerated().map { (index, input) throws(TokError) -> UTXOOutput in
                let outPoint = input.previousOutput
                guard let previous = known[outPoint.txidInternalBytes], Int(outPoint.vout) < previous.outputs.count
                else {
                    throw TokError(
                        .rpcError,
                        "input \(index) of \(parsed.txid) spends \(outPoint), which its transaction does not have")
                }
                return previous.outputs[Int(outPoint.vout)]
            }
        }
    }

    // MARK: Calls

    /// The result of one call; nil when the node answered `absentCode` (it does not know the
    /// thing asked for); any other endpoint error is .rpcError.
    private static func value(
        _ answer: Result<JSON, RPCCallError>, _ what: String,
        absentCode: Int64 = notFoundCode
    ) throws(TokError) -> JSON? {
        switch answer {
        case .success(let value): return value
        case .failure(let error) where error.code == absentCode: return nil
        case .failure(let error): throw TokError(.rpcError, "\(what): \(error)")
        }
    }

    /// The bytes a hex result stands for; nil when the node does not know the thing asked for.
    /// The same refusals (`code`) whether the answer was decoded at once or read as JSON.
    private static func bytes(
        _ answer: Result<HexCallResult, RPCCallError>, _ what: String, subject: String, code: ErrorCode
    ) throws(TokError) -> [UInt8]? {
        let json: Result<JSON, RPCCallError>
        switch answer {
        case .success(.bytes(let bytes)):
            guard bytes.count <= RawBlock.maxSerializedBytes else {
                throw TokError(code, "\(subject) hex is longer than \(2 * RawBlock.maxSerializedBytes) digits")
            }
            return bytes
        case .success(.json(let value)): json = .success(value)
        case .failure(let error): json = .failure(error)
        }
        guard let value = try UTXOBlockSource.value(json, what) else { return nil }
        guard let hex = value.stringValue else { throw TokError(.rpcError, "\(what) false did not answer hex") }
        return try Wire.bytes(hex: hex, maxBytes: RawBlock.maxSerializedBytes, subject: subject, code: code)
    }

    /// 64 lowercase hex digits, or nil.
    private static func canonicalHash(_ text: String) -> String? {
        text.utf8.count == 64 && Hex.decode(text) != nil ? text.lowercased() : nil
    }
}
