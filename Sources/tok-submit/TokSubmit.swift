import ArgumentParser
import TokShared

/// tok-submit: broadcasts prepared payouts and reports their fate.
@main
struct TokSubmit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tok-submit",
        abstract: "Broadcast payouts prepared by tok-apply and report submitted, confirmed or failed.",
        discussion: """
            Handles payout and transfer records in state "prepared" that carry tok-apply's \
            attestation. Broadcasts their signed transaction (re-broadcasting the same bytes is \
            safe), then reports "submitted", "confirmed" (mined, successful, at the network's \
            confirmation level) or "failed" (reverted, refused for good, or its nonce used by \
            another transaction), attested for tok-apply to commit or roll back. Without --wait \
            it looks once and moves on, so cron can finish the job later; with --wait it holds \
            each batch until every payout is final or the timeout passes. See tok-submit(1).
            """)

    @OptionGroup var common: CommonOptions

    @OptionGroup var waiting: WaitOptions

    func run() async throws {
        let policy = waiting.policy
        try await ToolMain.run(tool: "tok-submit", options: common) { config, logger in
            try config.requireChainCredentials()
            return SubmitStage(config: config, attestor: try ToolMain.attestor(config), wait: policy, logger: logger)
        }.finish()
    }
}
