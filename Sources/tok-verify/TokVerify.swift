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

    @Option(
        name: .long,
        help: ArgumentHelp(
            "tok-apply's database, opened read-only: a SQLite file or a postgresql:// URI (default: [database] url of the config, if set). Advisory balance checks, payout nonces, the operator's coins (bip122) and replays. Recommended for payouts; required for payouts on bip122 chains.",
            valueName: "file|uri"))
    var db: String?

    @OptionGroup var waiting: WaitOptions

    func run() async throws {
        let policy = waiting.policy
        try await ToolMain.run(tool: "tok-verify", options: common) { config, logger in
            try config.requireChainCredentials()
            return VerifyStage(
                config: config, attestor: try ToolMain.attestor(config), wait: policy,
                database: (db ?? config.database.url).map(DatabaseTarget.init), logger: logger)
        }.finish()
    }
}
