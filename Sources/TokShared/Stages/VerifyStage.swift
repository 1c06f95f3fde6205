#if canImport(Glibc)
import Glibc
#endif
import Logging

/// tok-verify: proves deposits on their source chain, checks and signs
/// payouts, and attests the result. Handles deposit, payout and transfer
/// records in state `validated` (deposits and transfers also `pending`);
/// passes all others through. Chain I/O runs concurrently (bounded per
/// network), but records leave in input order.
public final class VerifyStage: Stage {
    public let name = StageName.verify

    let resolver: RequestResolver
    let attestor: Attestor
    private let wait: WaitPolicy?
    let logger: Logger
    private var verifiers: [String: DepositVerifier] = [:]
    /// tok-apply's database, read-only: advisory balance checks, nonces, replays.
    /// Opened on first use, because in a pipeline tok-apply may still be creating it.
    let ledgerTarget: DatabaseTarget?
    private var openedLedger: Ledger?
    /// The ledger once `openLedgerIfCreated` found it; nil while it does not exist.
    var ledger: Ledger? { openedLedger }

    /// Opens tok-apply's database before a batch's payouts use it. A SQLite file
    /// that does not exist (or is still empty) is not created yet: the batch is
    /// checked against an empty ledger and the file is looked for again next
    /// batch; so is one tok-apply has not migrated yet. A database that cannot
    /// be tok's (another application's, not a database, a newer schema) stops
    /// the stage with 73, one that is busy or unreachable with 75, as tok-apply.
    private func openLedgerIfCreated() throws {
        guard openedLedger == nil, let ledgerTarget else { return }
        if case .sqlite(let path) = ledgerTarget {
            var info = stat()
            guard stat(path, &info) == 0, info.st_size > 0 else {
                logger.notice("database \(path) does not exist yet; checking against an empty ledger")
                return
            }
        }
        do throws(StoreError) {
            let connection = try ledgerTarget.connect(config: resolver.config, readOnly: true, tool: "tok-verify")
            openedLedger = try Ledger(readOnly: connection, logger: logger)
        } catch where error.kind == .notReady {
            // tok-apply creates and migrates it, maybe at this moment: like a file not there yet.
            logger.notice("database \(ledgerTarget) has no current tok schema yet; checking against an empty ledger")
        } catch {
            // Permanent problems (another application's, not a database, a newer
            // schema) exit with a permanent status; busy or unreachable with 75.
            throw StageFailure(ToolMain.classify(error).code, "database \(ledgerTarget) cannot be used: \(error)")
        }
    }
    let environment: [String: String]
    var channels: [String: PayoutChannel] = [:]
    var keys: [String: PrivateKey] = [:]
    /// The highest nonce this process handed out per chain and sender: tok-apply
    /// may not have recorded the previous batch's payouts yet.
    var lastNonce: [String: UInt64] = [:]
    /// Deposits this process attested that tok-apply may not have credited yet,
    /// so the advisory balance check does not refuse a payout queued right
    /// behind the deposit that funds it.
    var inFlight = InFlightLedger()
    /// UTXO chains: coins this process put into signed transactions, by chain
    /// and outpoint, with when (monotonic ms). tok-apply reserves them at
    /// prepare; until then this keeps the next payout off them. An entry expires
    /// so a coin whose payout prepare refused is used again.
    var takenCoins: [String: [String: Int]] = [:]
    /// Payouts this process signed lately, by request id (see signPayouts).
    var recentlySigned: [String: RecentSignature] = [:]
    static let takenCoinExpiryMilliseconds = 120_000

    /// `database`: tok-apply's (a SQLite path or a postgresql:// URI), read-only.
    public init(config: TokConfig, attestor: Attestor, wait: WaitPolicy?, database: DatabaseTarget? = nil,
                environment: [String: String] = TokConfig.processEnvironment(), logger: Logger) {
        self.resolver = RequestResolver(config: config)
        self.attestor = attestor
        self.wait = wait
        self.ledgerTarget = database
        self.environment = environment
        self.logger = logger
    }

    public func process(_ batch: [JSON]) async throws -> [JSON] {
        let context = VerifyBatch(records: batch, resolver: resolver, attestor: attestor, logger: logger,
                                  clock: { Int64(Ledger.nowMilliseconds() / 1000) },
                                  // A strong reference: the batch lives only as long as this call, so
                                  // no cycle forms, and no task can outlive what it uses (issue 13).
                                  noteCredit: { deposit, credited in self.noteCredit(deposit, credited) })
        for (index, record) in batch.enumerated() {
            guard let flow = FlowRegistry.claim(record, for: .verify) else { continue }
            do throws(TokError) {
                try flow.verify(record, index: index, batch: context)
            } catch {
                record.reject(stage: .verify, error)
            }
        }
        if !context.deposits.isEmpty { await verifyDeposits(context) }
        // Deposits need no ledger; payouts and fillers do (transfers reach it once their deposit is proven).
        if !context.payouts.isEmpty || !context.fills.isEmpty { try openLedgerIfCreated() }
        if !context.payouts.isEmpty { await signPayouts(context.payouts.sorted { $0.index < $1.index }, batch: context) }
        for (index, fill, flow) in context.fills { await signNonceFill(fill, record: batch[index], flow: flow, batch: context) }
        return batch
    }

    private func verifyDeposits(_ batch: VerifyBatch) async {
        let jobs = batch.deposits
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
            finishDeposit(job, result, batch: batch)
        }
    }

    /// Writes what the chain showed into the record; a final deposit goes on to its flow.
    private func finishDeposit(_ job: VerifyBatch.DepositJob, _ result: Result<DepositFinding, TokError>, batch: VerifyBatch) {
        let record = batch.records[job.index]
        record.set(Field.validated, ValidatedDeposit(job.deposit).write())
        record.remove(Field.attestation)
        switch result {
        case .failure(let error):
            record.remove(Field.verified)
            record.reject(stage: .verify, error)
            logger.notice("deposit not verified", metadata: ["id": "\(job.deposit.requestId)", "code": "\(error.code.rawValue)"])
        case .success(let finding):
            guard finding.isFinal else {
                record.remove(Field.error)
                record.set(Field.verified, DepositVerification(finding, tx: job.deposit.tx, credited: nil).object())
                record.set(Field.status, string: RecordStatus.pending.rawValue)
                return
            }
            let credited: UInt256
            do throws(TokError) { credited = try ledgerUnits(job.deposit, finding) } catch {
                // Nothing can be credited that the ledger's unit cannot hold exactly.
                record.remove(Field.verified)
                record.reject(stage: .verify, error)
                logger.warning("deposit not creditable", metadata: ["id": "\(job.deposit.requestId)", "code": "\(error.code.rawValue)"])
                return
            }
            record.remove(Field.error)
            record.set(Field.verified, DepositVerification(finding, tx: job.deposit.tx, credited: credited).object())
            job.flow.depositProven(record, index: job.index, deposit: job.deposit, credited: credited, batch: batch)
        }
    }

    /// What tok-apply will credit, in the token's ledger units; amount_not_exact
    /// when the asset is finer than the ledger and the amount is not whole units.
    private func ledgerUnits(_ deposit: ResolvedDeposit, _ finding: DepositFinding) throws(TokError) -> UInt256 {
        guard let token = resolver.config.token(alias: deposit.mapping.token) else {
            throw TokError(.unknownToken, "token \(deposit.mapping.token) is not configured")
        }
        return try UInt256.convert(finding.amount, fromDecimals: deposit.mapping.decimals, toDecimals: token.decimals,
                                   what: "the deposit (credited in \(token.alias)'s ledger units)")
    }

    /// Remembers an attested deposit until the ledger shows it credited.
    private func noteCredit(_ deposit: ResolvedDeposit, _ credited: UInt256) {
        guard ledgerTarget != nil else { return }
        inFlight.addCredit(chain: deposit.network.chainText, tx: deposit.tx, asset: deposit.mapping.assetText,
                           account: deposit.account, token: deposit.mapping.token, amount: credited)
    }

    /// Verifies jobs grouped by network, in chunks of the network's RPC batch
    /// size, at most `rpc_concurrency` chunks in flight per network.
    private func verifyAll(_ jobs: [VerifyBatch.DepositJob]) async -> [Result<DepositFinding, TokError>] {
        var verifiersByNetwork: [String: DepositVerifier] = [:]
        for job in jobs where verifiersByNetwork[job.deposit.network.alias] == nil {
            verifiersByNetwork[job.deposit.network.alias] = verifier(for: job.deposit.network)
        }
        let chosen = verifiersByNetwork
        return await NetworkWork.run(jobs.map(\.deposit), network: \.network) { network, deposits in
            await chosen[network.alias]!.verify(deposits.map(\.claim))
        }
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
