#if canImport(Glibc)
import Glibc
#endif
import Logging

/// tok-verify: proves deposits on their source chain and attests the result.
/// Handles deposit records in state `validated` or `pending`; passes all
/// others through. Chain I/O runs concurrently (bounded per network), but
/// records leave in input order.
public final class VerifyStage: Stage {
    public let name = StageName.verify

    public struct WaitPolicy: Sendable {
        public var timeoutMilliseconds: Int
        public var pollMilliseconds: Int
        public init(timeoutMilliseconds: Int, pollMilliseconds: Int) {
            precondition(timeoutMilliseconds >= 0 && pollMilliseconds > 0)
            self.timeoutMilliseconds = timeoutMilliseconds
            self.pollMilliseconds = pollMilliseconds
        }
    }

    private let resolver: RequestResolver
    private let attestor: Attestor
    private let wait: WaitPolicy?
    private let logger: Logger
    private var verifiers: [String: DepositVerifier] = [:]

    public init(config: TokConfig, attestor: Attestor, wait: WaitPolicy?, logger: Logger) {
        self.resolver = RequestResolver(config: config)
        self.attestor = attestor
        self.wait = wait
        self.logger = logger
    }

    private struct Job {
        let index: Int
        let deposit: ResolvedDeposit
    }

    public func process(_ batch: [JSON]) async throws -> [JSON] {
        var jobs: [Job] = []
        for (index, record) in batch.enumerated() {
            guard record.opText == Op.deposit.rawValue,
                  record.status == .validated || record.status == .pending else { continue }
            do throws(TokError) {
                jobs.append(Job(index: index, deposit: try resolver.resolveDeposit(record)))
            } catch {
                record.reject(stage: .verify, error)
            }
        }
        if jobs.isEmpty { return batch }

        var results = await verifyAll(jobs)
        if let wait {
            let deadline = monotonicMilliseconds() + wait.timeoutMilliseconds
            while true {
                let stillPending = jobs.indices.filter { slot in
                    if case .success(let finding) = results[slot] { return !finding.isFinal }
                    return false
                }
                if stillPending.isEmpty || monotonicMilliseconds() >= deadline { break }
                logger.debug("waiting for confirmations", metadata: ["pending": "\(stillPending.count)"])
                try? await Task.sleep(nanoseconds: UInt64(wait.pollMilliseconds) * 1_000_000)
                let again = await verifyAll(stillPending.map { jobs[$0] })
                for (slot, result) in zip(stillPending, again) { results[slot] = result }
            }
        }

        for (job, result) in zip(jobs, results) {
            let record = batch[job.index]
            record.set(Field.validated, job.deposit.validatedObject())
            record.remove(Field.attestation)
            switch result {
            case .failure(let error):
                record.remove(Field.verified)
                record.reject(stage: .verify, error)
                logger.notice("deposit not verified", metadata: ["id": "\(job.deposit.requestId)", "code": "\(error.code.rawValue)"])
            case .success(let finding):
                record.remove(Field.error)
                record.set(Field.verified, verifiedObject(finding))
                if finding.isFinal {
                    record.set(Field.status, string: RecordStatus.verified.rawValue)
                    attestor.attest(record, stage: .verify)
                } else {
                    record.set(Field.status, string: RecordStatus.pending.rawValue)
                }
            }
        }
        return batch
    }

    private func verifiedObject(_ finding: DepositFinding) -> JSON {
        let object = JSON.object()
        if finding.confirmations > 0 {
            object.set("amount", string: finding.amount.description)
            object.set("block_hash", string: finding.blockHash)
            object.set("block_number", integer: Int64(finding.blockNumber))
        }
        object.set("confirmations", integer: Int64(finding.confirmations))
        object.set("required_confirmations", integer: Int64(finding.requiredConfirmations))
        return object
    }

    /// Verifies jobs grouped by network, in chunks of the network's RPC batch
    /// size, at most `rpc_concurrency` chunks in flight per network.
    private func verifyAll(_ jobs: [Job]) async -> [Result<DepositFinding, TokError>] {
        var results = [Result<DepositFinding, TokError>?](repeating: nil, count: jobs.count)
        var slotsByNetwork: [String: [Int]] = [:]
        for (slot, job) in jobs.enumerated() { slotsByNetwork[job.deposit.network.alias, default: []].append(slot) }

        for (alias, slots) in slotsByNetwork.sorted(by: { $0.key < $1.key }) {
            let network = jobs[slots[0]].deposit.network
            let verifier = verifier(for: network)
            let chunks = stride(from: 0, to: slots.count, by: network.rpcBatchSize).map {
                Array(slots[$0..<min($0 + network.rpcBatchSize, slots.count)])
            }
            let claimsByChunk = chunks.map { chunk in chunk.map { jobs[$0].deposit.claim } }
            await withTaskGroup(of: (Int, [Result<DepositFinding, TokError>]).self) { group in
                var nextChunk = 0
                func startNext() {
                    guard nextChunk < chunks.count else { return }
                    let chunkIndex = nextChunk
                    let claims = claimsByChunk[chunkIndex]
                    nextChunk += 1
                    group.addTask { (chunkIndex, await verifier.verify(claims)) }
                }
                for _ in 0..<min(network.rpcConcurrency, chunks.count) { startNext() }
                for await (chunkIndex, chunkResults) in group {
                    for (slot, result) in zip(chunks[chunkIndex], chunkResults) { results[slot] = result }
                    startNext()
                }
            }
            logger.debug("verified group", metadata: ["network": "\(alias)", "claims": "\(slots.count)"])
        }
        return results.map { $0! }
    }

    private func verifier(for network: NetworkConfig) -> DepositVerifier {
        if let existing = verifiers[network.alias] { return existing }
        let made = network.family.depositVerifier(for: network, logger: logger)
        verifiers[network.alias] = made
        return made
    }
}

func monotonicMilliseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
}
