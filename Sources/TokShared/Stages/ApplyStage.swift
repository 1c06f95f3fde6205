import Logging

/// tok-apply: the only writer. Applies attested records to the ledger, one
/// database transaction per batch with a savepoint per record, and answers
/// queries. Each record goes to the flow that claims it (FlowRegistry);
/// records no flow claims pass through. Outputs of a batch are released only
/// after its transaction commits, so nothing downstream ever sees an
/// uncommitted state.
public final class ApplyStage: Stage {
    public let name = StageName.apply
    private let resolver: RequestResolver
    private let ledger: Ledger
    private let attestor: Attestor
    private let logger: Logger
    /// Taken around each batch's transaction.
    private let writerLock: (any WriterLock)?
    /// Reads the clock once per batch (tests fix it).
    private let clock: @Sendable () -> Int64

    public init(
        config: TokConfig, ledger: Ledger, attestor: Attestor, writerLock: (any WriterLock)?, logger: Logger,
        clock: @escaping @Sendable () -> Int64 = Ledger.nowMilliseconds
    ) {
        self.writerLock = writerLock
        self.resolver = RequestResolver(config: config)
        self.ledger = ledger
        self.attestor = attestor
        self.logger = logger
        self.clock = clock
    }

    /// What happened to one record, kept until the batch commits.
    enum Result {
        case passThrough
        case rejected(TokError)
        case applied(any AppliedOutcome)
    }

    public func process(_ batch: [JSON]) async throws -> [JSON] {
        let context = ApplyContext(
            ledger: ledger, resolver: resolver, attestor: attestor, logger: logger,
            nowMilliseconds: clock())
        let flows = batch.map { FlowRegistry.claim($0, for: .apply) }
        // Record-local work (checking an attestation, reading a record's facts)
        // runs on another thread beside the sequential ledger pass, a chunk ahead of it.
        let prechecks = PrecheckAhead(count: batch.count) { index in
            flows[index]?.precheck(batch[index], context: context)
        }
        defer { prechecks.finish() }
        var results = [Result](repeating: .passThrough, count: batch.count)
        try acquireWriterLock()
        defer { writerLock?.release() }
        do {
            try ledger.inBatch {
                for index in batch.indices {
                    let precheck = prechecks.result(index)
                    guard let flow = flows[index] else { continue }
                    do throws(TokError) {
                        results[index] = .applied(
                            try flow.apply(batch[index], precheck: precheck, context: context))
                    } catch {
                        results[index] = .rejected(error)
                    }
                }
            }
        } catch .begin(let error) {
            throw StageFailure(.tempFailure, "cannot start a database transaction: \(error)")
        } catch .abandoned(let error) {
            preconditionFailure("the ledger pass never throws: \(error)")
        } catch .commit(let error) {
            // Nothing of this batch is stored; say so on every record it touched.
            logger.error("batch commit failed; the batch is rejected as retryable", metadata: ["error": "\(error)"])
            for index in results.indices {
                if case .passThrough = results[index] { continue }
                results[index] = .rejected(TokError(.databaseError, "the batch's commit failed: \(error)"))
            }
        }
        prechecks.finish()
        // Writing each record's outcome into it is record-local as well.
        ParallelWork.forEachChunk(count: batch.count) { range in
            for index in range { ApplyStage.annotate(batch[index], results[index], context: context) }
        }
        return batch
    }

    /// Takes the writer lock, counting a wait when another writer held it (--metrics-file).
    private func acquireWriterLock() throws {
        guard let writerLock else { return }
        let started = monotonicMilliseconds()
        try writerLock.acquire()
        let waited = monotonicMilliseconds() - started
        // Taking a free lock costs microseconds; a millisecond or more means another writer held it.
        if waited >= 1 {
            MetricsRegistry.shared.add(.lockWaits, [("tool", name.tool)])
            MetricsRegistry.shared.add(.lockWaitSeconds, [("tool", name.tool)], Int64(waited))
        }
    }

    private static func annotate(_ record: JSON, _ result: Result, context: ApplyContext) {
        switch result {
        case .passThrough:
            return
        case .rejected(let error):
            // A signed transaction that was not recorded must not travel further: only
            // transactions tok-apply recorded are ever broadcast.
            if record.status == .signed { record.remove(Field.payoutTx) }
            record.reject(stage: .apply, error)
        case .applied(let outcome):
            outcome.annotate(record, context: context)
        }
    }

    /// Records for every payout between prepare and a final state, attested as
    /// tok-apply's own, for reconciliation: `tok-apply open-payouts | tok-submit | tok-apply`.
    public func openPayoutRecords(limit: Int) throws(TokError) -> [JSON] {
        // In nonce order per chain and sender, fillers among the payouts: a node
        // without a queue of future nonces refuses a transaction sent before the
        // one below it ("nonce too high"), so one run then finishes all it can.
        // Payouts spending coins (no nonce) follow, oldest first.
        struct Item { let chain: String; let sender: String; let nonce: UInt64; let record: JSON }
        var ordered = try ledger.nonceGaps(limit: limit).map { gap in
            Item(
                chain: gap.chain, sender: gap.sender, nonce: gap.nonce,
                record: NonceFill.record(chain: gap.chain, sender: gap.sender, nonce: gap.nonce, attestor: attestor))
        }
        var byCoins: [JSON] = []
        for row in try ledger.openPayouts(limit: limit) {
            let record = PayoutFlow.reconciliationRecord(row, attestor: attestor)
            if let nonce = row.nonce {
                ordered.append(Item(chain: row.destinationChain, sender: row.sender, nonce: nonce, record: record))
            } else {
                byCoins.append(record)
            }
        }
        ordered.sort { ($0.chain, $0.sender, $0.nonce) < ($1.chain, $1.sender, $1.nonce) }
        return ordered.map(\.record) + byCoins
    }
}

extension ApplyStage: MetricsSource {
    /// Open payouts and the age of the oldest, from the ledger (between batches only).
    public func collectMetrics(tool: String) {
        guard let open = try? ledger.openPayoutStatistics() else { return }
        MetricsRegistry.shared.set(.openPayouts, [("tool", tool)], Int64(open.count))
        let age = open.oldestPreparedAtMilliseconds.map { max(0, clock() - $0) } ?? 0
        MetricsRegistry.shared.set(.oldestOpenPayoutAge, [("tool", tool)], age)
    }
}
