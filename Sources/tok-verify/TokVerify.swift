import ArgumentParser
import TokShared

/// tok-verify: proves deposits on their source chains and attests them.
@main
struct TokVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tok-verify",
        abstract: "Verify deposits on their source chains, sign payouts, and attest the results.",
        discussion: """
            Handles deposit records in state "validated" or "pending". Deposits that reach \
            the network's confirmation level become "verified" and carry an HMAC attestation \
            that tok-apply checks; those below it are emitted as "pending" (or held with \
            --wait). Payouts (and transfers, once their deposit is final) have their \
            signature checked and their destination transaction signed with the operator \
            key: status "signed". Other records pass through unchanged, in order. See tok-verify(1).
            """)

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: ArgumentHelp("tok-apply's database, opened read-only: advisory balance checks, payout nonces and replays. Recommended for payouts.", valueName: "file"))
    var db: String?

    @Flag(name: .long, help: "Hold pending deposits until they reach the confirmation level or --wait-timeout-milliseconds passes.")
    var wait = false

    @Option(name: .long, help: ArgumentHelp("How long --wait holds a batch, in milliseconds.", valueName: "ms"))
    var waitTimeoutMilliseconds = 600_000

    @Option(name: .long, help: ArgumentHelp("Polling interval while waiting, in milliseconds.", valueName: "ms"))
    var pollMilliseconds = 2_000

    func validate() throws {
        guard waitTimeoutMilliseconds >= 0, waitTimeoutMilliseconds <= 86_400_000 else {
            throw ValidationError("--wait-timeout-milliseconds must be 0...86400000")
        }
        guard pollMilliseconds >= 10, pollMilliseconds <= 600_000 else {
            throw ValidationError("--poll-milliseconds must be 10...600000")
        }
    }

    func run() async throws {
        let policy = wait ? VerifyStage.WaitPolicy(timeoutMilliseconds: waitTimeoutMilliseconds, pollMilliseconds: pollMilliseconds) : nil
        await ToolMain.run(tool: "tok-verify", options: common) { config, logger in
            VerifyStage(config: config, attestor: try ToolMain.attestor(config), wait: policy, ledgerPath: db, logger: logger)
        }
    }
}

