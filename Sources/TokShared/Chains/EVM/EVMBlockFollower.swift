import Logging

/// Follows an EVM chain over JSON-RPC and reads from each block the payments
/// to the receiver in every deposit-enabled asset of the network:
///   - native coin: transactions addressed to the receiver moving value, whose
///     receipt says they succeeded (a reverted transaction moves nothing);
///     the sender is the transaction's `from`;
///   - ERC-20: `Transfer` logs to the receiver emitted by the configured
///     token contracts (`eth_getLogs` over the batch's block range); the
///     sender is the log's `from` topic. Several logs of one asset in one
///     transaction are one payment, their sum.
/// These are the facts EVMDepositVerifier proves for a requested deposit of
/// the same transaction (same sender, same amount, same lowercase block and
/// transaction hashes), so the two agree whichever comes first. Value moved
/// by contract-internal calls is no deposit on either path. EVM blocks have
/// no coins to spend and no tokenisation anchors: those lists stay empty.
///
/// The chain may move while a batch is read (blocks, then logs, then
/// receipts): every answer is checked against the block hashes read first,
/// and a batch that no longer agrees is read again.
public final class EVMBlockFollower: BlockFollower, @unchecked Sendable {
    /// Full blocks per batch (with their transactions; one large block is a
    /// few MB of JSON): a batch too large for the client is read one by one.
    static let maxFullBlocksPerBatch = 10
    /// A batch read again this many times that still disagrees with itself is an error (retried by --follow).
    static let maxReadAttempts = 3

    private let network: NetworkConfig
    private let client: JSONRPCClient
    private let logger: Logger
    private let receiver: String
    private let receiverTopic: String
    /// CAIP-19 of the native coin when its deposits are enabled.
    private let nativeAsset: String?
    /// Deposit-enabled ERC-20 contracts (lowercase) → their CAIP-19 asset.
    private let tokenAssets: [String: String]
    private let chainCheck = ChainIdCheck()

    public init(network: NetworkConfig, logger: Logger) throws(TokError) {
        self.network = network
        self.logger = logger
        client = try JSONRPCClient.forNetwork(network, logger: logger).get()
        receiver = network.receiver.lowercased()
        receiverTopic = EVMDepositVerifier.addressTopic(network.receiver)
        let enabled = network.assets.filter(\.depositEnabled)
        nativeAsset = enabled.first { $0.asset.assetNamespace == "slip44" }?.assetText
        var tokens: [String: String] = [:]
        for mapping in enabled where mapping.asset.assetNamespace == "erc20" {
            tokens[mapping.asset.assetReference.lowercased()] = mapping.assetText
        }
        tokenAssets = tokens
    }

    public func checkChain() async throws(TokError) {
        try chainCheck.accept(try await client.call("eth_chainId", []), network: network)
    }

    public func tipHeight() async throws(TokError) -> Int64 {
        let answer = try await client.call("eth_blockNumber", [])
        guard case .success(let value) = answer, let height = EVMQuantity.uint64(value), height <= UInt64(Int64.max)
        else {
            throw TokError(.rpcError, "eth_blockNumber did not answer a height")
        }
        return Int64(height)
    }

    public func blockHashes(heights: [Int64]) async throws(TokError) -> [String?] {
        try await client.batched(
            heights, size: network.rpcBatchSize, call: { EVMBlockFollower.blockCall($0, full: false) }
        ) {
            (height, answer) throws(TokError) -> String? in
            try EVMBlockFollower.header(answer, height: height)?.hash
        }
    }

    /// EVM accounts hold balances, not coins: nothing to watch.
    public func watchCoins(_ outpoints: [String]) {}

    public func blocks(heights: ClosedRange<Int64>) async throws(TokError) -> [FollowedBlock] {
        for attempt in 1...EVMBlockFollower.maxReadAttempts {
            if let blocks = try await readBlocks(heights) { return blocks }
            logger.notice(
                "the chain moved while a batch was read; reading it again",
                metadata: ["network": "\(network.alias)", "from": "\(heights.lowerBound)", "attempt": "\(attempt)"])
        }
        throw TokError(
            .rpcError,
            "the chain of \(network.alias) kept moving while blocks \(heights.lowerBound)...\(heights.upperBound) were read"
        )
    }

    // MARK: One batch

    /// The blocks at `heights` up to the node's tip, or nil when an answer
    /// shows that the chain moved between the calls.
    private func readBlocks(_ heights: ClosedRange<Int64>) async throws(TokError) -> [FollowedBlock]? {
        let read = try await fullBlocks(heights)
        guard let last = read.last else { return [] }
        var blocks = read.map { block in
            FollowedBlock(
                network: network.chainText, height: block.height, hash: block.hash, previousHash: block.parentHash,
                timeUnixSeconds: block.timeUnixSeconds)
        }
        var payments: [[OrderedPayment]] = Array(repeating: [], count: read.count)
        if !tokenAssets.isEmpty {
            guard let tokenPayments = try await tokenPayments(read, last: last) else { return nil }
            for (index, found) in tokenPayments { payments[index] += found }
        }
        if nativeAsset != nil {
            guard let nativePayments = try await nativePayments(read) else { return nil }
            for (index, found) in nativePayments { payments[index] += found }
        }
        for index in blocks.indices {
            blocks[index].payments = payments[index].sorted { $0.order < $1.order }.map(\.payment)
            let count = blocks[index].payments.count
            guard count <= FollowedBlock.maxEventsPerKind else {
                throw TokError(
                    .rpcError,
                    "block \(blocks[index].hash) has \(count) payments to the receiver, "
                        + "more than a block record carries (\(FollowedBlock.maxEventsPerKind))")
            }
        }
        return blocks
    }

    /// `eth_getBlockByNumber(n, true)` for each height, up to the first the
    /// node does not have (its tip) or the first that does not link to the one
    /// before (the chain moved: the caller reads the rest later).
    private func fullBlocks(_ heights: ClosedRange<Int64>) async throws(TokError) -> [EVMBlockView] {
        let size = min(network.rpcBatchSize, EVMBlockFollower.maxFullBlocksPerBatch)
        let answers = try await client.batched(
            Array(heights), size: size, call: { EVMBlockFollower.blockCall($0, full: true) }
        ) {
            (height, answer) throws(TokError) -> EVMBlockView? in
            guard let header = try EVMBlockFollower.header(answer, height: height), case .success(let block) = answer
            else { return nil }
            return try EVMBlockView(block, header: header, receiver: receiver, wantsNative: nativeAsset != nil)
        }
        var blocks: [EVMBlockView] = []
        for answer in answers {
            guard let block = answer else { break }
            if let previous = blocks.last, block.parentHash != previous.hash { break }
            blocks.append(block)
        }
        return blocks
    }

    /// Native payments per block (by index in `blocks`): candidates whose
    /// receipt, from the same block, says they succeeded.
    private func nativePayments(_ blocks: [EVMBlockView]) async throws(TokError) -> [Int: [OrderedPayment]]? {
        guard let nativeAsset else { return [:] }
        let candidates = blocks.indices.flatMap { index in blocks[index].candidates.map { (block: index, transfer: $0) }
        }
        if candidates.isEmpty { return [:] }
        let receipts = try await client.batched(
            candidates, size: network.rpcBatchSize,
            call: { .init("eth_getTransactionReceipt", [.string($0.transfer.tx)]) }
        ) {
            (candidate, answer) throws(TokError) -> JSON in
            guard case .success(let receipt) = answer else {
                throw TokError(
                    .rpcError, "eth_getTransactionReceipt \(candidate.transfer.tx): \(EVMBlockFollower.problem(answer))"
                )
            }
            return receipt
        }
        var found: [Int: [OrderedPayment]] = [:]
        for (candidate, receipt) in zip(candidates, receipts) {
            // Unknown now, or mined in another block: the block read is no longer the chain's.
            guard !receipt.isNull, receipt.string(at: "blockHash")?.lowercased() == blocks[candidate.block].hash else {
                return nil
            }
            // A reverted transaction moved no value (a receipt without a status predates Byzantium: not proven).
            guard receipt.string(at: "status") == "0x1" else { continue }
            let transfer = candidate.transfer
            found[candidate.block, default: []].append(
                OrderedPayment(
                    order: PaymentOrder(transactionIndex: transfer.index, logIndex: -1),
                    payment: DetectedPayment(
                        tx: transfer.tx, asset: nativeAsset, amount: transfer.value, outputs: [],
                        sender: transfer.from, unproven: nil)))
        }
        return found
    }

    /// ERC-20 payments per block (by index in `blocks`), from one `eth_getLogs`
    /// over the blocks' range, with the last block's hash read again after it
    /// in the same batch: if it is still the one read, the logs are of the
    /// blocks read (every log's block hash is checked too).
    private func tokenPayments(
        _ blocks: [EVMBlockView], last: EVMBlockView
    ) async throws(TokError) -> [Int: [OrderedPayment]]? {
        let filter = JSON.object()
        filter.set("fromBlock", string: EVMQuantity.hex(UInt64(blocks[0].height)))
        filter.set("toBlock", string: EVMQuantity.hex(UInt64(last.height)))
        filter.set("address", JSON.array(tokenAssets.keys.sorted().map { JSON.string($0) }))
        filter.set("topics", JSON.array([.string(EVMDepositVerifier.transferTopic), .null(), .string(receiverTopic)]))
        let answers = try await client.batch([
            .init("eth_getLogs", [filter]), EVMBlockFollower.blockCall(last.height, full: false),
        ])
        guard case .success(let logs) = answers[0], logs.kind == .array else {
            throw TokError(
                .rpcError,
                "eth_getLogs over blocks \(blocks[0].height)...\(last.height): \(EVMBlockFollower.problem(answers[0]))")
        }
        guard try EVMBlockFollower.header(answers[1], height: last.height)?.hash == last.hash else { return nil }

        var indexByHash: [String: Int] = [:]
        for (index, block) in blocks.enumerated() { indexByHash[block.hash] = index }
        var groups: [String: TokenTransferGroup] = [:]
        var order: [String] = []
        for log in logs.arrayElements {
            guard let transfer = try readTransfer(log) else { continue }
            guard let blockIndex = indexByHash[transfer.blockHash], blocks[blockIndex].height == transfer.height else {
                return nil
            }
            let key = transfer.tx + " " + transfer.asset
            if groups[key] == nil {
                order.append(key)
                groups[key] = TokenTransferGroup(block: blockIndex, first: transfer)
            } else {
                groups[key]!.add(transfer)
            }
        }
        var found: [Int: [OrderedPayment]] = [:]
        for key in order {
            let group = groups[key]!
            guard let payment = group.payment() else {
                logger.error(
                    "Transfer amounts of one transaction overflow 2^256-1: not a payment",
                    metadata: ["tx": "\(group.tx)", "asset": "\(group.asset)"])
                continue
            }
            found[group.block, default: []].append(OrderedPayment(order: group.order, payment: payment))
        }
        return found
    }

    /// One `Transfer` log to the receiver from a configured contract; nil for
    /// a log that is none (removed, another shape, a zero amount).
    private func readTransfer(_ log: JSON) throws(TokError) -> TokenTransfer? {
        if log["removed"]?.boolValue == true { return nil }
        guard let contract = log.string(at: "address")?.lowercased(), let asset = tokenAssets[contract],
            let topics = log["topics"], topics.kind == .array, topics.count == 3,
            topics[0]?.stringValue?.lowercased() == EVMDepositVerifier.transferTopic,
            topics[2]?.stringValue?.lowercased() == receiverTopic
        else {
            // ERC-721's Transfer has the same signature and a fourth topic: not a payment.
            return nil
        }
        // Where the log is: the node's own fields, required.
        guard let txText = log.string(at: "transactionHash"), let tx = try? EVMTxId.canonical(txText),
            let blockHash = log.string(at: "blockHash").flatMap(EVMBlockFollower.canonicalHash),
            let height = EVMQuantity.uint64(log["blockNumber"]), height <= UInt64(Int64.max),
            let transactionIndex = EVMQuantity.uint64(log["transactionIndex"]),
            let logIndex = EVMQuantity.uint64(log["logIndex"])
        else {
            throw TokError(
                .rpcError, "eth_getLogs answered a log without its transaction, block and position: \(log.serialized())"
            )
        }
        // What it says: the contract's, which a broken token could get wrong; such a log proves no payment.
        guard let dataText = log.string(at: "data"), dataText.utf8.count == 66, let amount = UInt256(hex: dataText)
        else {
            logger.error(
                "a Transfer log to the receiver without a 32-byte amount: not a payment",
                metadata: ["tx": "\(tx)", "asset": "\(asset)"])
            return nil
        }
        if amount.isZero { return nil }
        return TokenTransfer(
            tx: tx, asset: asset, blockHash: blockHash, height: Int64(height),
            order: PaymentOrder(
                transactionIndex: Int64(clamping: transactionIndex), logIndex: Int64(clamping: logIndex)),
            amount: amount, sender: EVMBlockFollower.sender(fromTopic: topics[1]?.stringValue?.lowercased() ?? ""))
    }

    /// The address a `from` topic names, or why it names nobody: a topic that
    /// is not a left-padded address, or the zero address (a mint).
    static func sender(fromTopic topic: String) -> Result<String, UnprovenSender> {
        let padding = "0x" + String(repeating: "0", count: 24)
        guard topic.utf8.count == 66, topic.hasPrefix(padding),
            let address = try? EIP55.canonicalAddress("0x" + topic.dropFirst(padding.count))
        else {
            return .failure(.nonStandard)
        }
        if address == "0x" + String(repeating: "0", count: 40) { return .failure(.mint) }
        return .success(address)
    }

    // MARK: Calls

    /// What was wrong with an answer, for an error message.
    static func problem(_ answer: Result<JSON, RPCCallError>) -> String {
        switch answer {
        case .failure(let error): return "\(error)"
        case .success(let value): return "an answer that is not what was asked for (\(value.kind))"
        }
    }

    static func blockCall(_ height: Int64, full: Bool) -> JSONRPCClient.Call {
        .init("eth_getBlockByNumber", [.string(EVMQuantity.hex(UInt64(height))), .bool(full)])
    }

    /// The hash and parent of an `eth_getBlockByNumber` answer for `height`;
    /// nil when the node has no block there (beyond its tip).
    static func header(
        _ answer: Result<JSON, RPCCallError>, height: Int64
    ) throws(TokError) -> (hash: String, parentHash: String)? {
        let block: JSON
        switch answer {
        case .success(let value): block = value
        case .failure(let error): throw TokError(.rpcError, "eth_getBlockByNumber \(height): \(error)")
        }
        if block.isNull { return nil }
        guard EVMQuantity.uint64(block["number"]) == UInt64(height),
            let hash = block.string(at: "hash").flatMap(canonicalHash),
            let parentHash = block.string(at: "parentHash").flatMap(canonicalHash)
        else {
            throw TokError(
                .rpcError, "eth_getBlockByNumber \(height) did not answer that block's number, hash and parent")
        }
        return (hash, parentHash)
    }

    /// "0x" + 64 hex digits, lowercase (as EVMDepositVerifier stores block hashes), or nil.
    static func canonicalHash(_ text: String) -> String? {
        text.utf8.count == 66 && text.hasPrefix("0x") && Hex.decode(String(text.dropFirst(2))) != nil
            ? text.lowercased() : nil
    }

}

/// Why a Transfer log proves no sender (`DetectedPayment.unproven`).
enum UnprovenSender: String, Error {
    /// The `from` topic is not a left-padded address.
    case nonStandard = "non_standard_sender"
    /// From the zero address: tokens minted to the receiver, nobody paid them.
    case mint
    /// Logs of one asset in one transaction from different senders.
    case mixed = "mixed_senders"
}

struct OrderedPayment {
    var order: PaymentOrder
    var payment: DetectedPayment
}

/// Payments within a block in chain order: by transaction, a native payment
/// (log index -1) before the token payments of the same transaction.
struct PaymentOrder: Comparable {
    var transactionIndex: Int64
    var logIndex: Int64

    static func < (left: PaymentOrder, right: PaymentOrder) -> Bool {
        (left.transactionIndex, left.logIndex) < (right.transactionIndex, right.logIndex)
    }
}

/// What tok reads of a full block: its identity and the transactions that
/// may pay the receiver in the native coin.
struct EVMBlockView {
    struct Transfer {
        var tx: String
        var index: Int64
        var from: String
        var value: UInt256
    }

    var height: Int64
    var hash: String
    var parentHash: String
    var timeUnixSeconds: Int64
    /// Transactions addressed to the receiver that move value (their receipts still decide).
    var candidates: [Transfer] = []

    init(
        _ block: JSON, header: (hash: String, parentHash: String), receiver: String, wantsNative: Bool
    ) throws(TokError) {
        guard let number = EVMQuantity.uint64(block["number"]), let time = EVMQuantity.uint64(block["timestamp"]),
            time <= UInt64(Int64.max), let transactions = block["transactions"], transactions.kind == .array
        else {
            throw TokError(
                .rpcError, "eth_getBlockByNumber \(header.hash) did not answer its number, timestamp and transactions")
        }
        height = Int64(number)
        hash = header.hash
        parentHash = header.parentHash
        timeUnixSeconds = Int64(time)
        guard wantsNative else { return }
        for (position, transaction) in transactions.arrayElements.enumerated() {
            guard transaction.string(at: "to")?.lowercased() == receiver else { continue }
            guard let valueText = transaction.string(at: "value"), let value = UInt256(hex: valueText),
                let txText = transaction.string(at: "hash"), let tx = try? EVMTxId.canonical(txText),
                let fromText = transaction.string(at: "from"), let from = try? EIP55.canonicalAddress(fromText)
            else {
                throw TokError(
                    .rpcError,
                    "block \(header.hash) has a transaction to the receiver without a readable hash, sender and value")
            }
            if value.isZero { continue }
            let index =
                EVMQuantity.uint64(transaction["transactionIndex"]).map { Int64(clamping: $0) } ?? Int64(position)
            candidates.append(Transfer(tx: tx, index: index, from: from, value: value))
        }
    }
}

/// One `Transfer` log read.
struct TokenTransfer {
    var tx: String
    var asset: String
    var blockHash: String
    var height: Int64
    var order: PaymentOrder
    var amount: UInt256
    var sender: Result<String, UnprovenSender>
}

/// The logs of one asset in one transaction: one payment, their sum.
struct TokenTransferGroup {
    let block: Int
    let tx: String
    let asset: String
    let order: PaymentOrder
    private var total: UInt256?
    private var sender: Result<String, UnprovenSender>

    init(block: Int, first: TokenTransfer) {
        self.block = block
        tx = first.tx
        asset = first.asset
        order = first.order
        total = first.amount
        sender = first.sender
    }

    mutating func add(_ transfer: TokenTransfer) {
        total = total.flatMap { $0.adding(transfer.amount) }
        switch (sender, transfer.sender) {
        case (.success(let known), .success(let other)) where known != other: sender = .failure(.mixed)
        case (.success, .failure(let why)): sender = .failure(why)
        default: break
        }
    }

    /// nil when the amounts overflow (only a broken token contract emits that).
    func payment() -> DetectedPayment? {
        guard let total else { return nil }
        switch sender {
        case .success(let address):
            return DetectedPayment(tx: tx, asset: asset, amount: total, outputs: [], sender: address, unproven: nil)
        case .failure(let why):
            return DetectedPayment(
                tx: tx, asset: asset, amount: total, outputs: [], sender: nil, unproven: why.rawValue)
        }
    }
}

extension EVMFamily: BlockFollowing {
    public func blockFollower(for network: NetworkConfig, logger: Logger) throws(TokError) -> BlockFollower {
        try EVMBlockFollower(network: network, logger: logger)
    }
}
