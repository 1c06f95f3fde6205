import Logging

/// Payouts on Bitcoin-family chains: coin selection from the coins tok-apply's
/// ledger shows free, change back to the operator, the fee the chain's relay
/// policy asks (per kilobyte, flat minimum, Dogecoin's soft dust penalty),
/// legacy P2PKH signing, `sendrawtransaction`, and following the transaction
/// to the network's confirmation level. Uses only RPCs Dogecoin Core 1.14 has.
///
/// Nothing here decides which coins are spent: the selection is a proposal
/// that tok-apply's prepare accepts only if every coin is still free.
final class UTXOPayoutChannel: PayoutChannel, @unchecked Sendable {
    /// Inputs per payout: bounds the transaction (148 bytes each, far below the
    /// 100 kB relay limit) and the work of one selection.
    static let maxInputsPerPayout = 100
    /// Core's codes: "No such mempool or blockchain transaction" and sendrawtransaction's.
    static let notFoundCode: Int64 = -5
    static let verifyErrorCode: Int64 = -25
    static let verifyRejectedCode: Int64 = -26
    static let alreadyInChainCode: Int64 = -27

    var fundingModel: FundingModel { .coins }

    private let network: NetworkConfig
    private let parameters: UTXOChainParameters?
    private let client: Result<JSONRPCClient, TokError>
    private let logger: Logger

    init(network: NetworkConfig, logger: Logger) {
        self.network = network
        self.logger = logger
        parameters = UTXOChains.parameters(for: network.chain).map(network.utxoPolicy.applied(to:))
        client = JSONRPCClient.forNetwork(network, numbersAsText: true, logger: logger)
    }

    /// UTXO chains have no nonces; the coins are the ordering.
    func chainNonce(sender: String) async throws(TokError) -> UInt64 { 0 }

    // MARK: Building and signing

    /// A transaction plan: which coins, what fee, what change.
    struct Plan: Equatable {
        var inputs: [Coin]
        var fee: UInt64
        /// nil when the leftover is too small to be worth an output (it goes to the fee).
        var change: UInt64?
    }

    func sign(_ orders: [PayoutOrder], key: PrivateKey) async -> [Result<SignedPayout, TokError>] {
        guard let parameters else {
            return orders.map { _ in
                .failure(TokError(.unsupportedChainFamily, "\(network.chain) is not a known Bitcoin-family chain"))
            }
        }
        var used: Set<String> = []
        return orders.map { order in
            do throws(TokError) {
                let signed = try sign(order, key: key, parameters: parameters, excluding: used)
                for coin in signed.inputs { used.insert(coin.outpoint) }
                return .success(signed)
            } catch {
                return .failure(error)
            }
        }
    }

    private func sign(
        _ order: PayoutOrder, key: PrivateKey, parameters: UTXOChainParameters,
        excluding used: Set<String>
    ) throws(TokError) -> SignedPayout {
        let senderAddress = try UTXOAddress.parse(order.sender, chain: parameters)
        let keyAddress = UTXOAddress.p2pkh(publicKey: key.publicKey(compressed: true))
        guard keyAddress.scriptPubKey == senderAddress.scriptPubKey else {
            throw TokError(
                .badKey,
                "the operator key's address is \(keyAddress.encode(chain: parameters)), not the sender \(order.sender)")
        }
        let destination = try UTXOAddress.parse(order.destination, chain: parameters)
        guard order.amount <= UInt256(parameters.maxMoneyBaseUnits), let amount = UInt64(order.amount.description)
        else {
            throw TokError(.amountOverflow, "\(order.amount) exceeds \(parameters.name)'s money supply")
        }
        guard amount >= parameters.dustLimitBaseUnits else {
            throw TokError(
                .belowMinimum,
                "\(amount) base units is below \(parameters.name)'s dust limit of \(parameters.dustLimitBaseUnits)")
        }
        let candidates = order.coins.filter { !used.contains($0.outpoint) }
        guard
            let plan = UTXOPayoutChannel.select(
                amount: amount, from: candidates, parameters: parameters,
                maxInputs: UTXOPayoutChannel.maxInputsPerPayout)
        else {
            let free = candidates.reduce(UInt64(0)) {
                $0.addingReportingOverflow($1.value).overflow ? .max : $0 + $1.value
            }
            throw TokError(
                .insufficientCoins,
                "\(order.sender) has \(free) base units in \(candidates.count) free coins; paying \(amount) needs more (fee included)"
            )
        }
        if let cap = network.utxoPolicy.maxNetworkFee, plan.fee > cap {
            throw TokError(
                .networkFeeTooHigh, "the network fee would be \(plan.fee) base units; max_network_fee is \(cap)")
        }

        var outputs = [UTXOOutput(valueBaseUnits: amount, address: destination)]
        if let change = plan.change { outputs.append(UTXOOutput(valueBaseUnits: change, address: senderAddress)) }
        var inputs: [UTXOInput] = []
        for coin in plan.inputs {
            inputs.append(UTXOInput(previousOutput: try UTXOOutPoint(txid: coin.tx, vout: coin.index)))
        }
        var transaction = UTXOTransaction(inputs: inputs, outputs: outputs)
        try transaction.signP2PKHInputs(
            keys: Array(repeating: key, count: inputs.count),
            previousScriptPubKeys: Array(repeating: senderAddress.scriptPubKey, count: inputs.count))
        try transaction.checkStandard(chain: parameters)
        let bytes = transaction.serialized()
        // The estimate counts every signature at its largest, so the real size is never above it.
        assert(
            bytes.count
                <= UTXOTransaction.estimatedSizeBytes(p2pkhInputCount: inputs.count, p2pkhOutputCount: outputs.count))
        let txId = Hex.encode(Hashing.sha256d(bytes).reversed())
        return SignedPayout(
            txId: txId, rawHex: Hex.encode(bytes), sender: order.sender,
            spendGuard: .coins(inputs: plan.inputs, change: plan.change.map { Coin(tx: txId, index: 1, value: $0) }),
            maxNetworkFee: UInt256(plan.fee))
    }

    /// Chooses coins for one payment: the smallest single coin that pays it
    /// (keeps large coins whole for large payouts and spends few inputs), else
    /// the largest coins until they do. Pure, so it is tested without a node.
    static func select(amount: UInt64, from coins: [Coin], parameters: UTXOChainParameters, maxInputs: Int) -> Plan? {
        precondition(maxInputs > 0)
        let ascending = coins.sorted { ($0.value, $0.outpoint) < ($1.value, $1.outpoint) }
        for coin in ascending {
            if let plan = plan(amount: amount, inputs: [coin], parameters: parameters) { return plan }
        }
        var chosen: [Coin] = []
        for coin in ascending.reversed().prefix(maxInputs) {
            chosen.append(coin)
            if chosen.count > 1, let plan = plan(amount: amount, inputs: chosen, parameters: parameters) { return plan }
        }
        return nil
    }

    /// The fee and change for spending exactly `inputs`, or nil when they do not
    /// pay the amount and the fee. Change below the dust limit (or Dogecoin's
    /// soft dust limit, whose penalty would eat it) goes to the fee instead.
    static func plan(amount: UInt64, inputs: [Coin], parameters: UTXOChainParameters) -> Plan? {
        var total: UInt64 = 0
        for coin in inputs {
            let (sum, overflow) = total.addingReportingOverflow(coin.value)
            guard !overflow else { return nil }
            total = sum
        }
        guard total > amount else { return nil }
        let leftover = total - amount
        let changeFloor = max(parameters.dustLimitBaseUnits, parameters.softDustLimitBaseUnits ?? 0)
        // With change: the change is at least the floor, so it carries no soft-dust penalty.
        let sizeWithChange = UTXOTransaction.estimatedSizeBytes(p2pkhInputCount: inputs.count, p2pkhOutputCount: 2)
        let feeWithChange = UTXOTransaction.minimumFeeBaseUnits(
            sizeBytes: sizeWithChange, outputValuesBaseUnits: [amount, changeFloor],
            chain: parameters)
        if leftover >= feeWithChange, leftover - feeWithChange >= changeFloor {
            return Plan(inputs: inputs, fee: feeWithChange, change: leftover - feeWithChange)
        }
        let sizeWithout = UTXOTransaction.estimatedSizeBytes(p2pkhInputCount: inputs.count, p2pkhOutputCount: 1)
        let feeWithout = UTXOTransaction.minimumFeeBaseUnits(
            sizeBytes: sizeWithout, outputValuesBaseUnits: [amount], chain: parameters)
        guard leftover >= feeWithout else { return nil }
        return Plan(inputs: inputs, fee: leftover, change: nil)
    }

    // MARK: Broadcasting and following

    /// What sendrawtransaction's answer means for the payout.
    enum SendVerdict: Equatable {
        case accepted
        /// Refused for good; `inputsSpent`: an input is already spent, so this
        /// transaction can never be mined (only the chain can say whether by us).
        case refused(String, inputsSpent: Bool)
        /// Not definitive (a conflicting spend in the pool, a full pool, transport).
        case retry(String)
    }

    static func classify(_ error: RPCCallError) -> SendVerdict {
        let message = error.message.lowercased()
        if error.code == alreadyInChainCode || message.contains("already in block chain")
            || message.contains("txn-already-known")
            || message.contains("txn-already-in-mempool")
        {
            return .accepted
        }
        if message.contains("missing inputs") || message.contains("missingorspent")
            || message.contains("bad-txns-inputs-spent")
        {
            return .refused(error.message, inputsSpent: true)
        }
        // A busy pool is not a verdict on the transaction: it may relay later.
        if message.contains("mempool-conflict") || message.contains("mempool full")
            || message.contains("mempool min fee not met")
            || message.contains("too-long-mempool-chain")
            || message.contains("insufficient priority")
        {
            return .retry(error.message)
        }
        if error.code == verifyRejectedCode || error.code == verifyErrorCode || error.code == -22 {
            // Policy or consensus: bad signature, dust, fee below relay, non-standard, decode failure.
            return .refused(error.message, inputsSpent: false)
        }
        return .retry(error.message)
    }

    func broadcast(_ payouts: [SignedPayout]) async -> [Result<BroadcastOutcome, TokError>] {
        let client: JSONRPCClient
        do throws(TokError) { client = try self.client.get() } catch { return payouts.map { _ in .failure(error) } }
        let answers: [Result<JSON, RPCCallError>]
        do throws(TokError) {
            answers = try await client.batch(payouts.map { .init("sendrawtransaction", [.string($0.rawHex)]) })
        } catch {
            return payouts.map { _ in .failure(error) }
        }
        return zip(payouts, answers).map { payout, answer in
            switch answer {
            case .success(let value):
                guard value.stringValue?.lowercased() == payout.txId else {
                    return .failure(
                        TokError(
                            .rpcError, "the node accepted \(payout.txId) under another id (\(value.stringValue ?? "?"))"
                        ))
                }
                return .success(.accepted)
            case .failure(let error):
                switch UTXOPayoutChannel.classify(error) {
                case .accepted: return .success(.accepted)
                case .refused(let reason, let spent): return .success(.refused(reason: reason, nonceConsumed: spent))
                case .retry(let reason):
                    return .failure(TokError(.rpcUnavailable, "sendrawtransaction \(payout.txId): \(reason)"))
                }
            }
        }
    }

    func observe(_ payouts: [SignedPayout]) async -> [Result<PayoutObservation, TokError>] {
        let client: JSONRPCClient
        do throws(TokError) { client = try self.client.get() } catch { return payouts.map { _ in .failure(error) } }
        do throws(TokError) {
            return try await observe(payouts, client: client)
        } catch {
            return payouts.map { _ in .failure(error) }
        }
    }

    private func observe(
        _ payouts: [SignedPayout], client: JSONRPCClient
    ) async throws(TokError) -> [Result<PayoutObservation, TokError>] {
        let transactions = try await client.batch(
            payouts.map { .init("getrawtransaction", [.string($0.txId), .integer(1)]) })

        // Second round: the headers of the blocks they are in, and for each one the
        // node does not know, whether its inputs are still unspent.
        var calls: [JSONRPCClient.Call] = []
        var headerSlot: [Int: Int] = [:]
        var inputSlots: [Int: Range<Int>] = [:]
        for (slot, answer) in transactions.enumerated() {
            switch answer {
            case .success(let transaction):
                if let blockHash = transaction.string(at: "blockhash") {
                    headerSlot[slot] = calls.count
                    calls.append(.init("getblockheader", [.string(blockHash), .bool(true)]))
                }
            case .failure(let error) where error.code == UTXOPayoutChannel.notFoundCode:
                let start = calls.count
                for coin in payouts[slot].inputs {
                    calls.append(.init("gettxout", [.string(coin.tx), .integer(Int64(coin.index)), .bool(true)]))
                }
                inputSlots[slot] = start..<calls.count
            case .failure:
                continue
            }
        }
        let second = calls.isEmpty ? [] : try await client.batch(calls)

        return transactions.enumerated().map { slot, answer -> Result<PayoutObservation, TokError> in
            let payout = payouts[slot]
            switch answer {
            case .failure(let error) where error.code == UTXOPayoutChannel.notFoundCode:
                guard let range = inputSlots[slot], !range.isEmpty else {
                    return .failure(
                        TokError(.rpcError, "\(payout.txId) is unknown to the node and its record names no inputs"))
                }
                var spent = false
                for index in range {
                    switch second[index] {
                    case .success(let output): if output.kind == .null { spent = true }
                    case .failure(let error):
                        return .failure(TokError(.rpcError, "gettxout for \(payout.txId): \(error)"))
                    }
                }
                // Unknown and an input gone: another transaction spent it, so ours can never be mined.
                return .success(.unknown(nonceConsumed: spent))
            case .failure(let error):
                return .failure(TokError(.rpcError, "getrawtransaction \(payout.txId): \(error)"))
            case .success:
                guard let headerIndex = headerSlot[slot] else { return .success(.pending) }
                guard case .success(let header) = second[headerIndex], let blockHash = header.string(at: "hash"),
                    let confirmations = header["confirmations"]?.lenientInt64,
                    let height = header["height"]?.lenientInt64
                else {
                    return .failure(TokError(.rpcError, "no header for the block of \(payout.txId)"))
                }
                // Off the main chain (-1): it went back to the pool, or will be mined again.
                guard confirmations > 0, height >= 0 else { return .success(.pending) }
                return .success(
                    .mined(
                        blockHash: blockHash, blockNumber: UInt64(height), confirmations: UInt64(confirmations),
                        succeeded: true))
            }
        }
    }
}
