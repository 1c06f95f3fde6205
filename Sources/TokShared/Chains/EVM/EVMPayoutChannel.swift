import Logging

/// Builds, signs, broadcasts and follows payouts on one EVM network.
///
/// Every step talks to the node in JSON-RPC batches of at most
/// `network.rpcBatchSize` calls, so a large group of payouts costs a few round
/// trips, never one per payout per question.
///
/// Signing is deterministic (RFC 6979 nonces, low S): the same order, key and
/// fee answers give byte-identical raw transactions and so the same txId.
/// A re-signed payout therefore does not create a second, competing transaction
/// as long as the fee inputs are unchanged.
final class EVMPayoutChannel: PayoutChannel, @unchecked Sendable {
    var fundingModel: FundingModel { .accountNonce }
    /// The intrinsic gas of any transaction; no estimate below it is believable.
    static let intrinsicGas: UInt64 = 21_000
    /// Safety margin on top of the node's estimate, in percent: state can change
    /// between estimating and mining (storage slots warmed or cleared, token
    /// hooks), and unused gas is refunded, so headroom only costs reserved fee.
    static let gasMarginPercent: UInt64 = 20
    /// Node error messages quoted in reasons are cut to this many characters,
    /// so a chatty or hostile endpoint cannot bloat records and logs.
    static let maxQuotedMessageCharacters = 240

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

    // MARK: Nonce

    func chainNonce(sender: String) async throws(TokError) -> UInt64 {
        guard let client else { throw clientProblem! }
        let address = try EVMAddress(hex: sender)
        try await ensureChain(client)
        // "pending" so transactions already in the node's pool count as used.
        let answer = try await client.call(
            "eth_getTransactionCount", [.string(EVMPayoutChannel.rpcHex(address)), .string("pending")])
        switch answer {
        case .success(let value):
            guard let nonce = EVMQuantity.uint64(value) else {
                throw TokError(.rpcError, "eth_getTransactionCount for \(sender) gave no usable number")
            }
            return nonce
        case .failure(let error):
            throw TokError(.rpcError, "eth_getTransactionCount for \(sender): \(EVMPayoutChannel.quote(error))")
        }
    }

    // MARK: Signing

    /// What an order asks for on chain, before fees and gas are known.
    private struct Draft {
        var order: PayoutOrder
        var to: EVMAddress
        var valueWei: UInt256
        var data: [UInt8]
    }

    func sign(_ orders: [PayoutOrder], key: PrivateKey) async -> [Result<SignedPayout, TokError>] {
        guard !orders.isEmpty else { return [] }
        guard let client else { return orders.map { _ in .failure(clientProblem!) } }
        guard let chainId = UInt64(network.chain.reference) else {
            return orders.map { _ in
                .failure(
                    TokError(.badChainId, "eip155 chain reference \(network.chain.reference) is not a 64-bit chain id"))
            }
        }
        let keyAddress = EVMAddress.fromPublicKey(uncompressed65: key.publicKey(compressed: false))

        // Offline checks first, so a wrong key or a bad address costs no RPC.
        let drafts: [Result<Draft, TokError>] = orders.map { order in
            Result { () throws(TokError) -> Draft in try draft(for: order, keyAddress: keyAddress) }
        }
        var results: [Result<SignedPayout, TokError>?] = drafts.map { draft in
            if case .failure(let error) = draft { .failure(error) } else { nil }
        }
        let live = drafts.indices.filter { results[$0] == nil }
        if live.isEmpty { return results.map { $0! } }

        // One batch: chain id, fee inputs, then one gas estimate per order.
        let sharedCallCount = 4
        var calls: [JSONRPCClient.Call] = [
            .init("eth_chainId", []),
            .init("eth_getBlockByNumber", [.string("latest"), .bool(false)]),
            .init("eth_gasPrice", []),
            .init("eth_maxPriorityFeePerGas", []),
        ]
        for index in live {
            guard case .success(let draft) = drafts[index] else { continue }
            calls.append(
                .init("eth_estimateGas", [EVMPayoutChannel.callObject(from: draft.order.sender, draft: draft)]))
        }
        let answers: [Result<JSON, RPCCallError>]
        let kind: EVMTransaction.Kind
        do throws(TokError) {
            answers = try await batched(calls, client: client)
            try checkChainId(answers[0])
            kind = try feeKind(latestBlock: answers[1], gasPrice: answers[2], priorityHint: answers[3])
        } catch {
            return orders.map { _ in .failure(error) }
        }

        var refusedEstimates: [(index: Int, draft: Draft, error: RPCCallError)] = []
        for (position, index) in live.enumerated() {
            guard case .success(let draft) = drafts[index] else { continue }
            if case .failure(let error) = answers[sharedCallCount + position] {
                refusedEstimates.append((index, draft, error))
                continue
            }
            results[index] = Result { () throws(TokError) -> SignedPayout in
                let gasLimit = try gasLimit(estimateAnswer: answers[sharedCallCount + position], draft: draft)
                return try signDraft(draft, kind: kind, gasLimit: gasLimit, chainId: chainId, key: key)
            }
        }
        if !refusedEstimates.isEmpty {
            let refusals = await explainRefusedEstimates(refusedEstimates.map { ($0.draft, $0.error) }, client: client)
            for (item, refusal) in zip(refusedEstimates, refusals) { results[item.index] = .failure(refusal) }
        }
        return results.map { $0! }
    }

    /// A refused estimate means the transaction would fail if sent now, and
    /// signing it would only burn a nonce and fees. Whose fault it is decides
    /// what happens next: when the paying account lacks the asset (or the gas),
    /// the operator must fund it (operator_underfunded, retryable, and the run
    /// exits 69); otherwise the transfer itself fails (the token refuses the
    /// recipient): rpc_error, final.
    private func explainRefusedEstimates(
        _ refused: [(draft: Draft, error: RPCCallError)],
        client: JSONRPCClient
    ) async -> [TokError] {
        let calls: [JSONRPCClient.Call] = refused.map { draft, _ in
            if draft.order.mapping.isNative {
                return .init("eth_getBalance", [.string(draft.order.sender.lowercased()), .string("pending")])
            }
            let call = JSON.object()
            call.set("to", string: EVMPayoutChannel.rpcHex(draft.to))
            let owner =
                (try? EVMAddress(hex: draft.order.sender)).map { Hex.encode(ERC20Call.balanceOf($0), prefix: true) }
                ?? "0x"
            call.set("data", string: owner)
            return .init("eth_call", [call, .string("pending")])
        }
        let balances = (try? await batched(calls, client: client)) ?? []
        return refused.enumerated().map { slot, item in
            let (draft, error) = item
            let order = draft.order
            var held: UInt256?
            if slot < balances.count, case .success(let value) = balances[slot], let text = value.stringValue {
                held = UInt256(hex: text)
            }
            let lacksGas = error.message.lowercased().contains("insufficient funds")
            if let held, held < order.amount || lacksGas {
                return TokError(
                    .operatorUnderfunded,
                    "\(order.sender) holds \(held) base units of \(order.mapping.token) on \(network.alias), payout \(order.requestId) needs \(order.amount)\(lacksGas ? " plus gas" : ""): fund it, then send the request again (\(EVMPayoutChannel.quote(error)))"
                )
            }
            if held == nil && lacksGas {
                return TokError(
                    .operatorUnderfunded,
                    "\(order.sender) cannot pay the gas of payout \(order.requestId) on \(network.alias) (\(EVMPayoutChannel.quote(error))): fund it, then send the request again"
                )
            }
            return TokError(
                .rpcError,
                "eth_estimateGas refused payout \(order.requestId) from \(order.sender) (\(EVMPayoutChannel.quote(error))); the transfer would fail on chain though the sender holds the amount"
            )
        }
    }

    /// Resolves an order into recipient, value and call data, and refuses a key
    /// that would not sign as the order's sender: the node would reject nothing
    /// (any funded key can pay), so the mistake must be caught here.
    private func draft(for order: PayoutOrder, keyAddress: String) throws(TokError) -> Draft {
        let sender = try EVMAddress(hex: order.sender)
        guard sender.checksummed == keyAddress else {
            throw TokError(
                .badKey,
                "the signing key belongs to \(keyAddress), but the payout must be paid by \(sender.checksummed) (the configured operator or treasury): wrong operator key"
            )
        }
        let destination = try EVMAddress(hex: order.destination)
        switch order.mapping.asset.assetNamespace {
        case "slip44":
            return Draft(order: order, to: destination, valueWei: order.amount, data: [])
        case "erc20":
            let contract = try EVMAddress(hex: order.mapping.asset.assetReference)
            return Draft(
                order: order, to: contract, valueWei: .zero,
                data: ERC20Call.transfer(to: destination, amount: order.amount))
        default:
            throw TokError(
                .badAssetType, "cannot pay out \(order.mapping.asset) on an eip155 chain (only slip44 and erc20)")
        }
    }

    /// A node for another chain would make us sign for the wrong chain id's
    /// fee market and gas estimates; the chain id in the signature protects the
    /// funds, but the payout would never arrive.
    private func checkChainId(_ answer: Result<JSON, RPCCallError>) throws(TokError) {
        try chainCheck.accept(answer, network: network)
    }

    /// EIP-1559 pricing when the latest block carries a base fee, legacy otherwise.
    private func feeKind(
        latestBlock: Result<JSON, RPCCallError>, gasPrice: Result<JSON, RPCCallError>,
        priorityHint: Result<JSON, RPCCallError>
    ) throws(TokError) -> EVMTransaction.Kind {
        let block: JSON
        switch latestBlock {
        case .success(let value) where value.isObject: block = value
        case .success: throw TokError(.rpcError, "eth_getBlockByNumber(latest) returned no block")
        case .failure(let error):
            throw TokError(.rpcError, "eth_getBlockByNumber(latest): \(EVMPayoutChannel.quote(error))")
        }
        var baseFeeWei: UInt256?
        if let text = block["baseFeePerGas"]?.stringValue {
            guard let value = UInt256(hex: text) else {
                throw TokError(.rpcError, "the latest block's baseFeePerGas \(text) is not a quantity")
            }
            baseFeeWei = value
        }
        // The tip hint is optional: many endpoints lack eth_maxPriorityFeePerGas
        // (method not found) and the configured tip is a sound fallback, so any
        // error answer here only means "no hint".
        var suggestedPriorityWei: UInt256?
        if case .success(let value) = priorityHint, let text = value.stringValue {
            suggestedPriorityWei = UInt256(hex: text)
        }
        var nodeGasPriceWei: UInt256?
        if case .success(let value) = gasPrice, let text = value.stringValue { nodeGasPriceWei = UInt256(hex: text) }

        let kind = try EVMPayoutChannel.feeKind(
            baseFeeWei: baseFeeWei, nodeGasPriceWei: nodeGasPriceWei,
            suggestedPriorityWei: suggestedPriorityWei,
            maxFeeCapWei: network.maxFeePerGasWei, priorityCapWei: network.priorityFeePerGasWei,
            networkAlias: network.alias)
        if case .legacy(let priceWei) = kind, let nodeGasPriceWei, priceWei < nodeGasPriceWei {
            logger.warning(
                "legacy gas price capped below the node's suggestion; payouts may be slow to mine",
                metadata: [
                    "network": "\(network.alias)", "suggested_wei": "\(nodeGasPriceWei)", "cap_wei": "\(priceWei)",
                ])
        }
        return kind
    }

    /// The fee policy, kept free of I/O so it can be tested for both markets.
    /// EIP-1559: tip = min(node hint or configured tip, configured tip);
    /// maxFee = min(2 × baseFee + tip, max_fee_per_gas_wei). Twice the base fee
    /// rides out about six full blocks of 12.5 % base-fee rises. A maxFee below
    /// baseFee + tip cannot pay the current price: refused rather than signed
    /// into a transaction that sits unmined holding a nonce.
    /// Legacy: gasPrice = min(eth_gasPrice, max_fee_per_gas_wei); a legacy
    /// chain has no base-fee floor, so a capped price is slow, not invalid.
    static func feeKind(
        baseFeeWei: UInt256?, nodeGasPriceWei: UInt256?, suggestedPriorityWei: UInt256?,
        maxFeeCapWei: UInt256, priorityCapWei: UInt256, networkAlias: String
    ) throws(TokError) -> EVMTransaction.Kind {
        guard let baseFeeWei else {
            guard let nodeGasPriceWei else {
                throw TokError(
                    .rpcError, "\(networkAlias) has no base fee (legacy pricing) and eth_gasPrice gave no usable answer"
                )
            }
            return .legacy(gasPriceWei: Swift.min(nodeGasPriceWei, maxFeeCapWei))
        }
        let priorityWei = Swift.min(suggestedPriorityWei ?? priorityCapWei, priorityCapWei)
        // Overflow means an absurd base fee; the cap then decides (and the check below refuses).
        let wantedWei = baseFeeWei.multiplied(by: UInt256(2)).flatMap { $0.adding(priorityWei) } ?? .max
        let maxFeeWei = Swift.min(wantedWei, maxFeeCapWei)
        guard let neededWei = baseFeeWei.adding(priorityWei), maxFeeWei >= neededWei else {
            throw TokError(
                .gasCapExceeded,
                "on \(networkAlias) the base fee is \(baseFeeWei) wei and the tip \(priorityWei) wei, above max_fee_per_gas_wei = \(maxFeeCapWei): a transaction at the cap would not be mined now"
            )
        }
        return .eip1559(maxPriorityFeePerGasWei: priorityWei, maxFeePerGasWei: maxFeeWei)
    }

    /// The estimate plus margin, never below the intrinsic 21000. The estimate
    /// itself above gas_limit_cap is refused; when only the margin would cross
    /// the cap, the cap is used (still at least the estimate), so a cap of
    /// exactly 21000 keeps plain transfers working.
    private func gasLimit(estimateAnswer: Result<JSON, RPCCallError>, draft: Draft) throws(TokError) -> UInt64 {
        let estimate: UInt64
        switch estimateAnswer {
        case .success(let value):
            guard let parsed = EVMQuantity.uint64(value) else {
                throw TokError(.rpcError, "eth_estimateGas for \(draft.order.requestId) gave no usable number")
            }
            estimate = Swift.max(parsed, EVMPayoutChannel.intrinsicGas)
        case .failure(let error):
            // The caller explains refusals first (explainRefusedEstimates); this is the fallback.
            throw TokError(
                .rpcError,
                "eth_estimateGas refused payout \(draft.order.requestId) from \(draft.order.sender) (\(EVMPayoutChannel.quote(error)))"
            )
        }
        guard estimate <= network.gasLimitCap else {
            throw TokError(
                .gasCapExceeded,
                "payout \(draft.order.requestId) needs \(estimate) gas, above gas_limit_cap = \(network.gasLimitCap) of \(network.alias)"
            )
        }
        // gasLimitCap ≤ 30M, so neither product nor sum can overflow.
        return Swift.min(estimate + estimate * EVMPayoutChannel.gasMarginPercent / 100, network.gasLimitCap)
    }

    private func signDraft(
        _ draft: Draft, kind: EVMTransaction.Kind, gasLimit: UInt64, chainId: UInt64,
        key: PrivateKey
    ) throws(TokError) -> SignedPayout {
        let transaction = EVMTransaction(
            kind: kind, chainId: chainId, nonce: draft.order.nonce, gasLimit: gasLimit,
            to: draft.to, valueWei: draft.valueWei, data: draft.data)
        let signed = transaction.signed(with: key)
        // Recover the signer from the finished bytes rather than trusting the
        // key's address: this proves the encoding and signature are what a node
        // will accept as a payment from the configured sender.
        let (decoded, recovered) = try EVMTransaction.decode(raw: signed.rawBytes)
        guard decoded == transaction, recovered.lowercased() == draft.order.sender.lowercased() else {
            throw TokError(
                .badKey,
                "the signed payout \(draft.order.requestId) recovers to \(recovered), not to the configured sender \(draft.order.sender)"
            )
        }
        let feePerGasWei: UInt256
        switch kind {
        case .legacy(let gasPriceWei): feePerGasWei = gasPriceWei
        case .eip1559(_, let maxFeePerGasWei): feePerGasWei = maxFeePerGasWei
        }
        guard let maxNetworkFee = UInt256(gasLimit).multiplied(by: feePerGasWei) else {
            throw TokError(
                .amountOverflow, "gas limit × fee per gas of payout \(draft.order.requestId) exceeds 2^256-1")
        }
        return SignedPayout(
            txId: signed.txHash, rawHex: signed.rawHex, sender: draft.order.sender,
            nonce: draft.order.nonce, maxNetworkFee: maxNetworkFee)
    }

    private static func callObject(from sender: String, draft: Draft) -> JSON {
        let object = JSON.object()
        // The order's sender was validated by draft(for:); lowercase keeps strict nodes happy.
        object.set("from", string: sender.lowercased())
        object.set("to", string: rpcHex(draft.to))
        if !draft.valueWei.isZero { object.set("value", string: draft.valueWei.hexQuantity) }
        if !draft.data.isEmpty { object.set("data", string: Hex.encode(draft.data, prefix: true)) }
        return object
    }

    // MARK: Broadcasting

    /// How a node's answer to eth_sendRawTransaction is to be read.
    enum SendVerdict: Equatable {
        case accepted
        /// The sender's nonce is already used: by our transaction (fine) or by
        /// another (ours can never be mined). Only a lookup can tell.
        case nonceUsed(String)
        /// Not definitive: the same signed bytes may be accepted later.
        case retry(String)
        /// Refused for reasons inside the transaction itself.
        case refused(String)
    }

    func broadcast(_ payouts: [SignedPayout]) async -> [Result<BroadcastOutcome, TokError>] {
        guard !payouts.isEmpty else { return [] }
        guard let client else { return payouts.map { _ in .failure(clientProblem!) } }
        do throws(TokError) { try await ensureChain(client) } catch { return payouts.map { _ in .failure(error) } }
        // Per chunk: a transport failure then only leaves that chunk's payouts
        // undecided, and the outcomes of chunks already sent are kept.
        var results: [Result<BroadcastOutcome, TokError>] = []
        results.reserveCapacity(payouts.count)
        var start = 0
        while start < payouts.count {
            let end = Swift.min(start + network.rpcBatchSize, payouts.count)
            let chunk = Array(payouts[start..<end])
            do throws(TokError) {
                results += try await broadcastChunk(chunk, client: client)
            } catch {
                results += chunk.map { _ in .failure(error) }
            }
            start = end
        }
        return results
    }

    private func broadcastChunk(
        _ payouts: [SignedPayout], client: JSONRPCClient
    ) async throws(TokError) -> [Result<BroadcastOutcome, TokError>] {
        let answers = try await client.batch(payouts.map { .init("eth_sendRawTransaction", [.string($0.rawHex)]) })
        var results = [Result<BroadcastOutcome, TokError>?](repeating: nil, count: payouts.count)
        var toLookUp: [(index: Int, verdict: SendVerdict)] = []
        for (index, (payout, answer)) in zip(payouts, answers).enumerated() {
            switch answer {
            case .success(let value):
                if let hash = value.stringValue?.lowercased(), hash != payout.txId.lowercased() {
                    // Our txId is keccak of the exact bytes; a different answer is the node's oddity, not ours.
                    logger.warning(
                        "node answered a different tx hash", metadata: ["tx": "\(payout.txId)", "node": "\(hash)"])
                }
                results[index] = .success(.accepted)
            case .failure(let error):
                let verdict = EVMPayoutChannel.classify(error)
                switch verdict {
                case .accepted:
                    results[index] = .success(.accepted)
                case .retry(let reason):
                    results[index] = .failure(
                        TokError(
                            .rpcUnavailable,
                            "\(network.alias) did not take \(payout.txId) now (\(reason)); the same transaction can be sent again later"
                        ))
                case .nonceUsed, .refused:
                    toLookUp.append((index, verdict))
                }
            }
        }
        if !toLookUp.isEmpty {
            // Before calling anything final, ask whether the chain already has
            // this exact transaction: "nonce too low" is what geth says once our
            // own transaction is mined, and an odd error text must not turn a
            // transaction that did get through into a "refused" payout.
            let lookups = try await client.batch(
                toLookUp.map { .init("eth_getTransactionByHash", [.string(payouts[$0.index].txId)]) })
            for (item, answer) in zip(toLookUp, lookups) {
                let payout = payouts[item.index]
                switch answer {
                case .failure(let error):
                    results[item.index] = .failure(
                        TokError(
                            .rpcUnavailable,
                            "looking up \(payout.txId) after a refusal: \(EVMPayoutChannel.quote(error))"))
                case .success(let transaction) where !transaction.isNull:
                    results[item.index] = .success(.accepted)
                case .success:
                    switch item.verdict {
                    case .nonceUsed(let reason):
                        results[item.index] = .success(
                            .refused(
                                reason:
                                    "nonce \(payout.nonce) of \(payout.sender) is used by another transaction (\(reason))",
                                nonceConsumed: true))
                    case .refused(let reason):
                        logger.notice(
                            "payout transaction refused", metadata: ["tx": "\(payout.txId)", "reason": "\(reason)"])
                        results[item.index] = .success(.refused(reason: reason, nonceConsumed: false))
                    case .accepted, .retry:
                        preconditionFailure("only nonceUsed and refused verdicts are looked up")
                    }
                }
            }
        }
        return results.map { $0! }
    }

    /// Reads an eth_sendRawTransaction error. Nodes differ in wording (geth,
    /// Erigon, Nethermind's enum names, Besu's upper-case codes), so matching is
    /// on lowercased text with '_' read as a space.
    static func classify(_ error: RPCCallError) -> SendVerdict {
        let text = error.message.lowercased().replacingOccurrences(of: "_", with: " ")
        let reason = quote(error)
        func has(_ needles: String...) -> Bool { needles.contains { text.contains($0) } }
        // The node has these exact bytes already (pool or chain): sending again
        // changed nothing and cannot double-pay, so it counts as accepted.
        if has(
            "already known", "alreadyknown", "known transaction", "already imported", "already exists",
            "already in pool")
        {
            return .accepted
        }
        // The nonce is behind the sender's account nonce: either our own
        // transaction was mined (geth says this on a re-send) or another one
        // took the nonce. broadcastChunk looks the hash up to tell them apart.
        if has("nonce too low", "nonce is too low", "oldnonce", "already used") {
            return .nonceUsed(reason)
        }
        // Funding, pricing and pool state can change; the signed bytes stay
        // valid, so these are not a final refusal:
        // - insufficient funds: the operator can top up the sender;
        // - underpriced / fee below the base fee: the base fee can fall, or a
        //   replaced transaction can leave the pool;
        // - nonce too high: an earlier nonce of the sender is not in the pool
        //   yet (it may still be on its way, or must be re-broadcast first);
        // - pool full, rate limits, internal errors: the node's own trouble.
        if has(
            "insufficient funds", "insufficientfunds", "underpriced", "less than block base fee", "fee cap less than",
            "feetoolow", "fee too low", "nonce too high", "noncegap", "nonce gap", "pool is full", "txpool is full",
            "too many requests", "rate limit", "limit exceeded", "timeout", "try again")
        {
            return .retry(reason)
        }
        // -32603 internal error and -32005 limit exceeded say nothing about the transaction.
        if error.code == -32603 || error.code == -32005 {
            return .retry(reason)
        }
        // Everything else is about the transaction's own content (invalid
        // signature or chain id, intrinsic gas too low, gas above the block gas
        // limit, undecodable): sending the same bytes again cannot succeed, and
        // the nonce stays free for another transaction.
        return .refused(reason)
    }

    // MARK: Observing

    func observe(_ payouts: [SignedPayout]) async -> [Result<PayoutObservation, TokError>] {
        guard !payouts.isEmpty else { return [] }
        guard let client else { return payouts.map { _ in .failure(clientProblem!) } }
        do throws(TokError) {
            try await ensureChain(client)
            return try await observeGroup(payouts, client: client)
        } catch {
            return payouts.map { _ in .failure(error) }
        }
    }

    private func observeGroup(
        _ payouts: [SignedPayout], client: JSONRPCClient
    ) async throws(TokError) -> [Result<PayoutObservation, TokError>] {
        // Senders' mined nonces come first in the batch, before the lookups: a
        // transaction mined between the two reads then shows up in the later
        // receipt lookup. In the other order it could be missed by the lookups
        // and still move the nonce, and be reported as dropped for good.
        var senders: [String] = []
        for payout in payouts where !senders.contains(payout.sender.lowercased()) {
            senders.append(payout.sender.lowercased())
        }
        var calls = [JSONRPCClient.Call("eth_blockNumber", [])]
        for sender in senders { calls.append(.init("eth_getTransactionCount", [.string(sender), .string("latest")])) }
        let lookupsStart = calls.count
        for payout in payouts {
            calls.append(.init("eth_getTransactionReceipt", [.string(payout.txId)]))
            calls.append(.init("eth_getTransactionByHash", [.string(payout.txId)]))
        }
        let first = try await batched(calls, client: client)
        guard case .success(let headValue) = first[0], let head = EVMQuantity.uint64(headValue) else {
            throw TokError(.rpcError, "eth_blockNumber gave no usable answer")
        }
        var minedNonces: [String: Result<UInt64, TokError>] = [:]
        for (offset, sender) in senders.enumerated() {
            switch first[1 + offset] {
            case .success(let value):
                if let nonce = EVMQuantity.uint64(value) {
                    minedNonces[sender] = .success(nonce)
                } else {
                    minedNonces[sender] = .failure(
                        TokError(.rpcError, "eth_getTransactionCount for \(sender) gave no usable number"))
                }
            case .failure(let error):
                minedNonces[sender] = .failure(
                    TokError(.rpcError, "eth_getTransactionCount for \(sender): \(EVMPayoutChannel.quote(error))"))
            }
        }

        // The canonical block at each receipt's height, to catch a receipt from a reorganised-away block.
        var heights: [UInt64] = []
        for index in payouts.indices {
            if case .success(let receipt) = first[lookupsStart + 2 * index], !receipt.isNull,
                let height = EVMQuantity.uint64(receipt["blockNumber"]), !heights.contains(height)
            {
                heights.append(height)
            }
        }
        var canonicalHashes: [UInt64: String] = [:]
        if !heights.isEmpty {
            let blocks = try await batched(
                heights.map { .init("eth_getBlockByNumber", [.string(EVMQuantity.hex($0)), .bool(false)]) },
                client: client)
            for (height, answer) in zip(heights, blocks) {
                if case .success(let block) = answer, let hash = block["hash"]?.stringValue {
                    canonicalHashes[height] = hash.lowercased()
                }
            }
        }
        return payouts.enumerated().map { index, payout in
            judge(
                payout, receiptAnswer: first[lookupsStart + 2 * index],
                transactionAnswer: first[lookupsStart + 2 * index + 1],
                minedNonce: minedNonces[payout.sender.lowercased()]!, head: head, canonicalHashes: canonicalHashes)
        }
    }

    private func judge(
        _ payout: SignedPayout, receiptAnswer: Result<JSON, RPCCallError>,
        transactionAnswer: Result<JSON, RPCCallError>,
        minedNonce: Result<UInt64, TokError>, head: UInt64, canonicalHashes: [UInt64: String]
    ) -> Result<PayoutObservation, TokError> {
        let receipt: JSON, transaction: JSON
        switch (receiptAnswer, transactionAnswer) {
        case (.failure(let error), _), (_, .failure(let error)):
            return .failure(TokError(.rpcError, "looking up \(payout.txId): \(EVMPayoutChannel.quote(error))"))
        case (.success(let r), .success(let t)):
            receipt = r
            transaction = t
        }
        if !receipt.isNull {
            guard let height = EVMQuantity.uint64(receipt["blockNumber"]),
                let blockHash = receipt["blockHash"]?.stringValue?.lowercased()
            else {
                return .failure(TokError(.rpcError, "receipt of \(payout.txId) lacks its block"))
            }
            if canonicalHashes[height] == blockHash {
                // The head was read before the receipt; a block mined in between still counts as one confirmation.
                let confirmations = head >= height ? head - height + 1 : 1
                return .success(
                    .mined(
                        blockHash: blockHash, blockNumber: height, confirmations: confirmations,
                        succeeded: receipt["status"]?.stringValue == "0x1"))
            }
            // The receipt's block was reorganised away (or the node is mid-reorg):
            // the transaction may return to the pool and be mined again.
            logger.notice(
                "payout receipt not on the canonical chain", metadata: ["tx": "\(payout.txId)", "height": "\(height)"])
        }
        if !transaction.isNull { return .success(.pending) }
        switch minedNonce {
        case .failure(let error): return .failure(error)
        // The mined nonce past ours means some transaction of the sender used
        // our nonce and it is not ours (ours is unknown): ours can never be mined.
        case .success(let nonce): return .success(.unknown(nonceConsumed: nonce > payout.nonce))
        }
    }

    // MARK: Plumbing

    /// Checked once per process, as in EVMDepositVerifier.
    private func ensureChain(_ client: JSONRPCClient) async throws(TokError) {
        try await chainCheck.ensure(client: client, network: network)
    }

    /// Sends `calls` in batches of at most rpcBatchSize, answers in call order.
    private func batched(
        _ calls: [JSONRPCClient.Call], client: JSONRPCClient
    ) async throws(TokError) -> [Result<JSON, RPCCallError>] {
        var answers: [Result<JSON, RPCCallError>] = []
        answers.reserveCapacity(calls.count)
        var start = 0
        while start < calls.count {
            let end = Swift.min(start + network.rpcBatchSize, calls.count)
            answers += try await client.batch(Array(calls[start..<end]))
            start = end
        }
        return answers
    }

    static func rpcHex(_ address: EVMAddress) -> String { Hex.encode(address.bytes, prefix: true) }

    /// A node's error, cut to a bounded length for records and logs.
    static func quote(_ error: RPCCallError) -> String {
        let text =
            error.message.count > maxQuotedMessageCharacters
            ? String(error.message.prefix(maxQuotedMessageCharacters)) + "…" : error.message
        return "RPC error \(error.code): \(text)"
    }
}
