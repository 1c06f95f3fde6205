import Logging

/// Proves deposits on Bitcoin-family chains over Core's JSON-RPC, in the
/// subset Dogecoin Core 1.14 answers: `getrawtransaction <txid> 1` (needs
/// -txindex) and `getblockheader <hash> true`; never `getblock <hash> 2`.
/// Every number of an answer is read as text, so amounts (8-decimal JSON
/// numbers) are converted to base units exactly, never through a Double.
///
/// The depositor is proven by the transaction itself: every input must spend
/// an output of the claimed account's address (looked up in the previous
/// transactions). Anything else is an ambiguous sender and is refused; the
/// "owner" is never taken from an output.
final class UTXODepositVerifier: DepositVerifier, @unchecked Sendable {
    /// Core's "No such mempool or blockchain transaction".
    static let notFoundCode: Int64 = -5

    private let network: NetworkConfig
    private let parameters: UTXOChainParameters?
    private let logger: Logger
    private let client: JSONRPCClient?
    private let setupProblem: TokError?

    init(network: NetworkConfig, logger: Logger) {
        self.network = network
        self.logger = logger
        parameters = UTXOChains.parameters(for: network.chain)
        switch JSONRPCClient.forNetwork(network, numbersAsText: true, logger: logger) {
        case .success(let made):
            client = made
            setupProblem =
                parameters == nil
                ? TokError(.unsupportedChainFamily, "\(network.chain) is not a known Bitcoin-family chain") : nil
        case .failure(let error):
            client = nil
            setupProblem = error
        }
    }

    func verify(_ claims: [DepositClaim]) async -> [Result<DepositFinding, TokError>] {
        guard let client, let parameters, setupProblem == nil else {
            return claims.map { _ in .failure(setupProblem!) }
        }
        do {
            return try await verifyGroup(claims, client: client, parameters: parameters)
        } catch {
            return claims.map { _ in .failure(error) }
        }
    }

    private func verifyGroup(
        _ claims: [DepositClaim], client: JSONRPCClient,
        parameters: UTXOChainParameters
    ) async throws(TokError) -> [Result<DepositFinding, TokError>] {
        let transactions = try await client.batch(
            claims.map { .init("getrawtransaction", [.string($0.tx), .integer(1)]) })

        // Second round: the transactions our deposits spend from, and the headers of their blocks.
        var previousIds: [String] = []
        var blockHashes: [String] = []
        for answer in transactions {
            guard case .success(let transaction) = answer, transaction.isObject else { continue }
            for input in transaction["vin"]?.arrayElements ?? [] {
                if let previous = input.string(at: "txid"), !previousIds.contains(previous) {
                    previousIds.append(previous)
                }
            }
            if let hash = transaction.string(at: "blockhash"), !blockHashes.contains(hash) { blockHashes.append(hash) }
        }
        var calls = previousIds.map { JSONRPCClient.Call("getrawtransaction", [.string($0), .integer(1)]) }
        calls += blockHashes.map { JSONRPCClient.Call("getblockheader", [.string($0), .bool(true)]) }
        var previous: [String: JSON] = [:]
        var headers: [String: JSON] = [:]
        if !calls.isEmpty {
            let answers = try await client.batch(calls)
            for (index, answer) in answers.enumerated() {
                guard case .success(let value) = answer, value.isObject else { continue }
                if index < previousIds.count {
                    previous[previousIds[index]] = value
                } else {
                    headers[blockHashes[index - previousIds.count]] = value
                }
            }
        }
        return zip(claims, transactions).map { claim, answer in
            judge(claim, answer, previous: previous, headers: headers, parameters: parameters)
        }
    }

    /// One claim against what the node said: the transaction, the sender proven
    /// by every input, the payment to the receiver, the confirmations.
    private func judge(
        _ claim: DepositClaim, _ answer: Result<JSON, RPCCallError>, previous: [String: JSON],
        headers: [String: JSON], parameters: UTXOChainParameters
    ) -> Result<DepositFinding, TokError> {
        do throws(TokError) {
            let transaction: JSON
            switch answer {
            case .failure(let error) where error.code == UTXODepositVerifier.notFoundCode:
                throw TokError(
                    .txNotFound,
                    "transaction \(claim.tx) is unknown to \(network.alias) (is the node running with -txindex=1?)")
            case .failure(let error):
                throw TokError(.rpcError, "looking up \(claim.tx): \(error)")
            case .success(let value):
                transaction = value
            }
            guard transaction.string(at: "txid")?.lowercased() == claim.tx else {
                throw TokError(.rpcError, "the node answered for another transaction than \(claim.tx)")
            }
            try checkSender(claim, transaction, previous: previous, parameters: parameters)
            let (total, coins) = try payment(claim, transaction, parameters: parameters)
            return .success(try confirmation(claim, transaction, headers: headers, total: total, coins: coins))
        } catch {
            return .failure(error)
        }
    }

    /// The sender: every input must spend from the claimed address.
    private func checkSender(
        _ claim: DepositClaim, _ transaction: JSON, previous: [String: JSON],
        parameters: UTXOChainParameters
    ) throws(TokError) {
        let inputs = transaction["vin"]?.arrayElements ?? []
        guard !inputs.isEmpty else { throw TokError(.rpcError, "transaction \(claim.tx) has no inputs") }
        for (index, input) in inputs.enumerated() {
            if input.has("coinbase") {
                throw TokError(.senderMismatch, "transaction \(claim.tx) is a coinbase: it has no sender")
            }
            guard let previousId = input.string(at: "txid"), let outputIndex = input["vout"]?.lenientInt64 else {
                throw TokError(.rpcError, "input \(index) of \(claim.tx) has no outpoint")
            }
            guard
                let spent = previous[previousId]?["vout"]?.arrayElements.first(where: {
                    $0["n"]?.lenientInt64 == outputIndex
                }),
                let scriptHex = spent["scriptPubKey"]?.string(at: "hex"), let script = Hex.decode(scriptHex)
            else {
                throw TokError(.rpcError, "the output spent by input \(index) of \(claim.tx) could not be read")
            }
            guard let from = UTXOAddress.fromScript(script, chain: parameters)?.encode(chain: parameters),
                from == claim.sender
            else {
                let shown =
                    UTXOAddress.fromScript(script, chain: parameters)?.encode(chain: parameters)
                    ?? "a non-standard script"
                throw TokError(
                    .senderMismatch,
                    "ambiguous sender: input \(index) of \(claim.tx) spends from \(shown), not from \(claim.sender)")
            }
        }
    }

    /// The amount: outputs paying the receiver, summed from their exact decimal text.
    private func payment(
        _ claim: DepositClaim, _ transaction: JSON,
        parameters: UTXOChainParameters
    ) throws(TokError) -> (total: UInt64, coins: [Coin]) {
        guard let receiverScript = try? UTXOAddress.parse(claim.receiver, chain: parameters).scriptPubKey else {
            throw TokError(.internalError, "the configured receiver \(claim.receiver) does not parse")
        }
        var total: UInt64 = 0
        var coins: [Coin] = []
        for output in transaction["vout"]?.arrayElements ?? [] {
            guard output["scriptPubKey"]?.string(at: "hex").flatMap(Hex.decode) == receiverScript else { continue }
            guard let valueText = output.string(at: "value") else {
                throw TokError(.rpcError, "an output of \(claim.tx) has no value")
            }
            let value: UInt64
            do { value = try CoinAmount.baseUnits(fromDecimalText: valueText, chain: parameters) } catch {
                throw TokError(.rpcError, "output value \(valueText) of \(claim.tx): \(error.message)")
            }
            let (sum, overflow) = total.addingReportingOverflow(value)
            guard !overflow, sum <= parameters.maxMoneyBaseUnits else {
                throw TokError(.amountOverflow, "outputs of \(claim.tx) exceed the chain's money supply")
            }
            total = sum
            guard let index = output["n"]?.lenientInt64, index >= 0, index <= Int64(UInt32.max) else {
                throw TokError(.rpcError, "an output of \(claim.tx) has no index")
            }
            if value > 0 { coins.append(Coin(tx: claim.tx, index: UInt32(index), value: value)) }
        }
        guard total > 0 else {
            throw TokError(
                .noPaymentToReceiver, "transaction \(claim.tx) pays nothing to the receiver \(claim.receiver)")
        }
        return (total, coins)
    }

    /// Confirmations, from the block header: -1 there means the block left the main chain.
    private func confirmation(
        _ claim: DepositClaim, _ transaction: JSON, headers: [String: JSON], total: UInt64,
        coins: [Coin]
    ) throws(TokError) -> DepositFinding {
        guard let blockHash = transaction.string(at: "blockhash") else {
            return DepositFinding(
                amount: UInt256(total), blockHash: "", blockNumber: 0, confirmations: 0,
                requiredConfirmations: network.confirmations, coins: coins)
        }
        guard let header = headers[blockHash], let confirmations = header["confirmations"]?.lenientInt64,
            let height = header["height"]?.lenientInt64
        else {
            throw TokError(.rpcError, "no header for block \(blockHash) of \(claim.tx)")
        }
        guard confirmations > 0 else {
            throw TokError(.reorganised, "block \(blockHash) of \(claim.tx) is no longer on the main chain")
        }
        return DepositFinding(
            amount: UInt256(total), blockHash: blockHash, blockNumber: UInt64(height),
            confirmations: UInt64(confirmations), requiredConfirmations: network.confirmations, coins: coins)
    }
}
