import Logging

/// tok-submit: broadcasts payouts tok-apply prepared, and reports what the
/// destination chain did with them, attested for tok-apply:
///   - `submitted`: the node has the transaction (or it is in flight);
///   - `confirmed`: mined and successful, at the network's confirmation level;
///   - `failed`: it can never pay: reverted (at the level), refused for good by
///     the node, or its nonce was used by another transaction.
/// A dropped transaction is broadcast again (the same signed bytes, so this is
/// always safe); nothing is ever declared failed while it could still be mined.
public final class SubmitStage: Stage {
    public let name = StageName.submit

    private let config: TokConfig
    private let attestor: Attestor
    private let wait: WaitPolicy?
    private let logger: Logger
    private var channels: [String: PayoutChannel] = [:]

    public init(config: TokConfig, attestor: Attestor, wait: WaitPolicy?, logger: Logger) {
        self.config = config
        self.attestor = attestor
        self.wait = wait
        self.logger = logger
    }

    /// Where one payout stands inside this stage.
    enum Progress {
        case inFlight(String)
        case confirmed(blockHash: String, blockNumber: UInt64, confirmations: UInt64)
        case failed(reason: String, nonceConsumed: Bool)
        case error(TokError)
    }

    private struct Job {
        let index: Int
        let payoutTx: PayoutTx
        let network: NetworkConfig
    }

    public func process(_ batch: [JSON]) async throws -> [JSON] {
        var jobs: [Job] = []
        for (index, record) in batch.enumerated() {
            guard FlowRegistry.claim(record, for: .submit) != nil else { continue }
            do throws(TokError) {
                try attestor.check(record, stage: .apply)
                let payoutTx = try PayoutTx.read(record)
                guard let chain = try? ChainId(parsing: payoutTx.chain), let network = config.network(chain: chain)
                else {
                    throw TokError(.unknownNetwork, "destination chain \(payoutTx.chain) is not configured")
                }
                jobs.append(Job(index: index, payoutTx: payoutTx, network: network))
            } catch {
                record.reject(stage: .submit, error)
            }
        }
        if jobs.isEmpty { return batch }

        // A sender's transactions go out in nonce order: a node without a queue
        // of future nonces refuses one sent before the one below it ("nonce too
        // high"). Outputs keep input order (each job knows its record).
        jobs.sort {
            ($0.network.alias, $0.payoutTx.sender, $0.payoutTx.spendGuard.nonce ?? .max, $0.index)
                < ($1.network.alias, $1.payoutTx.sender, $1.payoutTx.spendGuard.nonce ?? .max, $1.index)
        }
        let logger = self.logger
        var progress = await runAll(jobs) { channel, payouts in
            await SubmitStage.broadcastAndObserve(channel, payouts, logger: logger)
        }
        await broadcastDeferredAgain(jobs, &progress)
        if let wait {
            let deadline = monotonicMilliseconds() + wait.timeoutMilliseconds
            while monotonicMilliseconds() < deadline {
                let open = jobs.indices.filter {
                    if case .inFlight = progress[$0] { return true } else { return false }
                }
                if open.isEmpty { break }
                try? await Task.sleep(nanoseconds: UInt64(wait.pollMilliseconds) * 1_000_000)
                let again = await runAll(open.map { jobs[$0] }) { channel, payouts in
                    await SubmitStage.observe(channel, payouts, rebroadcast: true)
                }
                for (slot, value) in zip(open, again) { progress[slot] = value }
            }
        }

        for (job, value) in zip(jobs, progress) {
            annotate(batch[job.index], job, value)
        }
        return batch
    }

    /// Rounds of `broadcastDeferredAgain` at most.
    static let maxBroadcastRounds = 16

    /// Broadcasts the node refused for now (rpc_unavailable: "nonce too high"
    /// behind a transaction of the same round, a full pool) go out again while
    /// the round before got others through, so one run finishes what it can.
    private func broadcastDeferredAgain(_ jobs: [Job], _ progress: inout [Progress]) async {
        let logger = self.logger
        func deferred() -> [Int] {
            jobs.indices.filter { slot in
                if case .error(let error) = progress[slot] { return error.code == .rpcUnavailable }
                return false
            }
        }
        var waiting = deferred()
        var rounds = 0
        // Only when something went through: otherwise the node is down, and a later run retries.
        while !waiting.isEmpty, waiting.count < jobs.count, rounds < SubmitStage.maxBroadcastRounds {
            rounds += 1
            let again = await runAll(waiting.map { jobs[$0] }) { channel, payouts in
                await SubmitStage.broadcastAndObserve(channel, payouts, logger: logger)
            }
            for (slot, value) in zip(waiting, again) { progress[slot] = value }
            let still = deferred()
            if still.count == waiting.count { break }
            waiting = still
        }
    }

    private func annotate(_ record: JSON, _ job: Job, _ progress: Progress) {
        let outcome: Submission.Outcome
        switch progress {
        case .error(let error):
            // Nothing is decided: the payout stays prepared in the ledger and a later run retries.
            record.remove(Field.attestation)
            record.reject(stage: .submit, error)
            logger.warning(
                "payout not submitted", metadata: ["id": "\(record.string(at: Field.id) ?? "?")", "error": "\(error)"])
            return
        case .inFlight(let note):
            outcome = .submitted(note: note)
        case .confirmed(let blockHash, let blockNumber, let confirmations):
            outcome = .confirmed(
                blockHash: blockHash, blockNumber: Int64(blockNumber), confirmations: Int64(confirmations),
                requiredConfirmations: Int64(job.network.confirmations))
        case .failed(let reason, let nonceConsumed):
            outcome = .failed(reason: reason, nonceConsumed: nonceConsumed)
        }
        record.set(Field.submission, Submission(tx: job.payoutTx.tx, outcome: outcome).object())
        record.set(Field.status, string: outcome.status.rawValue)
        attestor.attest(record, stage: .submit)
        logger.info(
            "payout \(outcome.status.rawValue)",
            metadata: [
                "id": "\(record.string(at: Field.id) ?? "?")",
                "tx": "\(job.payoutTx.tx)",
            ])
    }

    /// Broadcast (safe to repeat), then look once: a payout that is already
    /// final (a reconciliation run after a crash) is reported as such.
    private static func broadcastAndObserve(
        _ channel: PayoutChannel, _ payouts: [(SignedPayout, Int)],
        logger: Logger
    ) async -> [Progress] {
        let answers = await channel.broadcast(payouts.map(\.0))
        var results = [Progress?](repeating: nil, count: payouts.count)
        var toObserve: [Int] = []
        for (slot, answer) in answers.enumerated() {
            switch answer {
            case .success(.accepted):
                toObserve.append(slot)
            case .success(.refused(let reason, let nonceConsumed)):
                if nonceConsumed {
                    // Another transaction may hold the nonce; only the chain can say ours is not mined.
                    toObserve.append(slot)
                } else {
                    results[slot] = .failed(reason: "refused by the node: \(reason)", nonceConsumed: false)
                }
            case .failure(let error):
                // Not definitive (funds, fees, transport): look whether it is on chain anyway.
                logger.notice(
                    "broadcast not accepted now", metadata: ["tx": "\(payouts[slot].0.txId)", "error": "\(error)"])
                toObserve.append(slot)
            }
        }
        if !toObserve.isEmpty {
            let observed = await observe(channel, toObserve.map { payouts[$0] }, rebroadcast: false)
            for (slot, value) in zip(toObserve, observed) {
                if case .failure(let error) = answers[slot], case .inFlight = value {
                    results[slot] = .error(error)
                } else {
                    results[slot] = value
                }
            }
        }
        return results.map { $0! }
    }

    private static func observe(
        _ channel: PayoutChannel, _ payouts: [(SignedPayout, Int)], rebroadcast: Bool
    ) async -> [Progress] {
        let observations = await channel.observe(payouts.map(\.0))
        var dropped: [SignedPayout] = []
        let results: [Progress] = zip(payouts, observations).map { payout, observation in
            let required = UInt64(payout.1)
            switch observation {
            case .failure(let error):
                return .error(error)
            case .success(.pending):
                return .inFlight("pending")
            case .success(.unknown(let nonceConsumed)):
                if nonceConsumed {
                    let what = payout.0.inputs.isEmpty ? "nonce \(payout.0.nonce)" : "one of its inputs"
                    return .failed(reason: "not mined, and another transaction used \(what)", nonceConsumed: true)
                }
                dropped.append(payout.0)
                return .inFlight("dropped; broadcast again")
            case .success(.mined(let blockHash, let blockNumber, let confirmations, let succeeded)):
                guard confirmations >= required else {
                    return .inFlight("mined, \(confirmations) of \(required) confirmations")
                }
                if succeeded {
                    return .confirmed(blockHash: blockHash, blockNumber: blockNumber, confirmations: confirmations)
                }
                return .failed(reason: "reverted in block \(blockHash)", nonceConsumed: true)
            }
        }
        if rebroadcast && !dropped.isEmpty { _ = await channel.broadcast(dropped) }
        return results
    }

    /// Runs `work` per network in chunks of the network's RPC batch size, at
    /// most `rpc_concurrency` chunks in flight, results in job order.
    private func runAll(
        _ jobs: [Job], _ work: @escaping @Sendable (PayoutChannel, [(SignedPayout, Int)]) async -> [Progress]
    ) async -> [Progress] {
        var channelsByNetwork: [String: PayoutChannel] = [:]
        for job in jobs where channelsByNetwork[job.network.alias] == nil {
            channelsByNetwork[job.network.alias] = payoutChannel(for: job.network)
        }
        let chosen = channelsByNetwork
        return await NetworkWork.run(jobs, network: \.network) { network, chunk in
            await work(chosen[network.alias]!, chunk.map { ($0.payoutTx.signedPayout, network.confirmations) })
        }
    }

    private func payoutChannel(for network: NetworkConfig) -> PayoutChannel {
        if let existing = channels[network.alias] { return existing }
        let made = network.family.payoutChannel(for: network, logger: logger)
        channels[network.alias] = made
        return made
    }
}
