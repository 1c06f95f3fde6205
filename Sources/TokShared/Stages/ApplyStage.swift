import Logging

/// tok-apply: the only writer. Applies attested records to the ledger, one
/// database transaction per batch with a savepoint per record, and answers
/// queries. Each record goes to the flow that claims it (FlowRegistry);
/// records no flow claims pass through. Outputs of a batch are released only
/// after its transaction commits, so nothing downstream ever sees an
/// uncommitted state.
public final class ApplyStage: PipelinedStage {
    public let name = StageName.apply
    private let resolver: RequestResolver
    private let ledger: Ledger
    private let attestor: Attestor
    private let logger: Logger
    /// What prechecks and annotations may use (they run beside other batches' ledger passes).
    private var recordContext: RecordContext {
        RecordContext(resolver: resolver, attestor: attestor, logger: logger)
    }
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

    /// What `prepare` found for a batch: the flow of each record and its precheck.
    private struct Preparation {
        let flows: [(any Flow)?]
        let prechecks: [(any ApplyPrecheck)?]
    }

    /// Record-local work (which flow claims a record, checking its attestation, reading its
    /// facts): on the runner's read-ahead, while the batch before is in the ledger pass.
    public func prepare(_ batch: [JSON]) -> PreparedBatch {
        let flows = batch.map { FlowRegistry.claim($0, for: .apply) }
        let context = recordContext
        // On the thread preparing this batch alone: the ledger pass has a core of its own.
        let prechecks = batch.indices.map { flows[$0]?.precheck(batch[$0], context: context) }
        return PreparedBatch(Preparation(flows: flows, prechecks: prechecks))
    }

    /// The ledger pass: one transaction for the batch, a transition per record. Writing each
    /// record's outcome into it (and its log line) is left for after the commit, beside the next
    /// batch's pass.
    public func process(_ batch: [JSON], prepared: PreparedBatch) async throws -> BatchCompletion {
        guard let preparation = prepared.value as? Preparation, preparation.flows.count == batch.count else {
            preconditionFailure("tok-apply processes only batches it prepared")
        }
        let context = ApplyContext(ledger: ledger, recordContext: recordContext, nowMilliseconds: clock())
        let flows = preparation.flows
        var results = [Result](repeating: .passThrough, count: batch.count)
        try acquireWriterLock()
        defer { writerLock?.release() }
        do {
            try ledger.inBatch {
                for index in batch.indices {
                    guard let flow = flows[index] else { continue }
                    do throws(TokError) {
                        results[index] = .applied(
                            try flow.apply(batch[index], precheck: preparation.prechecks[index], context: context))
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
        // In record order, so that the log lines keep it.
        let annotation = UncheckedSendable((batch, results, recordContext))
        return BatchCompletion {
            let (batch, results, context) = annotation.value
            for index in batch.indices { ApplyStage.annotate(batch[index], results[index], context: context) }
        }
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

    private static func annotate(_ record: JSON, _ result: Result, context: RecordContext) {
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
