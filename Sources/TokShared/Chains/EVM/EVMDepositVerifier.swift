import Logging

/// Proves EVM deposits with two JSON-RPC batches per group of claims:
/// (1) head height, receipts and transactions; (2) the canonical block at each
/// receipt's height, to catch a receipt from a block that was reorganised away.
final class EVMDepositVerifier: DepositVerifier, @unchecked Sendable {
    static let transferTopic = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"

    private let network: NetworkConfig
    private let logger: Logger
    private let client: JSONRPCClient?
    private let clientProblem: TokError?
    private let chainCheck = ChainIdCheck()

    init(network: NetworkConfig, logger: Logger) {
        self.network = network
        self.logger = logger
        switch JSONRPCClient.forNetwork(network, logger: logger) {
        case .success(let made): (client, clientProblem) = (made, nil)
        case .failure(let error): (client, clientProblem) = (nil, error)
        }
    }

    func verify(_ claims: [DepositClaim]) async -> [Result<DepositFinding, TokError>] {
        guard let client else { return claims.map { _ in .failure(clientProblem!) } }
        do {
            try await ensureChain(client)
            return try await verifyGroup(claims, client: client)
        } catch {
            return claims.map { _ in .failure(error) }
        }
    }

    /// The endpoint must serve the configured chain: a node pointed at the
    /// wrong chain would otherwise "prove" deposits that never happened here.
    private func ensureChain(_ client: JSONRPCClient) async throws(TokError) {
        try await chainCheck.ensure(client: client, network: network)
    }

    private func verifyGroup(
        _ claims: [DepositClaim], client: JSONRPCClient
    ) async throws(TokError) -> [Result<DepositFinding, TokError>] {
        var calls = [JSONRPCClient.Call("eth_blockNumber", [])]
        for claim in claims {
            calls.append(.init("eth_getTransactionReceipt", [.string(claim.tx)]))
            calls.append(.init("eth_getTransactionByHash", [.string(claim.tx)]))
        }
        let first = try await client.batch(calls)
        guard case .success(let headValue) = first[0], let head = EVMQuantity.uint64(headValue) else {
            throw TokError(.rpcError, "eth_blockNumber gave no usable answer")
        }

        // Distinct heights whose canonical block we must compare against the receipts.
        var heights: [UInt64] = []
        for index in claims.indices {
            if case .success(let receipt) = first[1 + 2 * index], !receipt.isNull,
                let height = EVMQuantity.uint64(receipt["blockNumber"]), !heights.contains(height)
            {
                heights.append(height)
            }
        }
        var canonicalHashes: [UInt64: String] = [:]
        if !heights.isEmpty {
            let blocks = try await client.batch(
                heights.map { .init("eth_getBlockByNumber", [.string(EVMQuantity.hex($0)), .bool(false)]) })
            for (height, answer) in zip(heights, blocks) {
                if case .success(let block) = answer, let hash = block["hash"]?.stringValue {
                    canonicalHashes[height] = hash.lowercased()
                }
            }
        }

        return claims.enumerated().map { index, claim in
            judge(
                claim, receiptAnswer: first[1 + 2 * index], transactionAnswer: first[2 + 2 * index],
                head: head, canonicalHashes: canonicalHashes)
        }
    }

    private func judge(
        _ claim: DepositClaim, receiptAnswer: Result<JSON, RPCCallError>,
        transactionAnswer: Result<JSON, RPCCallError>, head: UInt64,
        canonicalHashes: [UInt64: String]
    ) -> Result<DepositFinding, TokError> {
        let receipt: JSON, transaction: JSON
        switch (receiptAnswer, transactionAnswer) {
        case (.failure(let error), _), (_, .failure(let error)):
            return .failure(TokError(.rpcError, "looking up \(claim.tx): \(error)"))
        case (.success(let r), .success(let t)):
            receipt = r
            transaction = t
        }
        if receipt.isNull {
            if transaction.isNull {
                return .failure(TokError(.txNotFound, "transaction \(claim.tx) is unknown to \(network.alias)"))
            }
            // Known but not yet mined: zero confirmations, reported as pending by the stage.
            return .success(
                DepositFinding(
                    amount: .zero, blockHash: "", blockNumber: 0, confirmations: 0,
                    requiredConfirmations: network.confirmations))
        }
        guard receipt["status"]?.stringValue == "0x1" else {
            return .failure(
                TokError(
                    .txFailed,
                    "transaction \(claim.tx) was mined but reverted (status \(receipt["status"]?.stringValue ?? "missing"))"
                ))
        }
        guard let height = EVMQuantity.uint64(receipt["blockNumber"]),
            let blockHash = receipt["blockHash"]?.stringValue?.lowercased()
        else {
            return .failure(TokError(.rpcError, "receipt of \(claim.tx) lacks its block"))
        }
        guard let canonical = canonicalHashes[height] else {
            return .failure(TokError(.reorganised, "no canonical block at height \(height) for \(claim.tx)"))
        }
        guard canonical == blockHash else {
            return .failure(
                TokError(.reorganised, "block \(blockHash) of \(claim.tx) is no longer canonical at height \(height)"))
        }
        let confirmations = head >= height ? head - height + 1 : 0

        let amount: UInt256
        switch claim.mapping.asset.assetNamespace {
        case "erc20":
            switch sumTokenTransfers(receipt, claim: claim) {
            case .success(let sum): amount = sum
            case .failure(let error): return .failure(error)
            }
        default:
            switch nativeValue(transaction, claim: claim) {
            case .success(let value): amount = value
            case .failure(let error): return .failure(error)
            }
        }
        return .success(
            DepositFinding(
                amount: amount, blockHash: blockHash, blockNumber: height,
                confirmations: confirmations, requiredConfirmations: network.confirmations))
    }

    /// Native coin: the transaction itself moves value from the sender to the receiver.
    /// Value moved by contract-internal calls is not a deposit (no receipt proves it).
    private func nativeValue(_ transaction: JSON, claim: DepositClaim) -> Result<UInt256, TokError> {
        guard let to = transaction["to"]?.stringValue, to.lowercased() == claim.receiver.lowercased() else {
            return .failure(
                TokError(
                    .noPaymentToReceiver, "transaction \(claim.tx) is not addressed to the receiver \(claim.receiver)"))
        }
        guard let from = transaction["from"]?.stringValue, from.lowercased() == claim.sender.lowercased() else {
            return .failure(
                TokError(
                    .senderMismatch,
                    "transaction \(claim.tx) was sent by \(transaction["from"]?.stringValue ?? "?"), not by \(claim.sender)"
                ))
        }
        guard let valueText = transaction["value"]?.stringValue, let value = UInt256(hex: valueText) else {
            return .failure(TokError(.rpcError, "transaction \(claim.tx) has no readable value"))
        }
        guard !value.isZero else {
            return .failure(TokError(.noPaymentToReceiver, "transaction \(claim.tx) moves no value"))
        }
        return .success(value)
    }

    /// ERC-20: the sum of Transfer events emitted by the configured contract
    /// from the claimed account to the receiver. Transfers by other contracts
    /// or from other accounts do not count.
    private func sumTokenTransfers(_ receipt: JSON, claim: DepositClaim) -> Result<UInt256, TokError> {
        let contract = claim.mapping.asset.assetReference.lowercased()
        let receiverTopic = EVMDepositVerifier.addressTopic(claim.receiver)
        let senderTopic = EVMDepositVerifier.addressTopic(claim.sender)
        var total = UInt256.zero
        var paidByOthers = false
        for log in receipt["logs"]?.arrayElements ?? [] {
            guard log["address"]?.stringValue?.lowercased() == contract,
                let topics = log["topics"], topics.count == 3,
                topics[0]?.stringValue?.lowercased() == EVMDepositVerifier.transferTopic,
                topics[2]?.stringValue?.lowercased() == receiverTopic,
                log["removed"]?.boolValue != true
            else { continue }
            guard topics[1]?.stringValue?.lowercased() == senderTopic else {
                paidByOthers = true
                continue
            }
            guard let dataText = log["data"]?.stringValue, dataText.count == 66,
                let amount = UInt256(hex: dataText)
            else {
                return .failure(TokError(.rpcError, "a Transfer log of \(claim.tx) has unreadable data"))
            }
            guard let sum = total.adding(amount) else {
                return .failure(TokError(.amountOverflow, "Transfer amounts of \(claim.tx) overflow 2^256-1"))
            }
            total = sum
        }
        if total.isZero {
            if paidByOthers {
                return .failure(
                    TokError(.senderMismatch, "\(claim.tx) pays the receiver, but not from \(claim.sender)"))
            }
            return .failure(
                TokError(
                    .noPaymentToReceiver,
                    "\(claim.tx) has no Transfer of \(claim.mapping.token) to the receiver \(claim.receiver)"))
        }
        return .success(total)
    }

    /// An address as an indexed event topic: left-padded to 32 bytes, lowercase.
    static func addressTopic(_ address: String) -> String {
        "0x" + String(repeating: "0", count: 24) + address.dropFirst(2).lowercased()
    }
}

/// Checks, once per process, that an endpoint serves the configured chain.
final class ChainIdCheck: @unchecked Sendable {
    private(set) var confirmed = false

    func ensure(client: JSONRPCClient, network: NetworkConfig) async throws(TokError) {
        if confirmed { return }
        try accept(try await client.call("eth_chainId", []), network: network)
    }

    /// Checks an eth_chainId answer fetched as part of a larger batch.
    func accept(_ answer: Result<JSON, RPCCallError>, network: NetworkConfig) throws(TokError) {
        guard case .success(let value) = answer, let chainId = EVMQuantity.uint64(value) else {
            throw TokError(.rpcError, "eth_chainId gave no usable answer")
        }
        guard String(chainId) == network.chain.reference else {
            throw TokError(
                .chainMismatch, "endpoint for \(network.alias) serves chain \(chainId), configured \(network.chain)")
        }
        confirmed = true
    }
}
