import Logging

/// One batch of tok-verify: flows hand it the chain work their records need
/// (deposits to prove, payouts to sign, nonce fillers); tok-verify then does
/// the work of each kind together, concurrently per network, and calls each
/// record's flow back with the result. Records leave in input order.
public final class VerifyBatch {
    public let records: [JSON]
    public let resolver: RequestResolver
    public let attestor: Attestor
    public let logger: Logger
    /// The clock, for authorisation expiry. Read when a check needs it: a
    /// transfer's payout half is checked after its deposit was proven, which
    /// may be long after the batch began (`--wait`).
    private let clock: () -> Int64
    public var nowUnixSeconds: Int64 { clock() }

    struct DepositJob {
        let index: Int
        let deposit: ResolvedDeposit
        let flow: any Flow
    }

    struct PayoutJob {
        let index: Int
        let payout: ResolvedPayout
        let flow: any Flow
    }

    private(set) var deposits: [DepositJob] = []
    private(set) var payouts: [PayoutJob] = []
    private(set) var fills: [(index: Int, fill: NonceFill, flow: any Flow)] = []
    private let noteCredit: (ResolvedDeposit, UInt256) -> Void

    init(
        records: [JSON], resolver: RequestResolver, attestor: Attestor, logger: Logger, clock: @escaping () -> Int64,
        noteCredit: @escaping (ResolvedDeposit, UInt256) -> Void
    ) {
        self.records = records
        self.resolver = resolver
        self.attestor = attestor
        self.logger = logger
        self.clock = clock
        self.noteCredit = noteCredit
    }

    /// Prove `deposit` on its source chain; `flow.depositProven` is called
    /// once it is final, the record is marked pending while it is not.
    public func proveDeposit(_ deposit: ResolvedDeposit, index: Int, flow: any Flow) {
        deposits.append(DepositJob(index: index, deposit: deposit, flow: flow))
    }

    /// Check the balance advisory, then build and sign `payout`; `flow` hears
    /// `payoutSigned` or `payoutRefused`.
    public func signPayout(_ payout: ResolvedPayout, index: Int, flow: any Flow) {
        payouts.append(PayoutJob(index: index, payout: payout, flow: flow))
    }

    /// Sign a zero-value filler at the released nonce.
    public func signNonceFill(_ fill: NonceFill, index: Int, flow: any Flow) {
        fills.append((index, fill, flow))
    }

    /// Remembers an attested deposit until the ledger shows it credited, so the
    /// advisory balance check counts it.
    public func noteCredit(_ deposit: ResolvedDeposit, _ credited: UInt256) {
        noteCredit(deposit, credited)
    }

    /// The source account must have signed this exact payout.
    public func checkAuthorisation(_ payout: ResolvedPayout) throws(TokError) {
        try payout.authorisation.verifySignature(
            payout.signature, signer: payout.sourceAddress,
            family: payout.sourceNetwork.family, chain: payout.sourceNetwork.chain)
    }
}
